"""The transaction-gossip policy: which pending transactions go to which peer, and when.

Pure (no I/O, no clock: time comes in as `now_ms`), so the node's event loop
(p2p/gossip.py) and the simulator drive the same rules. The driver tells the policy what the
mempool admitted (:meth:`TxGossipPolicy.add`), what left it (:meth:`TxGossipPolicy.remove`),
hands it each peer's batch (:meth:`TxGossipPolicy.receive`) and calls
:meth:`TxGossipPolicy.flush` periodically with the connected peers and a `send` function.
Each flush offers every connected peer at most one batch of the pending txs that peer has
not seen, oldest first.

"At most once per peer" holds beyond the bounded seen cache: each peer has a cursor into
the pending order and a tx behind the cursor is never offered again on that link. A peer that
reconnects starts over (it may have restarted with an empty mempool).

Two lanes. Transactions this node admitted from a client (the "own" lane) leave at the next
flush. Transactions a peer sent (the "relay" lane) are forwarded only `relay_delay_ms` after
they arrived, if still pending: validators dial each other in a full mesh, so the origin has
normally reached every peer already and the tx is committed (and removed) before its relay
is due. Without the delay each of N nodes would receive every tx from N - 1 peers, a cost
that grows with N squared; with it, relaying remains the fallback for a partial mesh (a
missing link costs `relay_delay_ms` per hop, not the tx).

Bounded relay fanout. A relayed tx goes to at most `relay_fanout` peers (None: every peer,
the simulator's setting), not to all N - 2 that were not seen with it: once the backlog is
older than the delay, unbounded relaying made each tx reach each of N nodes up to N - 1
times. The targets are the connected peers not known to have the tx, ranked by
sha256(self_id + tx_hash + peer_id): deterministic (state/ has no randomness) yet spread,
so the relays of many txs fall evenly on the peers, and the relayers of one tx (salted by
their own ids) do not all pick the same few peers. They are chosen once, at the tx's first due
flush, and chosen again whenever the set of connected peers changes (a target that left,
a partition that healed). 0 never relays. Liveness: a client's tx still goes to every
peer (the own lane), and each node keeps a tx pending until a block includes it; in a
full mesh the origin reaches every proposer directly, and in a partial mesh each node that
receives the tx offers it to `relay_fanout` peers that have not been seen with it, so
along any path where each node has at most `relay_fanout` such peers (a chain, a ring) it
reaches every node, one relay delay per hop. A peer passed over is not offered the tx
later, even if a target leaves (its cursor has moved on): in a sparse mesh where a node
has more unseen peers than the fanout, reaching them is likely (other relayers pick other
peers), not certain; validators dial a full mesh, where the origin reaches all of them.

The mesh. With `mesh` set (the node: "is this peer a validator?"), a tx from a peer of the
mesh is not relayed but held: validators dial each other in a full mesh, so such a tx
already reached every other one from its origin, and relaying it only made it arrive again
(at 21 validators with a backlog older than the relay delay: 3 copies per tx per node where
1 does). A tx from a peer outside the mesh (an observer) enters it here: it goes to every
peer at the next flush, as a client's. A held tx is relayed after all (relay lane, fanout)
once its sender's link goes down (:meth:`peer_down`, or a flush without it): a crashed or
cut-off origin may have reached only some peers. A peer whose link comes back starts over,
so a validator partitioned when a tx was first sent receives it from its origin when the
partition heals, or, if the origin went away meanwhile, from the relays of those that held
it. None (the simulator, whose links lose messages without going down) relays every
peer's txs.

Small batches wait. Every batch costs its receiver a frame, a decode and an admission
request whatever it holds, and at 21 validators each node's own clients give it about one tx
per flush, so every tx reached every peer as a batch of its own. With `min_batch_txs` and
`max_hold_ms` (the node: 8 and 200 ms; defaults 1 and 0, the simulator's: never held), a
peer's batch of fewer than `min_batch_txs` own txs is not sent while its oldest tx arrived
less than `max_hold_ms` ago: it is offered again, with what came since, at the next flush. A
full batch, or one carrying a relayed tx (late already), never waits, so a busy node's batches
and a reconnecting peer's catch-up go at every flush as before.

Batch wire format (P2P channel 2): canonical msgpack of a non-empty list of bin, each one
tx's wire bytes. :func:`decode_batch` is strict and raises only :class:`PeerFault`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from state.codec import DecodeError, decode, encode
from state.crypto import sha256
from state.recent import RecentSet
from state.tx import PEER_FAULT_CODES, CheckResult

LIST_HEADER_MAX = 5  # msgpack array32 header: an upper bound for any batch's list header

OWN, RELAY = 0, 1  # lanes

#: `send(peer_id, payload) -> accepted`; False (a full queue) keeps the batch for next flush
Send = Callable[[bytes, bytes], bool]
#: mempool admission of one wire (`Mempool.add`)
Admit = Callable[[bytes], CheckResult]


class PeerFault(ValueError):
    """A peer's batch is provably not what an honest node sends: the driver bans the peer."""


