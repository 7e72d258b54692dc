"""The contract between the JSON-RPC server (node/rpc.py) and a running node (node/runtime.py).

Why a Protocol: the RPC layer owns everything about the wire (JSON-RPC 2.0 framing, parameter
validation, hex decoding, limits, WebSocket fan-out) and nothing about the chain; the runtime
owns the chain, the mempool and consensus and nothing about HTTP. Tests drive the server with a
small fake, and the runtime implements this class without importing aiohttp.

Division of work, so that neither side checks twice and nothing is checked never:

- The server has already validated every argument's *type and shape* before it calls a method:
  addresses, hashes and claim ids arrive as 32 ``bytes`` (decoded from hex of either case),
  heights as ``int`` (never ``bool``), ``mode`` as one of ``"async" | "sync" | "commit"``,
  ``status`` as one of the four claim statuses or None, ``limit`` as ``1 <= limit <= max``
  (each param's ``Kind`` in node/methods.py says what its handler receives).
- The node decides *existence*: an unknown hash, height, pool, member or claim raises
  ``NotFound`` (JSON-RPC -32001). A value the server cannot judge (rare) may raise
  ``InvalidParams(param, message)`` (-32602). Any other exception is a bug: the server
  answers -32603 and logs it; it never reaches the client as a traceback.
- Results are JSON-ready: plain dicts/lists of ``str``, ``int``, ``bool`` and ``None``;
  binary values as lowercase hex; field names exactly as PROTOCOL.md section 6. The server
  serialises them as they are (it does not rename or convert fields).
- Reads are at the latest committed height, consistent within one call.

Methods may be ``async def`` (as written here) or plain ``def``: the server awaits a result
only when it is awaitable, so cheap in-memory reads need not be coroutines. They are called on
the node's event loop; a method that does blocking I/O (LevelDB reads are fast enough) should
not block for long, since it stalls consensus too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol, runtime_checkable

from node.config import RpcConfig

BroadcastMode = Literal["async", "sync", "commit"]
EventKind = Literal["new_block", "tx"]
EVENT_KINDS: tuple[str, ...] = ("new_block", "tx")
BROADCAST_MODES: tuple[str, ...] = ("async", "sync", "commit")

# The commit mode's wait (PROTOCOL.md section 6: "after 30 s without inclusion"), for a caller
# without a config: the config's default, so the two cannot drift apart.
DEFAULT_COMMIT_TIMEOUT_S: float = RpcConfig.model_fields["commit_timeout_ms"].default / 1000

EventListener = Callable[[str, dict[str, Any]], None]
"""``listener(kind, data)``: called by the node, on its event loop, once per event.

It never blocks and never raises (the server only enqueues into bounded per-connection
queues and drops a subscriber that cannot keep up)."""


#: how much of a client-sent string (a pool id, a method or parameter name) an error message
#: repeats: a client must not be able to make the node echo megabytes back (or into logs)
MAX_ECHO_CHARS = 64
#: the longest error message the server sends, whatever produced it (a backstop)
MAX_MESSAGE_CHARS = 512


def shown(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """A client-sent string as an error message repeats it: its first `limit` characters,
    then "..." when it was longer."""
    return text if len(text) <= limit else text[:limit] + "..."


class NotFound(Exception):
    """Unknown hash, height, pool, member, claim, subscription: JSON-RPC -32001.

    The message is shown to the client, so say what was not found
    (e.g. ``"pool 'dental' not found"``), with any string the client sent passed through
    ``shown``."""


class InvalidParams(Exception):
    """A parameter the node refuses: JSON-RPC -32602, and the message names the parameter."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


def timeout_result(tx_hash: bytes) -> dict[str, Any]:
    """The ``commit`` mode's answer when the transaction was admitted but not included in time.

    Section 6: code -1, error "timeout" (outcome unknown, not failed)."""
    return {
        "hash": tx_hash.hex(),
        "code": -1,
        "error": "timeout",
        "log": "not included in a block within the commit timeout; the outcome is unknown",
    }


@runtime_checkable
class NodeAPI(Protocol):
    """What the JSON-RPC server needs from a running node (PROTOCOL.md section 6).

    Besides these two, one method per read of node/methods.py ``METHODS`` (every method the
    server does not answer itself): same Python name (``net_info``), the declared params by
    keyword, typed by their kinds, answering the JSON the method's ``result_schema``
    describes, ``NotFound`` for what does not exist. ``RpcServer`` refuses to start on a node
    that lacks one or names its params differently (``node.methods.bind_handlers``)."""

    async def broadcast_tx(
        self, wire: bytes, mode: BroadcastMode, timeout: float = DEFAULT_COMMIT_TIMEOUT_S
    ) -> dict[str, Any]:
        """Submit wire bytes (any bytes: the admission checks judge them).

        Every answer has ``hash`` (hex sha256 of ``wire``), ``code`` (int), ``error`` (the
        section 7 name or None) and ``log`` (str, may be empty). A refused transaction is an
        answer with ``code != 0``, never an exception.

        - ``"async"``: answer ``code`` 0, ``error`` None at once, before any check; the
          admission runs afterwards (e.g. ``loop.call_soon``) and its outcome is only visible
          through ``tx`` and events.
        - ``"sync"``: answer after admission (checks 1-11): code 0 when admitted, else the
          refusal.
        - ``"commit"``: like ``sync`` when refused (no ``height`` key). When admitted, wait
          until the transaction is in a committed block and answer its *execution* result:
          ``hash``, ``height``, ``index``, ``code``, ``error``, ``log``. ``timeout`` is the
          longest wait in seconds (the server passes its configured ``commit_timeout_ms``);
          when it passes, answer ``timeout_result(hash)`` (code -1, error "timeout"). Register
          the waiter *before* admitting, so a block committed in between is not missed.
        """
        ...

    def subscribe_events(
        self, listener: EventListener, wants: Callable[[str], bool] | None = None
    ) -> Callable[[], None]:
        """Register ``listener`` for every event; return a function that unregisters it.
        ``wants(kind)``, when given, tells whether the listener would use an event of that
        kind now: the node may skip building events nobody wants.

        After each committed block the node calls, in this order,
        ``listener("new_block", data)`` with ``data`` exactly the ``block`` method's result
        for that height, then ``listener("tx", data)`` once per transaction in block order with
        ``data`` exactly the ``tx`` method's result. The server registers one listener when it
        starts and fans events out to WebSocket subscribers itself; listeners never block,
        and an exception from one must not stop the others (log and go on)."""
        ...
