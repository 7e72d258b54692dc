"""Section 10 on a 4-validator chain of real processes, through JSON-RPC only: a hospital
attests a claim, which is paid after its notice period; three weather stations report a
round of rainfall, the event opens and members collect; at the end every node answers the
same balances, claim and event, and the supply adds up to genesis."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_net import TREASURY, Net, build, genesis_template, member, send, wait_for

from state.devkeys import dev_signer

pytestmark = pytest.mark.slow

HOSPITAL = dev_signer("e2e-hospital")
STATIONS = [dev_signer(f"e2e-station{i}") for i in range(3)]
MEMBERS = 5  # members 0..3 join both pools; member 4 never joins
NOTICE = 10  # blocks between approval and payout (long enough to try an early payout)
WINDOW = 20  # collect_window
PAYOUT = 500
FEE_BPS = 800
B = 1_000_000
ATTESTOR_BALANCE = 1_000
POOLS = [
    {
        "id": "medical",
        "name": "Medical aid",
        "params": {
            "claim_mode": "attested",
            "attestors": [HOSPITAL.public_key.hex()],
            "attest_quorum": 1,
            "waiting_period": 0,
            "notice_period": NOTICE,
            "vote_window": 30,
            "fee_bps": FEE_BPS,
            "period": 1000,
        },
    },
    {
        "id": "rainfall",
        "name": "Rainfall cover",
        "params": {
            "attestors": [s.public_key.hex() for s in STATIONS],
            "attest_quorum": 2,
            "trigger": {"feed": "rainfall_mm", "op": ">=", "threshold": 200, "payout": PAYOUT},
            "waiting_period": 0,
            "collect_window": WINDOW,
            "fee_bps": FEE_BPS,
            "period": 1000,
        },
    },
]


def ok(res: dict[str, Any]) -> dict[str, Any]:
    assert res["code"] == 0 and res["error"] is None, res
    return res


def on_all(net: Net, method: str, **params: Any) -> list[Any]:
    return [net.call(i, method, **params) for i in range(4)]


def sent_at_once(net: Net, txs: list[tuple[int, Any, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Broadcast (sync) each (node, signer, type, payload) at once, then wait until all are
    committed; their `tx` records. Several blocks' worth of waiting saved per batch."""
    hashes = []
    for i, signer, type_, payload in txs:
        wire = build(net, i, signer, type_, payload)
        hashes.append(ok(net.call(i, "broadcast_tx", tx=wire.hex(), mode="sync"))["hash"])
    out: dict[str, dict[str, Any]] = {}

    def committed() -> bool:
        for h in hashes:
            if h not in out:
                try:
                    out[h] = net.call(0, "tx", hash=h)
                except Exception:
                    return False
        return True

    wait_for(committed, 40, "transactions committed", net)
    return [out[h] for h in hashes]


