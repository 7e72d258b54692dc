"""Parametric cover (PROTOCOL.md section 10): every check of `report` and `collect` in its
written order, and the stories of issue 11 (three weather stations report 180, 220, 250 against
">= 200"; who is eligible; a pool too small for the payout; stale reports; the collect window
at its boundary; the escrow that returns)."""

from __future__ import annotations

from typing import Any

import pytest
from test_machine import MEMBERS, Harness, addr, ok, refused

from state import keys as K
from state.errors import Code
from state.model import Event
from state.parametric import lower_median

STATIONS = ("st1", "st2", "st3")
GOV = {"gov_voting_period": 10, "gov_timelock": 10, "gov_quorum_bps": 5000}
TRIGGER = {"feed": "rainfall_mm", "op": ">=", "threshold": 200, "payout": 50}
RAIN = {
    "waiting_period": 2,
    "period": 20,
    "contribution": 100,
    "juror_min_age": 0,
    "fee_bps": 800,
    "collect_window": 10,
    "attestors": [addr(s).hex() for s in STATIONS],
    "attest_quorum": 3,
    "trigger": TRIGGER,
    **GOV,
}


def harness(**rain: Any) -> Harness:
    """Pool "rain" with three stations (quorum 3) and pool "plain" without a trigger (the
    stations are its attestors too); m0..m5 join "rain" at block 1 (active 3..20)."""
    hx = Harness(
        params=GOV,
        members=(*MEMBERS, *STATIONS),
        pools=[
            {"id": "rain", "name": "Rainfall", "params": {**RAIN, **rain}},
            {"id": "plain", "name": "Plain", "params": {"attestors": RAIN["attestors"]}},
        ],
    )
    for r in hx.block([hx.tx(f"m{i}", "join", pool="rain") for i in range(6)]).results:
        ok(r)
    return hx


def lived(hx: Harness) -> None:
    """Blocks 2 to 21: m0..m3 pay once more (active to 40), m5 leaves at 20, m4 lapses at 21;
    the pool holds 6 * 100 + 4 * 100 = 1000."""
    for r in hx.block([hx.tx(f"m{i}", "pay", pool="rain", amount=100) for i in range(4)]).results:
        ok(r)  # block 2
    hx.advance_to(19)
    ok(hx.do("m5", "leave", pool="rain"))  # 20
    hx.advance_to(21)


def report_all(hx: Harness, values: tuple[int, ...], rnd: int = 0) -> Any:
    txs = [
        hx.tx(s, "report", pool="rain", round=rnd, value=v)
        for s, v in zip(STATIONS, values, strict=False)
    ]
    ex = hx.block(txs)
    for r in ex.results:
        ok(r)
    return ex


def event(hx: Harness, rnd: int = 0) -> Event:
    ev = hx.view.event("rain", rnd)
    assert ev is not None
    return ev


# --- checks in order ---------------------------------------------------------------------


def test_report_checks_in_written_order() -> None:
    hx = harness()
    refused(hx, "st1", "report", Code.NOT_FOUND, pool="nope", round=0, value=1)
    refused(hx, "m0", "report", Code.INVALID_PAYLOAD, pool="plain", round=0, value=1)
    refused(hx, "st1", "report", Code.INVALID_PAYLOAD, pool="plain", round=0, value=1)
    refused(hx, "m0", "report", Code.UNAUTHORIZED, pool="rain", round=9, value=1)
    refused(hx, "st1", "report", Code.STALE_REPORT, pool="rain", round=1, value=1)
    ok(hx.do("st1", "report", pool="rain", round=0, value=1))
    refused(hx, "st1", "report", Code.ALREADY_VOTED, pool="rain", round=0, value=2)
    assert hx.view.pool("rain").round == 0
    assert hx.store.get(K.reports_key("rain")) is not None