def bin_size(n: int) -> int:
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
    `max_txs` entries or a repeated entry: PeerFault.
    """
    if len(payload) > max_bytes:
        raise PeerFault(f"tx batch of {len(payload)} bytes exceeds {max_bytes}")
    try:
        value = decode(payload)
    except DecodeError as exc:
        raise PeerFault(f"tx batch: {exc}") from None
    if type(value) is not list or not value:
        raise PeerFault("tx batch must be a non-empty list")
    if len(value) > max_txs:
        raise PeerFault(f"tx batch of {len(value)} txs exceeds {max_txs}")
    for item in value:
        if type(item) is not bytes or not item:
            raise PeerFault("tx batch entries must be non-empty bin")
    if len(set(value)) != len(value):
        raise PeerFault("tx batch repeats a transaction")
    return value


class _TransportBounds(Protocol):
    """The gossip bounds of the transport's limits (p2p.types.P2PLimits has them)."""

    @property
    def gossip_batch_txs(self) -> int: ...

    @property
    def gossip_batch_limit(self) -> int: ...

    @property
    def gossip_pending_txs(self) -> int: ...

    @property
    def seen_cache_per_peer(self) -> int: ...


@dataclass(frozen=True, slots=True)
class GossipLimits:
    """Every bound of the policy. The node's come from its transport (`of(P2PLimits)`), so
    a batch always fits one frame; the simulator picks its own."""

    batch_txs: int  # transactions in one batch
    batch_bytes: int  # encoded bytes of one batch
    pending_txs: int  # txs waiting to be forwarded; the oldest are dropped beyond it
    seen_per_peer: int  # hashes remembered per peer as already known to it

    def __post_init__(self) -> None:
        for name in ("batch_txs", "batch_bytes", "pending_txs", "seen_per_peer"):
            if getattr(self, name) < 1:
                raise ValueError(f"gossip {name} must be >= 1")

    @classmethod
    def of(cls, transport: _TransportBounds) -> GossipLimits:
        """The one conversion from the transport's limits."""
        return cls(
            batch_txs=transport.gossip_batch_txs,
            batch_bytes=transport.gossip_batch_limit,
            pending_txs=transport.gossip_pending_txs,
            seen_per_peer=transport.seen_cache_per_peer,
        )


class _PeerState:
    __slots__ = ("seen", "cursor")

    def __init__(self, seen_limit: int) -> None:
        self.seen: RecentSet[bytes] = RecentSet(seen_limit)
        # per lane: every pending tx of the lane with seq <= cursor was offered or skipped
        self.cursor = [-1, -1]


class _Lane:
    """Pending txs of one lane in arrival order: (seq, hash, due ms); may hold dead ones."""

    __slots__ = ("order", "head")

    def __init__(self) -> None:
        self.order: list[tuple[int, bytes, int]] = []
        self.head = 0  # entries before head are dead


