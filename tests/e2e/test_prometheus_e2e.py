"""A real Prometheus (Debian's `prometheus`) scrapes a 4-node localnet's `/metrics`.

Its HTTP API must answer `huzhu_consensus_height` with one series per node, and the series
that count traffic between the nodes (peers, P2P bytes by channel, committed txs) must move.
.ci/run installs the package; without the binary the test skips, saying so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from e2e_net import ROOT, TREASURY, Net, member, send

from node.localnet_harness import free_ports

pytestmark = pytest.mark.slow

SCRAPE_INTERVAL = "1s"
WAIT_S = 90.0


def prom_query(port: int, query: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.loads(r.read())
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def wait_series(port: int, query: str, want: int, proc: subprocess.Popen[bytes]) -> list[Any]:
    """Poll until `query` answers `want` series (Prometheus needs a few scrapes)."""
    deadline = time.monotonic() + WAIT_S
    got: list[Any] = []
    while time.monotonic() < deadline:
        assert proc.poll() is None, "prometheus exited"
        try:
            got = prom_query(port, query)
        except OSError:
            got = []
        if len(got) >= want:
            return got
        time.sleep(0.5)
    raise AssertionError(f"{query}: {len(got)} series after {WAIT_S} s, want {want}: {got}")


def documented_alerts() -> str:
    """The alert rules docs/operators.md gives operators (its second yaml block)."""
    text = (ROOT / "docs" / "operators.md").read_text()
    section = text.split("## Metrics", 1)[1]
    return re.findall(r"```yaml\n(.*?)```", section, re.S)[1]


def start_prometheus(tmp: Path, targets: list[str], port: int) -> subprocess.Popen[bytes]:
    cfg = tmp / "prometheus.yml"
    (tmp / "huzhu-alerts.yml").write_text(documented_alerts())
    cfg.write_text(
        "global:\n"
        f"  scrape_interval: {SCRAPE_INTERVAL}\n"
        f"  evaluation_interval: {SCRAPE_INTERVAL}\n"
        f"rule_files: [{tmp / 'huzhu-alerts.yml'}]\n"
        "scrape_configs:\n"
        "  - job_name: huzhu\n"
        "    metrics_path: /metrics\n"
        "    static_configs:\n"
        f"      - targets: {json.dumps(targets)}\n"
    )
    log = (tmp / "prometheus.log").open("wb")
    return subprocess.Popen(
        [
            "prometheus",
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def test_prometheus_scrapes_all_four_nodes(make_net: Any, tmp_path: Path) -> None:
    if shutil.which("prometheus") is None:
        pytest.skip("Debian's prometheus binary is not installed (.ci/run installs it with apt)")
    net: Net = make_net(4)
    net.start_all()
    targets = [net.rpc_url(i).removeprefix("http://").rstrip("/") for i in range(4)]
    (port,) = free_ports(1)
    prom_dir = tmp_path / "prom"
    prom_dir.mkdir()
    proc = start_prometheus(prom_dir, targets, port)
    try:
        heights = wait_series(port, "huzhu_consensus_height", 4, proc)
        assert {s["metric"]["instance"] for s in heights} == set(targets)
        assert all(float(s["value"][1]) >= 1 for s in heights)
        wait_series(port, "huzhu_p2p_peers == 3", 4, proc)
        res = send(net, 0, member(0), "transfer", {"to": TREASURY.public_key, "amount": 5})
        assert res["code"] == 0, res
        wait_series(port, "huzhu_consensus_total_txs >= 1", 4, proc)
        # every node sends and receives consensus traffic (votes) on some channel
        sent = wait_series(port, "sum by (instance) (huzhu_p2p_message_send_bytes_total) > 0", 4, proc)  # fmt: skip
        assert len(sent) == 4
        wait_series(port, "sum by (instance) (huzhu_p2p_message_receive_bytes_total) > 0", 4, proc)  # fmt: skip
        # a commit certificate holds 2f+1 signatures: with 4 validators at most one is absent
        wait_series(port, "huzhu_consensus_missing_validators <= 1", 4, proc)
        wait_series(port, 'huzhu_pool_members{status="active"}', 4, proc)
        # validators wait for each other's votes: each rests in the voting steps
        for step in ("propose", "prevote", "precommit"):
            q = f'huzhu_consensus_step_duration_seconds_count{{step="{step}"}} > 0'
            wait_series(port, q, 4, proc)
        rate = wait_series(port, "rate(huzhu_consensus_height[10s]) > 0", 4, proc)
        assert len(rate) == 4
        # the documented alert rules load, evaluate without error, and none fires on a
        # healthy net
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/rules", timeout=5) as r:
            groups = json.loads(r.read())["data"]["groups"]
        rules = [rule for g in groups for rule in g["rules"]]
        assert {r["name"] for r in rules} == {
            "HuzhuNoNewBlock",
            "HuzhuMissedBlocks",
            "HuzhuPeersBelowQuorum",
            "HuzhuMempoolFull",
        }
        assert all(r["health"] == "ok" for r in rules), rules
        assert all(r["state"] == "inactive" for r in rules), rules
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
