"""Attested claims and objections (PROTOCOL.md section 10): every check of `attest`, `object`
and the new `vote` check, in their written order, and the stories of issue 11 (a hospital
approves, two of three attestors reject, silent attestors leave it to the members, an
objection round, an attestor removed by governance)."""

from __future__ import annotations

from typing import Any

from test_machine import MEMBERS, Harness, addr, ok, refused

from state import keys as K
from state.errors import Code
from state.model import Claim

STAFF = ("hosp", "lab", "clinic")
TEXT = b"\x05" * 32
REPORT = b"\x0a" * 32
GOV = {"gov_voting_period": 10, "gov_timelock": 10, "gov_quorum_bps": 5000}
BASE = {
    "waiting_period": 2,
    "juror_min_age": 2,
    "vote_window": 10,
    "notice_period": 3,
    "quorum": 2,
    "objection_quorum": 2,
    "claim_bond": 50,
    "fee_bps": 800,
    **GOV,
}


def hexes(*labels: str) -> list[str]:
    return [addr(x).hex() for x in labels]


def harness(med: dict[str, Any] | None = None, plain: dict[str, Any] | None = None) -> Harness:
    """Pool "med" attested by the hospital (quorum 1), pool "plain" decided by members (with
    the hospital as attestor, which a vote pool may name); m0..m5 join both at block 1
    (active from 3); now at 3."""
    med_params = {**BASE, "claim_mode": "attested", "attestors": hexes("hosp"), **(med or {})}
    plain_params = {**BASE, "attestors": hexes("hosp"), **(plain or {})}
    hx = Harness(
        params=GOV,
        members=(*MEMBERS, *STAFF),
        pools=[
            {"id": "med", "name": "Medical", "params": med_params},
            {"id": "plain", "name": "Plain", "params": plain_params},
        ],
    )
    who = [f"m{i}" for i in range(6)]
    txs = [hx.tx(m, "join", pool=p) for m in who for p in ("med", "plain")]
    for r in hx.block(txs).results:
        ok(r)
    hx.advance_to(3)
    return hx


def file_claim(hx: Harness, who: str = "m0", pool: str = "med", amount: int = 300) -> bytes:
    tx = hx.tx(who, "claim", pool=pool, amount=amount, evidence=TEXT)
    ok(hx.block([tx]).results[0])
    return tx.hash


def claim(hx: Harness, cid: bytes) -> Claim:
    c = hx.view.claim(cid)
    assert c is not None
    return c


def attest(hx: Harness, who: str, cid: bytes, approve: bool = True) -> Any:
    return hx.do(who, "attest", claim=cid, approve=approve, report=REPORT)


# --- checks in order ---------------------------------------------------------------------


def test_attest_checks_in_written_order() -> None:
    hx = harness(med={"attestors": hexes("hosp", "m5"), "attest_quorum": 1})
    refused(hx, "hosp", "attest", Code.NOT_FOUND, claim=TEXT, approve=True, report=REPORT)
    cid = file_claim(hx)  # block 4, closes_at 14
    plain = file_claim(hx, "m1", pool="plain")  # stage jury: no attesting
    # unauthorized: a member, not an attestor (before not_eligible and voting_closed)
    refused(hx, "m1", "attest", Code.UNAUTHORIZED, claim=cid, approve=True, report=REPORT)
    # the attestor m5 files its own claim: not_eligible comes before voting_closed
    own = file_claim(hx, "m5")
    refused(hx, "m5", "attest", Code.NOT_ELIGIBLE, claim=own, approve=True, report=REPORT)
    refused(hx, "hosp", "attest", Code.VOTING_CLOSED, claim=plain, approve=True, report=REPORT)
    hx2 = harness(med={"attestors": hexes("hosp", "lab", "clinic"), "attest_quorum": 2})
    cid2 = file_claim(hx2)
    ok(attest(hx2, "hosp", cid2))
    assert claim(hx2, cid2).status == "voting"  # 1 of 2
    refused(hx2, "hosp", "attest", Code.ALREADY_VOTED, claim=cid2, approve=False, report=REPORT)
    # decided: voting_closed, even for the attestor who has not attested yet
    ok(attest(hx, "hosp", cid))
    assert claim(hx, cid).status == "approved"
    refused(hx, "hosp", "attest", Code.VOTING_CLOSED, claim=cid, approve=True, report=REPORT)
    # at closes_at the attestors are too late (the claim went to the jury at its end)
    silent = file_claim(hx2, "m1")
    hx2.advance_to(claim(hx2, silent).closes_at - 1)
    assert claim(hx2, silent).stage == "jury"
    refused(hx2, "lab", "attest", Code.VOTING_CLOSED, claim=silent, approve=True, report=REPORT)


