"""Governance (PROTOCOL.md section 9): every check of `propose` and `ballot` in its order, the
tally at its boundaries, the deposit's routes, the time lock, enactment in order, params in
force from h + 1, and claims that keep their terms."""

from __future__ import annotations

from typing import Any

import pytest
from test_machine import BALANCE, Harness, addr, genesis_doc, ok, refused

from state import keys as K
from state.errors import Code
from state.genesis import parse_genesis
from state.machine import InvalidBlock, TxResult
from state.mempool import Mempool
from state.model import PROPOSAL_STATUSES, Proposal

GOV = {"gov_voting_period": 10, "gov_timelock": 10, "gov_quorum_bps": 5000}
POOL = {"waiting_period": 2, "juror_min_age": 0, "gov_max_open": 2, **GOV}
TEXT = b"\x05" * 32


def gov_harness(**kw: Any) -> Harness:
    """m0..m3 join "med" and m3, m4 join "dental" at block 1 (active from 3); now at 3."""
    hx = Harness(
        params={**GOV, **kw.pop("params", {})},
        pools=[
            {"id": "med", "name": "Medical", "params": {**POOL, **kw.pop("med", {})}},
            {"id": "dental", "name": "Dental", "params": POOL},
        ],
        **kw,
    )
    joins = [hx.tx(m, "join", pool="med") for m in ("m0", "m1", "m2", "m3")]
    joins += [hx.tx(m, "join", pool="dental") for m in ("m3", "m4")]
    for r in hx.block(joins).results:
        ok(r)
    hx.advance_to(3)
    return hx


def propose(hx: Harness, who: str, scope: str, **changes: Any) -> tuple[TxResult, bytes]:
    tx = hx.tx(who, "propose", scope=scope, changes=changes, title="t", text_hash=TEXT)
    return hx.block([tx]).results[0], tx.hash


def proposal(hx: Harness, pid: bytes) -> Proposal:
    p = hx.view.proposal(pid)
    assert p is not None
    return p


def ballots(hx: Harness, pid: bytes, **choices: str) -> None:
    for r in hx.block(
        [hx.tx(w, "ballot", proposal=pid, choice=c) for w, c in choices.items()]
    ).results:
        ok(r)


def test_propose_checks_in_written_order() -> None:
    hx = gov_harness(med={"gov_max_open": 1})
    p = {"title": "t", "text_hash": TEXT}
    refused(hx, "m0", "propose", Code.NOT_FOUND, scope="nope", changes={"max_claim": 1}, **p)
    # invalid_payload comes before membership: m9 is no member at all
    bad_changes: list[tuple[str, dict[str, Any]]] = [
        ("med", {"no_such_param": 1}),
        ("med", {"max_claim": "100"}),
        ("med", {"max_claim": True}),
        ("med", {"gov_quorum_bps": 999}),  # governance cannot vote its bounds away
        ("med", {"admission": "closed"}),
        ("chain", {"treasury": addr("m0")}),
        ("chain", {"epoch_length": 5}),
        ("chain", {"max_tx_bytes": 5000}),
        ("chain", {"min_fee": 1_000_001}),
        ("chain", {"max_validators": 101}),
        ("chain", {"max_votes_per_elector": 0}),
        ("chain", {"registrars": [addr("m0"), addr("m0")]}),
        ("chain", {"registrars": [addr("m0").hex()]}),
        ("chain", {"min_validators": 22}),  # cross rule: 22 > max_validators 21
        ("chain", {"min_validators": 5, "max_validators": 4}),
    ]
    for scope, changes in bad_changes:
        refused(hx, "m9", "propose", Code.INVALID_PAYLOAD, scope=scope, changes=changes, **p)
    refused(hx, "m9", "propose", Code.NOT_MEMBER, scope="med", changes={"max_claim": 1}, **p)
    refused(hx, "m9", "propose", Code.NOT_MEMBER, scope="chain", changes={"min_fee": 1}, **p)
    ok(hx.do("m5", "join", pool="med"))
    refused(hx, "m5", "propose", Code.WAITING_PERIOD, scope="med", changes={"max_claim": 1}, **p)
    # at the edges of the chain ranges: accepted
    r, _ = propose(hx, "m0", "chain", min_fee=1_000_000, max_validators=100, min_validators=100)
    ok(r)
    r, _ = propose(hx, "m0", "med", max_claim=7000)
    ok(r)
    refused(hx, "m1", "propose", Code.TOO_MANY_PROPOSALS, scope="med", changes={"quorum": 3}, **p)
    assert Code.TOO_MANY_PROPOSALS == 26 and Code.TOO_MANY_PROPOSALS.error == "too_many_proposals"


