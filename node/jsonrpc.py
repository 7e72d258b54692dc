"""JSON-RPC 2.0 error codes and the one error type the server, the client and tools share.

PROTOCOL.md section 6 fixes the codes; keeping them and the exception in one module means
the server that raises an error and every client that reads it agree on its shape.
"""

from __future__ import annotations

import json
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
NOT_FOUND = -32001
LIMIT_EXCEEDED = -32002  # extension: a subscription or batch-answer limit of this server

#: code -> (name, one-line meaning), for the generated error table of docs/protocol.md
RPC_ERROR_MEANINGS: dict[int, tuple[str, str]] = {
    PARSE_ERROR: ("parse error", "the body (or a WebSocket text frame) is not JSON"),
    INVALID_REQUEST: (
        "invalid request",
        'not a request object: jsonrpc is not "2.0", method not a string, id not a string, '
        "an integer or null, empty or oversized batch",
    ),
    METHOD_NOT_FOUND: (
        "method not found",
        "no such method (subscribe and unsubscribe over HTTP too)",
    ),
    INVALID_PARAMS: (
        "invalid params",
        "params not an object, or a parameter unknown, missing or of the wrong type; "
        "the message names it",
    ),
    INTERNAL_ERROR: (
        "internal error",
        "the node failed while answering (the node logs why), or a call of a batch was still "
        "running when the batch's time limit passed",
    ),
    NOT_FOUND: (
        "not found",
        "no such transaction, block, pool, member, claim or subscription",
    ),
    LIMIT_EXCEEDED: (
        "limit exceeded",
        "this WebSocket already holds its maximum number of subscriptions, or a batch's "
        "answer reached max_batch_answer_bytes before this call of it started (not executed: "
        "send it again)",
    ),
}


class RpcError(Exception):
    """A JSON-RPC error object: raised by handlers on the server, by clients on an answer."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, int | str]:
        """The `error` member of a JSON-RPC response."""
        return {"code": self.code, "message": self.message}


def dumps(obj: Any) -> str:
    """JSON as the server sends it: compact, no NaN or infinity, and ASCII, so a lone
    surrogate echoed back stays valid JSON and UTF-8 and a message's length is its size."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)