def test_attest_at_the_last_block_before_closes_at_still_counts() -> None:
    hx = harness()
    cid = file_claim(hx)  # closes_at 14
    hx.advance_to(12)
    ok(attest(hx, "hosp", cid))  # block 13 = closes_at - 1
    c = claim(hx, cid)
    assert (c.status, c.stage, c.payable_at) == ("approved", "attestation", 14 + 3)


def test_vote_refuses_a_claim_in_stage_attestation_after_voting_closed() -> None:
    hx = harness()
    cid = file_claim(hx)
    refused(hx, "m2", "vote", Code.NOT_ELIGIBLE, claim=cid, approve=True)
    refused(hx, "m9", "vote", Code.NOT_ELIGIBLE, claim=cid, approve=True)  # before not_member
    ok(attest(hx, "hosp", cid))
    refused(hx, "m2", "vote", Code.VOTING_CLOSED, claim=cid, approve=True)


def test_object_checks_in_written_order() -> None:
    hx = harness(med={"objection_quorum": 3, "notice_period": 8})
    refused(hx, "m1", "object", Code.NOT_FOUND, claim=TEXT)  # 4
    cid = file_claim(hx)  # 5
    refused(hx, "m1", "object", Code.VOTING_CLOSED, claim=cid)  # 6: still voting
    ok(attest(hx, "hosp", cid))  # 7: approved, payable_at 7 + 1 + 8 = 16
    refused(hx, "m9", "object", Code.NOT_MEMBER, claim=cid)  # 8
    ok(hx.do("m7", "join", pool="med"))  # 9: waiting until 11
    refused(hx, "m7", "object", Code.NOT_ELIGIBLE, claim=cid)  # 10: waiting
    refused(hx, "m0", "object", Code.NOT_ELIGIBLE, claim=cid)  # 11: the claimant
    ok(hx.do("m1", "object", claim=cid))  # 12
    refused(hx, "m1", "object", Code.ALREADY_VOTED, claim=cid)  # 13
    c = claim(hx, cid)
    assert c.objections == (addr("m1"),) and c.status == "approved" and c.payable_at == 16
    hx.advance_to(14)
    ok(hx.do("m2", "object", claim=cid))  # 15 = payable_at - 1: still in time
    refused(hx, "m3", "object", Code.VOTING_CLOSED, claim=cid)  # 16 = payable_at
    assert claim(hx, cid).status == "approved"  # 2 of 3 objections: nothing happens


def test_object_juror_min_age_boundary_from_the_terms() -> None:
    hx = harness(med={"waiting_period": 0, "juror_min_age": 4, "notice_period": 10})
    ok(hx.do("m8", "join", pool="med"))  # block 4: active at once
    cid = file_claim(hx)  # block 5
    ok(attest(hx, "hosp", cid))  # block 6
    refused(hx, "m8", "object", Code.NOT_ELIGIBLE, claim=cid)  # block 7: age 3 < 4
    ok(hx.do("m8", "object", claim=cid))  # block 8: age 4


def test_object_needs_a_positive_quorum_and_one_round() -> None:
    hx = harness(med={"objection_quorum": 0})
    cid = file_claim(hx)
    ok(attest(hx, "hosp", cid))
    refused(hx, "m1", "object", Code.VOTING_CLOSED, claim=cid)


# --- stories -----------------------------------------------------------------------------


def test_hospital_quorum_one_approves_payable_notice_period_plus_one_later() -> None:
    hx = harness()
    cid = file_claim(hx)  # block 4, 300
    pool = hx.view.pool("med")
    assert claim(hx, cid).stage == "attestation" and claim(hx, cid).terms["attestors"] == [
        addr("hosp")
    ]
    assert pool.liabilities == 0 and pool.to_json()["reserve_bps"] is None
    ex = hx.block([hx.tx("hosp", "attest", claim=cid, approve=True, report=REPORT)])  # 5
    ok(ex.results[0])
    c = claim(hx, cid)
    assert (c.status, c.attest_for, c.attest_against, c.payable_at) == ("approved", 1, 0, 9)
    assert c.to_json()["attestations"] == [
        {"attestor": addr("hosp").hex(), "approve": True, "report": REPORT.hex()}
    ]
    assert [e["type"] for e in ex.events] == ["claim_attested", "claim_approved"]
    # the claim's tally key at closes_at is gone: nothing happens at 14
    assert hx.store.get(K.tally_key(c.closes_at, cid)) is None
    pool = hx.view.pool("med")
    assert pool.liabilities == 300
    assert pool.to_json()["reserve_bps"] == pool.balance * 10000 // 300 == 20000
    refused(hx, "m0", "payout", Code.NOTICE_PERIOD, claim=cid)  # block 6
    hx.advance_to(8)
    before = hx.balance("m0")
    ok(hx.do("m0", "payout", claim=cid))  # block 9 = 5 + 1 + 3
    assert hx.balance("m0") == before - 1 + 300 - 24 + 50
    assert hx.view.pool("med").liabilities == 0


