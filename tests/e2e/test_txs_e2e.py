"""Account history on real node processes: `txs` over JSON-RPC and `huzhu query txs`, from
the index each node writes in the block's batch, the same after a kill -9 and restart."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from e2e_net import ROOT, Net, genesis_template, member, send

pytestmark = pytest.mark.slow


def _query_txs(net: Net, i: int, address: str, *args: str) -> list[dict[str, object]]:
    proc = subprocess.run(
        [sys.executable, "-m", "node.cli", "query", "txs", address, "--rpc", net.rpc_url(i), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out: list[dict[str, object]] = json.loads(proc.stdout)
    return out


def test_history_over_rpc_and_cli_survives_a_kill(make_net) -> None:  # type: ignore[no-untyped-def]
    net = make_net(1, genesis_template(members=3))
    net.start_all()
    a, b, c = (member(i) for i in range(3))
    sent = [
        send(net, 0, a, "transfer", {"to": b.public_key, "amount": 5}),
        send(net, 0, b, "transfer", {"to": c.public_key, "amount": 2}),
        send(net, 0, a, "join", {"pool": "medical"}),
    ]
    assert all(r["code"] == 0 for r in sent), sent
    want_a = [sent[2]["hash"], sent[0]["hash"]]
    got = net.call(0, "txs", address=a.public_key.hex())
    assert [t["hash"] for t in got] == want_a
    assert got[0] == net.call(0, "tx", hash=want_a[0])
    assert [t["hash"] for t in net.call(0, "txs", address=b.public_key.hex())] == [
        sent[1]["hash"],
        sent[0]["hash"],
    ]
    cli = _query_txs(net, 0, b.public_key.hex(), "--limit", "1")
    assert [t["hash"] for t in cli] == [sent[1]["hash"]]
    cursor = f"{cli[0]['height']}:{cli[0]['index']}"
    assert [t["hash"] for t in _query_txs(net, 0, b.public_key.hex(), "--before", cursor)] == [
        sent[0]["hash"]
    ]
    net.kill9(0)
    net.start_all()
    assert [t["hash"] for t in net.call(0, "txs", address=a.public_key.hex())] == want_a