def test_propose_needs_the_deposit() -> None:
    hx = gov_harness(med={"gov_deposit": BALANCE})
    before = hx.balance("m0")  # paid entry fee and contribution already
    refused(hx, "m0", "propose", Code.INSUFFICIENT_FUNDS, scope="med",
            changes={"max_claim": 1}, title="t", text_hash=TEXT)  # fmt: skip
    assert hx.balance("m0") == before - 1  # only the fee


def test_propose_opens_and_escrows() -> None:
    hx = gov_harness()
    before = hx.balance("m0")
    r, pid = propose(hx, "m0", "med", max_claim=7000)
    ok(r)
    p = proposal(hx, pid)
    assert (p.opened_at, p.closes_at, p.electorate, p.status) == (4, 14, 4, "voting")
    assert p.gov == {
        "gov_deposit": 100, "gov_voting_period": 10, "gov_timelock": 10,
        "gov_quorum_bps": 5000, "gov_threshold_bps": 6667, "gov_max_open": 2,
    }  # fmt: skip
    assert hx.balance("m0") == before - 1 - 100
    assert hx.supply() == hx.genesis.supply
    j = p.to_json()
    assert list(j) == [
        "id", "scope", "proposer", "changes", "title", "text_hash", "opened_at", "closes_at",
        "electorate", "yes", "no", "abstain", "status", "enact_at", "gov",
    ]  # fmt: skip
    assert j["changes"] == {"max_claim": 7000} and j["enact_at"] is None
    assert hx.view.proposals("med") == [p] and hx.view.proposals("dental") == []
    assert hx.view.proposals("nope") is None and hx.view.proposals("chain") == []
    assert set(PROPOSAL_STATUSES) == {
        "voting",
        "passed",
        "rejected",
        "expired",
        "enacted",
        "failed",
    }


def test_chain_electorate_counts_an_account_in_two_pools_once() -> None:
    hx = gov_harness()
    r, pid = propose(hx, "m4", "chain", registrars=[addr("m1"), addr("m2")], min_fee=2)
    ok(r)
    assert proposal(hx, pid).electorate == 5  # m0..m4; m3 is in both pools
    assert proposal(hx, pid).to_json()["changes"]["registrars"] == [
        addr("m1").hex(),
        addr("m2").hex(),
    ]


def test_ballot_checks_in_written_order() -> None:
    hx = gov_harness(med={"gov_voting_period": 20})
    refused(hx, "m1", "ballot", Code.NOT_FOUND, proposal=b"\x09" * 32, choice="yes")
    _, pid = propose(hx, "m0", "med", max_claim=7000)
    refused(hx, "m4", "ballot", Code.NOT_ELIGIBLE, proposal=pid, choice="yes")  # other pool
    ok(hx.do("m5", "join", pool="med"))  # joined after opening: never eligible
    hx.advance_to(9)  # proposal opened at 5; m5 joined at 7, active from 9
    assert hx.member_status("med", "m5") == "active"
    refused(hx, "m5", "ballot", Code.NOT_ELIGIBLE, proposal=pid, choice="yes")
    ok(hx.do("m2", "leave", pool="med"))  # in the electorate, but gone
    refused(hx, "m2", "ballot", Code.NOT_ELIGIBLE, proposal=pid, choice="yes")
    ok(hx.do("m1", "ballot", proposal=pid, choice="abstain"))
    refused(hx, "m1", "ballot", Code.ALREADY_VOTED, proposal=pid, choice="yes")
    hx.advance_to(23)
    ok(hx.do("m3", "ballot", proposal=pid, choice="no"))  # block 24: closes_at is 25
    assert hx.h == 24 and proposal(hx, pid).closes_at == 25
    refused(hx, "m0", "ballot", Code.VOTING_CLOSED, proposal=pid, choice="yes")
    p = proposal(hx, pid)
    assert (p.yes, p.no, p.abstain, p.status) == (0, 1, 1, "rejected")  # tallied at 24


def test_ballot_at_the_last_block_counts_and_closes_at_refuses() -> None:
    hx = gov_harness()
    _, pid = propose(hx, "m0", "med", max_claim=7000)  # opened at 4, closes_at 14
    hx.advance_to(12)
    ballots(hx, pid, m1="yes", m2="yes")  # block 13: the last
    refused(hx, "m3", "ballot", Code.VOTING_CLOSED, proposal=pid, choice="yes")  # block 14
    assert proposal(hx, pid).status == "passed"


def test_turnout_one_below_quorum_expires_and_deposit_goes_to_the_pool() -> None:
    hx = gov_harness()
    _, pid = propose(hx, "m0", "med", max_claim=7000)
    ballots(hx, pid, m1="yes")  # 1 of 4: 10000 < 5000 * 4
    pool_before = hx.view.pool("med").balance
    hx.advance_to(13)
    p = proposal(hx, pid)
    assert p.status == "expired" and p.enact_at is None
    assert hx.view.pool("med").balance == pool_before + 100
    assert hx.supply() == hx.genesis.supply


