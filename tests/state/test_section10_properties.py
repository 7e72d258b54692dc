"""Properties of section 10 over random blocks (hypothesis): members join, pay, leave, claim,
vote, object and collect; attestors attest and report, in an attested pool and a triggered
pool. At every height: the supply (accounts, pools, claim bonds, proposal deposits and event
escrows) equals the genesis supply; no member collects an event twice; each event's escrow is
what it reserved less what was collected, and once its window ends collected + returned ==
reserved; each pool's liabilities are the sum of its approved claims; the stored indexes
agree with the records."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_machine import Harness, addr

from state import keys as K
from state.model import APPROVED, Claim, Event, Pool
from state.tx import Tx

MEMBERS = ("m0", "m1", "m2", "m3", "m4", "m5")
STATIONS = ("st1", "st2", "st3")
SENDERS = (*MEMBERS, *STATIONS)
COMMON = {
    "contribution": 100,
    "period": 40,
    "waiting_period": 1,
    "vote_window": 4,
    "juror_min_age": 1,
    "notice_period": 3,
    "quorum": 1,
    "claim_bond": 30,
    "max_claim": 400,
    "objection_quorum": 1,
    "collect_window": 10,
}
MED = {**COMMON, "claim_mode": "attested", "attestors": [addr(s).hex() for s in STATIONS[:2]]}
RAIN = {
    **COMMON,
    "attestors": [addr(s).hex() for s in STATIONS],
    "attest_quorum": 2,
    "trigger": {"feed": "rain", "op": ">=", "threshold": 100, "payout": 120},
}
KINDS = ("join", "pay", "leave", "claim", "attest", "object", "vote", "payout", "report",
         "collect", "report", "collect", "attest")  # fmt: skip
VALUES = (40, 99, 100, 150, 300)

op = st.tuples(
    st.sampled_from(KINDS),
    st.integers(0, len(SENDERS) - 1),
    st.integers(0, 7),  # pool / claim / round choice
    st.integers(0, len(VALUES) - 1),  # value / approve choice
)
blocks = st.lists(st.tuples(st.lists(op, max_size=8), st.integers(0, 3)), min_size=1, max_size=10)


def harness() -> Harness:
    return Harness(
        pools=[
            {"id": "med", "name": "Medical", "params": MED},
            {"id": "rain", "name": "Rain", "params": RAIN},
        ],
        members=SENDERS,
        balance=5_000,
    )


def to_tx(hx: Harness, o: tuple[str, int, int, int], claims: list[bytes]) -> Tx:
    kind, who, target, value = o
    sender = SENDERS[who]
    if kind in ("attest", "report") and who % 4:
        sender = STATIONS[who % 3]  # mostly a station; sometimes a member (unauthorized)
    pool = ("med", "rain")[target % 2]
    if kind in ("join", "pay", "leave"):
        extra = {"amount": 100 * (1 + value % 2)} if kind == "pay" else {}
        return hx.tx(sender, kind, pool=pool, **extra)
    if kind == "claim":
        return hx.tx(sender, kind, pool=pool, amount=VALUES[value], evidence=b"\x01" * 32)
    cid = claims[target % len(claims)] if claims else b"\x02" * 32
    if kind == "attest":
        return hx.tx(sender, kind, claim=cid, approve=value % 3 != 0, report=b"\x03" * 32)
    if kind in ("object", "payout"):
        # mostly an approved claim, so objection rounds happen
        approved = [c for c in claims if hx.view.claim(c).status == APPROVED]
        if approved and target % 4:
            cid = approved[target % len(approved)]
        return hx.tx(sender, kind, claim=cid)
    if kind == "vote":
        return hx.tx(sender, kind, claim=cid, approve=value % 2 == 0)
    rnd = hx.view.pool("rain").round
    if kind == "report":  # mostly the open round, sometimes a stale one
        return hx.tx(
            sender, kind, pool="rain", round=rnd if target else rnd + 1, value=VALUES[value]
        )
    return hx.tx(sender, kind, pool="rain", round=max(0, rnd - 1 - target % 2))


class Ledger:
    """What the test saw happen, to compare with the state."""

    def __init__(self) -> None:
        self.collected: set[tuple[str, int, bytes]] = set()
        self.returned: dict[tuple[str, int], int] = {}


def check(hx: Harness, ledger: Ledger) -> None:
    assert hx.supply() == hx.genesis.supply
    for k, raw in hx.store.iterate(K.ACCOUNT):
        assert K.decode_value(k, raw).balance >= 0
    owed: dict[str, int] = {"med": 0, "rain": 0}
    for k, raw in hx.store.iterate(K.CLAIM):
        c: Claim = K.decode_value(k, raw)
        if c.status == APPROVED:
            owed[c.pool] += c.amount
        assert c.attest_for + c.attest_against == len(c.attestations)
    for k, raw in hx.store.iterate(K.POOL):
        p: Pool = K.decode_value(k, raw)
        assert p.balance >= 0 and p.liabilities == owed[p.id]
    markers = {k for k, _ in hx.store.iterate(K.COLLECTED)}
    assert markers == {K.collected_key(p, r, a) for p, r, a in ledger.collected}
    for k, raw in hx.store.iterate(K.EVENT):
        ev: Event = K.decode_value(k, raw)
        n = sum(1 for p, r, _ in ledger.collected if (p, r) == (ev.pool, ev.round))
        assert ev.collected == n <= ev.eligible
        reserved = ev.per_member * ev.eligible
        back = ledger.returned.get((ev.pool, ev.round))
        if back is None:
            assert hx.h <= ev.collect_until and ev.escrow == reserved - n * ev.per_member
        else:
            assert ev.escrow == 0 and n * ev.per_member + back == reserved
    # a round that reached its quorum settled in its block: what is left is short of it
    reports = hx.store.get(K.reports_key("rain"))
    if reports is not None:
        assert 0 < len(K.unpack(reports)) < RAIN["attest_quorum"]


def run(script: list[Any]) -> Harness:
    hx = harness()
    ledger = Ledger()
    claims: list[bytes] = []
    seed = [hx.tx(m, "join", pool=p) for m in MEMBERS for p in ("med", "rain")]
    # every script starts with a claim in each pool, so attestations and votes can happen
    script = [([("claim", 0, 0, 2), ("claim", 1, 1, 1)], 0), *script]
    hx.block(seed)
    hx.block()  # active from 2 (waiting_period 1)
    for ops, pause in script:
        txs = [to_tx(hx, o, claims) for o in ops]
        for ex in [hx.execute(txs, propose=True)] + [None] * pause:
            if ex is None:
                ex = hx.execute()
            hx.chain.commit(ex)
            hx._nonces.clear()
            by_hash = {t.hash: t for t in txs}
            for h, r in zip(ex.tx_hashes, ex.results, strict=True):
                t = by_hash[h]
                if r.code == 0 and t.type == "claim":
                    claims.append(h)
                if r.code == 0 and t.type == "collect":
                    key = (t.payload["pool"], t.payload["round"], t.sender)
                    assert key not in ledger.collected, "a member collected twice"
                    ledger.collected.add(key)
            for e in ex.events:
                if e["type"] == "event_closed":
                    ledger.returned[(e["pool"], e["round"])] = e["returned"]
            check(hx, ledger)
    return hx


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks)
def test_section_10_invariants_hold_at_every_height(script: list[Any]) -> None:
    run(script)


def test_a_fixed_script_reaches_events_collects_and_returns() -> None:
    """The generator is not vacuous: an attested claim is approved and objected to, reports
    open an event, members collect it, the window ends and the rest returns."""
    report = [("report", 6, 1, 4), ("report", 7, 1, 4)]
    script = [
        ([("attest", 6, 0, 1)], 0),
        ([("object", 2, 1, 0)], 0),
        (report, 0),
        ([("collect", 0, 0, 0), ("collect", 1, 0, 0), ("collect", 1, 0, 0)], 12),
    ]
    hx = run(script)
    ev = hx.view.event("rain", 0)
    assert ev is not None and ev.collected == 2 and ev.escrow == 0
    [c] = [c for c in hx.view.claims("med") if c.claimant == addr("m0")]
    assert c.objected and c.stage == "jury" and c.attestations
