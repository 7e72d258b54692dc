"""Smoke run of bench/throughput.py: the benchmark works end to end on a real 4-validator
localnet and accounts for every transaction. It never asserts a speed: this machine is shared
and speed lives in the benchmark's own report (bench/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from node.localnet_harness import free_base_port

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = (
    "committed_tps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "lost",
    "refused",
    "validators",
    "verify_per_core",
    "efficiency",
    "offers",
    "offers_per_request",
    "offered_calls_per_s",
    "submitter_cpu_us_per_offer",
    "machine_cpu_us_per_tx",
)


def run_bench(tmp_path: Path, argv: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    """bench/throughput.py with `argv` (split on spaces) on free ports; its process and its
    JSON result."""
    out = tmp_path / "result.json"
    args = argv.split()
    validators = args[args.index("--validators") + 1]
    cmd = [sys.executable, str(ROOT / "bench" / "throughput.py"), *args]
    cmd += ["--base-port", str(free_base_port(int(validators))), "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc, json.loads(out.read_text())


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_throughput_smoke_run(tmp_path: Path) -> None:
    proc, r = run_bench(
        tmp_path,
        "--validators 4 --seconds 10 --rate 200 --warmup 2 --senders 400 --block-time-ms 1500",
    )
    missing = [k for k in REQUIRED if k not in r]
    assert not missing, missing
    assert r["validators"] == 4
    # the network ran the genesis built with it: blocks paced 1.5 s apart, not the default 1 s
    assert r["block_time_ms"] == 1500 and r["block_interval_ms"] >= 1200
    assert r["accepted"] > 0
    assert r["committed_tps"] > 0
    assert r["lost"] == 0
    assert r["refused"] == 0  # 200 tx/s is far below every mempool limit
    assert r["timeline"] and all("committed" in p for p in r["timeline"])
    # every offer in the window was a first offer (no refusal to offer again)
    assert 0 < r["offers"] <= r["accepted"]
    assert 1 <= r["offers_per_request"] <= 100
    # the open loop offers its rate, within the pre-signed 10 % margin, and says what it sent
    assert r["supply_exhausted"] is False
    assert r["offered_calls_per_s"] == round(r["offers"] / 10, 1) and r["offers"] > 0


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_saturating_run_that_offers_every_pre_signed_tx_says_so(tmp_path: Path) -> None:
    """A saturating figure taken after the supply ran out is the supply's, not the chain's
    capacity (on a fast day the old 3,000 tx/s supply capped the saturating figure)."""
    proc, r = run_bench(
        tmp_path, "--validators 1 --seconds 4 --warmup 1 --max-rate 40 --senders 100"
    )
    assert r["supply_exhausted"] is True
    assert r["submitted"] + r["skipped"] == int(40 * 5 * 1.1)
    assert "every pre-signed transaction was offered" in proc.stdout


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_saturating_window_above_the_mempools_bound_backs_off_instead_of_refusing(
    tmp_path: Path,
) -> None:
    """The closed loop's window may exceed what a mempool takes (its default, two full
    blocks, does at start-up): a mempool_full refusal is offered again after the node's next
    commit, so no sender stops during the load and nothing is lost (the refusals still
    waiting when the load ends count as refused, as in an overloaded open loop)."""
    proc, r = run_bench(
        tmp_path,
        "--validators 1 --seconds 4 --warmup 1 --max-rate 1000 --senders 200 --window 1000 --set mempool.max_txs=300",
    )
    assert r["refused_full_retried"] > 0  # the window did reach the mempool's bound
    assert r["skipped"] == 0  # no sender was stopped by a refusal during the load
    assert set(r["refused_by_code"]) <= {"9"} and r["lost"] == 0
    assert r["committed_tps"] > 0
    assert r["block_txs_max"] <= 300


def test_the_saturating_window_defaults_to_two_of_the_chains_largest_blocks() -> None:
    """A window under one block capped every saturating block at the window (4,000 of the
    chain's 5,000), and with it the maximum the overload figure divides by."""
    sys.path.insert(0, str(ROOT))
    from bench.throughput import parser, window_of

    assert window_of(parser().parse_args(["--json", "-"])) == 10_000
    assert window_of(parser().parse_args(["--json", "-", "--max-block-txs", "8000"])) == 16_000
    assert window_of(parser().parse_args(["--json", "-", "--window", "3000"])) == 3000


def test_open_loop_batches_wait_for_the_txs_due_but_never_beyond_a_full_request() -> None:
    sys.path.insert(0, str(ROOT))
    from bench.throughput import RPC_BATCH, min_batch

    assert min_batch(None, 50) == 1  # closed loop: the window decides
    assert min_batch(2000, 0) == 1  # whatever is due, every 5 ms
    assert min_batch(2000, 20) == 40
    assert min_batch(2000, 1000 * RPC_BATCH / 2000) == RPC_BATCH
    assert min_batch(2000, 10_000) == RPC_BATCH


def test_alternating_phases_report_the_median_overloaded_over_the_median_saturating() -> None:
    """`--pairs`: one slow saturating minute no longer decides the figure (committed/max is a
    ratio of medians), and each pair's own ratio is reported against its neighbours."""
    sys.path.insert(0, str(ROOT))
    from bench.throughput import summary

    sats = [{"committed_tps": x, "lost": 0} for x in (2000.0, 2400.0, 2200.0, 1800.0)]
    overs = [
        {"committed_tps": x, "lost": 0, "offered_calls_per_s": y}
        for x, y in ((2000.0, 4200.0), (2300.0, 3150.0), (1900.0, 2100.0))
    ]
    r = summary(sats, overs)
    assert r["committed_over_max"] == round(2000 / 2100, 3)
    # the overload each phase achieved (calls sent over the median saturating figure), which
    # an open loop whose requests all wait falls short of
    assert r["offered_over_max_each"] == [2.0, 1.5, 1.0]
    assert r["committed_over_max_each"] == [round(2000 / 2200, 3), round(2300 / 2300, 3), 0.95]
    assert r["pairs"] == 3 and r["lost_all_phases"] == 0
    # a single pair reads as before: the overloaded figure over the saturating one
    one = summary(sats[:1], overs[:1])
    assert one["committed_over_max"] == one["committed_over_max_each"][0] == 1.0
    # a loss in any phase shows
    overs[1]["lost"] = 3
    assert summary(sats, overs)["lost_all_phases"] == 3


def test_overload_phases_warm_up_until_the_mempools_are_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both phases of --overload start their window after 15 s of load (a window that opens
    while the mempools fill counts checks of txs it does not commit); other runs after 5 s,
    and an explicit --warmup always wins."""
    sys.path.insert(0, str(ROOT))
    from bench import throughput

    seen: list[tuple[float, int]] = []

    def grab(args: Any) -> dict[str, Any]:
        seen.append((args.warmup, args.pairs))
        raise SystemExit(0)

    monkeypatch.setattr(throughput, "run", grab)
    monkeypatch.setattr(throughput, "overload", grab)
    for argv in (["--overload", "2"], [], ["--overload", "2", "--warmup", "3", "--pairs", "1"]):
        with pytest.raises(SystemExit):
            throughput.main([*argv, "--json", "-"])
    assert seen == [(15.0, 3), (5.0, 3), (3.0, 1)]


def test_the_submitters_pre_encoded_calls_are_the_requests_it_sent_before() -> None:
    """Calls are encoded once at signing time: each is the JSON-RPC request the submitter
    built per offer before (broadcast_tx, sync), its id its index in the workload, so a
    batch of them is a valid batch whose answers map back by id."""
    sys.path.insert(0, str(ROOT))
    from bench.throughput import encode_call

    wire = bytes(range(200))
    assert json.loads(encode_call(7, wire)) == {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "broadcast_tx",
        "params": {"tx": wire.hex(), "mode": "sync"},
    }
    body = b"[" + b",".join(encode_call(k, wire) for k in (5, 2, 9)) + b"]"
    assert [c["id"] for c in json.loads(body)] == [5, 2, 9]


def test_the_overloaded_open_loop_has_the_requests_in_flight_to_send_its_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--overload F must offer F times the saturating figure: 8 requests in flight per node
    sent 1.3-1.9x when 2x was asked (the nodes answer slowly under overload), so its open
    loop gets 32 unless --inflight says otherwise; other runs keep 8."""
    sys.path.insert(0, str(ROOT))
    from bench import throughput

    seen: list[int | None] = []

    def grab(args: Any) -> dict[str, Any]:
        seen.append(args.inflight)
        return {"committed_tps": 1.0}

    monkeypatch.setattr(throughput, "run", grab)
    monkeypatch.setattr(throughput, "print_table", lambda r: None)
    for argv in (["--overload", "2"], ["--overload", "2", "--inflight", "5"]):
        args = throughput.parser().parse_args([*argv, "--json", "-"])
        throughput.overloaded_phase(args, 1000.0)
        throughput.saturating_phase(args)
    assert seen == [32, None, 5, 5]
    assert throughput.INFLIGHT_PER_NODE == 8  # what `run` uses for None
