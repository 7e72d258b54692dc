"""The checker finds each kind of violation in a hand-made history, and none in a clean one."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nemesis.checker import NodeView, Observed, check, summarize

H = [f"{i:064x}" for i in range(1, 20)]  # tx hashes
VAL = ["aa" * 32, "bb" * 32, "cc" * 32, "dd" * 32]
SUPPLY = 1000


def _block(h: int, txs: list[str], rnd: int = 0, tag: str = "") -> dict[str, Any]:
    return {
        "height": h,
        "hash": f"b{h}{tag}".ljust(64, "0"),
        "state_root": f"r{h}".ljust(64, "0"),
        "txs": txs,
        "commit": {"round": rnd, "signatures": [{"validator": v, "signature": "00"} for v in VAL]},
    }


def _op(i: int, outcome: str, height: int | None, index: int | None, **kw: Any) -> dict[str, Any]:
    return {
        "id": i,
        "hash": H[i],
        "type": kw.pop("type", "transfer"),
        "outcome": outcome,
        "height": height,
        "index": index,
        "claim": kw.pop("claim", None),
        **kw,
    }


def clean() -> tuple[list[dict[str, Any]], Observed]:
    ops = [
        _op(0, "ok", 1, 0),
        _op(1, "ok", 1, 1, type="payout", claim="c1"),
        _op(2, "ok", 2, 0, type="payout", claim="c1"),  # executed but refused: already_paid
        _op(3, "unknown", None, None),  # resolved: committed at (2, 1) everywhere
        _op(4, "unknown", None, None),  # resolved: never committed
        _op(5, "refused", None, None),
    ]
    blocks = {1: _block(1, [H[0], H[1]]), 2: _block(2, [H[2], H[3]]), 3: _block(3, [])}
    txs = {
        H[0]: {"height": 1, "index": 0, "code": 0},
        H[1]: {"height": 1, "index": 1, "code": 0},
        H[2]: {"height": 2, "index": 0, "code": 22},
        H[3]: {"height": 2, "index": 1, "code": 0},
        H[4]: None,
    }
    nodes = [NodeView(i, copy.deepcopy(blocks), copy.deepcopy(txs), SUPPLY) for i in range(4)]
    nodes[3].blocks.pop(3)  # a node one block behind is fine: heights compared where common
    recoveries = [{"fault": 0, "kind": "pause", "node": i, "seconds": 2.5} for i in range(4)]
    return ops, Observed(SUPPLY, nodes, recoveries)


def kinds(ops: list[dict[str, Any]], obs: Observed) -> set[str]:
    return {v.kind for v in check(ops, obs)}


def test_a_clean_history_has_no_violation() -> None:
    assert check(*clean()) == []


def test_an_acknowledged_tx_missing_on_one_node() -> None:
    ops, obs = clean()
    obs.nodes[2].txs[H[0]] = None
    assert kinds(ops, obs) == {"acked_missing"}


def test_an_acknowledged_tx_elsewhere_than_acknowledged() -> None:
    ops, obs = clean()
    obs.nodes[1].txs[H[0]] = {"height": 1, "index": 1, "code": 0}
    assert "acked_moved" in kinds(ops, obs)
    ops, obs = clean()
    obs.nodes[1].blocks[1]["txs"] = [H[1], H[0]]  # the lookup agrees, the block does not
    assert "acked_moved" in kinds(ops, obs)


def test_a_node_behind_is_not_held_to_acknowledgements_above_its_height() -> None:
    ops, obs = clean()
    ops.append(_op(6, "ok", 3, 0))
    for v in obs.nodes:
        v.txs[H[6]] = {"height": 3, "index": 0, "code": 0}
        if 3 in v.blocks:
            v.blocks[3]["txs"] = [H[6]]
    obs.nodes[3].txs[H[6]] = None
    obs.nodes[3].height = 2  # stopped at 2: its stall is reported as no_recovery instead
    assert check(ops, obs) == []
    obs.nodes[3].height = 3  # at 3 it must have the transaction
    assert kinds(ops, obs) == {"acked_missing"}


def test_an_unknown_call_committed_on_some_nodes_only() -> None:
    ops, obs = clean()
    obs.nodes[0].txs[H[4]] = {"height": 3, "index": 0, "code": 0}
    assert kinds(ops, obs) == {"unknown_split"}
    for v in obs.nodes:
        v.txs[H[4]] = {"height": 3, "index": 0, "code": 0}
    obs.nodes[3].txs[H[4]] = None
    obs.nodes[3].height = 2  # behind the block that has it: not a split
    assert kinds(ops, obs) == set()


def test_a_tx_twice_in_a_chain() -> None:
    ops, obs = clean()
    for v in obs.nodes:
        if 3 in v.blocks:
            v.blocks[3]["txs"] = [H[0]]
    assert "tx_twice" in kinds(ops, obs)


@pytest.mark.parametrize("field", ["hash", "state_root"])
def test_nodes_that_disagree_on_a_block(field: str) -> None:
    ops, obs = clean()
    obs.nodes[2].blocks[2][field] = "ff" * 32
    found = check(ops, obs)
    assert {v.kind for v in found} >= {"block_mismatch"}
    assert any(field in v.detail for v in found if v.kind == "block_mismatch")


def test_supply_not_conserved() -> None:
    ops, obs = clean()
    obs.nodes[1].supply = SUPPLY - 100
    assert kinds(ops, obs) == {"supply"}
    ops, obs = clean()
    obs.nodes[1].supply = None  # unreadable is not a violation of conservation
    assert kinds(ops, obs) == set()


def test_a_claim_paid_twice() -> None:
    ops, obs = clean()
    for v in obs.nodes:
        v.txs[H[2]] = {"height": 2, "index": 0, "code": 0}
    assert kinds(ops, obs) == {"double_payout"}


def test_a_validator_that_precommitted_two_blocks_at_one_height_and_round() -> None:
    ops, obs = clean()
    obs.nodes[3].blocks[2] = _block(2, [H[2], H[3]], tag="x")  # the same round, another block
    found = kinds(ops, obs)
    assert "double_sign" in found
    ops, obs = clean()
    obs.nodes[3].blocks[2] = _block(
        2, [H[2], H[3]], rnd=1, tag="x"
    )  # another round: no double sign
    assert "double_sign" not in kinds(ops, obs)


def test_evidence_in_a_block_is_a_double_sign() -> None:
    ops, obs = clean()
    ev = {"validator": VAL[1], "height": 1, "round": 0, "type": "precommit"}
    for v in obs.nodes:
        v.blocks[2]["evidence"] = [ev]
    assert kinds(ops, obs) == {"double_sign"}


def test_a_node_that_did_not_recover_in_time() -> None:
    ops, obs = clean()
    obs.recoveries = [
        {"fault": 1, "kind": "disk_full", "node": 2, "seconds": None, "why": "height stayed"},
        {"fault": 2, "kind": "pause", "node": 0, "seconds": 30.0},  # at the limit: fine
        {"fault": 3, "kind": "pause", "node": 1, "seconds": 30.5},
    ]
    found = [v for v in check(ops, obs) if v.kind == "no_recovery"]
    assert len(found) == 2
    assert "node2" in found[0].detail and "node1" in found[1].detail


def test_summary_counts_every_violation_and_lists_a_bounded_number() -> None:
    ops, obs = clean()
    for v in obs.nodes:
        v.supply = 1
    s = summarize(check(ops, obs))
    assert s == {"supply": {"count": 4, "first": s["supply"]["first"]}}
    assert len(s["supply"]["first"]) == 4


def test_an_attested_claim_paid_twice() -> None:
    ops, obs = clean()
    ops += [
        _op(6, "ok", 3, 0, type="payout", claim="c2"),  # a claim of the attested pool
        _op(7, "unknown", None, None, type="payout", claim="c2"),
    ]
    for v in obs.nodes:
        v.blocks[3] = _block(3, [H[6], H[7]])
        v.txs[H[6]] = {"height": 3, "index": 0, "code": 0, "payload": {"claim": "c2"}}
        v.txs[H[7]] = {"height": 3, "index": 1, "code": 0, "payload": {"claim": "c2"}}
    assert kinds(ops, obs) == {"double_payout"}
    for v in obs.nodes:
        v.txs[H[7]] = {"height": 3, "index": 1, "code": 23, "payload": {"claim": "c2"}}
    assert kinds(ops, obs) == set()  # the second one was refused in execution (already_paid)


def test_the_claim_paid_is_the_chains_not_the_historys() -> None:
    ops, obs = clean()
    ops.append(_op(6, "ok", 3, 0, type="payout", claim="c9"))  # the history names another claim
    for v in obs.nodes:
        v.blocks[3] = _block(3, [H[6]])
        v.txs[H[6]] = {"height": 3, "index": 0, "code": 0, "payload": {"claim": "c1"}}
    assert kinds(ops, obs) == {"double_payout"}  # c1 was paid at 1:1 already


def _collects(
    rounds: list[int], codes: list[int], sender: str = "ee" * 32
) -> tuple[list[dict[str, Any]], Observed]:
    ops, obs = clean()
    for j, (rnd, code) in enumerate(zip(rounds, codes, strict=True)):
        i = 6 + j
        ops.append(_op(i, "ok", 3, j, type="collect", event=f"triggered/{rnd}"))
        for v in obs.nodes:
            payload = {"pool": "triggered", "round": rnd}
            v.txs[H[i]] = {
                "height": 3,
                "index": j,
                "code": code,
                "sender": sender,
                "payload": payload,
            }
    for v in obs.nodes:
        v.blocks[3] = _block(3, [H[6 + j] for j in range(len(rounds))])
    return ops, obs


def test_a_member_that_collects_an_event_twice() -> None:
    found = check(*_collects([4, 4], [0, 0]))
    assert {v.kind for v in found} == {"double_collect"}
    assert all("triggered/4" in v.detail for v in found) and len(found) == 4  # once per node


def test_collecting_two_events_or_a_refused_second_collect_is_fine() -> None:
    assert check(*_collects([4, 5], [0, 0])) == []
    assert check(*_collects([4, 4], [0, 21])) == []  # already_paid in execution


def test_two_members_collecting_one_event_is_fine() -> None:
    ops, obs = _collects([4, 4], [0, 0])
    for v in obs.nodes:
        payload = {"pool": "triggered", "round": 4}
        v.txs[H[7]] = {"height": 3, "index": 1, "code": 0, "sender": "ff" * 32, "payload": payload}
    assert check(ops, obs) == []


def test_pool_liabilities_that_are_not_the_approved_claims() -> None:
    ops, obs = clean()
    for v in obs.nodes:
        v.supply_detail = {"liabilities": 300, "approved_amounts": 300}
    assert check(ops, obs) == []
    obs.nodes[2].supply_detail = {"liabilities": 300, "approved_amounts": 250}
    found = check(ops, obs)
    assert [v.kind for v in found] == ["supply"] and "node2" in found[0].detail
