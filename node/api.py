"""The contract between the JSON-RPC server (node/rpc.py) and a running node (node/runtime.py).

Why a Protocol: the RPC layer owns everything about the wire (JSON-RPC 2.0 framing, parameter
validation, hex decoding, limits, WebSocket fan-out) and nothing about the chain; the runtime
owns the chain, the mempool and consensus and nothing about HTTP. Tests drive the server with a
small fake, and the runtime implements this class without importing aiohttp.

Division of work, so that neither side checks twice and nothing is checked never:

- The server has already validated every argument's *type and shape* before it calls a method:
  addresses, hashes and claim ids arrive as 32 ``bytes`` (decoded from hex of either case),
  heights as ``int`` (never ``bool``), ``mode`` as one of ``"async" | "sync" | "commit"``,
  ``status`` as one of the four claim statuses or None, ``limit`` as ``1 <= limit <= max``.
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

BroadcastMode = Literal["async", "sync", "commit"]
EventKind = Literal["new_block", "tx"]
EVENT_KINDS: tuple[str, ...] = ("new_block", "tx")
BROADCAST_MODES: tuple[str, ...] = ("async", "sync", "commit")
CLAIM_STATUSES: tuple[str, ...] = ("voting", "approved", "rejected", "paid")

# The commit mode's wait (PROTOCOL.md section 6: "after 30 s without inclusion").
DEFAULT_COMMIT_TIMEOUT_S = 30.0

EventListener = Callable[[str, dict[str, Any]], None]
"""``listener(kind, data)``: called by the node, on its event loop, once per event.

It never blocks and never raises (the server only enqueues into bounded per-connection
queues and drops a subscriber that cannot keep up)."""


class NotFound(Exception):
    """Unknown hash, height, pool, member, claim, subscription: JSON-RPC -32001.

    The message is shown to the client, so say what was not found
    (e.g. ``"pool 'dental' not found"``)."""


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
    """Everything the JSON-RPC server needs from a running node (PROTOCOL.md section 6)."""

    async def status(self) -> dict[str, Any]:
        """``chain_id``, ``node_id`` (hex node key), ``height`` (latest committed, 0 before
        block 1), ``block_hash`` (hex, null at height 0), ``state_root`` (hex, after that block),
        ``time`` (RFC 3339 UTC of that block; genesis_time at height 0), ``validator`` (this
        node's key is in the set that precommits height + 1), ``catching_up`` (bool: block
        sync in progress), ``peers`` (int, connected peers)."""
        ...

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

    async def tx(self, hash: bytes) -> dict[str, Any]:
        """A committed transaction: ``hash``, ``height``, ``index``, ``code``, ``error``,
        ``log``, ``type``, ``sender``, ``nonce``, ``fee``, ``payload`` (JSON form, as
        ``state.tx.tx_to_json``). Raises NotFound when unknown (pending ones are unknown)."""
        ...

    async def block(self, height: int | None) -> dict[str, Any]:
        """Block ``height`` (None: latest): ``height``, ``hash``, ``prev_hash``, ``time``,
        ``proposer`` (consensus key), ``state_root``, ``tx_root``, ``txs`` (hex hashes in
        order), ``commit`` (``round``, ``signatures``: list of ``validator``, ``signature``;
        the precommits this node holds for this block, the latest included).

        ``height`` may be any int: outside 1..latest raise NotFound (also None at height 0)."""
        ...

    async def account(self, address: bytes) -> dict[str, Any]:
        """``address``, ``balance``, ``nonce``, ``pending_nonce`` (nonce plus the number of
        consecutive pending nonces from it in this node's mempool), ``kyc``. Never NotFound:
        an unseen account reads as balance 0, nonce 0, kyc false."""
        ...

    async def pool(self, id: str) -> dict[str, Any]:
        """``id``, ``name``, ``balance``, ``params`` (all, defaults filled), ``members``
        (object: count per status ``waiting``, ``active``, ``lapsed``, ``left``).
        ``id`` is any string; unknown: NotFound."""
        ...

    async def member(self, pool: str, address: bytes) -> dict[str, Any]:
        """``pool``, ``address``, ``joined_at``, ``paid_through``, ``status`` (at the latest
        height). Unknown pool, or the address was never a member: NotFound."""
        ...

    async def claim(self, id: bytes) -> dict[str, Any]:
        """Every claim field of section 3 (``id``, ``pool``, ``claimant``, ``amount``,
        ``evidence``, ``opened_at``, ``closes_at``, ``votes_for``, ``votes_against``,
        ``voters``, ``status``, ``payable_at``). Unknown: NotFound."""
        ...

    async def claims(self, pool: str, status: str | None, limit: int) -> list[dict[str, Any]]:
        """At most ``limit`` claims of ``pool`` (oldest first), only those with ``status``
        when given. Unknown pool: NotFound; a known pool without claims: ``[]``."""
        ...

    async def validators(self, height: int | None) -> dict[str, Any]:
        """``height`` and ``validators`` (list of ``operator``, ``consensus_key``, ``name``,
        ``power``): the set that precommits block ``height``. None means the next height
        (latest + 1). ``height`` may be any int: outside 1..latest+2 raise NotFound."""
        ...

    async def candidates(self) -> list[dict[str, Any]]:
        """List of ``operator``, ``consensus_key``, ``name``, ``votes``, ``barred_until``."""
        ...

    async def genesis(self) -> dict[str, Any]:
        """The genesis document (``Genesis.to_json()``)."""
        ...

    async def net_info(self) -> dict[str, Any]:
        """``{"peers": [{"node_id", "address", "direction"}, ...]}`` (direction ``"in"`` or
        ``"out"``)."""
        ...

    def subscribe_events(self, listener: EventListener) -> Callable[[], None]:
        """Register ``listener`` for every event; return a function that unregisters it.

        After each committed block the node calls, in this order,
        ``listener("new_block", data)`` with ``data`` exactly the ``block`` method's result
        for that height, then ``listener("tx", data)`` once per transaction in block order with
        ``data`` exactly the ``tx`` method's result. The server registers one listener when it
        starts and fans events out to WebSocket subscribers itself; listeners never block,
        and an exception from one must not stop the others (log and go on)."""
        ...
