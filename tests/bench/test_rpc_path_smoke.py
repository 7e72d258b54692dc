"""Smoke test of bench/rpc_path.py: both paths answer every call of every batch admitted
(the bench checks each answer) and report CPU per call. No speed thresholds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("path", "handoff"), [("body", True), ("http", False)])
def test_rpc_path_bench_reports_cpu_per_call(tmp_path: Path, path: str, handoff: bool) -> None:
    out = tmp_path / "rpc_path.json"
    argv = ["--path", path, "--batches", "3", "--repeat", "2", "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "rpc_path.py"), *argv]
        + ([] if handoff else ["--no-handoff"]),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads(out.read_text())
    assert (r["path"], r["handoff"], r["calls_per_run"]) == (path, handoff, 300)
    assert len(r["us_per_call"]) == 2 and r["median_us_per_call"] > 0


def test_rpc_path_bench_batch_size(tmp_path: Path) -> None:
    """--batch N: N calls a body (the open loop's small batches), every one answered."""
    out = tmp_path / "rpc_path.json"
    argv = ["--path", "body", "--batches", "4", "--batch", "5", "--repeat", "1"]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "rpc_path.py"), *argv, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads(out.read_text())
    assert (r["calls_per_batch"], r["calls_per_run"]) == (5, 20)
