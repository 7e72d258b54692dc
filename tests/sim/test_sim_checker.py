"""The safety and liveness oracles flag what they must, and only that."""

from __future__ import annotations

from sim.checker import (
    BOUND,
    EQUIVOCATION,
    FORK,
    NOT_CAUGHT_UP,
    ROOT_MISMATCH,
    STALL,
    Checker,
)

A = b"\xaa" * 32
B = b"\xbb" * 32
R1 = b"\x01" * 32
R2 = b"\x02" * 32
K0, K1, K2, KBYZ = (bytes([i]) * 32 for i in (10, 11, 12, 13))


def make() -> Checker:
    return Checker(honest=frozenset({0, 1, 2}), honest_keys=frozenset({K0, K1, K2}), window_ms=1000)


def test_agreeing_commits_are_fine() -> None:
    c = make()
    for node in (0, 1, 2):
        c.on_commit(node, 1, A, R1, 0, 100 + node)
    assert c.safety == [] and c.heights[1].node == 0 and c.heights[1].time_ms == 100


def test_fork_between_honest_nodes_is_flagged() -> None:
    c = make()
    c.on_commit(0, 5, A, R1, 0, 100)
    c.on_commit(2, 5, B, R2, 1, 150)
    assert [v.kind for v in c.safety] == [FORK]
    d = c.safety[0].to_json()
    assert d["height"] == 5 and d["node_a"] == 0 and d["node_b"] == 2
    assert d["block_a"] == A.hex() and d["block_b"] == B.hex() and d["time_ms"] == 150


def test_root_mismatch_on_same_block_is_flagged() -> None:
    c = make()
    c.on_commit(1, 3, A, R1, 0, 10)
    c.on_commit(0, 3, A, R2, 0, 11)
    assert [v.kind for v in c.safety] == [ROOT_MISMATCH]
    assert c.safety[0].detail["root_b"] == R2.hex()


def test_byzantine_commits_and_votes_are_ignored() -> None:
    c = make()
    c.on_commit(0, 1, A, R1, 0, 10)
    c.on_commit(3, 1, B, R2, 0, 11)  # node 3 is not honest
    c.on_vote(3, KBYZ, 1, 1, 0, A, 12)
    c.on_vote(3, KBYZ, 1, 1, 0, B, 13)
    # an honest node relaying the Byzantine validator's votes is not the honest one's fault
    c.on_vote(0, KBYZ, 1, 1, 0, B, 14)
    assert c.safety == []


def test_honest_double_vote_is_flagged_but_repeats_are_not() -> None:
    c = make()
    c.on_vote(0, K0, 1, 4, 2, A, 10)
    c.on_vote(0, K0, 1, 4, 2, A, 20)  # the same vote re-sent (gossip, restart)
    c.on_vote(0, K0, 2, 4, 2, None, 21)  # other type
    c.on_vote(0, K0, 1, 4, 3, None, 22)  # other round
    assert c.safety == []
    c.on_vote(0, K0, 1, 4, 2, None, 30)
    assert [v.kind for v in c.safety] == [EQUIVOCATION]
    assert c.safety[0].detail["block_a"] == A.hex() and c.safety[0].detail["block_b"] is None


def test_stall_detected_only_while_fault_free() -> None:
    c = make()
    c.start(0)
    c.on_time(999)
    assert c.liveness == []
    c.on_commit(0, 1, A, R1, 0, 900)
    c.on_time(1_800)  # deadline moved to 1900 by the commit
    assert c.liveness == []
    c.fault_started(1_850)
    c.on_time(10_000)  # nothing is due during a fault
    assert c.liveness == [] and c.next_deadline() is None
    c.fault_started(10_000)
    c.fault_ended(10_500)  # one fault still active
    assert c.next_deadline() is None
    c.fault_ended(11_000)
    assert c.next_deadline() == 12_000
    c.on_time(12_001)
    assert [v.kind for v in c.liveness] == [STALL]
    assert c.liveness[0].time_ms == 12_000 and c.liveness[0].detail["height"] == 1


def test_finish_reports_laggards_and_bounds() -> None:
    c = make()
    for node in (0, 1):
        c.on_commit(node, 1, A, R1, 0, 10)
        c.on_commit(node, 2, B, R2, 0, 20)
    c.on_commit(2, 1, A, R1, 0, 15)
    c.finish(100, target=2, reason=None)
    assert [v.kind for v in c.liveness] == [NOT_CAUGHT_UP]
    assert c.liveness[0].detail["heights"] == {"2": 1}
    c2 = make()
    c2.finish(100, target=0, reason="max_events")
    assert [v.kind for v in c2.liveness] == [BOUND]
