"""Transaction gossip, the I/O half: drives a pure gossip policy from the event loop.

The rules (what goes to which peer, batching and size bounds, relay delay, the batch wire
format) are state/txgossip.py's `TxGossipPolicy`, which the simulator drives too. This
module gives it the clock and the transport: `TxGossip.flush` hands the policy the
connected peers and a `send` on channel 2, and `run` flushes periodically. The policy is
passed in (the node builds it), so p2p imports nothing of state but codec and crypto.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from .types import CH_TX, PeerInfo

log = logging.getLogger("huzhu.p2p.gossip")


def monotonic_ms() -> int:
    """The gossip clock: only differences matter (relay delays), so monotonic."""
    return time.monotonic_ns() // 1_000_000


class Transport(Protocol):
    """What gossip needs of :class:`p2p.node.P2PNode` (a fake will do in tests)."""

    def peers(self) -> list[PeerInfo]: ...

    def send(self, peer_id: bytes, channel: int, payload: bytes) -> bool: ...


class Policy(Protocol):
    """What the driver calls of state/txgossip.py's `TxGossipPolicy`."""

    def __len__(self) -> int: ...

    def fits(self, wire: bytes) -> bool: ...

    def mark_seen(self, peer_id: bytes, tx_hash: bytes) -> None: ...

    def add(
        self, tx_hash: bytes, wire: bytes, now_ms: int, from_peer: bytes | None = None
    ) -> bool: ...

    def remove(self, hashes: Iterable[bytes]) -> None: ...

    def peer_down(self, peer_id: bytes, now_ms: int) -> None: ...

    def receive(
        self, peer_id: bytes, payload: bytes, admit: Callable[[bytes], Any], now_ms: int
    ) -> list[Any]: ...

    def flush(
        self, peers: Sequence[bytes], now_ms: int, send: Callable[[bytes, bytes], bool]
    ) -> int: ...


class TxGossip:
    """A gossip policy wired to a transport and a clock."""

    def __init__(
        self,
        transport: Transport,
        policy: Policy,
        channel: int = CH_TX,
        *,
        clock: Callable[[], int] = monotonic_ms,
        ready: Callable[[], Iterable[tuple[bytes, bytes]]] | None = None,
    ) -> None:
        """`ready`: (hash, wire) of the txs that became forwardable since its last call (the
        mempool's withheld txs whose nonce gap filled), queued as our own at each flush."""
        self._transport = transport
        self._ready = ready
        # P2PNode's cheap list of ids when there is one; a fake transport's peers() else
        ids = getattr(transport, "peer_ids", None)
        self._peer_ids: Callable[[], list[bytes]] = (
            ids if ids is not None else lambda: [p.node_id for p in transport.peers()]
        )
        self.policy = policy
        self.channel = channel
        self._clock = clock

    def __len__(self) -> int:
        return len(self.policy)

    def fits(self, wire: bytes) -> bool:
        return self.policy.fits(wire)

    def mark_seen(self, peer_id: bytes, tx_hash: bytes) -> None:
        self.policy.mark_seen(peer_id, tx_hash)

    def add(self, tx_hash: bytes, wire: bytes, from_peer: bytes | None = None) -> bool:
        """Queue an admitted tx (see `TxGossipPolicy.add`); True when new to the gossip."""
        if not self.policy.fits(wire):
            log.warning("tx %s too large to gossip (%d bytes)", tx_hash.hex()[:16], len(wire))
        return self.policy.add(tx_hash, wire, self._clock(), from_peer)

    def remove(self, hashes: Iterable[bytes]) -> None:
        self.policy.remove(hashes)

    def peer_down(self, peer_id: bytes) -> None:
        """A peer's link went down: it starts over when it comes back, and the txs held
        because it sent them are relayed (see `TxGossipPolicy.peer_down`)."""
        self.policy.peer_down(peer_id, self._clock())

    def receive(self, peer_id: bytes, payload: bytes, admit: Callable[[bytes], Any]) -> list[Any]:
        """A peer's batch through the policy (which raises its PeerFault on garbage)."""
        return self.policy.receive(peer_id, payload, admit, self._clock())

    def flush(self) -> int:
        """Send each connected peer one batch of txs it has not seen; return batches sent."""
        if self._ready is not None:
            for tx_hash, wire in self._ready():
                self.add(tx_hash, wire)
        connected = self._peer_ids()

        def send(peer_id: bytes, payload: bytes) -> bool:
            return self._transport.send(peer_id, self.channel, payload)

        return self.policy.flush(connected, self._clock(), send)

    async def run(self, interval_s: float) -> None:
        """Flush every `interval_s` until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.flush()
            except Exception:
                log.exception("tx gossip flush failed")