def test_attested_claim_and_parametric_event(make_net) -> None:  # type: ignore[no-untyped-def]
    tpl = genesis_template(members=MEMBERS, balance=B, pools=POOLS)
    tpl["accounts"] += [
        {"address": s.public_key.hex(), "balance": ATTESTOR_BALANCE} for s in [HOSPITAL, *STATIONS]
    ]
    supply = sum(a["balance"] for a in tpl["accounts"])
    net = make_net(4, tpl)
    net.start_all()
    net.wait_height(0, 1)

    joins = [
        (m % 4, member(m), "join", {"pool": p}) for p in ("medical", "rainfall") for m in range(4)
    ]
    for rec in sent_at_once(net, joins):
        assert rec["code"] == 0, rec
    ok(send(net, 0, member(0), "pay", {"pool": "rainfall", "amount": 2000}))

    # -- an attested claim: filed, attested by the hospital, paid after the notice period --
    filed = ok(
        send(
            net, 0, member(0), "claim", {"pool": "medical", "amount": 300, "evidence": b"\xee" * 32}
        )
    )
    cid = filed["hash"]
    claim = net.call(1, "claim", id=cid)
    assert (claim["stage"], claim["status"], claim["attest_for"]) == ("attestation", "voting", 0)
    vote = send(net, 2, member(2), "vote", {"claim": bytes.fromhex(cid), "approve": True})
    assert vote["error"] == "not_eligible", vote  # the attestors decide, not the members
    attest = {"claim": bytes.fromhex(cid), "approve": True, "report": b"\xab" * 32}
    attested = ok(send(net, 1, HOSPITAL, "attest", attest))
    payable_at = attested["height"] + 1 + NOTICE
    for c in on_all(net, "claim", id=cid):
        assert (c["status"], c["payable_at"], c["attest_for"]) == ("approved", payable_at, 1)
        assert c["attestations"] == [
            {"attestor": HOSPITAL.public_key.hex(), "approve": True, "report": "ab" * 32}
        ]
    pool = net.call(3, "pool", id="medical")
    assert pool["liabilities"] == 300 and pool["reserve_bps"] == pool["balance"] * 10000 // 300
    early = send(net, 2, member(2), "payout", {"claim": bytes.fromhex(cid)})
    assert early["error"] == "notice_period" and early["height"] < payable_at, early
    net.wait_height(2, payable_at - 1)
    before = net.call(2, "account", address=member(0).public_key.hex())["balance"]
    ok(send(net, 2, member(2), "payout", {"claim": bytes.fromhex(cid)}))
    after = net.call(2, "account", address=member(0).public_key.hex())["balance"]
    assert after == before + 300 - 300 * FEE_BPS // 10000 + 50  # amount less fee, bond back
    assert net.call(0, "pool", id="medical")["liabilities"] == 0

    # -- a parametric round: two reports settle it, the event opens, members collect --
    ok(send(net, 0, STATIONS[0], "report", {"pool": "rainfall", "round": 0, "value": 250}))
    settled = ok(
        send(net, 1, STATIONS[1], "report", {"pool": "rainfall", "round": 0, "value": 220})
    )
    stale = send(net, 2, STATIONS[2], "report", {"pool": "rainfall", "round": 0, "value": 90})
    assert (stale["error"], stale["code"]) == ("stale_report", 27), stale
    h = settled["height"]
    for ev in on_all(net, "event", pool="rainfall", round=0):
        assert (ev["value"], ev["height"], ev["eligible"], ev["per_member"]) == (220, h, 4, PAYOUT)
        assert (ev["escrow"], ev["collect_until"]) == (4 * PAYOUT, h + WINDOW)
    assert net.call(3, "pool", id="rainfall")["round"] == 1

    collects = [(m, member(m), "collect", {"pool": "rainfall", "round": 0}) for m in range(3)]
    collects.append((3, member(4), "collect", {"pool": "rainfall", "round": 0}))
    recs = sent_at_once(net, collects)
    assert [r["code"] for r in recs[:3]] == [0, 0, 0], recs
    assert recs[3]["error"] == "not_eligible", recs[3]  # member 4 never joined
    again = send(net, 0, member(0), "collect", {"pool": "rainfall", "round": 0})
    assert again["error"] == "already_paid", again
    ev = net.call(2, "event", pool="rainfall", round=0)
    assert (ev["collected"], ev["escrow"]) == (3, PAYOUT)  # member 3's share still held

    # after collect_until the rest goes back to the pool; every node agrees on everything
    top = h + WINDOW + 1
    for i in range(4):
        net.wait_height(i, top)
    late = send(net, 3, member(3), "collect", {"pool": "rainfall", "round": 0})
    assert late["error"] == "window_closed", late
    accounts = [member(m) for m in range(MEMBERS)] + [HOSPITAL, *STATIONS, TREASURY]
    balances = [
        [net.call(i, "account", address=a.public_key.hex())["balance"] for a in accounts]
        for i in range(4)
    ]
    assert all(b == balances[0] for b in balances), balances
    pools = [
        [net.call(i, "pool", id=p)["balance"] for p in ("medical", "rainfall")] for i in range(4)
    ]
    assert all(p == pools[0] for p in pools), pools
    events = on_all(net, "events", pool="rainfall")
    assert all(e == events[0] for e in events) and events[0][0]["escrow"] == 0
    assert len({r["state_root"] for r in on_all(net, "block", height=top)}) == 1
    # nothing held in escrow any more (the claim was paid, the event closed): supply adds up
    assert sum(balances[0]) + sum(pools[0]) == supply
    gains = PAYOUT - PAYOUT * FEE_BPS // 10000
    assert balances[0][1] == B - 2 * (1 + 10 + 100) - 1 + gains  # member1: 2 joins, a collect
