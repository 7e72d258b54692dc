"""Whole runs of the simulator over the real Replica, ChainApp and Chain."""

from __future__ import annotations

import json

import pytest

from consensus.params import ConsensusParams
from sim.checker import PROPOSAL
from sim.config import SimConfig
from sim.faults import CRASH
from sim.run import sweep, totals
from sim.world import World, liveness_window_ms, run_seed
from state.chain import Chain


def test_clean_cluster_commits_every_height_with_equal_state() -> None:
    cfg = SimConfig(validators=4, heights=4, txs=6)
    w = World(cfg, 3)
    rec = w.run()
    assert rec["ok"], rec
    assert rec["min_honest_height"] >= 4 and rec["committed_heights"] >= 4
    assert rec["committed_txs"] > 0  # member transactions really went through the chain
    assert len(rec["rounds_per_height"]) == rec["committed_heights"]
    assert all(x is not None and x > 0 for x in rec["commit_latency_ms"])
    final = rec["final_nodes"]
    assert [d["node"] for d in final] == [0, 1, 2, 3]
    assert all(d["up"] and d["honest"] and d["height"] >= 4 and d["restarts"] == 0 for d in final)
    kinds = rec["messages_by_kind"]
    assert {"proposal", "vote", "status"} <= set(kinds) and "?" not in kinds
    assert sum(kinds.values()) == rec["messages"]
    # every node's own chain agrees, read straight from its store
    roots = {}
    for node in w.nodes:
        chain = Chain(node.store)
        assert chain.height >= 4
        roots.setdefault(chain.height, set()).add(chain.state_root)
    assert all(len(r) == 1 for r in roots.values())
    # the checker saw the honest validators' votes and their own proposals, once each
    assert {k[0] for k in w.checker._votes} == {n.key for n in w.nodes}
    proposals = {k for k in w.checker._votes if k[1] == PROPOSAL}
    assert {k[2] for k in proposals} >= set(range(1, 5))


def test_same_seed_replays_identically_and_seeds_differ() -> None:
    cfg = SimConfig(
        validators=4,
        byzantine=1,
        behaviour="double-vote",
        heights=4,
        txs=3,
        loss=0.1,
        duplicate=0.05,
        reorder=0.1,
        partition=True,
        crash=True,
    )
    a = json.dumps(run_seed(cfg, 11), sort_keys=True)
    b = json.dumps(run_seed(cfg, 11), sort_keys=True)
    assert a == b
    c = json.dumps(run_seed(cfg, 12), sort_keys=True)
    assert c != a


def test_crash_restart_rebuilds_node_from_its_store() -> None:
    cfg = SimConfig(validators=4, heights=6, txs=2, crash=True, fault_window_ms=8_000)
    seed = next(s for s in range(50) if any(f.kind == CRASH for f in World(cfg, s).faults))
    w = World(cfg, seed)
    rec = w.run()
    assert rec["ok"], rec
    assert rec["crashes"] >= 1
    crashed = {f.node for f in w.faults if f.kind == CRASH}
    for i in crashed:
        node = w.nodes[i]
        assert node.incarnation >= 1 and node.up
        # the restarted node caught up with the others (block sync + consensus)
        assert w.checker.node_height[i] >= cfg.heights


def test_crash_keeps_only_the_store() -> None:
    w = World(SimConfig(validators=4, heights=2, txs=2), 5)
    w.run()
    node = w.nodes[1]
    height, root = node.chain.height, node.chain.state_root  # type: ignore[union-attr]
    old_store = node.store
    node.crash(w.clock.now_ms)
    assert node.replica is None and node.chain is None and not node.up
    assert node.store is not old_store  # a fresh object: nothing in memory is shared
    replica = node.boot()
    assert replica.height == height and node.chain.state_root == root  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("behaviour", "figure"),
    [
        ("double-vote", "evidence_found"),
        ("equivocate", "byzantine_lies"),
        ("silent", "byzantine_lies"),
    ],
)
def test_byzantine_behaviours_act_and_are_tolerated(behaviour: str, figure: str) -> None:
    cfg = SimConfig(validators=4, byzantine=1, behaviour=behaviour, heights=5, txs=2)
    recs = [run_seed(cfg, s) for s in range(3)]
    assert all(r["ok"] for r in recs), [r for r in recs if not r["ok"]]
    assert sum(r[figure] for r in recs) > 0


