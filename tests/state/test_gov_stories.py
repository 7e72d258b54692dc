"""Governance stories of issue 10 not told in test_governance.py: the member who disagrees and
leaves during the time lock, a chain-scope change of registrars and min_fee voted by an
electorate that counts an account in two pools once, and gov_quorum_bps held to its range."""

from __future__ import annotations

import pytest
from test_governance import TEXT, ballots, gov_harness, proposal, propose
from test_machine import addr, ok, refused

from state.errors import Code
from state.machine import InvalidBlock


def test_member_who_disagrees_leaves_in_the_time_lock_claim_keeps_terms_rejoin_pays_new() -> None:
    hx = gov_harness(med={"vote_window": 60, "quorum": 2, "notice_period": 3, "fee_bps": 800})
    cl = hx.tx("m3", "claim", pool="med", amount=300, evidence=TEXT)
    pr = hx.tx("m0", "propose", scope="med", title="t", text_hash=TEXT,
               changes={"entry_fee": 50, "contribution": 200, "quorum": 3, "notice_period": 20,
                        "fee_bps": 0})  # fmt: skip
    for r in hx.block([cl, pr]).results:  # block 4
        ok(r)
    ballots(hx, pr.hash, m0="yes", m1="yes", m2="yes", m3="no")
    hx.advance_to(13)
    assert proposal(hx, pr.hash).status == "passed" and proposal(hx, pr.hash).enact_at == 24
    ok(hx.do("m3", "leave", pool="med"))  # block 14: in the time lock, under the old rules
    assert hx.view.member_status("med", addr("m3")) == "left"
    hx.advance_to(23)
    assert proposal(hx, pr.hash).status == "enacted"
    params = hx.view.pool("med").params
    assert (params.entry_fee, params.contribution, params.quorum) == (50, 200, 3)
    votes = [hx.tx(w, "vote", claim=cl.hash, approve=True) for w in ("m1", "m2")]
    for r in hx.block(votes).results:  # block 24: two votes, the quorum at filing
        ok(r)
    before, treasury, pool = hx.balance("m3"), hx.balance("treasury"), hx.view.pool("med").balance
    ok(hx.do("m3", "join", pool="med"))  # block 25: the new entry fee and contribution
    assert hx.balance("m3") == before - 1 - 50 - 200
    assert hx.balance("treasury") == treasury + 1 + 50
    assert hx.view.pool("med").balance == pool + 200
    m = hx.view.member("med", addr("m3"))
    assert (m.joined_at, m.paid_through, m.left_at) == (25, 25 + 99, None)
    hx.advance_to(63)  # the claim closes at 64
    c = hx.view.claim(cl.hash)
    assert c.status == "approved" and c.payable_at == 64 + 3  # notice_period at filing
    hx.advance_to(66)
    before = hx.balance("m3")
    ok(hx.do("m3", "payout", claim=cl.hash))  # block 67
    assert hx.balance("m3") == before - 1 + 300 - 24 + 50  # fee_bps 800 at filing, bond back


def test_chain_scope_changes_registrars_and_min_fee_electorate_counts_two_pools_once() -> None:
    # quorum 6000 bps: 3 ballots reach it with electorate 5 and would not with 6 (m3 twice)
    hx = gov_harness(params={"gov_quorum_bps": 6000})
    r, pid = propose(hx, "m4", "chain", registrars=[addr("m1")], min_fee=2)  # block 4
    ok(r)
    assert proposal(hx, pid).electorate == 5  # m0..m3 in med, m3 and m4 in dental
    ballots(hx, pid, m1="yes", m2="yes", m3="yes")
    hx.advance_to(13)
    assert proposal(hx, pid).status == "passed"
    hx.advance_to(22)
    assert hx.do("m1", "admit", account=addr("m9")).code is Code.UNAUTHORIZED  # block 23
    assert proposal(hx, pid).status == "enacted"
    with pytest.raises(InvalidBlock, match="fee_too_low"):
        hx.execute(
            [hx.tx("m1", "admit", nonce=hx.account("m1").nonce, account=addr("m9"))]
        )  # fee 1 < min_fee 2
    ok(hx.do("m1", "admit", fee=2, account=addr("m9")))  # block 24
    assert hx.view.account(addr("m9")).kyc
    assert hx.do("registrar", "admit", fee=2, account=addr("m8")).code is Code.UNAUTHORIZED
    j = hx.view.params.to_json()
    assert (j["registrars"], j["min_fee"]) == ([addr("m1").hex()], 2)


@pytest.mark.parametrize("scope", ["med", "chain"])
def test_governance_cannot_set_gov_quorum_bps_below_its_range(scope: str) -> None:
    hx = gov_harness()
    refused(hx, "m0", "propose", Code.INVALID_PAYLOAD, scope=scope,
            changes={"gov_quorum_bps": 999}, title="t", text_hash=TEXT)  # fmt: skip
    r, pid = propose(hx, "m0", scope, gov_quorum_bps=1000)  # the bound itself is allowed
    ok(r)
    ballots(hx, pid, m1="yes", m2="yes", m3="yes")
    hx.advance_to(24)
    assert proposal(hx, pid).status == "enacted"
    params = hx.view.params if scope == "chain" else hx.view.pool(scope).params
    assert params.gov_quorum_bps == 1000
