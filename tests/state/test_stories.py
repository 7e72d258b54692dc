"""Member and validator stories end to end on the state machine (PROTOCOL.md sections 3-4)."""

from __future__ import annotations

from test_machine import BALANCE, Harness, addr, ok, refused

from state.errors import Code
from state.machine import EvidenceRef

EV = b"\x42" * 32


def funded_pool(hx: Harness, members: tuple[str, ...] = ("m0", "m1", "m2", "m3", "m4")) -> None:
    """Members join at height 1 and pay for many periods so the pool can pay claims."""
    hx.block([hx.tx(m, "join", pool="med") for m in members])
    hx.block([hx.tx(m, "pay", pool="med", amount=1000) for m in members])


def test_claim_approved_then_paid_with_fee_split_and_bond_back() -> None:
    hx = Harness()
    supply = hx.supply()
    funded_pool(hx)
    assert hx.member_status("med", "m0") == "waiting"
    # the waiting period: no claim before joined_at + waiting_period
    refused(hx, "m0", "claim", Code.WAITING_PERIOD, pool="med", amount=2000, evidence=EV)
    hx.advance_to(10)
    claim = hx.tx("m0", "claim", pool="med", amount=2000, evidence=EV)
    ok(hx.block([claim]).results[0])  # at 11 = 1 + waiting_period: active
    before_claimant = hx.balance("m0")
    c = hx.view.claim(claim.hash)
    assert (c.status, c.opened_at, c.closes_at) == ("voting", 11, 21)
    votes = [
        hx.tx(m, "vote", claim=claim.hash, approve=m != "m4") for m in ("m1", "m2", "m3", "m4")
    ]
    hx.block(votes)
    assert hx.view.claim(claim.hash).votes_for == 3
    hx.advance_to(19)
    assert hx.view.claim(claim.hash).status == "voting"
    ex = hx.block()  # block 20 = closes_at - 1: the tally runs at its end
    assert [e["type"] for e in ex.events] == ["claim_approved"]
    c = hx.view.claim(claim.hash)
    assert (c.status, c.payable_at) == ("approved", 21 + 3)
    # an approved claim stays payable whatever the claimant does next
    ok(hx.do("m0", "leave", pool="med"))
    hx.advance_to(22)
    refused(hx, "m9", "payout", Code.NOTICE_PERIOD, claim=claim.hash)  # at 23
    pool_before = hx.view.pool("med").balance
    treasury_before = hx.balance("treasury")
    claimant_before = hx.balance("m0")
    ex = hx.block([hx.tx("m9", "payout", claim=claim.hash)])  # at 24 = payable_at; anyone sends
    ok(ex.results[0])
    fee = 2000 * 800 // 10000
    assert hx.view.pool("med").balance == pool_before - 2000
    assert hx.balance("treasury") == treasury_before + fee + 1  # + m9's tx fee
    assert hx.balance("m0") == claimant_before + (2000 - fee) + 50  # bond returned
    assert hx.view.claim(claim.hash).status == "paid"
    assert ex.events[0]["type"] == "claim_paid" and ex.events[0]["fee"] == fee
    assert before_claimant < hx.balance("m0")
    assert hx.supply() == supply
    # the claim is no longer open: the member (rejoined) may claim again later
    ok(hx.do("m0", "join", pool="med"))


def test_rejected_claim_forfeits_bond_to_pool() -> None:
    hx = Harness()
    supply = hx.supply()
    funded_pool(hx)
    hx.advance_to(10)
    claim = hx.tx("m0", "claim", pool="med", amount=100, evidence=EV)
    hx.block([claim])
    hx.block([hx.tx(m, "vote", claim=claim.hash, approve=m == "m1") for m in ("m1", "m2", "m3")])
    pool_before = hx.view.pool("med").balance
    hx.advance_to(20)
    c = hx.view.claim(claim.hash)
    assert (c.status, c.votes_for, c.votes_against, c.payable_at) == ("rejected", 1, 2, None)
    assert hx.view.pool("med").balance == pool_before + 50
    assert hx.balance("m0") == BALANCE - 1 - 110 - 1 - 1000 - 1 - 50
    assert hx.supply() == supply
    refused(hx, "m0", "payout", Code.NOT_APPROVED, claim=claim.hash)
    # a rejected claim no longer blocks a new one
    ok(hx.do("m0", "claim", pool="med", amount=100, evidence=EV))


def test_tie_is_not_approved() -> None:
    hx = Harness()
    funded_pool(hx)
    hx.advance_to(10)
    claim = hx.tx("m0", "claim", pool="med", amount=100, evidence=EV)
    hx.block([claim])
    hx.block([hx.tx(m, "vote", claim=claim.hash, approve=m == "m1") for m in ("m1", "m2")])
    hx.advance_to(20)
    assert hx.view.claim(claim.hash).status == "rejected"  # 1 * 10000 > 5000 * 2 is false


