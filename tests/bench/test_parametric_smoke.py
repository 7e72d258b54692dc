"""Smoke run of bench/parametric.py on a small pool: the benchmark runs end to end (an event
for every member, every member collects, the escrow returns, the attested claims are
approved) and reports its figures. It never asserts a speed: this machine is shared and speed
lives in the benchmark's own report."""

from __future__ import annotations

import json
from pathlib import Path

from bench.parametric import main


def test_parametric_bench_reports_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    assert main(["--json", str(out), "--members", "40", "--block-txs", "15", "--claims", "5"]) == 0
    r = json.loads(out.read_text())
    for key in ("empty_block_ms", "event_block_ms", "collect_tps", "return_block_ms",
                "attest_block_ms", "attest_tps"):  # fmt: skip
        assert r[key] > 0, key
    assert r["event"]["eligible"] == 40 and r["event"]["escrow"] == 40 * 50
    assert r["collects"] == 40
