"""TxGossipPolicy, pure: each tx at most once per peer, never back to its source, bounded
batches, relay lanes, a peer's batch through admission. Time is an argument (ms)."""

from __future__ import annotations

import dataclasses

import msgpack
import pytest

from state.crypto import sha256
from state.errors import Code
from state.tx import CheckResult
from state.txgossip import (
    LIST_HEADER_MAX,
    GossipLimits,
    PeerFault,
    TxGossipPolicy,
    decode_batch,
    encode_batch,
)

A, B, C = b"A" * 32, b"B" * 32, b"C" * 32
LIM = GossipLimits(batch_txs=500, batch_bytes=60_000, pending_txs=20_000, seen_per_peer=20_000)


def limits(**changes: int) -> GossipLimits:
    return dataclasses.replace(LIM, **changes)


class Wire:
    """Records what the policy sends; `accept=False` is a full send queue."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, list[bytes]]] = []
        self.accept = True

    def __call__(self, peer_id: bytes, payload: bytes) -> bool:
        if not self.accept:
            return False
        self.sent.append((peer_id, decode_batch(payload, LIM.batch_txs, 1 << 30)))
        return True

    def to(self, peer: bytes) -> list[bytes]:
        return [w for p, batch in self.sent if p == peer for w in batch]


def tx(i: int, size: int = 10) -> tuple[bytes, bytes]:
    wire = i.to_bytes(4, "big") + bytes(size)
    return sha256(wire), wire


def make(lim: GossipLimits = LIM, delay_ms: int = 0) -> tuple[TxGossipPolicy, Wire]:
    return TxGossipPolicy(lim, relay_delay_ms=delay_ms), Wire()


# ---------------------------------------------------------------- batch codec


def test_batch_roundtrip() -> None:
    wires = [b"a", bytes(300), bytes(70_000)]
    payload = encode_batch(wires)
    assert decode_batch(payload, 3, len(payload)) == wires


@pytest.mark.parametrize(
    ("payload", "max_txs"),
    [
        (b"", 10),
        (b"\xc1", 10),
        (msgpack.packb([]), 10),  # empty batch
        (msgpack.packb({"a": b"x"}), 10),  # not a list
        (msgpack.packb(["text"]), 10),  # str, not bin
        (msgpack.packb([b""]), 10),  # empty tx
        (msgpack.packb([b"x", 5]), 10),
        (msgpack.packb([b"x", b"x"]), 10),  # repeated tx
        (msgpack.packb([b"a", b"b", b"c"]), 2),  # over the count
        (msgpack.packb([b"x"]) + b"\x00", 10),  # trailing byte
        (b"\xdd\x00\x00\x00\x01\xc4\x01x", 10),  # array32 header where fixarray is canonical
        (b"\x91\xc5\x00\x01x", 10),  # bin16 where bin8 is canonical
    ],
)
def test_decode_batch_refuses(payload: bytes, max_txs: int) -> None:
    with pytest.raises(PeerFault):
        decode_batch(payload, max_txs, 1 << 20)


def test_decode_batch_byte_limit_boundary() -> None:
    payload = encode_batch([bytes(100)])
    assert decode_batch(payload, 1, len(payload)) == [bytes(100)]
    with pytest.raises(PeerFault):
        decode_batch(payload, 1, len(payload) - 1)


# ---------------------------------------------------------------- limits


@pytest.mark.parametrize("name", ["batch_txs", "batch_bytes", "pending_txs", "seen_per_peer"])
def test_limits_must_be_positive(name: str) -> None:
    limits(**{name: 1})
    with pytest.raises(ValueError):
        limits(**{name: 0})


def test_limits_of_the_transport_clamp_a_batch_to_one_frame() -> None:
    from p2p.types import P2PLimits

    big = P2PLimits(max_frame_bytes=1024, gossip_batch_bytes=1 << 20)
    lim = GossipLimits.of(big)
    assert lim.batch_bytes == big.max_payload < big.gossip_batch_bytes
    assert (lim.batch_txs, lim.pending_txs, lim.seen_per_peer) == (
        big.gossip_batch_txs,
        big.gossip_pending_txs,
        big.seen_cache_per_peer,
    )
    g, wire = make(lim)
    for i in range(20):
        g.add(*tx(i, size=96), now_ms=0)  # 100-byte wires
    while g.flush([A], 0, wire):
        assert len(encode_batch(wire.sent[-1][1])) <= big.max_payload
    assert len(wire.to(A)) == 20


# ---------------------------------------------------------------- forwarding


def test_each_tx_once_per_peer_never_back_to_source() -> None:
    g, wire = make()
    peers = [A, B, C]
    h1, w1 = tx(1)
    h2, w2 = tx(2)
    assert g.add(h1, w1, 0, from_peer=A)
    assert g.flush(peers, 0, wire) == 2
    assert wire.to(A) == [] and wire.to(B) == [w1] and wire.to(C) == [w1]
    assert g.flush(peers, 0, wire) == 0  # nothing new
    assert not g.add(h1, w1, 0, from_peer=B)  # known already; B now counts as having it
    assert g.add(h2, w2, 0)
    g.flush(peers, 0, wire)
    g.flush(peers, 0, wire)
    assert wire.to(A) == [w2] and wire.to(B) == [w1, w2] and wire.to(C) == [w1, w2]
    assert (g.batches_sent, g.txs_sent) == (5, 5)


def test_mark_seen_suppresses_sending() -> None:
    g, wire = make()
    h, w = tx(1)
    g.mark_seen(B, h)  # e.g. B sent it but our mempool already had it
    g.add(h, w, 0)
    g.flush([A, B], 0, wire)
    assert wire.to(A) == [w] and wire.to(B) == []


def test_batches_bounded_by_count_and_bytes_and_drain_in_order() -> None:
    lim = limits(batch_txs=3, batch_bytes=LIST_HEADER_MAX + 3 * 202)
    g, wire = make(lim)
    txs = [tx(i, size=196) for i in range(7)]  # 200-byte wires, 202 bytes encoded
    for h, w in txs:
        g.add(h, w, 0)
    sizes = []
    while g.flush([A], 0, wire):
        sizes.append(len(wire.sent[-1][1]))
    assert sizes == [3, 3, 1]
    assert wire.to(A) == [w for _, w in txs]
    for _, batch in wire.sent:
        assert len(encode_batch(batch)) <= lim.batch_bytes
    # One byte less and only two such txs fit a batch.
    g2, wire2 = make(dataclasses.replace(lim, batch_bytes=lim.batch_bytes - 1))
    for h, w in txs[:3]:
        g2.add(h, w, 0)
    g2.flush([A], 0, wire2)
    assert len(wire2.sent[0][1]) == 2


def test_tx_larger_than_a_batch_is_not_gossiped() -> None:
    g, _ = make(limits(batch_bytes=1000))
    fits = bytes(1000 - LIST_HEADER_MAX - 3)  # bin16 header: 3 bytes
    assert g.fits(fits) and not g.fits(fits + b"\x00")
    assert g.add(sha256(fits), fits, 0)
    assert not g.add(sha256(fits + b"\x00"), fits + b"\x00", 0)
    assert len(g) == 1


def test_refused_send_offers_the_same_batch_next_flush() -> None:
    g, wire = make()
    h, w = tx(1)
    g.add(h, w, 0)
    wire.accept = False
    assert g.flush([A], 0, wire) == 0
    wire.accept = True
    assert g.flush([A], 0, wire) == 1 and wire.to(A) == [w]
    assert g.flush([A], 0, wire) == 0


def test_removed_txs_are_not_sent() -> None:
    g, wire = make()
    txs = [tx(i) for i in range(200)]
    for h, w in txs:
        g.add(h, w, 0)
    g.remove([h for h, _ in txs[:150]])  # committed
    assert len(g) == 50
    g.flush([A], 0, wire)
    assert wire.to(A) == [w for _, w in txs[150:]]


def test_pending_bound_evicts_oldest() -> None:
    g, wire = make(limits(pending_txs=5))
    txs = [tx(i) for i in range(6)]
    for h, w in txs[:5]:
        g.add(h, w, 0)
    assert len(g) == 5
    g.add(*txs[5], 0)
    assert len(g) == 5
    g.flush([A], 0, wire)
    assert wire.to(A) == [w for _, w in txs[1:]]


def test_seen_cache_bounded_but_cursor_still_prevents_resend() -> None:
    g, wire = make(limits(seen_per_peer=3))
    txs = [tx(i) for i in range(5)]
    for h, w in txs:
        g.add(h, w, 0, from_peer=B)
    # B's cache keeps the 3 most recent: the first 2 look unseen by B now, and go to B.
    g.flush([A, B], 0, wire)
    assert wire.to(B) == [txs[0][1], txs[1][1]]
    assert len(g._peers[B].seen) == 3
    g.flush([A, B], 0, wire)
    assert wire.to(B) == [txs[0][1], txs[1][1]] and wire.to(A) == [w for _, w in txs]


def test_new_and_reconnecting_peers_get_pending_txs() -> None:
    g, wire = make()
    h, w = tx(1)
    g.add(h, w, 0)
    g.flush([A], 0, wire)
    g.flush([A, B], 0, wire)  # B connects later
    assert wire.to(B) == [w]
    g.flush([A], 0, wire)  # B drops ...
    g.flush([A, B], 0, wire)  # ... and comes back (maybe restarted with an empty mempool)
    assert wire.to(B) == [w, w] and wire.to(A) == [w]


# ---------------------------------------------------------------- relay lane


def test_relay_waits_exactly_the_delay_own_txs_do_not() -> None:
    g, wire = make(delay_ms=1_500)
    peers = [A, B, C]
    hr, wr = tx(1)
    ho, wo = tx(2)
    g.add(hr, wr, 100_000, from_peer=A)  # relay lane, due at 101_500
    g.add(ho, wo, 100_000)  # own lane: not held behind the relay
    g.flush(peers, 100_000, wire)
    assert wire.to(B) == [wo] and wire.to(C) == [wo] and wire.to(A) == [wo]
    assert g.flush(peers, 101_499, wire) == 0
    g.flush(peers, 101_500, wire)  # due exactly now
    assert wire.to(B) == [wo, wr] and wire.to(C) == [wo, wr]
    assert wire.to(A) == [wo]  # never back to where it came from


def test_relay_committed_before_due_is_never_sent() -> None:
    g, wire = make(delay_ms=1_500)
    h, w = tx(1)
    g.add(h, w, 0, from_peer=A)
    g.remove([h])  # committed within the delay: the common case in a full mesh
    assert g.flush([A, B], 10_000, wire) == 0 and wire.sent == []


def test_zero_delay_relays_at_once_and_negative_is_refused() -> None:
    g, wire = make(delay_ms=0)
    h, w = tx(1)
    g.add(h, w, 0, from_peer=A)
    g.flush([A, B], 0, wire)
    assert wire.to(B) == [w]
    with pytest.raises(ValueError):
        TxGossipPolicy(LIM, relay_delay_ms=-1)


def test_relays_keep_arrival_order_and_stop_at_the_first_not_due() -> None:
    g, wire = make(delay_ms=1_000)
    first = [tx(i) for i in range(3)]
    for h, w in first:
        g.add(h, w, 0, from_peer=A)
    later = tx(9)
    g.add(*later, 500, from_peer=A)
    g.flush([B], 1_000, wire)  # the first three are due, the later one not yet
    assert wire.to(B) == [w for _, w in first]
    g.flush([B], 1_500, wire)
    assert wire.to(B) == [w for _, w in first] + [later[1]]


def test_pending_bound_evicts_relays_before_own_txs() -> None:
    g, wire = make(limits(pending_txs=2), delay_ms=1_500)
    own = tx(1)
    g.add(*own, 0)
    g.add(*tx(2), 0, from_peer=A)
    g.add(*tx(3), 0, from_peer=A)  # over the bound: the oldest relay goes, not our own tx
    assert len(g) == 2
    g.flush([B], 10_000, wire)
    assert wire.to(B) == [own[1], tx(3)[1]]


# ---------------------------------------------------------------- a peer's batch


class FakeTx:
    def __init__(self, wire: bytes) -> None:
        self.wire = wire
        self.hash = sha256(wire)


def admit_by_first_byte(wire: bytes) -> CheckResult:
    """Admission stand-in: the first byte of the wire picks the answer."""
    code = {0: Code.OK, 1: Code.DUPLICATE, 2: Code.BAD_SIGNATURE, 3: Code.MALFORMED}[wire[0]]
    tx = None if code is Code.MALFORMED else FakeTx(wire)
    return CheckResult(code, "", tx)  # type: ignore[arg-type]  # the policy reads .hash, .wire


def test_receive_relays_the_admitted_and_marks_the_rest_known_to_the_sender() -> None:
    g, wire = make()
    ok, dup = b"\x00ok", b"\x01dup"
    results = g.receive(A, encode_batch([ok, dup]), admit_by_first_byte, 0)
    assert [r.code for r in results] == [Code.OK, Code.DUPLICATE]
    assert g.txs_received == 2 and len(g) == 1
    g.add(sha256(dup), dup, 0)  # even if it becomes ours to send, A already has it
    g.flush([A, B], 0, wire)
    assert wire.to(B) == [dup, ok] and wire.to(A) == []  # own lane first, then relays


@pytest.mark.parametrize("bad", [b"\x02forged", b"\x03garbage"])
def test_receive_refuses_what_no_honest_peer_sends(bad: bytes) -> None:
    g, _ = make()
    with pytest.raises(PeerFault, match="gossiped tx refused"):
        g.receive(A, encode_batch([b"\x00ok", bad]), admit_by_first_byte, 0)
    assert len(g) == 1  # what came before it stays admitted
    with pytest.raises(PeerFault, match="tx batch"):
        g.receive(A, b"\xc1", admit_by_first_byte, 0)


def test_receive_bounds_the_batch_by_the_limits() -> None:
    g, _ = make(limits(batch_txs=2))
    with pytest.raises(PeerFault, match="exceeds 2"):
        g.receive(A, encode_batch([b"\x00a", b"\x00b", b"\x00c"]), admit_by_first_byte, 0)
    assert len(g) == 0
    g.receive(A, encode_batch([b"\x00a", b"\x00b"]), admit_by_first_byte, 0)
    assert len(g) == 2


# ---------------------------------------------------------------- small batches wait


def test_few_own_txs_wait_for_more_until_the_oldest_is_max_hold_old() -> None:
    p = TxGossipPolicy(LIM, min_batch_txs=3, max_hold_ms=200)
    w = Wire()
    p.add(*tx(1), now_ms=1000)
    p.add(*tx(2), now_ms=1050)
    assert p.flush([A], 1100, w) == 0 and w.sent == []  # 2 < 3, the oldest 100 ms old
    assert p.flush([A], 1199, w) == 0  # 199 ms: still young
    assert p.flush([A], 1200, w) == 1  # 200 ms: it goes, with what came since
    assert w.to(A) == [tx(1)[1], tx(2)[1]]
    p.add(*tx(3), now_ms=1210)
    p.add(*tx(4), now_ms=1220)
    p.add(*tx(5), now_ms=1230)
    assert p.flush([A], 1240, w) == 1  # 3 txs: min_batch_txs reached, no wait
    assert w.to(A)[2:] == [tx(3)[1], tx(4)[1], tx(5)[1]]


def test_a_full_batch_or_a_relayed_tx_never_waits() -> None:
    p = TxGossipPolicy(limits(batch_txs=2), min_batch_txs=8, max_hold_ms=10_000)
    w = Wire()
    for i in range(3):
        p.add(*tx(i), now_ms=0)
    assert p.flush([A], 1, w) == 1 and len(w.to(A)) == 2  # full (batch_txs 2)
    assert p.flush([A], 2, w) == 0  # the third, alone and young, waits
    p.add(*tx(9), now_ms=2, from_peer=B)  # a relay (no delay): late already
    assert p.flush([A], 3, w) == 1
    assert sorted(w.to(A)[2:]) == sorted([tx(2)[1], tx(9)[1]])


def test_without_a_hold_every_flush_sends_what_it_has() -> None:
    p, w = make()
    p.add(*tx(1), now_ms=0)
    assert p.flush([A], 0, w) == 1


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"min_batch_txs": 0}, "min_batch_txs"), ({"max_hold_ms": -1}, "max_hold_ms")],
)
def test_hold_bounds_are_validated(kwargs: dict[str, int], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        TxGossipPolicy(LIM, **kwargs)
    TxGossipPolicy(LIM, min_batch_txs=1, max_hold_ms=0)  # the boundary itself is fine


def test_an_empty_flush_scans_no_peer_and_changes_nothing_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing pending (an idle node): the flush sends nothing and does not scan each peer's
    lanes; peers that came and went meanwhile are handled as by a full flush, and txs added
    later reach every connected peer once, relayed ones after their delay."""
    p, w = make(delay_ms=100)
    h1, w1 = tx(1)
    p.add(h1, w1, 0)
    assert p.flush([A, B], 0, w) == 2
    p.remove([h1])
    scans: list[bytes] = []
    real = TxGossipPolicy._flush_peer

    def counted(self: TxGossipPolicy, pid: bytes, *args: object) -> bool:
        scans.append(pid)
        return real(self, pid, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(TxGossipPolicy, "_flush_peer", counted)
    assert p.flush([A, B, C], 10, w) == 0
    assert p.flush([B, C], 20, w) == 0  # A left while idle: forgotten
    assert scans == []
    h2, w2 = tx(2)
    h3, w3 = tx(3)
    p.add(h2, w2, 30)
    p.add(h3, w3, 30, from_peer=C)
    assert p.flush([A, B, C], 30, w) == 3  # A is back: it starts over
    assert w.to(A) == [w1, w2] and w.to(B) == [w1, w2] and w.to(C) == [w2]
    assert p.flush([A, B, C], 130, w) == 2  # the relayed tx, never back to C
    assert w.to(A) == [w1, w2, w3] and w.to(B) == [w1, w2, w3] and w.to(C) == [w2]
