"""Smoke test of bench/history.py on a tiny state: the report's figures exist and tell the
story they claim (history 0 grows faster than a bounded history, pruning is bounded per
commit, a warmed restart reads nothing for its first block). No speed thresholds (the
machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_history_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "history.json"
    args = ["--accounts", "1500", "--blocks", "12", "--history", "3", "--block-txs", "200"]
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "history.py"),
            *args,
            "--budget",
            "300",
            "--worst-blocks",
            "2",
            "--json",
            str(out),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads(out.read_text())
    kept, every = r["history_n"], r["history_0"]
    assert kept["oldest_retained"] == 12 - 3 + 1 and every["oldest_retained"] == 1
    tree_bytes = [
        sum(run["raw_bytes_per_block"][p] for p in ("t/", "~t/")) for run in (kept, every)
    ]
    assert tree_bytes[1] > 2 * tree_bytes[0]  # raw bytes: exact, unlike a tiny LevelDB's files
    assert r["history_bytes_per_block"] * 10_000 == r["extrapolated_history_10000_bytes"]
    assert every["raw_bytes_per_block"]["~t/"] > 0  # the stale index grows without pruning
    assert kept["prune_ops_max"] <= 2 * 300 + 1  # per unit: an entry and maybe its node
    assert r["worst"]["prune_ops_max"] <= 2 * 300 + 1 and r["backlog_at_reopen"] > 300
    assert r["first_block_warm_tree_reads"] == 0 < r["first_block_cold_tree_reads"]
    assert r["warm_nodes"] > 0