class TxGossipPolicy:
    """Per-peer once-only forwarding of pending transactions, in bounded batches."""

    def __init__(
        self,
        limits: GossipLimits,
        *,
        relay_delay_ms: int = 0,
        relay_fanout: int | None = None,
        self_id: bytes = b"",
        mesh: Callable[[bytes], bool] | None = None,
        min_batch_txs: int = 1,
        max_hold_ms: int = 0,
    ) -> None:
        if relay_delay_ms < 0:
            raise ValueError("relay_delay_ms must be >= 0")
        if min_batch_txs < 1:
            raise ValueError("min_batch_txs must be >= 1")
        if max_hold_ms < 0:
            raise ValueError("max_hold_ms must be >= 0")
        if relay_fanout is not None and relay_fanout < 0:
            raise ValueError("relay_fanout must be >= 0")
        self.limits = limits
        self.relay_delay_ms = relay_delay_ms
        self.relay_fanout = relay_fanout
        self.self_id = self_id  # salts the ranks so relayers of one tx pick different peers
        self.mesh = mesh  # peers whose txs reached the whole mesh from them: held, not relayed
        # a batch of fewer than min_batch_txs own txs waits while its oldest tx is younger
        # than max_hold_ms ("Small batches wait" above)
        self.min_batch_txs = min_batch_txs
        self.max_hold_ms = max_hold_ms
        # held txs (from mesh peers): hash -> (wire, sender), and each sender's hashes
        self._held: dict[bytes, tuple[bytes, bytes]] = {}
        self._held_by: dict[bytes, set[bytes]] = {}
        # relay-lane hash -> (peer-set epoch, its targets); dropped with the pending tx
        self._targets: dict[bytes, tuple[int, frozenset[bytes]]] = {}
        self._peer_set: frozenset[bytes] = frozenset()
        self._epoch = 0
        self._pending: dict[bytes, tuple[int, bytes, int]] = {}  # hash -> (seq, wire, lane)
        self._lanes = (_Lane(), _Lane())
        self._next_seq = 0
        self._peers: dict[bytes, _PeerState] = {}
        # what went through this policy (the simulator reports them)
        self.batches_sent = 0
        self.txs_sent = 0
        self.txs_received = 0

    def __len__(self) -> int:
        return len(self._pending)

    def fits(self, wire: bytes) -> bool:
        """Whether a tx can travel at all: alone in a batch within `batch_bytes`."""
        return LIST_HEADER_MAX + bin_size(len(wire)) <= self.limits.batch_bytes

    def mark_seen(self, peer_id: bytes, tx_hash: bytes) -> None:
        """Record that `peer_id` has `tx_hash` (it sent it to us, or we sent it)."""
        state = self._peers.get(peer_id)
        if state is None:
            state = self._peers[peer_id] = _PeerState(self.limits.seen_per_peer)
        state.seen.add(tx_hash)

    def add(self, tx_hash: bytes, wire: bytes, now_ms: int, from_peer: bytes | None = None) -> bool:
        """Queue a tx for forwarding; True when it was new to the gossip.

        Call it for every tx the mempool accepted and also for txs a peer sent that we
        already had, so that peer is not sent them back. A tx from a peer goes to the relay
        lane (forwarded after relay_delay_ms), one of our own to the own lane (next flush);
        with `mesh`, a mesh peer's is held and another peer's goes to the own lane.
        A tx that does not fit a batch alone is never forwarded (False).
        """
        if from_peer is not None:
            self.mark_seen(from_peer, tx_hash)
            if self.relay_fanout == 0:
                return False  # never relayed: nothing to queue
            if self.mesh is not None:
                if self.mesh(from_peer):
                    return self._hold(tx_hash, wire, from_peer)
                from_peer = None  # it enters the mesh here: to every peer, as a client's
        if tx_hash in self._pending or not self.fits(wire):
            return False
        if from_peer is None:
            self._enqueue(tx_hash, wire, OWN, now_ms)  # due at once; `due` dates its arrival
        else:
            self._enqueue(tx_hash, wire, RELAY, now_ms + self.relay_delay_ms)
        return True

    def _enqueue(self, tx_hash: bytes, wire: bytes, lane: int, due: int) -> None:
        seq = self._next_seq
        self._next_seq += 1
        self._pending[tx_hash] = (seq, wire, lane)
        self._lanes[lane].order.append((seq, tx_hash, due))
        while len(self._pending) > self.limits.pending_txs:
            self._evict_oldest()

    def _hold(self, tx_hash: bytes, wire: bytes, sender: bytes) -> bool:
        """Keep a mesh peer's tx, to relay it if that peer's link goes down."""
        if tx_hash in self._held or tx_hash in self._pending or not self.fits(wire):
            return False
        self._held[tx_hash] = (wire, sender)
        self._held_by.setdefault(sender, set()).add(tx_hash)
        if len(self._held) > self.limits.pending_txs:  # the oldest goes, as in the lanes
            old = next(iter(self._held))
            self._unhold(old)
        return True

    def _unhold(self, tx_hash: bytes) -> tuple[bytes, bytes] | None:
        held = self._held.pop(tx_hash, None)
        if held is not None:
            mine = self._held_by.get(held[1])
            if mine is not None:
                mine.discard(tx_hash)
                if not mine:
                    del self._held_by[held[1]]
        return held

    def peer_down(self, peer_id: bytes, now_ms: int) -> None:
        """A peer's link went down: forget what it was offered (it starts over when it comes
        back) and queue for relay the txs held because it sent them."""
        self._peers.pop(peer_id, None)
        hashes = self._held_by.pop(peer_id, None)
        if not hashes:
            return
        due = now_ms + self.relay_delay_ms
        for h in [h for h in self._held if h in hashes]:  # oldest first
            wire, _ = self._held.pop(h)
            if h not in self._pending:
                self.mark_seen(peer_id, h)  # not back to it if it returns at once
                self._enqueue(h, wire, RELAY, due)

    def held(self) -> int:
        """Mesh peers' txs kept in case their sender's link goes down."""
        return len(self._held)

    def remove(self, hashes: Iterable[bytes]) -> None:
        """Stop forwarding txs (committed, or evicted from the mempool)."""
        targets = self._targets
        held = self._held
        for h in hashes:
            self._pending.pop(h, None)
            targets.pop(h, None)
            if held:
                self._unhold(h)
        self._compact()

    def receive(
        self, peer_id: bytes, payload: bytes, admit: Admit, now_ms: int
    ) -> list[CheckResult]:
        """A peer's batch: decode it, offer each tx to the mempool through `admit`, queue the
        admitted ones for relay and remember the others as known to that peer.

        PeerFault when the batch is garbage, or a tx fails a check independent of state (an
        honest peer admitted it, so could not have sent it); txs before it stay admitted.
        """
        results: list[CheckResult] = []
        for wire in self.open_batch(payload):
            res = admit(wire)
            results.append(res)
            self.settle(peer_id, res, now_ms)
        return results

    def open_batch(self, payload: bytes) -> list[bytes]:
        """The first half of `receive`: the batch's txs (PeerFault on garbage). A driver that
        checks signatures elsewhere admits them in order, then hands each result to
        `settle`."""
        lim = self.limits
        wires = decode_batch(payload, lim.batch_txs, lim.batch_bytes)
        self.txs_received += len(wires)
        return wires

    def settle(self, peer_id: bytes, res: CheckResult, now_ms: int) -> None:
        """The second half of `receive`, per tx in batch order: queue an admitted tx for
        relay, remember a refused one as known to the peer, or raise PeerFault when the
        refusal does not depend on state (an honest peer could not have sent it)."""
        tx = res.tx
        if res.ok:
            assert tx is not None
            self.add(tx.hash, tx.wire, now_ms, from_peer=peer_id)
        elif res.code in PEER_FAULT_CODES:
            raise PeerFault(f"gossiped tx refused: {res.error}")
        elif tx is not None:
            self.mark_seen(peer_id, tx.hash)  # duplicate, stale or full: not back

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
                    self._targets.pop(h, None)
                    self._compact()
                    return

    def _compact(self) -> None:
        """Drop dead order entries once they are the majority; amortised O(1) per tx."""
        live = len(self._pending)
        for lane in self._lanes:
            if len(lane.order) > 64 and len(lane.order) > 2 * live:
                lane.order = [e for e in lane.order[lane.head :] if self._live(e[0], e[1])]
                lane.head = 0

    def flush(self, peers: Sequence[bytes], now_ms: int, send: Send) -> int:
        """Offer each of `peers` (the connected ones, in this order) one batch of txs it has
        not seen; return the batches `send` accepted. Peers not listed are forgotten: one
        that reconnects starts over."""
        alive = frozenset(peers)
        for pid in [p for p in self._peers if p not in alive]:
            del self._peers[pid]
        for pid in [p for p in self._held_by if p not in alive]:
            self.peer_down(pid, now_ms)
        if alive != self._peer_set:
            self._peer_set = alive
            self._epoch += 1  # relay targets are chosen again among the new set
        if not self._pending:
            # nothing to offer: an idle node flushes 20 times a second, and scanning each
            # peer's lanes for nothing was ~5 % of an idle 21-validator node's loop; every
            # order entry is dead, and a later tx's seq is past every cursor either way
            for lane in self._lanes:
                lane.order.clear()
                lane.head = 0
            return 0
        states = []
        for pid in peers:
            state = self._peers.get(pid)
            if state is None:
                state = self._peers[pid] = _PeerState(self.limits.seen_per_peer)
            states.append((pid, state))
        sent = 0
        for pid, state in states:
            if self._flush_peer(pid, state, now_ms, send):
                sent += 1
        return sent

    def _relay_targets(self, tx_hash: bytes, seq: int) -> frozenset[bytes]:
        """The connected peers a relayed tx goes to: at most `relay_fanout` of those not
        known to have it and not already past it (a peer's cursor never goes back, so one
        that was passed over cannot take a slot from a peer that just reconnected), lowest
        sha256(self_id + tx_hash + peer_id) first; cached until the set of connected peers changes."""
        cached = self._targets.get(tx_hash)
        if cached is not None and cached[0] == self._epoch:
            return cached[1]
        fanout = self.relay_fanout
        peers = self._peers
        unseen = [
            p
            for p in self._peer_set
            if tx_hash not in peers[p].seen and peers[p].cursor[RELAY] < seq
        ]
        if fanout is not None and len(unseen) > fanout:
            salt = self.self_id + tx_hash
            unseen.sort(key=lambda p: sha256(salt + p))
            unseen = unseen[:fanout]
        chosen = frozenset(unseen)
        self._targets[tx_hash] = (self._epoch, chosen)
        return chosen

    def _flush_peer(self, pid: bytes, state: _PeerState, now_ms: int, send: Send) -> bool:
        lim = self.limits
        max_bytes = lim.batch_bytes
        pending = self._pending
        batch: list[tuple[bytes, bytes]] = []
        size = LIST_HEADER_MAX
        last = list(state.cursor)
        full = False
        relayed = False
        oldest = now_ms  # arrival of the batch's first own tx (own lane: due = arrival)
        bounded = self.relay_fanout is not None
        for k, lane in enumerate(self._lanes):
            order = lane.order
            i = bisect.bisect_right(order, state.cursor[k], lo=lane.head, key=lambda e: e[0])
            while i < len(order):
                seq, h, due = order[i]
                if due > now_ms:
                    break  # not due yet, nor anything after it (due grows with seq)
                entry = pending.get(h)
                if (
                    entry is not None
                    and entry[0] == seq
                    and h not in state.seen
                    and not (k == RELAY and bounded and pid not in self._relay_targets(h, seq))
                ):
                    wire = entry[1]
                    cost = bin_size(len(wire))
                    if len(batch) >= lim.batch_txs or size + cost > max_bytes:
                        full = True
                        break
                    if not batch:
                        oldest = due
                    relayed = relayed or k == RELAY
                    batch.append((h, wire))
                    size += cost
                last[k] = seq
                i += 1
            if full:
                break
        if not batch:
            state.cursor = last
            return False
        if (
            not full
            and len(batch) < self.min_batch_txs
            and not relayed
            and now_ms - oldest < self.max_hold_ms
        ):
            return False  # a few own txs, all young: they wait for more (see __init__)
        if not send(pid, encode_batch([w for _, w in batch])):
            return False  # queue full: offer the same txs next flush
        state.cursor = last
        for h, _ in batch:
            self.mark_seen(pid, h)
        self.batches_sent += 1
        self.txs_sent += len(batch)
        return True