def test_collect_checks_in_written_order() -> None:
    hx = harness()
    lived(hx)
    refused(hx, "m0", "collect", Code.NOT_FOUND, pool="rain", round=0)
    refused(hx, "m0", "collect", Code.NOT_FOUND, pool="nope", round=0)
    refused(hx, "m0", "collect", Code.NOT_FOUND, pool="x" * 300, round=0)  # no key for it
    report_all(hx, (180, 220, 250))  # block 25: event of round 0, collect_until 35
    assert event(hx).height == 25
    refused(hx, "m0", "collect", Code.NOT_FOUND, pool="rain", round=1)
    refused(hx, "m9", "collect", Code.NOT_ELIGIBLE, pool="rain", round=0)  # no member
    ok(hx.do("m0", "collect", pool="rain", round=0))
    refused(hx, "m0", "collect", Code.ALREADY_PAID, pool="rain", round=0)
    hx.advance_to(35)
    refused(hx, "m9", "collect", Code.WINDOW_CLOSED, pool="rain", round=0)  # before eligibility
    refused(hx, "m1", "collect", Code.WINDOW_CLOSED, pool="rain", round=0)


# --- stories -----------------------------------------------------------------------------


def test_three_stations_report_180_220_250_and_an_event_opens_at_the_median() -> None:
    hx = harness()
    lived(hx)
    pool = hx.view.pool("rain")
    assert (pool.balance, pool.round) == (1000, 0)
    assert hx.view.pool_member_counts("rain")["active"] == 4
    supply = hx.supply()
    ex = report_all(hx, (250, 180, 220))  # block 22, in any order
    ev = event(hx)
    assert ev.to_json() == {
        "pool": "rain",
        "round": 0,
        "value": 220,
        "height": 22,
        "eligible": 4,  # m0..m3: m4 lapsed at 21, m5 left at 20
        "per_member": 50,
        "fee_bps": 800,
        "collect_until": 32,
        "escrow": 200,
        "collected": 0,
    }
    pool = hx.view.pool("rain")
    assert (pool.balance, pool.round) == (800, 1)
    assert hx.store.get(K.reports_key("rain")) is None
    types = [e["type"] for e in ex.events]
    assert types[-2:] == ["round_settled", "event_opened"]
    assert hx.supply() == supply  # fees go to the treasury; the escrow is counted
    assert [e.round for e in hx.view.events("rain")] == [0]


def test_members_collect_per_member_minus_fee_who_joined_after_lapsed_or_left_cannot() -> None:
    hx = harness()
    lived(hx)
    report_all(hx, (180, 220, 250))  # 22
    ok(hx.do("m7", "join", pool="rain"))  # 23: joined after the event height
    ok(hx.do("m3", "leave", pool="rain"))  # 24: left after it: still eligible
    before, treasury = hx.balance("m0"), hx.balance("treasury")
    ok(hx.do("m0", "collect", pool="rain", round=0))
    assert hx.balance("m0") == before - 1 + 50 - 4
    assert hx.balance("treasury") == treasury + 1 + 4
    ok(hx.do("m3", "collect", pool="rain", round=0))
    for who in ("m7", "m4", "m5"):  # joined after, lapsed, left before
        refused(hx, who, "collect", Code.NOT_ELIGIBLE, pool="rain", round=0)
    ev = event(hx)
    assert (ev.escrow, ev.collected) == (100, 2)


def test_a_rejoin_after_the_event_forgets_the_old_record() -> None:
    hx = harness()
    lived(hx)
    report_all(hx, (200, 200, 200))  # 22: >= 200 holds at the threshold
    ok(hx.do("m2", "leave", pool="rain"))  # 23
    ok(hx.do("m2", "join", pool="rain"))  # 24: a new record, active from 26
    refused(hx, "m2", "collect", Code.NOT_ELIGIBLE, pool="rain", round=0)


def test_a_pool_too_small_pays_each_the_equal_share_it_can() -> None:
    hx = harness(trigger={**TRIGGER, "payout": 1000})
    lived(hx)  # 1000 in the pool, 4 eligible
    report_all(hx, (300, 300, 300))
    ev = event(hx)
    assert (ev.per_member, ev.escrow) == (250, 1000)
    assert hx.view.pool("rain").balance == 0