def test_two_of_three_one_rejects_then_a_second_rejects_bond_to_pool() -> None:
    hx = harness(med={"attestors": hexes("hosp", "lab", "clinic"), "attest_quorum": 2})
    cid = file_claim(hx)
    ok(attest(hx, "hosp", cid, approve=False))
    c = claim(hx, cid)
    assert (c.status, c.attest_against) == ("voting", 1)  # 1 > 3 - 2 is false
    pool_before = hx.view.pool("med").balance
    ex = hx.block([hx.tx("lab", "attest", claim=cid, approve=False, report=REPORT)])
    ok(ex.results[0])
    c = claim(hx, cid)
    assert (c.status, c.attest_against, c.stage) == ("rejected", 2, "attestation")
    assert hx.view.pool("med").balance == pool_before + 50
    assert hx.store.get(K.open_claim_key("med", addr("m0"))) is None
    assert ex.events[-1]["type"] == "claim_rejected" and ex.events[-1]["bond_to_pool"] == 50
    assert hx.store.get(K.tally_key(c.closes_at, cid)) is None


def test_approvals_in_one_block_reach_the_quorum_together() -> None:
    hx = harness(med={"attestors": hexes("hosp", "lab", "clinic"), "attest_quorum": 2})
    cid = file_claim(hx)
    txs = [hx.tx(w, "attest", claim=cid, approve=True, report=REPORT) for w in STAFF]
    for r in hx.block(txs).results:
        ok(r)  # the third still counts: the claim is decided at the end of the block
    c = claim(hx, cid)
    assert (c.status, c.attest_for) == ("approved", 3)


def test_silent_attestors_until_closes_at_then_the_members_decide() -> None:
    hx = harness(med={"attestors": hexes("hosp", "lab"), "attest_quorum": 2})
    cid = file_claim(hx)  # block 4, closes_at 14
    ok(attest(hx, "hosp", cid))  # 1 of 2: undecided
    hx.advance_to(12)
    assert claim(hx, cid).stage == "attestation"
    ex = hx.block()  # block 13 = closes_at - 1
    c = claim(hx, cid)
    assert (c.status, c.stage, c.closes_at) == ("voting", "jury", 24)
    assert ex.events[-1]["type"] == "claim_to_jury"
    votes = [hx.tx(w, "vote", claim=cid, approve=True) for w in ("m1", "m2")]
    for r in hx.block(votes).results:
        ok(r)
    hx.advance_to(23)
    c = claim(hx, cid)
    assert (c.status, c.payable_at) == ("approved", 24 + 3)
    assert hx.view.pool("med").liabilities == 300


def test_silent_attestors_and_silent_jury_reject() -> None:
    hx = harness()
    cid = file_claim(hx)
    hx.advance_to(23)
    c = claim(hx, cid)
    assert c.status == "rejected" and c.stage == "jury"


def objection_round(hx: Harness, cid: bytes, objectors: tuple[str, ...]) -> Any:
    ex = hx.block([hx.tx(w, "object", claim=cid) for w in objectors])
    for r in ex.results:
        ok(r)
    return ex


def test_objection_sends_it_to_the_jury_which_approves_again_and_no_second_round() -> None:
    hx = harness(med={"notice_period": 5})
    cid = file_claim(hx)  # 4
    ok(attest(hx, "hosp", cid))  # 5: approved, payable_at 11
    assert hx.view.pool("med").liabilities == 300
    ok(hx.do("m1", "object", claim=cid))  # 6: 1 of 2
    assert claim(hx, cid).status == "approved"
    ex = objection_round(hx, cid, ("m2", "m3", "m4"))  # 7: quorum reached; all three count
    c = claim(hx, cid)
    assert (c.status, c.stage, c.objected, c.closes_at, c.payable_at) == (
        "voting",
        "jury",
        True,
        18,
        None,
    )
    assert c.objections == tuple(addr(w) for w in ("m1", "m2", "m3", "m4"))
    assert ex.events[-1]["type"] == "claim_reopened"
    assert hx.view.pool("med").liabilities == 0
    votes = [hx.tx(w, "vote", claim=cid, approve=True) for w in ("m1", "m5")]
    for r in hx.block(votes).results:
        ok(r)
    hx.advance_to(17)
    c = claim(hx, cid)
    assert (c.status, c.payable_at, c.votes_for) == ("approved", 18 + 5, 2)
    assert hx.view.pool("med").liabilities == 300
    refused(hx, "m2", "object", Code.VOTING_CLOSED, claim=cid)  # one objection round


