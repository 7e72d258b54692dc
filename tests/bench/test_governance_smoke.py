"""Smoke run of bench/governance.py on a small electorate: the benchmark runs end to end (8
proposals opened, tallied as passed, enacted) and reports its figures. It never asserts a
speed: this machine is shared and speed lives in the benchmark's own report."""

from __future__ import annotations

import json
from pathlib import Path

from bench.governance import main


def test_governance_bench_reports_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "g.json"
    assert main(["--json", str(out), "--members", "40", "--block-txs", "15"]) == 0
    r = json.loads(out.read_text())
    for key in ("empty_block_ms", "propose_block_ms", "tally_block_ms", "enact_block_ms"):
        assert r[key] > 0, key
    assert (r["members"], r["pool_a"], r["pool_b"]) == (40, 24, 24)
    # pool scope counts the pool's members; chain scope each distinct account once
    assert r["electorates"] == [24, 24, 24, 24, 40, 40, 40, 40]
