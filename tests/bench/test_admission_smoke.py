"""Smoke test of bench/admission.py: each path admits every tx and reports where the CPU went;
with worker threads the signature checks leave the loop thread. No speed thresholds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def bench(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """bench/admission.py run to its end, which must be a success."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "admission.py"), *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.parametrize(
    ("threads", "path"), [(0, "gossip"), (2, "http"), (2, "reoffer"), (2, "reoffer-moving")]
)
def test_admission_bench_reports_cpu_by_thread(tmp_path: Path, threads: int, path: str) -> None:
    out = tmp_path / "admission.json"
    txs = 1000
    argv = ["--threads", str(threads), "--path", path, "--txs", str(txs), "--json", str(out)]
    bench(argv)
    r = json.loads(out.read_text())
    assert (r["threads"], r["path"], r["txs"]) == (threads, path, txs)
    assert r["loop_us_per_tx"] > 0 and r["total_us_per_tx"] >= r["loop_us_per_tx"]
    if threads and not path.startswith("reoffer"):  # a re-offer's signature: not checked again
        # ~57 ms of signature checks on the workers: several 10 ms clock ticks
        assert r["other_us_per_tx"] > 0


def test_http_full_offers_every_call_twice_and_admits_only_the_first(tmp_path: Path) -> None:
    """`--path http-full`: a mempool with room for one tx; the first offers and the re-offers
    over HTTP are two windows, each reported apart (the bench asserts one tx admitted)."""
    out = tmp_path / "admission.json"
    bench(["--threads", "2", "--path", "http-full", "--txs", "300", "--json", str(out)])
    r = json.loads(out.read_text())
    assert (r["path"], r["txs"]) == ("http-full", 300)
    for window in ("first_offer_us_per_tx", "reoffer_us_per_tx"):
        assert set(r[window]) == {"loop", "other", "total"}
        assert r[window]["total"] >= r[window]["loop"] > 0


def test_profile_prints_the_loop_threads_top_functions() -> None:
    # 80, not 40: by cumulative (wall) time a loaded machine ranks socket writes and the
    # client launch above the dispatcher, which then fell out of the top 40 (also on main)
    argv = ["--threads", "2", "--path", "http", "--txs", "300", "--profile", "80"]
    proc = bench(argv, env={**os.environ, "PROFILE_SORT": "cumulative"})
    assert "Ordered by: cumulative time" in proc.stderr
    # the RPC dispatcher ran on the profiled (loop) thread: each batch of sync broadcasts
    # through its batch path (handle_body, then one admission request per turn)
    assert "rpcdispatch.py" in proc.stderr and "(handle_body)" in proc.stderr
    assert "(broadcast_txs)" in proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["txs"] == 300


def test_parts_times_each_piece_of_admission() -> None:
    argv = ["--parts", "--txs", "200"]
    proc = bench(argv)
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    keys = (
        "codec_decode_us",
        "codec_check_us",
        "decode_tx_us",
        "handoff_16_requests_us",
        "check_state_fresh_us",
    )
    assert all(r[k] > 0 for k in keys)
    assert set(r) == {*keys, "handoff_500_batch_us", "reoffer_full_us"}


def test_more_txs_than_a_block_are_all_admitted(tmp_path: Path) -> None:
    """The paths that admit every tx run without the client backlog bound, which on a node
    with no block yet is max_block_txs (5,000): 5,001 were refused past it."""
    out = tmp_path / "admission.json"
    bench(["--threads", "0", "--path", "rpc", "--txs", "5001", "--json", str(out)])
    assert json.loads(out.read_text())["txs"] == 5001