def test_claim_without_quorum_is_rejected() -> None:
    hx = Harness()
    supply = hx.supply()
    funded_pool(hx)
    hx.advance_to(10)
    claim = hx.tx("m0", "claim", pool="med", amount=100, evidence=EV)
    hx.block([claim])
    hx.block([hx.tx("m1", "vote", claim=claim.hash, approve=True)])  # 1 vote < quorum 2
    pool_before = hx.view.pool("med").balance
    hx.advance_to(20)
    c = hx.view.claim(claim.hash)
    assert (c.status, c.votes_for) == ("rejected", 1)
    assert hx.view.pool("med").balance == pool_before + 50
    assert hx.supply() == supply


def test_lapse_by_not_paying_then_rejoin_starts_new_waiting_period() -> None:
    hx = Harness(pools=[{"id": "med", "name": "M", "params": {"period": 20}}])
    hx.block([hx.tx(m, "join", pool="med") for m in ("m0", "m1")])  # covered 1..20
    hx.advance_to(19)
    assert hx.member_status("med", "m0") == "active"
    hx.advance_to(21)
    assert hx.member_status("med", "m0") == "lapsed"
    assert hx.view.pool_member_counts("med") == {"waiting": 0, "active": 0, "lapsed": 2, "left": 0}
    refused(hx, "m0", "claim", Code.NOT_MEMBER, pool="med", amount=10, evidence=EV)
    refused(hx, "m0", "pay", Code.NOT_MEMBER, pool="med", amount=100)
    ok(hx.do("m0", "join", pool="med"))
    m = hx.view.member("med", addr("m0"))
    assert (m.joined_at, m.paid_through) == (hx.h, hx.h + 19)
    assert hx.member_status("med", "m0") == "waiting"
    refused(hx, "m0", "claim", Code.WAITING_PERIOD, pool="med", amount=10, evidence=EV)
    assert hx.view.pool_member_counts("med") == {"waiting": 1, "active": 0, "lapsed": 1, "left": 0}


def test_paying_ahead_keeps_member_covered() -> None:
    hx = Harness(pools=[{"id": "med", "name": "M", "params": {"period": 20}}])
    hx.block([hx.tx("m0", "join", pool="med")])
    hx.block([hx.tx("m0", "pay", pool="med", amount=200)])  # two more periods: through 60
    hx.advance_to(60)
    assert hx.member_status("med", "m0") == "active"
    hx.advance_to(61)
    assert hx.member_status("med", "m0") == "lapsed"


def test_leave_then_rejoin() -> None:
    hx = Harness()
    funded_pool(hx, ("m0", "m1", "m2"))
    hx.advance_to(10)
    claim = hx.tx("m0", "claim", pool="med", amount=100, evidence=EV)
    hx.block([claim])
    ok(hx.do("m0", "leave", pool="med"))
    assert hx.member_status("med", "m0") == "left"
    refused(hx, "m0", "vote", Code.NOT_MEMBER, claim=claim.hash, approve=True)
    # the open claim goes on and is decided by the others
    hx.block([hx.tx(m, "vote", claim=claim.hash, approve=True) for m in ("m1", "m2")])
    hx.advance_to(21)
    assert hx.view.claim(claim.hash).status == "approved"
    ok(hx.do("m0", "join", pool="med"))
    assert hx.member_status("med", "m0") == "waiting"
    # still one approved claim open in the pool: a new one waits for its payout
    hx.advance_to(hx.h + 10)
    refused(hx, "m0", "claim", Code.CLAIM_OPEN, pool="med", amount=100, evidence=EV)


def test_kyc_admission() -> None:
    hx = Harness()
    refused(hx, "m0", "join", Code.UNAUTHORIZED, pool="kyc")
    refused(hx, "m1", "admit", Code.UNAUTHORIZED, account=addr("m0"))
    ex = hx.block([hx.tx("registrar", "admit", account=addr("m0"))])
    assert ex.events[0] == {
        "type": "kyc_admitted",
        "account": addr("m0").hex(),
        "tx": ex.tx_hashes[0].hex(),
    }
    assert hx.account("m0").kyc
    ok(hx.do("m0", "join", pool="kyc"))
    assert hx.member_status("kyc", "m0") == "waiting"
    ok(hx.do("m1", "join", pool="med"))  # an open pool does not ask


def election_harness() -> Harness:
    return Harness(params={"epoch_length": 10, "min_validators": 2, "max_validators": 3})


