"""Smoke test of bench/catchup.py: a real 4-validator localnet, one validator stopped for 30
blocks and restarted; checks the report's fields, that it caught up and that it agrees with
the others. No speed thresholds (the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from node.localnet_harness import free_base_port

ROOT = Path(__file__).resolve().parents[2]

FIELDS = (
    "validators",
    "blocks_behind",
    "catchup_seconds",
    "catchup_blocks_per_s",
    "catchup_txs_per_s",
    "restart_to_rpc_seconds",
    "net_blocks_per_s",
    "net_tx_per_s",
)


@pytest.mark.slow
def test_catchup_smoke(tmp_path: Path) -> None:
    out = tmp_path / "catchup.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "catchup.py"),
            "--validators",
            "4",
            "--blocks",
            "30",
            "--txs-per-block",
            "10",
            "--base-port",
            str(free_base_port(4)),
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads(out.read_text())
    for key in FIELDS:
        assert key in r, key
        assert isinstance(r[key], int | float), (key, r[key])
    assert r["validators"] == 4
    assert r["net_blocks"] == 30
    # the stopped node may have been a block or two ahead of or behind the observed node
    assert r["blocks_behind"] >= 30 - 3
    assert r["caught_up"] is True
    assert r["target_height"] == r["restart_from_height"] + r["blocks_behind"]
    assert 0 < r["restart_to_rpc_seconds"] <= r["catchup_seconds"]
    assert r["catchup_blocks_per_s"] > 0 and r["net_blocks_per_s"] > 0
    assert r["net_txs"] > 0 and r["net_tx_per_s"] > 0  # the load made non-empty blocks
    assert r["agreed"] is True
    assert r["agreement"] and all(a["agreed"] for a in r["agreement"])
    assert any(a["height"] >= r["target_height"] for a in r["agreement"])