def test_twins_instances_share_a_key_and_are_not_judged() -> None:
    w = World(SimConfig(validators=4, byzantine=1, behaviour="twins", heights=3), 2)
    assert len(w.nodes) == 5 and w.nodes[4].key == w.nodes[0].key
    assert w.twin_pairs == [(0, 4)]
    assert w.honest == frozenset({1, 2, 3})
    assert all(f.sides[0] != f.sides[4] for f in w.faults)


def test_bounds_end_a_run_and_count_as_liveness_failures() -> None:
    rec = run_seed(SimConfig(validators=4, heights=50, max_events=300), 1)
    assert not rec["ok"]
    assert rec["liveness_failures"][0] == {
        "kind": "bound_reached",
        "time_ms": rec["liveness_failures"][0]["time_ms"],
        "bound": "max_events",
    }
    assert rec["events"] == 300


def test_liveness_window_is_ten_growing_rounds() -> None:
    p = ConsensusParams()
    expected = p.commit_ms + sum(
        p.propose_timeout(r) + p.prevote_timeout(r) + p.precommit_timeout(r) for r in range(10)
    )
    assert liveness_window_ms(p) == expected > 10 * (p.propose_ms + p.prevote_ms + p.precommit_ms)


def test_negative_control_more_twins_than_tolerated_fork() -> None:
    """f+1 twins out of 3f+1: each twin side has a quorum, so honest nodes must fork on some
    seeds; a checker that stays silent here would be worthless."""
    cfg = SimConfig(validators=4, byzantine=2, behaviour="twins", heights=6)
    recs = sweep(cfg, list(range(12)), workers=2)
    tot = totals(recs)
    assert tot["safety_violations"] > 0
    assert {v["kind"] for r in recs for v in r["safety_violations"]} >= {"fork"}
    assert len(tot["unsafe_seeds"]) >= 2


def test_liveness_negative_control_too_many_silent_validators_stall() -> None:
    """2 silent of 4: no quorum can form, so every seed must be reported as stalled."""
    cfg = SimConfig(validators=4, byzantine=2, behaviour="silent", heights=3)
    for seed in range(3):
        rec = run_seed(cfg, seed)
        assert not rec["ok"] and rec["safety_violations"] == []
        kinds = [v["kind"] for v in rec["liveness_failures"]]
        assert kinds[0] == "stall" and "not_caught_up" in kinds
        stall = rec["liveness_failures"][0]
        # reported exactly one liveness window after the (fault-free) start
        assert stall["time_ms"] == stall["window_ms"] and rec["committed_heights"] == 0


def test_crash_loses_the_last_moments_of_sent_messages() -> None:
    from consensus.messages import BLOCKSYNC, StatusMsg, encode_message
    from sim.world import CRASH_SEND_BUFFER_MS, _Deliver

    w = World(SimConfig(validators=4, heights=2), 1)
    w.run()
    now = w.clock.now_ms
    sender, dst = w.nodes[1], w.nodes[2]
    old_inc = sender.incarnation
    sender.crash(now)
    payload = encode_message(StatusMsg(w.genesis.chain_id, 0))

    def deliver(sent_ms: int) -> int:
        before = w.delivered
        w._dispatch(_Deliver(2, 1, dst.incarnation, BLOCKSYNC, payload, sent_ms, old_inc))
        return w.delivered - before

    assert deliver(now - CRASH_SEND_BUFFER_MS // 2) == 0  # died in the send buffer
    assert deliver(now - CRASH_SEND_BUFFER_MS - 1) == 1  # was already on the wire