def test_approved_claims_keep_priority_over_an_event() -> None:
    hx = harness(trigger={**TRIGGER, "payout": 1000}, claim_bond=0, quorum=1, vote_window=2)
    lived(hx)
    c = hx.tx("m0", "claim", pool="rain", amount=203, evidence=b"\x01" * 32)
    ok(hx.block([c]).results[0])  # 22, closes 24
    ok(hx.do("m1", "vote", claim=c.hash, approve=True))  # 23
    assert hx.view.claim(c.hash).status == "approved"
    assert hx.view.pool("rain").liabilities == 203
    report_all(hx, (300, 300, 300))  # 24: available 1000 - 203 = 797
    ev = event(hx)
    assert (ev.per_member, ev.escrow) == (797 // 4, 4 * (797 // 4))
    assert hx.view.pool("rain").balance == 1000 - 4 * 199 >= 203


def test_no_eligible_member_opens_an_event_that_pays_nothing() -> None:
    hx = harness()
    hx.advance_to(25)  # everyone lapsed at 21
    report_all(hx, (300, 300, 300))
    ev = event(hx)
    assert (ev.eligible, ev.per_member, ev.escrow) == (0, 0, 0)
    assert hx.view.pool("rain").balance == 600


def test_a_value_that_does_not_cross_settles_the_round_without_an_event() -> None:
    hx = harness()
    lived(hx)
    ex = report_all(hx, (100, 150, 250))  # median 150 < 200
    assert hx.view.pool("rain").round == 1 and hx.view.event("rain", 0) is None
    assert ex.events[-1]["type"] == "round_settled" and ex.events[-1]["event"] is False
    assert hx.view.pool("rain").balance == 1000


def test_lower_or_equal_trigger_and_a_quorum_below_the_reports() -> None:
    drought = {"feed": "rain_mm", "op": "<=", "threshold": -5, "payout": 10}
    hx = harness(trigger=drought, attest_quorum=2)
    lived(hx)
    # two reports in one block reach the quorum: the third in the same block still counts
    report_all(hx, (-4, -9, -5))  # sorted -9, -5, -4: lower median -5
    assert event(hx).value == -5
    report_all(hx, (-6, 100), rnd=1)  # two values: the lower one, -6
    assert event(hx, 1).value == -6 and hx.view.pool("rain").round == 2
    assert [e.round for e in hx.view.events("rain")] == [0, 1]  # oldest first
    assert [e.round for e in hx.view.events("rain", limit=1)] == [0]
    assert hx.view.pool_liabilities("rain") == 0 and hx.view.pool_liabilities("nope") is None


def test_reports_over_several_blocks_settle_when_the_quorum_is_reached() -> None:
    hx = harness()
    lived(hx)
    ok(hx.do("st1", "report", pool="rain", round=0, value=500))
    ok(hx.do("st2", "report", pool="rain", round=0, value=10))
    assert hx.view.pool("rain").round == 0
    ok(hx.do("st3", "report", pool="rain", round=0, value=201))
    assert hx.view.pool("rain").round == 1 and event(hx).value == 201


def test_a_report_for_a_settled_round_is_stale() -> None:
    hx = harness()
    lived(hx)
    report_all(hx, (180, 220, 250))
    refused(hx, "st1", "report", Code.STALE_REPORT, pool="rain", round=0, value=1)
    ok(hx.do("st1", "report", pool="rain", round=1, value=1))


def test_collect_at_exactly_height_plus_collect_window_then_window_closed() -> None:
    hx = harness()
    lived(hx)
    report_all(hx, (180, 220, 250))  # 22: collect_until 32
    hx.advance_to(31)
    ok(hx.do("m0", "collect", pool="rain", round=0))  # 32
    refused(hx, "m1", "collect", Code.WINDOW_CLOSED, pool="rain", round=0)  # 33


def test_the_escrow_left_returns_to_the_pool_at_the_end_of_collect_until() -> None:
    hx = harness()
    lived(hx)
    report_all(hx, (180, 220, 250))  # 22: 200 reserved
    ok(hx.do("m0", "collect", pool="rain", round=0))  # 23
    ok(hx.do("m1", "collect", pool="rain", round=0))  # 24
    supply = hx.supply()
    hx.advance_to(31)
    assert hx.view.pool("rain").balance == 800 and event(hx).escrow == 100
    ex = hx.block()  # 32 = collect_until
    assert hx.view.pool("rain").balance == 900
    ev = event(hx)
    assert (ev.escrow, ev.collected) == (0, 2)
    assert {"type": "event_closed", "pool": "rain", "round": 0, "returned": 100} in ex.events
    assert hx.store.get(K.event_return_key(32, "rain", 0)) is None
    assert hx.supply() == supply
    # collected (2 * 50) + returned (100) == reserved (200)
    assert ev.collected * ev.per_member + 100 == ev.per_member * ev.eligible


def test_a_change_of_the_trigger_discards_the_open_rounds_reports() -> None:
    hx = harness(waiting_period=0, period=1000)
    hx.advance_to(3)
    ok(hx.do("st1", "report", pool="rain", round=0, value=300))  # 4
    ok(hx.do("st2", "report", pool="rain", round=0, value=300))  # 5: 2 of 3
    pr = hx.tx("m0", "propose", scope="rain", title="t", text_hash=b"\x05" * 32,
               changes={"trigger": {**TRIGGER, "threshold": 250}})  # fmt: skip
    ok(hx.block([pr]).results[0])  # 6: closes 16, enacted at 27
    ballots = [hx.tx(f"m{i}", "ballot", proposal=pr.hash, choice="yes") for i in range(4)]
    for r in hx.block(ballots).results:
        ok(r)
    hx.advance_to(26)
    assert hx.view.proposal(pr.hash).status == "enacted"
    assert hx.view.pool("rain").params.trigger.threshold == 250
    assert hx.store.get(K.reports_key("rain")) is None
    assert hx.view.pool("rain").round == 0  # the round number stays
    ok(hx.do("st1", "report", pool="rain", round=0, value=260))  # may report again


def test_a_proposal_setting_an_unchanged_value_keeps_the_reports() -> None:
    hx = harness(waiting_period=0, period=1000)
    hx.advance_to(3)
    ok(hx.do("st1", "report", pool="rain", round=0, value=300))
    pr = hx.tx("m0", "propose", scope="rain", title="t", text_hash=b"\x05" * 32,
               changes={"attest_quorum": 3, "max_claim": 10})  # fmt: skip
    ok(hx.block([pr]).results[0])
    ballots = [hx.tx(f"m{i}", "ballot", proposal=pr.hash, choice="yes") for i in range(4)]
    for r in hx.block(ballots).results:
        ok(r)
    hx.advance_to(26)
    assert hx.view.pool("rain").params.max_claim == 10
    refused(hx, "st1", "report", Code.ALREADY_VOTED, pool="rain", round=0, value=1)


def test_pool_json_answers_round_liabilities_and_reserve_bps() -> None:
    hx = harness()
    lived(hx)
    report_all(hx, (180, 220, 250))
    js = hx.view.pool("rain").to_json()
    assert (js["round"], js["liabilities"], js["reserve_bps"]) == (1, 0, None)
    assert js["params"]["trigger"] == TRIGGER
    assert hx.view.events("nope") == [] and hx.view.event("nope", 0) is None
    assert hx.view.event("rain", -1) is None and hx.view.events("rain", 0) == []


@pytest.mark.parametrize(
    ("values", "median"),
    [([5], 5), ([3, 1], 1), ([180, 220, 250], 220), ([4, 1, 3, 2], 2), ([7, 7, -1], 7)],
)
def test_lower_median(values: list[int], median: int) -> None:
    assert lower_median(values) == median


def test_opening_an_event_reads_no_member_record() -> None:
    """The eligible count comes from the kept member counts: the block that opens an event
    touches no member record, so its cost does not grow with the pool (issue 11: 100,000
    members under 100 ms; bench/parametric.py measures it)."""
    hx = harness()
    lived(hx)
    committed = hx.chain._committed
    seen: list[bytes] = []
    get, iterate = committed.get, committed.iterate

    def counting_get(key: bytes) -> Any:
        seen.append(key)
        return get(key)

    def counting_iterate(prefix: bytes) -> Any:
        seen.append(prefix)
        return iterate(prefix)

    committed.get = counting_get  # type: ignore[method-assign]  # counting the reads only
    committed.iterate = counting_iterate  # type: ignore[method-assign]  # counting the reads only
    try:
        report_all(hx, (180, 220, 250))
    finally:
        del committed.get, committed.iterate
    assert event(hx).eligible == 4
    assert not [k for k in seen if k.startswith(K.MEMBER)], "no member record is read"
