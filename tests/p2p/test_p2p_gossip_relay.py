"""Tx gossip lanes: a client's txs leave at the next flush, a peer's txs are relayed only
after relay_delay_s (validators form a full mesh: the origin reaches everyone itself)."""

from __future__ import annotations

import pytest
from p2p_testutil import FAST, limits

from p2p.gossip import TxGossip, decode_batch
from p2p.types import PeerInfo
from state.crypto import sha256

A, B, C = b"A" * 32, b"B" * 32, b"C" * 32


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Transport:
    def __init__(self, *peers: bytes) -> None:
        self.ids = list(peers)
        self.sent: list[tuple[bytes, list[bytes]]] = []

    def peers(self) -> list[PeerInfo]:
        return [PeerInfo(p, "x:1", "outbound") for p in self.ids]

    def send(self, peer_id: bytes, channel: int, payload: bytes) -> bool:
        batch = decode_batch(payload, FAST.gossip_batch_txs, FAST.gossip_batch_bytes)
        self.sent.append((peer_id, batch))
        return True

    def to(self, peer: bytes) -> list[bytes]:
        return [w for p, batch in self.sent if p == peer for w in batch]


def tx(i: int) -> tuple[bytes, bytes]:
    wire = i.to_bytes(4, "big") + bytes(10)
    return sha256(wire), wire


def make(*peers: bytes, delay: float = 1.5, **lim: int) -> tuple[TxGossip, Transport, Clock]:
    t, clock = Transport(*peers), Clock()
    return TxGossip(t, limits(**lim) if lim else FAST, relay_delay_s=delay, clock=clock), t, clock


def test_relay_waits_exactly_the_delay_own_txs_do_not() -> None:
    g, t, clock = make(A, B, C)
    hr, wr = tx(1)
    ho, wo = tx(2)
    g.add(hr, wr, from_peer=A)  # relay lane, due at 101.5
    g.add(ho, wo)  # own lane: not held behind the relay
    g.flush()
    assert t.to(B) == [wo] and t.to(C) == [wo] and t.to(A) == [wo]
    clock.t = 101.5 - 1e-6
    assert g.flush() == 0
    clock.t = 101.5  # due exactly now
    g.flush()
    assert t.to(B) == [wo, wr] and t.to(C) == [wo, wr]
    assert t.to(A) == [wo]  # never back to where it came from


def test_relay_committed_before_due_is_never_sent() -> None:
    g, t, clock = make(A, B)
    h, w = tx(1)
    g.add(h, w, from_peer=A)
    g.remove([h])  # committed within the delay: the common case in a full mesh
    clock.t += 10
    assert g.flush() == 0 and t.sent == []


def test_zero_delay_relays_at_once_and_negative_is_refused() -> None:
    g, t, _ = make(A, B, delay=0.0)
    h, w = tx(1)
    g.add(h, w, from_peer=A)
    g.flush()
    assert t.to(B) == [w]
    with pytest.raises(ValueError):
        TxGossip(Transport(), FAST, relay_delay_s=-0.1)


def test_relays_keep_arrival_order_and_stop_at_the_first_not_due() -> None:
    g, t, clock = make(B, delay=1.0)
    first = [tx(i) for i in range(3)]
    for h, w in first:
        g.add(h, w, from_peer=A)
    clock.t += 0.5
    later = tx(9)
    g.add(*later, from_peer=A)
    clock.t += 0.5  # the first three are due, the later one not yet
    g.flush()
    assert t.to(B) == [w for _, w in first]
    clock.t += 0.5
    g.flush()
    assert t.to(B) == [w for _, w in first] + [later[1]]


def test_pending_bound_evicts_relays_before_own_txs() -> None:
    g, t, clock = make(B, gossip_pending_txs=2)
    own = tx(1)
    g.add(*own)
    g.add(*tx(2), from_peer=A)
    g.add(*tx(3), from_peer=A)  # over the bound: the oldest relay goes, not our own tx
    assert len(g) == 2
    clock.t += 10
    g.flush()
    assert t.to(B) == [own[1], tx(3)[1]]