def test_election_changes_validator_set_two_heights_later() -> None:
    hx = election_harness()
    genesis_set = [v.operator for v in hx.chain.validators(1)]
    assert genesis_set == [addr(f"op{i}") for i in range(4)]
    ok(hx.do("op-extra", "register_candidate", consensus_key=addr("valx"), name="extra"))
    # m0 and m1 back op-extra and op2; m2 backs op1; the treasury's list counts 0
    hx.block(
        [
            hx.tx("m0", "elect", candidates=[addr("op-extra"), addr("op2")]),
            hx.tx("m1", "elect", candidates=[addr("op-extra")]),
            hx.tx("m2", "elect", candidates=[addr("op1")]),
            hx.tx("m3", "transfer", to=addr("treasury"), amount=BALANCE // 2),
        ]
    )
    ok(hx.do("treasury", "elect", candidates=[addr("op3")]))
    hx.advance_to(9)
    ex = hx.block()  # end of block 10: election
    elected = [e for e in ex.events if e["type"] == "election"][0]
    assert elected["effective_height"] == 12 and elected["changed"]
    assert [v.operator for v in hx.chain.validators(11)] == genesis_set
    new = [v.operator for v in hx.chain.validators(12)]
    # weights: op-extra 2 balances, op2 and op1 one balance each (m2 > m0: m0 paid more fees)
    assert new[0] == addr("op-extra")
    assert set(new[1:]) == {addr("op1"), addr("op2")}
    assert [v.consensus_key for v in hx.chain.validators(12)][0] == addr("valx")
    assert all(v.power == 1 for v in hx.chain.validators(100))
    votes = {c.operator: c.votes for c in hx.view.candidates()}
    assert votes[addr("op3")] == 0  # only the treasury listed it
    assert votes[addr("op-extra")] == hx.balance("m0") + hx.balance("m1")
    assert votes[addr("op1")] == hx.balance("m2")


def test_election_ties_by_operator_bytes_and_cap() -> None:
    hx = election_harness()
    hx.block([hx.tx(m, "elect", candidates=[addr(f"op{i}") for i in range(4)]) for m in ("m0",)])
    hx.advance_to(10)
    expected = sorted(addr(f"op{i}") for i in range(4))[:3]
    assert [v.operator for v in hx.chain.validators(12)] == expected


def test_election_with_too_few_candidates_keeps_set() -> None:
    hx = election_harness()
    hx.block([hx.tx("m0", "elect", candidates=[addr("op0")])])  # 1 qualifies < min 2
    hx.advance_to(10)
    assert [v.operator for v in hx.chain.validators(12)] == [addr(f"op{i}") for i in range(4)]
    assert {c.operator: c.votes for c in hx.view.candidates()}[addr("op0")] > 0


def test_evidence_removes_validator_and_bars_operator() -> None:
    hx = election_harness()
    hx.advance_to(3)
    ev = EvidenceRef(addr("val1"), 2, 0, 2, b"\x01" * 32)
    ex = hx.block(evidence=[ev])  # block 4
    assert ex.events[-1]["type"] == "evidence" and ex.events[-1]["removed_from"] == 6
    assert addr("val1") in [v.consensus_key for v in hx.chain.validators(5)]
    assert [v.operator for v in hx.chain.validators(6)] == [addr(f"op{i}") for i in (0, 2, 3)]
    cand = {c.operator: c for c in hx.view.candidates()}[addr("op1")]
    assert cand.barred_until == 4 + 10 * 10
    refused(
        hx, "op1", "register_candidate", Code.UNAUTHORIZED, consensus_key=addr("val1"), name="n"
    )
    # counted once: the same evidence again changes nothing
    before = hx.state()
    hx.block(evidence=[ev])
    after = hx.state()
    assert {k for k in after if before.get(k) != after[k]} == set()
    # a barred operator is not elected even with votes
    hx.block([hx.tx("m0", "elect", candidates=[addr("op1"), addr("op0"), addr("op2")])])
    hx.advance_to(10)
    assert addr("op1") not in [v.operator for v in hx.chain.validators(12)]
    assert [v.operator for v in hx.chain.validators(12)] == sorted([addr("op0"), addr("op2")])


def test_old_evidence_is_ignored_and_set_never_empty() -> None:
    hx = Harness(params={"epoch_length": 5}, validators=1)
    hx.advance_to(8)
    old = EvidenceRef(addr("val0"), 2, 0, 2, b"\x02" * 32)  # 9 - 2 > 5
    ex = hx.block(evidence=[old])
    assert not [e for e in ex.events if e["type"] == "evidence"]
    assert hx.view.candidates()[0].barred_until == 0
    fresh = EvidenceRef(addr("val0"), 8, 1, 1, b"\x03" * 32)
    hx.block(evidence=[fresh])
    assert [v.operator for v in hx.chain.validators(12)] == [addr("op0")]  # kept: never empty
    assert hx.view.candidates()[0].barred_until == 10 + 50
