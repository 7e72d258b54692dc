"""The whole member story through JSON-RPC only, on a 4-validator chain of real processes:
join, pay, claim, votes by other members, tally, payout, a rejected claim; balances, treasury
and pool checked to the unit."""

from __future__ import annotations

import pytest
from e2e_net import TREASURY, Net, build, genesis_template, member, send, wait_for

pytestmark = pytest.mark.slow

POOL = {
    "id": "medical",
    "name": "Medical aid",
    "params": {
        "contribution": 100,
        "period": 1000,
        "entry_fee": 10,
        "waiting_period": 6,
        "max_claim": 5000,
        "claim_bond": 50,
        "vote_window": 8,
        "quorum": 2,
        "approve_bps": 5000,
        "juror_min_age": 6,
        "notice_period": 1,
        "fee_bps": 800,
    },
}
B = 1_000_000


def balance(net: Net, signer) -> int:  # type: ignore[no-untyped-def]
    return net.call(0, "account", address=signer.public_key.hex())["balance"]


def ok(res: dict) -> dict:  # type: ignore[type-arg]
    assert res["code"] == 0 and res["error"] is None, res
    return res


def wait_tx(net: Net, tx_hash: str) -> dict:  # type: ignore[type-arg]
    out: dict = {}  # type: ignore[type-arg]

    def found() -> bool:
        try:
            out.update(net.call(0, "tx", hash=tx_hash))
        except Exception:
            return False
        return True

    wait_for(found, 30, f"tx {tx_hash}", net)
    return out


def vote_all(net: Net, claim_id: str, voters: list[int], approve: bool) -> None:
    """Votes sent at once (sync mode, spread over the nodes) so they fit the vote window."""
    hashes = []
    for k, v in enumerate(voters):
        wire = build(
            net, k % 4, member(v), "vote", {"claim": bytes.fromhex(claim_id), "approve": approve}
        )
        r = net.call(k % 4, "broadcast_tx", tx=wire.hex(), mode="sync")
        hashes.append(ok(r)["hash"])
    for h in hashes:
        assert wait_tx(net, h)["code"] == 0


def test_member_story(make_net) -> None:
    tpl = genesis_template(members=6, balance=B, pools=[POOL])
    net = make_net(4, tpl)
    net.start_all()
    net.wait_height(0, 1)
    treasury0 = balance(net, TREASURY)
    fees = 0

    # an unknown pool is an execution error; the fee is still taken
    r = send(net, 0, member(5), "join", {"pool": "dental"})
    assert r["code"] == 12 and r["error"] == "not_found"
    fees += 1

    joined = {}
    for m in range(5):
        r = ok(send(net, m % 4, member(m), "join", {"pool": "medical"}))
        fees += 1
        joined[m] = r["height"]
        mem = net.call(0, "member", pool="medical", address=member(m).public_key.hex())
        assert mem["joined_at"] == r["height"] and mem["paid_through"] == r["height"] + 999
    # a claim in the waiting period is refused at execution (member 4 joined last)
    r = send(
        net, 0, member(4), "claim", {"pool": "medical", "amount": 500, "evidence": b"\x01" * 32}
    )
    fees += 1
    assert r["height"] < joined[4] + 6 and r["error"] == "waiting_period", r
    ok(send(net, 0, member(0), "pay", {"pool": "medical", "amount": 200}))
    fees += 1
    r = send(net, 0, member(0), "pay", {"pool": "medical", "amount": 150})
    assert r["error"] == "invalid_payload"
    fees += 1
    net.wait_height(0, max(joined.values()) + 6)
    pool = net.call(0, "pool", id="medical")
    assert pool["balance"] == 5 * 100 + 200
    assert pool["members"]["active"] == 5 and pool["params"]["fee_bps"] == 800

    # claim 500, approved by three jurors, then paid out by a fifth member
    c0_before = balance(net, member(0))
    r = ok(
        send(
            net, 0, member(0), "claim", {"pool": "medical", "amount": 500, "evidence": b"\x02" * 32}
        )
    )
    fees += 1
    claim_id = r["hash"]
    claim = net.call(1, "claim", id=claim_id)
    assert claim["status"] == "voting" and claim["claimant"] == member(0).public_key.hex()
    assert claim["closes_at"] == claim["opened_at"] + 8
    assert (
        send(net, 1, member(0), "vote", {"claim": bytes.fromhex(claim_id), "approve": True})[
            "error"
        ]
        == "not_eligible"
    )
    fees += 1
    vote_all(net, claim_id, [1, 2, 3], True)
    fees += 3
    assert (
        send(net, 2, member(1), "vote", {"claim": bytes.fromhex(claim_id), "approve": True})[
            "error"
        ]
        == "already_voted"
    )
    fees += 1
    assert send(net, 3, member(4), "payout", {"claim": bytes.fromhex(claim_id)})["error"] in (
        "not_approved",
        "notice_period",
    )
    fees += 1
    wait_for(lambda: net.call(0, "claim", id=claim_id)["status"] == "approved", 30, "approval", net)
    claim = net.call(0, "claim", id=claim_id)
    assert claim["votes_for"] == 3 and claim["votes_against"] == 0
    voters = {v["address"]: v["approve"] for v in claim["voters"]}
    assert voters == {member(m).public_key.hex(): True for m in (1, 2, 3)}
    assert claim["payable_at"] == claim["closes_at"] + 1
    net.wait_height(0, claim["payable_at"])
    ok(send(net, 3, member(4), "payout", {"claim": bytes.fromhex(claim_id)}))
    fees += 1
    assert net.call(2, "claim", id=claim_id)["status"] == "paid"
    # claimant: -fee -bond -not_eligible fee, then +460 (500 - 8%) +50 bond back
    assert balance(net, member(0)) == c0_before - 1 - 50 - 1 + 460 + 50
    assert net.call(0, "pool", id="medical")["balance"] == 700 - 500
    assert (
        send(net, 3, member(4), "payout", {"claim": bytes.fromhex(claim_id)})["error"]
        == "already_paid"
    )
    fees += 1

    # a rejected claim: two votes against; the bond goes to the pool, payout is refused
    c1_before = balance(net, member(1))
    r = ok(
        send(
            net, 1, member(1), "claim", {"pool": "medical", "amount": 300, "evidence": b"\x03" * 32}
        )
    )
    fees += 1
    rejected = r["hash"]
    vote_all(net, rejected, [2, 3], False)
    fees += 2
    wait_for(
        lambda: net.call(0, "claim", id=rejected)["status"] == "rejected", 30, "rejection", net
    )
    assert net.call(0, "pool", id="medical")["balance"] == 200 + 50
    assert balance(net, member(1)) == c1_before - 1 - 50
    assert (
        send(net, 0, member(4), "payout", {"claim": bytes.fromhex(rejected)})["error"]
        == "not_approved"
    )
    fees += 1
    listed = net.call(0, "claims", pool="medical")
    assert [c["id"] for c in listed] == [claim_id, rejected]
    assert [c["id"] for c in net.call(0, "claims", pool="medical", status="rejected")] == [rejected]

    # treasury: every fee, five entry fees and the payout's 8%
    assert balance(net, TREASURY) == treasury0 + fees + 5 * 10 + 40
    # all four nodes agree on the final state root at one height
    h = net.height(0)
    roots = {
        net.call(i, "block", height=h)["state_root"] for i in range(4) if net.wait_height(i, h)
    }
    assert len(roots) == 1
