"""Running seeds: one, or a sweep spread over worker processes.

A seed is the unit of work and of reproducibility: each worker builds its own World from
(config, seed), so the records do not depend on how seeds were spread over processes or in
which order they finished; the sweep sorts them by seed at the end.

An exception escaping a run (an `assert` in the consensus core, a bug in the state
machine) does not kill the sweep: it becomes that seed's `error`, counted as a failure,
with the traceback to start debugging from and the command that replays it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import statistics
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from sim.config import SimConfig
from sim.txstats import SECTION10_KEYS
from sim.world import run_seed


def run_one(cfg: SimConfig, seed: int) -> dict[str, Any]:
    """`run_seed`, with an escaping exception turned into a failed record."""
    try:
        return run_seed(cfg, seed)
    except Exception as exc:  # a bug under test; report it against its seed
        return {
            "seed": seed,
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
            "committed_heights": 0,
            "rounds_per_height": [],
            "commit_latency_ms": [],
            "safety_violations": [],
            "liveness_failures": [],
            "messages": 0,
            "simulated_seconds": 0.0,
        }


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def sweep(
    cfg: SimConfig,
    seeds: Sequence[int],
    workers: int | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every seed; `on_result` sees each record as it finishes (progress bars)."""
    workers = default_workers() if workers is None else workers
    results: list[dict[str, Any]] = []
    if workers <= 1 or len(seeds) <= 1:
        for seed in seeds:
            rec = run_one(cfg, seed)
            results.append(rec)
            if on_result:
                on_result(rec)
    else:
        # fork: workers inherit the imported modules (and the hash seed), start instantly
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(min(workers, len(seeds)), initializer=_default_signals) as pool:
            for rec in pool.imap_unordered(partial(run_one, cfg), seeds, chunksize=1):
                results.append(rec)
                if on_result:
                    on_result(rec)
    results.sort(key=lambda r: r["seed"])
    return results


def _default_signals() -> None:
    """Pool workers are forked: they would inherit the driver's SIGTERM/SIGINT handlers, and
    Pool.terminate (SIGTERM) could then leave a worker alive that the parent joins forever."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def failed(rec: dict[str, Any]) -> bool:
    return bool(rec["safety_violations"] or rec["liveness_failures"] or rec.get("error"))


def totals(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate figures of a sweep (the JSON `totals`)."""
    latencies = [x for r in records for x in r["commit_latency_ms"] if x is not None]
    kinds: Counter[str] = Counter()
    for r in records:
        kinds.update(r.get("messages_by_kind", {}))
    rounds = [x for r in records for x in r["rounds_per_height"] if x is not None]
    mempool: Counter[str] = Counter()
    executed: Counter[str] = Counter()
    proposals: Counter[str] = Counter()
    section10: Counter[str] = Counter()
    for r in records:
        mempool.update(r.get("mempool", {}))
        executed.update(r.get("executed_by_type", {}))
        proposals.update(r.get("proposals", {}))
        section10.update(r.get("section10", {}))
    return {
        "runs": len(records),
        "safety_violations": sum(len(r["safety_violations"]) for r in records),
        "liveness_failures": sum(len(r["liveness_failures"]) for r in records),
        "errors": sum(1 for r in records if r.get("error")),
        "failing_seeds": [r["seed"] for r in records if failed(r)],
        "unsafe_seeds": [r["seed"] for r in records if r["safety_violations"]],
        "heights_committed": sum(r["committed_heights"] for r in records),
        "messages": sum(r["messages"] for r in records),
        "messages_by_kind": dict(kinds.most_common()),
        "simulated_seconds": round(sum(r["simulated_seconds"] for r in records), 3),
        "commit_latency_ms_median": statistics.median(latencies) if latencies else None,
        "commit_latency_ms_p95": _quantile(latencies, 0.95),
        "rounds_mean": round(statistics.fmean(rounds), 4) if rounds else None,
        "heights_past_round_0": sum(1 for x in rounds if x > 0),
        "committed_txs": sum(r.get("committed_txs", 0) for r in records),
        "mempool": dict(sorted(mempool.items())),
        "executed_by_type": dict(sorted(executed.items())),
        "proposals": dict(sorted(proposals.items())),
        "section10": {k: section10.get(k, 0) for k in SECTION10_KEYS},
    }


def _quantile(xs: list[int], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return float(s[min(len(s) - 1, int(q * len(s)))])