def test_chain_scope_expired_deposit_goes_to_the_treasury() -> None:
    hx = gov_harness()
    _, pid = propose(hx, "m0", "chain", min_fee=2)
    hx.advance_to(12)
    t = hx.balance("treasury")
    hx.advance_to(13)
    assert proposal(hx, pid).status == "expired" and hx.balance("treasury") == t + 100


def test_threshold_exactly_at_6667_rejects_and_6666_passes() -> None:
    for thr, status in ((6667, "rejected"), (6666, "passed")):
        hx = gov_harness(med={"gov_threshold_bps": thr})
        _, pid = propose(hx, "m0", "med", max_claim=7000)
        ballots(hx, pid, m1="yes", m2="yes", m3="no")  # 20000 > thr * 3 ?
        before = hx.balance("m0")
        hx.advance_to(13)
        p = proposal(hx, pid)
        assert p.status == status, thr
        assert hx.balance("m0") == before + 100  # quorum reached: deposit back
        assert p.enact_at == (24 if status == "passed" else None)  # h + 1 + gov_timelock


def test_quorum_exactly_reached_passes() -> None:
    hx = gov_harness()
    _, pid = propose(hx, "m0", "med", max_claim=7000)
    ballots(hx, pid, m1="yes", m2="abstain")  # turnout 2 of 4: 20000 == 5000 * 4
    hx.advance_to(13)
    assert proposal(hx, pid).status == "passed"


def test_change_applies_from_enact_at_not_before() -> None:
    hx = gov_harness()
    _, pid = propose(hx, "m0", "med", max_claim=7000)
    ballots(hx, pid, m1="yes", m2="yes")
    hx.advance_to(13)
    assert proposal(hx, pid).enact_at == 24
    hx.advance_to(22)
    r = hx.do("m1", "claim", pool="med", amount=6000, evidence=TEXT)  # block 23: old max_claim
    assert r.code is Code.INVALID_PAYLOAD and hx.h == 23
    assert proposal(hx, pid).status == "enacted"  # at the end of block 23
    ok(hx.do("m1", "claim", pool="med", amount=6000, evidence=TEXT))  # block 24
    assert hx.view.pool("med").params.max_claim == 7000
    assert hx.view.pool("med").to_json()["params"]["gov_timelock"] == 10


def test_two_proposals_on_one_param_enact_in_written_order() -> None:
    hx = gov_harness()
    a = hx.tx("m0", "propose", scope="med", changes={"max_claim": 7000}, title="a", text_hash=TEXT)
    b = hx.tx("m1", "propose", scope="med", changes={"max_claim": 9000}, title="b", text_hash=TEXT)
    for r in hx.block([a, b]).results:
        ok(r)
    for pid in (a.hash, b.hash):
        ballots(hx, pid, m2="yes", m3="yes")
    hx.advance_to(24)
    assert [proposal(hx, p).status for p in (a.hash, b.hash)] == ["enacted", "enacted"]
    assert hx.view.pool("med").params.max_claim == 9000  # the later one last


def test_conflicting_chain_proposals_the_later_fails_and_changes_nothing() -> None:
    hx = gov_harness()
    a = hx.tx("m0", "propose", scope="chain", changes={"min_validators": 10}, title="a",
              text_hash=TEXT)  # fmt: skip
    b = hx.tx("m1", "propose", scope="chain", changes={"max_validators": 8, "min_fee": 3},
              title="b", text_hash=TEXT)  # fmt: skip
    for r in hx.block([a, b]).results:
        ok(r)
    for pid in (a.hash, b.hash):
        ballots(hx, pid, m2="yes", m3="yes", m4="yes")
    hx.advance_to(24)
    assert [proposal(hx, p).status for p in (a.hash, b.hash)] == ["enacted", "failed"]
    params = hx.view.params
    assert (params.min_validators, params.max_validators, params.min_fee) == (10, 21, 1)
    assert hx.view.params.to_json()["gov_voting_period"] == 10


def test_raised_min_fee_governs_the_next_block_and_the_mempool_drops() -> None:
    hx = gov_harness()
    _, pid = propose(hx, "m0", "chain", min_fee=5)
    ballots(hx, pid, m1="yes", m2="yes", m3="yes")
    hx.advance_to(22)
    pool = Mempool(lambda: hx.view)
    cheap = hx.tx("m4", "transfer", fee=1, to=addr("m5"), amount=1)
    assert pool.add(cheap.wire).code is Code.OK
    hx.block()  # block 23: enacts at its end (enact_at 24)
    assert proposal(hx, pid).status == "enacted" and hx.view.params.min_fee == 5
    with pytest.raises(InvalidBlock, match="fee_too_low"):
        hx.execute([cheap])
    pool.update([])
    assert len(pool) == 0
    dear = hx.tx("m4", "transfer", fee=5, to=addr("m5"), amount=1, nonce=1)
    ok(hx.block([dear]).results[0])


