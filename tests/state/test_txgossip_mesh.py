"""TxGossipPolicy with a mesh (the node's validators): a validator's tx is held, not relayed,
since its origin reached every other validator; an observer's enters the mesh at the first
validator; a held tx is relayed once its sender's link goes down, and a partitioned
validator gets what it missed from the origin when the partition heals."""

from __future__ import annotations

import pytest
from test_txgossip_fanout import LIM, Net, copies_per_tx_per_node, full_mesh, wire_of

from state.crypto import sha256
from state.txgossip import GossipLimits, TxGossipPolicy, decode_batch


@pytest.mark.parametrize("n", [4, 21])
def test_a_full_mesh_of_validators_admits_each_tx_once_per_node(n: int) -> None:
    everyone = set(range(n))
    assert copies_per_tx_per_node(n, 2, mesh=everyone) == [1.0] * n
    assert sum(copies_per_tx_per_node(n, 2)) / n > 1.9  # without the mesh: the relays' copies


def test_an_observers_tx_reaches_every_validator_and_a_validators_stays_in_the_mesh() -> None:
    n = 8  # validators 0..6 in a full mesh; observer 7 linked to validator 0 only
    validators = set(range(7))
    net = Net(n, full_mesh(7) | {frozenset((0, 7))}, 2, mesh=validators)
    from_observer, from_validator = wire_of(1), wire_of(2)
    net.client_tx(7, from_observer)
    net.client_tx(3, from_validator)
    for t in range(4):
        net.flush(t)
    assert net.reached(from_observer) == n  # validator 0 sent it to every peer
    assert all(m.copies[from_observer] == 1 for m in net.mempools)
    assert net.reached(from_validator) == 7  # held at 0, not relayed to the observer


def test_a_validator_partitioned_when_a_tx_was_sent_gets_it_when_the_partition_heals() -> None:
    n = 7
    net = Net(n, full_mesh(n), 2, mesh=set(range(n)))
    cut = {frozenset((6, j)) for j in range(6)}
    net.links = full_mesh(n) - cut
    w = wire_of(1)
    net.client_tx(0, w)
    for t in range(3):
        net.flush(t)
    assert net.reached(w) == 6
    net.links = full_mesh(n)  # healed: the origin offers its pending txs to 6 again
    for t in range(3, 6):
        net.flush(t)
    assert net.reached(w) == n


@pytest.mark.parametrize(("fanout", "reached"), [(None, 7), (2, 6)])
def test_a_held_tx_is_relayed_once_its_origins_link_goes_down(
    fanout: int | None, reached: int
) -> None:
    n = 7
    net = Net(n, full_mesh(n), fanout, mesh=set(range(n)), delay_ms=10)
    net.links = full_mesh(n) - {frozenset((0, j)) for j in (4, 5, 6)}
    w = wire_of(1)
    net.client_tx(0, w)
    for t in range(3):
        net.flush(t)
    assert net.reached(w) == 4  # origin 0 and its peers 1..3, who hold it
    net.links = full_mesh(n) - {frozenset((0, j)) for j in range(1, n)}  # 0 crashed
    for t in range(3, 9):
        net.flush(t)
    assert net.reached(w) == 4  # the relay delay runs from the origin's departure
    for t in range(11, 14):
        net.flush(t)
    # 1..3 relay it: to every peer not seen with it, or to 2 each (likely all, not certain)
    assert net.reached(w) == reached


def test_held_txs_are_bounded_by_pending_txs_and_dropped_when_removed() -> None:
    lim = GossipLimits(batch_txs=500, batch_bytes=60_000, pending_txs=3, seen_per_peer=100)
    src, other = b"S" * 32, b"O" * 32
    g = TxGossipPolicy(lim, relay_fanout=None, mesh={src}.__contains__)
    wires = [wire_of(i) for i in range(5)]
    for w in wires:
        assert g.add(sha256(w), w, 0, from_peer=src) is True
    assert g.add(sha256(wires[4]), wires[4], 0, from_peer=src) is False  # already held
    assert g.held() == 3 and len(g) == 0  # the two oldest went
    g.remove([sha256(wires[2])])
    assert g.held() == 2
    sent: list[bytes] = []

    def send(pid: bytes, payload: bytes) -> bool:
        sent.extend(decode_batch(payload, lim.batch_txs, lim.batch_bytes))
        return True

    g.flush([src, other], 0, send)
    assert sent == []  # held, not relayed, while src is connected
    g.peer_down(src, 0)
    g.flush([other], 0, send)
    assert sent == wires[3:]  # the held ones left, oldest first
    assert g.held() == 0


def test_an_observers_tx_at_a_validator_goes_to_every_peer_at_once() -> None:
    obs, v1, v2 = b"O" * 32, b"1" * 32, b"2" * 32
    g = TxGossipPolicy(LIM, relay_fanout=1, relay_delay_ms=10_000, mesh={v1, v2}.__contains__)
    w = wire_of(1)
    assert g.add(sha256(w), w, 0, from_peer=obs) is True
    got: list[bytes] = []
    g.flush([obs, v1, v2], 0, lambda pid, payload: got.append(pid) or True)
    assert sorted(got) == sorted([v1, v2])  # no delay, no fanout bound, not back to obs
