"""Transaction gossip: forward each transaction at most once per peer, in bounded batches.

The node calls :meth:`TxGossip.add` for every transaction it admits (from RPC or from a
peer's batch: a tx received from a peer counts as seen by that peer, so it never goes back)
and :meth:`TxGossip.flush` periodically. Each flush sends every connected peer at most one
batch of the pending txs that peer has not seen, oldest first.

"At most once per peer" holds beyond the bounded seen cache: each peer has a cursor into
the pending order and a tx behind the cursor is never offered again on that link. A peer that
reconnects starts over (it may have restarted with an empty mempool).

Two lanes. Transactions this node admitted from a client (the "own" lane) leave at the next
flush. Transactions a peer sent (the "relay" lane) are forwarded only ``relay_delay_s`` after
they arrived, if still pending: validators dial each other in a full mesh, so the origin has
normally reached every peer already and the tx is committed (and removed) before its relay
is due. Without the delay each of N nodes would receive every tx from N - 1 peers, a cost
that grows with N squared; with it, relaying remains the fallback for a partial mesh (a
missing link costs ``relay_delay_s`` per hop, not the tx).

Batch wire format (channel 2): canonical msgpack of a non-empty list of bin, each one tx's
wire bytes. :func:`decode_batch` is strict and raises only :class:`ProtocolViolation`.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from state.codec import DecodeError, decode, encode

from .types import CH_TX, P2PLimits, PeerInfo, ProtocolViolation

log = logging.getLogger("huzhu.p2p.gossip")

LIST_HEADER_MAX = 5  # msgpack array32 header: an upper bound for any batch's list header


def _bin_size(n: int) -> int:
    """Encoded size of a msgpack bin of n bytes."""
    if n < 256:
        return 2 + n
    if n < 65536:
        return 3 + n
    return 5 + n


def encode_batch(wires: Sequence[bytes]) -> bytes:
    """Canonical msgpack list of bin."""
    return encode([bytes(w) for w in wires])


def decode_batch(payload: bytes, max_txs: int, max_bytes: int) -> list[bytes]:
    """Decode a peer's batch, refusing anything our encoder would not produce.

    Too large, not canonical msgpack, not a non-empty list of non-empty bin, more than
    ``max_txs`` entries or a repeated entry: ProtocolViolation (the node bans the sender).
    """
    if len(payload) > max_bytes:
        raise ProtocolViolation(f"tx batch of {len(payload)} bytes exceeds {max_bytes}")
    try:
        value = decode(payload)
    except DecodeError as exc:
        raise ProtocolViolation(f"tx batch: {exc}") from None
    if type(value) is not list or not value:
        raise ProtocolViolation("tx batch must be a non-empty list")
    if len(value) > max_txs:
        raise ProtocolViolation(f"tx batch of {len(value)} txs exceeds {max_txs}")
    for item in value:
        if type(item) is not bytes or not item:
            raise ProtocolViolation("tx batch entries must be non-empty bin")
    if len(set(value)) != len(value):
        raise ProtocolViolation("tx batch repeats a transaction")
    return value


class Transport(Protocol):
    """What gossip needs of :class:`p2p.node.P2PNode` (a fake will do in tests)."""

    def peers(self) -> list[PeerInfo]: ...

    def send(self, peer_id: bytes, channel: int, payload: bytes) -> bool: ...


OWN, RELAY = 0, 1  # lanes


class _PeerState:
    __slots__ = ("seen", "cursor")

    def __init__(self) -> None:
        self.seen: OrderedDict[bytes, None] = OrderedDict()
        # per lane: every pending tx of the lane with seq <= cursor was offered or skipped
        self.cursor = [-1, -1]


class _Lane:
    """Pending txs of one lane in arrival order: (seq, hash, due time); may hold dead ones."""

    __slots__ = ("order", "head")

    def __init__(self) -> None:
        self.order: list[tuple[int, bytes, float]] = []
        self.head = 0  # entries before head are dead


class TxGossip:
    """Per-peer once-only forwarding of pending transactions."""

    def __init__(
        self,
        transport: Transport,
        limits: P2PLimits,
        channel: int = CH_TX,
        *,
        relay_delay_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if relay_delay_s < 0:
            raise ValueError("relay_delay_s must be >= 0")
        self._transport = transport
        self.limits = limits
        self.channel = channel
        self.relay_delay_s = relay_delay_s
        self._clock = clock
        self._pending: dict[bytes, tuple[int, bytes, int]] = {}  # hash -> (seq, wire, lane)
        self._lanes = (_Lane(), _Lane())
        self._next_seq = 0
        self._peers: dict[bytes, _PeerState] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def fits(self, wire: bytes) -> bool:
        """Whether a tx can travel at all: alone in a batch within gossip_batch_bytes."""
        return LIST_HEADER_MAX + _bin_size(len(wire)) <= self.limits.gossip_batch_limit

    def mark_seen(self, peer_id: bytes, tx_hash: bytes) -> None:
        """Record that ``peer_id`` has ``tx_hash`` (it sent it to us, or we sent it)."""
        state = self._peers.get(peer_id)
        if state is None:
            state = self._peers[peer_id] = _PeerState()
        seen = state.seen
        if tx_hash in seen:
            seen.move_to_end(tx_hash)
            return
        seen[tx_hash] = None
        while len(seen) > self.limits.seen_cache_per_peer:
            seen.popitem(last=False)

    def add(self, tx_hash: bytes, wire: bytes, from_peer: bytes | None = None) -> bool:
        """Queue a tx for forwarding; True when it was new to the gossip.

        Call it for every tx the mempool accepted and also for txs a peer sent that we
        already had, so that peer is not sent them back. A tx from a peer goes to the relay
        lane (forwarded after relay_delay_s), one of our own to the own lane (next flush).
        """
        if from_peer is not None:
            self.mark_seen(from_peer, tx_hash)
        if tx_hash in self._pending:
            return False
        if not self.fits(wire):
            log.warning("tx %s too large to gossip (%d bytes)", tx_hash.hex()[:16], len(wire))
            return False
        seq = self._next_seq
        self._next_seq += 1
        lane = OWN if from_peer is None else RELAY
        due = 0.0 if lane == OWN else self._clock() + self.relay_delay_s
        self._pending[tx_hash] = (seq, wire, lane)
        self._lanes[lane].order.append((seq, tx_hash, due))
        while len(self._pending) > self.limits.gossip_pending_txs:
            self._evict_oldest()
        return True

    def remove(self, hashes: Iterable[bytes]) -> None:
        """Stop forwarding txs (committed, or evicted from the mempool)."""
        for h in hashes:
            self._pending.pop(h, None)
        self._compact()

    def _live(self, seq: int, h: bytes) -> bool:
        entry = self._pending.get(h)
        return entry is not None and entry[0] == seq

    def _evict_oldest(self) -> None:
        """Drop the oldest pending tx, relays first (their origin forwards them too)."""
        for lane in (self._lanes[RELAY], self._lanes[OWN]):
            while lane.head < len(lane.order):
                seq, h, _ = lane.order[lane.head]
                lane.head += 1
                if self._live(seq, h):
                    del self._pending[h]
                    self._compact()
                    return

    def _compact(self) -> None:
        """Drop dead order entries once they are the majority; amortised O(1) per tx."""
        live = len(self._pending)
        for lane in self._lanes:
            if len(lane.order) > 64 and len(lane.order) > 2 * live:
                lane.order = [e for e in lane.order[lane.head :] if self._live(e[0], e[1])]
                lane.head = 0

    def flush(self) -> int:
        """Send each connected peer one batch of txs it has not seen; return batches sent."""
        connected = [p.node_id for p in self._transport.peers()]
        alive = set(connected)
        for pid in [p for p in self._peers if p not in alive]:
            del self._peers[pid]  # a reconnecting peer starts over
        sent = 0
        now = self._clock()
        for pid in connected:
            state = self._peers.get(pid)
            if state is None:
                state = self._peers[pid] = _PeerState()
            if self._flush_peer(pid, state, now):
                sent += 1
        return sent

    def _flush_peer(self, pid: bytes, state: _PeerState, now: float) -> bool:
        lim = self.limits
        max_bytes = lim.gossip_batch_limit
        pending = self._pending
        batch: list[tuple[bytes, bytes]] = []
        size = LIST_HEADER_MAX
        last = list(state.cursor)
        full = False
        for k, lane in enumerate(self._lanes):
            order = lane.order
            i = bisect.bisect_right(order, state.cursor[k], lo=lane.head, key=lambda e: e[0])
            while i < len(order):
                seq, h, due = order[i]
                if due > now:
                    break  # not due yet, nor anything after it (due grows with seq)
                entry = pending.get(h)
                if entry is not None and entry[0] == seq and h not in state.seen:
                    wire = entry[1]
                    cost = _bin_size(len(wire))
                    if len(batch) >= lim.gossip_batch_txs or size + cost > max_bytes:
                        full = True
                        break
                    batch.append((h, wire))
                    size += cost
                last[k] = seq
                i += 1
            if full:
                break
        if not batch:
            state.cursor = last
            return False
        if not self._transport.send(pid, self.channel, encode_batch([w for _, w in batch])):
            return False  # queue full: retry the same txs next flush
        state.cursor = last
        for h, _ in batch:
            self.mark_seen(pid, h)
        return True

    async def run(self, interval_s: float) -> None:
        """Flush every ``interval_s`` until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.flush()
            except Exception:
                log.exception("tx gossip flush failed")