def test_claim_keeps_its_terms_across_a_param_change() -> None:
    hx = gov_harness(med={"vote_window": 60, "quorum": 2, "notice_period": 3, "fee_bps": 800})
    cl = hx.tx("m3", "claim", pool="med", amount=300, evidence=TEXT)
    pr = hx.tx("m0", "propose", scope="med", title="t", text_hash=TEXT,
               changes={"quorum": 3, "notice_period": 20, "fee_bps": 0})  # fmt: skip
    res = hx.block([cl, pr]).results
    ok(res[0])
    ok(res[1])
    ballots(hx, pr.hash, m1="yes", m2="yes")
    hx.advance_to(24)
    assert proposal(hx, pr.hash).status == "enacted"
    assert hx.view.pool("med").params.quorum == 3
    votes = [hx.tx(w, "vote", claim=cl.hash, approve=True) for w in ("m1", "m2")]
    for r in hx.block(votes).results:  # 2 votes: the quorum at filing
        ok(r)
    hx.advance_to(63)  # closes_at 64
    c = hx.view.claim(cl.hash)
    assert c.status == "approved" and c.payable_at == 64 + 3
    assert c.to_json()["terms"]["fee_bps"] == 800
    hx.advance_to(66)
    before = hx.balance("m3")
    ok(hx.do("m3", "payout", claim=cl.hash))
    assert hx.balance("m3") == before - 1 + 300 - 24 + 50  # fee_bps 800 of the filing


def test_member_records_active_from_and_left_at() -> None:
    hx = gov_harness()
    m = hx.view.member("med", addr("m0"))
    assert (m.joined_at, m.active_from, m.left_at) == (1, 3, None)
    ok(hx.do("m0", "leave", pool="med"))
    m = hx.view.member("med", addr("m0"))
    assert m.left_at == 4 and m.to_json(4)["left_at"] == 4
    assert not m.active_at(4) and m.active_at(3)
    ok(hx.do("m0", "join", pool="med"))
    m = hx.view.member("med", addr("m0"))
    assert (m.joined_at, m.active_from, m.left_at) == (5, 7, None)


def test_genesis_refuses_chain_as_pool_id_and_gov_params_out_of_range() -> None:
    d = genesis_doc(pools=[{"id": "chain", "name": "C"}])
    with pytest.raises(ValueError, match="pools.0.id"):
        parse_genesis(d)
    for where, bad in (
        ("params.gov_quorum_bps", {"params": {"gov_quorum_bps": 999}}),
        ("params.gov_voting_period", {"params": {"gov_voting_period": 9}}),
        ("pools.0.params.gov_max_open", {"pools": [{"id": "a", "name": "A",
                                                    "params": {"gov_max_open": 65}}]}),
    ):  # fmt: skip
        with pytest.raises(ValueError, match=where.replace(".", r"\.")):
            parse_genesis(genesis_doc(**bad))


def test_proposal_state_keys_are_in_the_root() -> None:
    hx = gov_harness()
    _, pid = propose(hx, "m0", "med", max_claim=7000)
    assert hx.store.get(K.proposal_key(pid)) is not None
    assert hx.store.get(K.open_proposals_key("med")) is not None


def test_lowered_max_votes_per_elector_drops_a_longer_pending_elect() -> None:
    hx = gov_harness()
    _, pid = propose(hx, "m0", "chain", max_votes_per_elector=1)
    ballots(hx, pid, m1="yes", m2="yes", m3="yes")
    hx.advance_to(22)
    pool = Mempool(lambda: hx.view)
    two = hx.tx("m4", "elect", candidates=[addr("op0"), addr("op1")])
    one = hx.tx("m1", "elect", candidates=[addr("op0")])
    assert pool.add(two.wire).code is Code.OK and pool.add(one.wire).code is Code.OK
    pool.update([])  # params unchanged: both stay
    assert len(pool) == 2
    hx.block()  # block 23 enacts
    _, dropped = pool.update([])
    assert [t.hash for t in dropped] == [two.hash] and one.hash in pool


def test_chain_scope_changes_registrars_from_enact_at() -> None:
    hx = gov_harness()
    _, pid = propose(hx, "m0", "chain", registrars=[addr("m1")])
    ballots(hx, pid, m1="yes", m2="yes", m3="yes")
    hx.advance_to(22)
    assert hx.do("m1", "admit", account=addr("m9")).code is Code.UNAUTHORIZED  # block 23
    ok(hx.do("m1", "admit", account=addr("m9")))  # block 24: enacted at the end of 23
    assert hx.do("registrar", "admit", account=addr("m8")).code is Code.UNAUTHORIZED
    assert hx.view.params.to_json()["registrars"] == [addr("m1").hex()]
