"""TxGossipPolicy's bounded relay fanout: a peer's tx goes to at most `relay_fanout` peers,
a client's to all; networks of in-process policies still deliver every tx to every node."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from state.crypto import sha256
from state.errors import Code
from state.tx import CheckResult
from state.txgossip import GossipLimits, TxGossipPolicy, decode_batch

LIM = GossipLimits(batch_txs=500, batch_bytes=60_000, pending_txs=20_000, seen_per_peer=20_000)
SRC = b"S" * 32
PEERS = [bytes([i]) * 32 for i in range(1, 20)]  # 19 peers besides the source


class FakeTx:
    def __init__(self, wire: bytes) -> None:
        self.wire = wire
        self.hash = sha256(wire)


class Mempool:
    """Admission stand-in: OK the first time a wire is seen, DUPLICATE after."""

    def __init__(self) -> None:
        self.have: set[bytes] = set()
        self.copies: Counter[bytes] = Counter()

    def __call__(self, wire: bytes) -> CheckResult:
        self.copies[wire] += 1
        tx = FakeTx(wire)
        code = Code.DUPLICATE if wire in self.have else Code.OK
        self.have.add(wire)
        return CheckResult(code, "", tx)  # type: ignore[arg-type]  # the policy reads .hash, .wire


def wire_of(i: int) -> bytes:
    return i.to_bytes(4, "big") + bytes(12)


def relayed_to(fanout: int | None, n_txs: int = 1, peers: list[bytes] = PEERS) -> list[bytes]:
    """Peers sent each of n_txs txs that SRC sent us, flushed with every peer connected."""
    g = TxGossipPolicy(LIM, relay_fanout=fanout)
    out: list[bytes] = []

    def send(pid: bytes, payload: bytes) -> bool:
        out.extend(pid for _ in decode_batch(payload, LIM.batch_txs, LIM.batch_bytes))
        return True

    for i in range(n_txs):
        w = wire_of(i)
        g.add(sha256(w), w, 0, from_peer=SRC)
    g.flush([SRC, *peers], 0, send)
    g.flush([SRC, *peers], 1, send)  # nothing more on a second flush
    return out


@pytest.mark.parametrize(("fanout", "expected"), [(0, 0), (1, 1), (2, 2), (18, 18), (19, 19)])
def test_a_peers_tx_goes_to_at_most_fanout_peers(fanout: int, expected: int) -> None:
    out = relayed_to(fanout)
    assert len(out) == expected
    assert SRC not in out and len(set(out)) == expected


def test_fanout_above_the_peers_and_unbounded_reach_every_peer_but_the_source() -> None:
    assert sorted(relayed_to(20)) == sorted(PEERS)
    assert sorted(relayed_to(None)) == sorted(PEERS)


def test_fanout_zero_never_queues_a_peers_tx() -> None:
    g = TxGossipPolicy(LIM, relay_fanout=0)
    w = wire_of(1)
    assert g.add(sha256(w), w, 0, from_peer=SRC) is False
    assert len(g) == 0


def test_negative_fanout_is_refused() -> None:
    with pytest.raises(ValueError, match="relay_fanout"):
        TxGossipPolicy(LIM, relay_fanout=-1)


def test_a_clients_tx_goes_to_every_peer_whatever_the_fanout() -> None:
    g = TxGossipPolicy(LIM, relay_fanout=0)
    sent: list[bytes] = []
    w = wire_of(7)
    g.add(sha256(w), w, 0)
    g.flush(PEERS, 0, lambda pid, payload: sent.append(pid) or True)
    assert sorted(sent) == sorted(PEERS)


def test_targets_are_the_lowest_hash_ranks_and_spread_over_the_peers() -> None:
    w = wire_of(3)
    h = sha256(w)
    ranked = sorted(PEERS, key=lambda p: hashlib.sha256(h + p).digest())  # self_id b""
    g = TxGossipPolicy(LIM, relay_fanout=2)
    got: list[bytes] = []
    g.add(h, w, 0, from_peer=SRC)
    g.flush([SRC, *PEERS], 0, lambda pid, payload: got.append(pid) or True)
    assert sorted(got) == sorted(ranked[:2])
    # 1,900 txs at fanout 2: each of 19 peers gets about 200, none far off
    load = Counter(relayed_to(2, n_txs=1_900))
    assert sum(load.values()) == 3_800 and set(load) == set(PEERS)
    assert max(load.values()) < 300 and min(load.values()) > 120


def test_a_target_that_returns_is_served_and_passed_over_peers_are_not() -> None:
    g = TxGossipPolicy(LIM, relay_fanout=1)
    w = wire_of(5)
    h = sha256(w)
    first = min(PEERS[:3], key=lambda p: hashlib.sha256(h + p).digest())
    others = [p for p in PEERS[:3] if p != first]
    g.add(h, w, 0, from_peer=SRC)
    got: list[bytes] = []

    def refuse_first(pid: bytes, payload: bytes) -> bool:
        if pid == first:
            return False  # its queue is full; then it disconnects
        got.append(pid)
        return True

    g.flush([SRC, *PEERS[:3]], 0, refuse_first)
    assert got == []
    g.flush([SRC, *others], 1, refuse_first)  # the target left; the others were passed over
    assert got == []
    g.flush([SRC, *PEERS[:3]], 2, lambda pid, payload: got.append(pid) or True)
    assert got == [first]  # it came back with an empty cursor: the only one not passed over


# ------------------------------------------------------ networks of in-process policies


class Net:
    """n nodes each with a policy and a mempool; `links` are undirected and may go down."""

    def __init__(
        self,
        n: int,
        links: set[frozenset[int]],
        fanout: int | None,
        mesh: set[int] | None = None,
        delay_ms: int = 0,
    ) -> None:
        """`mesh`: the nodes each policy treats as the full mesh (validators); None: none."""
        self.ids = [hashlib.sha256(bytes([i])).digest() for i in range(n)]
        self.index = {pid: i for i, pid in enumerate(self.ids)}
        self.links = links
        members = None if mesh is None else frozenset(self.ids[i] for i in mesh).__contains__
        self.pools = [
            TxGossipPolicy(
                LIM, relay_fanout=fanout, self_id=pid, mesh=members, relay_delay_ms=delay_ms
            )
            for pid in self.ids
        ]
        self.mempools = [Mempool() for _ in range(n)]

    def client_tx(self, node: int, wire: bytes) -> None:
        self.mempools[node](wire)
        self.pools[node].add(sha256(wire), wire, 0)

    def flush(self, now_ms: int) -> None:
        inbox: list[tuple[int, bytes, bytes]] = []
        for i, pol in enumerate(self.pools):
            peers = [self.ids[j] for j in range(len(self.ids)) if frozenset((i, j)) in self.links]

            def send(pid: bytes, payload: bytes, i: int = i) -> bool:
                inbox.append((self.index[pid], self.ids[i], payload))
                return True

            pol.flush(peers, now_ms, send)
        for j, sender, payload in inbox:
            self.pools[j].receive(sender, payload, self.mempools[j], now_ms)

    def reached(self, wire: bytes) -> int:
        return sum(wire in m.have for m in self.mempools)


def chain(n: int) -> set[frozenset[int]]:
    return {frozenset((i, i + 1)) for i in range(n - 1)}


def full_mesh(n: int) -> set[frozenset[int]]:
    return {frozenset((i, j)) for i in range(n) for j in range(i + 1, n)}


@pytest.mark.parametrize("n", [7, 21])
@pytest.mark.parametrize("fanout", [1, 2])
def test_a_chain_delivers_every_tx_to_every_node_in_n_flushes(n: int, fanout: int) -> None:
    net = Net(n, chain(n), fanout)
    wires = [wire_of(i) for i in range(20)]
    for k, w in enumerate(wires):
        net.client_tx(k % n, w)
    for t in range(n):
        net.flush(t)
    assert all(net.reached(w) == n for w in wires)


@pytest.mark.parametrize("n", [7, 21])
@pytest.mark.parametrize("fanout", [1, 2])
def test_a_healed_partition_delivers_what_each_side_had(n: int, fanout: int) -> None:
    links = chain(n) - {frozenset((n // 2 - 1, n // 2))}
    net = Net(n, links, fanout)
    left, right = wire_of(1), wire_of(2)
    net.client_tx(0, left)
    net.client_tx(n - 1, right)
    for t in range(n):
        net.flush(t)
    assert net.reached(left) == n // 2 and net.reached(right) == n - n // 2
    net.links |= {frozenset((n // 2 - 1, n // 2))}  # one link across heals it
    for t in range(n, 2 * n):
        net.flush(t)
    assert net.reached(left) == n and net.reached(right) == n


def copies_per_tx_per_node(n: int, fanout: int | None, mesh: set[int] | None = None) -> list[float]:
    """Copies each node admits per tx (its own client copy counts one) in a full mesh, in
    the worst case: every tx still pending when its relay is due (delay 0)."""
    net = Net(n, full_mesh(n), fanout, mesh)
    wires = [wire_of(i) for i in range(10 * n)]
    for k, w in enumerate(wires):
        net.client_tx(k % n, w)
    for t in range(4):
        net.flush(t)
    assert all(net.reached(w) == n for w in wires)
    return [sum(m.copies.values()) / len(wires) for m in net.mempools]


@pytest.mark.parametrize("n", [4, 21])
def test_copies_per_node_in_a_full_mesh_are_bounded_by_the_fanout(n: int) -> None:
    unbounded = copies_per_tx_per_node(n, None)
    bounded = copies_per_tx_per_node(n, 2)
    assert min(unbounded) > n - 2  # each relayer sends it to all it did not get it from
    # 1 from the origin plus n - 1 relayers x 2 slots spread over n - 1 nodes: 3 on average
    assert sum(bounded) / n <= 3.0
    assert max(bounded) < 3.6
