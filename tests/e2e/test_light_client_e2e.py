"""A member reads through real nodes and checks every answer (section 11): `huzhu query
--prove` from the genesis file they hold, from a block hash another node told them, at the
latest and at an older height; a genesis of another chain is refused with exit status 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_net import TREASURY, member, send

from node.cli import main
from node.config import Home

pytestmark = pytest.mark.slow


def test_light_client_reads_verify_against_real_nodes(
    make_net, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = make_net(4)
    net.start_all()
    res = send(net, 0, member(0), "transfer", {"to": TREASURY.public_key, "amount": 7})
    assert res["code"] == 0, res
    joined = send(net, 1, member(1), "join", {"pool": "medical"})
    assert joined["code"] == 0, joined
    net.wait_height(2, joined["height"] + 1)
    genesis = Home(net.home(0)).genesis
    addr = member(0).public_key.hex()

    def query(*argv: str) -> tuple[int, str, str]:
        rc = main(["query", *argv])
        out, err = capsys.readouterr()
        return rc, out, err

    rc, out, _ = query(
        "account", addr, "--prove", "--genesis", str(genesis), "--rpc", net.rpc_url(2)
    )
    assert rc == 0
    got = json.loads(out)
    assert got["answer"]["nonce"] == 1 and got["verified"]["present"] is True
    assert got["verified"]["chain_id"] == "huzhu-e2e"
    # the state after the transfer's block, at that height, from another node
    h = res["height"]
    rc, out, _ = query(
        "member",
        "medical",
        member(1).public_key.hex(),
        "--height",
        str(joined["height"]),
        "--prove",
        "--genesis",
        str(genesis),
        "--rpc",
        net.rpc_url(3),
    )
    assert rc == 0 and json.loads(out)["answer"]["status"] == "waiting"
    # a block hash learnt from node 1 anchors a read answered by node 0
    block_hash = net.call(1, "block", height=h)["hash"]
    rc, out, _ = query(
        "claim", "00" * 32, "--prove", "--trust", f"{h}:{block_hash}", "--rpc", net.rpc_url(0)
    )
    assert rc == 0 and json.loads(out)["verified"]["present"] is False
    # the genesis of another chain: refused, naming the check
    other = tmp_path / "other.json"
    doc = json.loads(genesis.read_text())
    other.write_text(json.dumps({**doc, "chain_id": "huzhu-other"}))
    rc, _, err = query("account", addr, "--prove", "--genesis", str(other), "--rpc", net.rpc_url(0))
    assert rc == 1 and "verification failed: header: chain_id 'huzhu-e2e'" in err
