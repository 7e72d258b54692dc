"""A proposal from filing to enactment on a 4-validator chain of real processes, through
JSON-RPC: members file a chain-scope and a pool-scope proposal, cast ballots through
different nodes, the tally passes both at closes_at, the time lock holds them back (a member
leaves in it), and from enact_at every node answers the new params and enforces them. The
pool's proposal is filed with `huzhu tx propose`, the others are built and sent over RPC."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from e2e_net import Net, build, genesis_template, member, send, wait_for

from node.cli import main as cli_main
from node.keys import write_key
from state.crypto import sha256

#: the shortest periods governance allows, so the story takes about 25 blocks
GOV = {"gov_voting_period": 10, "gov_timelock": 10, "gov_deposit": 100}
POOL = {
    "id": "medical",
    "name": "Medical aid",
    "params": {"waiting_period": 0, "period": 1000, "max_claim": 5000, **GOV},
}
VOTERS = 4  # members 0..3 join; the electorate of both proposals is 4


def ok(res: dict[str, Any]) -> dict[str, Any]:
    assert res["code"] == 0 and res["error"] is None, res
    return res


def on_all(net: Net, method: str, **params: Any) -> list[Any]:
    return [net.call(i, method, **params) for i in range(4)]


def test_proposal_from_filing_to_enactment(make_net, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    net = make_net(4, genesis_template(members=5, params=GOV, pools=[POOL]))
    net.start_all()
    net.wait_height(0, 1)
    assert net.call(0, "params")["min_fee"] == 1
    for m in range(VOTERS):
        ok(send(net, m, member(m), "join", {"pool": "medical"}))
    rec = net.call(1, "member", pool="medical", address=member(0).public_key.hex())
    assert rec["active_from"] == rec["joined_at"] and rec["left_at"] is None  # waiting_period 0

    text_hash = sha256(b"Fees should cover the validators' costs.")
    chain = ok(
        send(
            net,
            0,
            member(0),
            "propose",
            {
                "scope": "chain",
                "changes": {"min_fee": 5},
                "title": "raise min_fee",
                "text_hash": text_hash,
            },
        )
    )
    # the pool's proposal through the command line: --set read as JSON, --text hashed
    text = tmp_path / "proposal.md"
    text.write_bytes(b"Treatment costs rose.\n")
    write_key(tmp_path / "member1.json", member(1))
    argv = ["tx", "propose", "--scope", "medical", "--set", "max_claim=8000"]
    argv += ["--title", "raise max_claim", "--text", str(text), "--rpc", net.rpc_url(1)]
    assert cli_main([*argv, "--key", str(tmp_path / "member1.json")]) == 0
    pool = ok(json.loads(capsys.readouterr().out))
    assert net.call(1, "proposal", id=pool["hash"])["text_hash"] == sha256(text.read_bytes()).hex()
    p = net.call(2, "proposal", id=chain["hash"])
    assert (p["scope"], p["status"], p["electorate"], p["enact_at"]) == ("chain", "voting", 4, None)
    assert p["opened_at"] == chain["height"] and p["closes_at"] == chain["height"] + 10
    assert p["changes"] == {"min_fee": 5} and p["text_hash"] == text_hash.hex()
    assert p["proposer"] == member(0).public_key.hex() and p["gov"]["gov_timelock"] == 10
    assert [x["id"] for x in net.call(3, "proposals", scope="medical")] == [pool["hash"]]

    # ballots from every member through all four nodes, sent at once so they fit the window
    hashes = []
    for pid in (chain["hash"], pool["hash"]):
        for m in range(VOTERS):
            choice = "abstain" if m == 3 else "yes"
            payload = {"proposal": bytes.fromhex(pid), "choice": choice}
            wire = build(net, m, member(m), "ballot", payload)
            hashes.append(ok(net.call(m, "broadcast_tx", tx=wire.hex(), mode="sync"))["hash"])
    for h in hashes:
        wait_for(lambda h=h: _committed(net, h), 30, f"ballot {h}", net)
    again = send(
        net, 2, member(2), "ballot", {"proposal": bytes.fromhex(pool["hash"]), "choice": "no"}
    )
    assert again["error"] == "already_voted", again

    # the tally at closes_at passes both; enact_at is closes_at + gov_timelock
    def passed() -> bool:
        return all(
            net.call(0, "proposal", id=x["hash"])["status"] == "passed" for x in (chain, pool)
        )

    wait_for(passed, 40, "both proposals passed", net)
    p = net.call(0, "proposal", id=chain["hash"])
    assert (p["yes"], p["no"], p["abstain"]) == (3, 0, 1)
    assert p["enact_at"] == p["closes_at"] + 10
    enact_at = p["enact_at"]
    assert [x["id"] for x in net.call(1, "proposals", scope="chain", status="passed")] == [
        chain["hash"]
    ]

    # in the time lock: nothing changed yet, and a member who disagrees can leave
    assert net.call(0, "status")["height"] < enact_at - 1
    assert net.call(0, "params")["min_fee"] == 1
    assert net.call(0, "pool", id="medical")["params"]["max_claim"] == 5000
    left = ok(send(net, 3, member(3), "leave", {"pool": "medical"}))
    rec = net.call(0, "member", pool="medical", address=member(3).public_key.hex())
    assert rec["left_at"] == left["height"] and rec["status"] == "left"

    # enactment at the end of block enact_at - 1: every node answers the new params (the
    # pool's proposal was filed a block or so later: its enact_at may be later too)
    last = max(enact_at, net.call(0, "proposal", id=pool["hash"])["enact_at"])
    for i in range(4):
        net.wait_height(i, last - 1)
    for i in range(4):
        assert net.call(i, "proposal", id=chain["hash"])["status"] == "enacted"
        assert net.call(i, "proposal", id=pool["hash"])["status"] == "enacted"
        assert net.call(i, "params")["min_fee"] == 5
        assert net.call(i, "pool", id="medical")["params"]["max_claim"] == 8000
    # ... and enforces them: the old fee is refused at admission, the new one accepted
    low = send(net, 2, member(4), "transfer", {"to": member(0).public_key, "amount": 1}, fee=1)
    assert low["error"] == "fee_too_low" and low["code"] == 5, low
    ok(send(net, 2, member(4), "transfer", {"to": member(0).public_key, "amount": 1}, fee=5))
    assert net.call(0, "proposals", scope="chain", status="voting") == []


def _committed(net: Net, tx_hash: str) -> bool:
    try:
        rec = net.call(0, "tx", hash=tx_hash)
    except Exception:
        return False
    assert rec["code"] == 0, rec
    return True
