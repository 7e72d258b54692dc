"""JSON-RPC 2.0 error codes and the one error type the server, the client and tools share.

PROTOCOL.md section 6 fixes the codes; keeping them and the exception in one module means
the server that raises an error and every client that reads it agree on its shape.
"""

from __future__ import annotations

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
NOT_FOUND = -32001
LIMIT_EXCEEDED = -32002  # extension: too many subscriptions on one WebSocket


class RpcError(Exception):
    """A JSON-RPC error object: raised by handlers on the server, by clients on an answer."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, int | str]:
        """The `error` member of a JSON-RPC response."""
        return {"code": self.code, "message": self.message}