def test_reopened_claim_forgets_earlier_votes_of_a_jury_claim() -> None:
    hx = harness()
    cid = file_claim(hx, pool="plain")  # 4, closes 14
    votes = [hx.tx(w, "vote", claim=cid, approve=True) for w in ("m1", "m2")]
    for r in hx.block(votes).results:
        ok(r)
    hx.advance_to(13)
    assert claim(hx, cid).status == "approved"  # payable_at 17
    objection_round(hx, cid, ("m3", "m4"))  # 14
    c = claim(hx, cid)
    assert (c.status, c.votes_for, c.voters) == ("voting", 0, ())
    assert hx.store.get(K.vote_key(cid, addr("m1"))) is None
    ok(hx.do("m1", "vote", claim=cid, approve=False))  # m1 may vote again


def test_objected_claim_rejected_by_the_jury_sends_its_bond_to_the_pool() -> None:
    hx = harness()
    cid = file_claim(hx)
    ok(attest(hx, "hosp", cid))  # 5
    objection_round(hx, cid, ("m1", "m2"))  # 6: closes_at 17
    votes = [hx.tx(w, "vote", claim=cid, approve=False) for w in ("m1", "m2", "m3")]
    for r in hx.block(votes).results:
        ok(r)
    pool_before = hx.view.pool("med").balance
    hx.advance_to(16)
    c = claim(hx, cid)
    assert (c.status, c.objected) == ("rejected", True)
    assert hx.view.pool("med").balance == pool_before + 50
    assert hx.view.pool("med").liabilities == 0
    refused(hx, "m0", "payout", Code.NOT_APPROVED, claim=cid)


def test_governance_removes_an_attestor_mid_claim_its_attestation_is_refused() -> None:
    hx = harness(med={"attestors": hexes("hosp", "lab"), "attest_quorum": 1, "vote_window": 60})
    cid = file_claim(hx)  # 4: terms.attestors = [hosp, lab]
    pr = hx.tx("m1", "propose", scope="med", title="t", text_hash=TEXT,
               changes={"attestors": [addr("lab")]})  # fmt: skip
    ok(hx.block([pr]).results[0])  # 5: closes 15, enacted 26
    ballots = [hx.tx(w, "ballot", proposal=pr.hash, choice="yes") for w in ("m1", "m2", "m3")]
    for r in hx.block(ballots).results:
        ok(r)
    hx.advance_to(26)
    assert hx.view.proposal(pr.hash).status == "enacted"
    assert hx.view.pool("med").params.attestors == (addr("lab"),)
    assert claim(hx, cid).terms["attestors"] == [addr("hosp"), addr("lab")]
    refused(hx, "hosp", "attest", Code.UNAUTHORIZED, claim=cid, approve=True, report=REPORT)
    ok(attest(hx, "lab", cid))
    assert claim(hx, cid).status == "approved"


def test_an_attestor_added_later_cannot_attest_a_claim_filed_before() -> None:
    hx = harness(med={"vote_window": 60})
    cid = file_claim(hx)
    pr = hx.tx("m1", "propose", scope="med", title="t", text_hash=TEXT,
               changes={"attestors": [addr("hosp"), addr("lab")]})  # fmt: skip
    ok(hx.block([pr]).results[0])
    ballots = [hx.tx(w, "ballot", proposal=pr.hash, choice="yes") for w in ("m1", "m2", "m3")]
    for r in hx.block(ballots).results:
        ok(r)
    hx.advance_to(26)
    refused(hx, "lab", "attest", Code.UNAUTHORIZED, claim=cid, approve=True, report=REPORT)


def test_claim_json_has_the_section_10_fields() -> None:
    hx = harness()
    cid = file_claim(hx)
    ok(attest(hx, "hosp", cid))
    ok(hx.do("m1", "object", claim=cid))
    js = claim(hx, cid).to_json()
    assert js["stage"] == "attestation" and js["objected"] is False
    assert (js["attest_for"], js["attest_against"]) == (1, 0)
    assert js["objections"] == [addr("m1").hex()]
    assert js["terms"]["attestors"] == [addr("hosp").hex()]
    assert (js["terms"]["attest_quorum"], js["terms"]["objection_quorum"]) == (1, 2)
    # the stored record decodes to the same claim
    raw = hx.store.get(K.claim_key(cid))
    assert K.decode_value(K.claim_key(cid), raw) == claim(hx, cid)


def test_supply_holds_through_the_attested_stories() -> None:
    hx = harness()
    supply = hx.supply()
    cid = file_claim(hx)
    ok(attest(hx, "hosp", cid))
    objection_round(hx, cid, ("m1", "m2"))
    assert hx.supply() == supply
    hx.advance_to(30)
    assert hx.supply() == supply
