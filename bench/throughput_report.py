"""The report of bench/throughput.py: percentiles, the per-second timeline, the table and the
plot (kept apart from the run so that each file reads on its own)."""

from __future__ import annotations

from typing import Any

from bench.common import metric_table


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[k]


def timeline(
    seen: dict[str, float], accepted: dict[str, float], t0: float, t1: float
) -> list[dict[str, Any]]:
    """One entry per second from t0 (load start) to t1, empty seconds included (0 committed,
    no latency), so a stall shows as a stall: admitted and committed counts of our txs, and
    the latency percentiles of the txs committed in that second."""
    lat: dict[int, list[float]] = {}
    for h, t in seen.items():
        if h in accepted and t0 <= t < t1:
            lat.setdefault(int(t - t0), []).append((t - accepted[h]) * 1000)
    subm: dict[int, int] = {}
    for ts in accepted.values():
        if t0 <= ts < t1:
            subm[int(ts - t0)] = subm.get(int(ts - t0), 0) + 1
    out: list[dict[str, Any]] = []
    for sec in range(int(t1 - t0) + 1):
        v = lat.get(sec, [])
        out.append(
            {
                "t": sec,
                "admitted": subm.get(sec, 0),
                "committed": len(v),
                "p50_ms": round(pct(v, 50), 1) if v else None,
                "p99_ms": round(pct(v, 99), 1) if v else None,
            }
        )
    return out


def print_table(r: dict[str, Any]) -> None:
    from rich.console import Console

    keys = (
        "committed_tps",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "block_interval_ms",
        "accepted",
        "refused",
        "lost",
        "errors",
        "skipped",
        "stranded",
        "verify_per_core",
        "cores",
        "efficiency",
    )
    title = f"huzhu throughput, {r['validators']} validators, {r['seconds']}s window"
    t = metric_table(r, keys, title)
    t.add_row("peak_rss_mb", ", ".join(str(x) for x in r["peak_rss_mb"]))
    t.add_row("node_cpu_pct", ", ".join(str(x) for x in r["node_cpu_pct"]))
    t.add_row("node_cpu_us_per_tx", str(r["node_cpu_us_per_tx"]))
    t.add_row(
        "submitter",
        f"{r.get('submitter_cpu_pct')} % CPU, {r.get('offers')} offers "
        f"({r.get('offers_per_request')} a request), "
        f"{r.get('submitter_cpu_us_per_offer')} us per offer; nodes and submitter "
        f"{r.get('machine_cpu_us_per_tx')} us per committed tx",
    )
    t.add_row("sig_checks_per_tx", f"{r.get('sig_checks_per_tx')} a node")
    Console().print(t)


def plot(r: dict[str, Any], path: str) -> None:
    """Throughput (per second and a 5-second mean) and latency over time; the measured
    window is shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tl = r["timeline"]
    xs = [p["t"] for p in tl]
    committed = [p["committed"] for p in tl]
    mean5 = [sum(committed[max(0, i - 4) : i + 1]) / min(5, i + 1) for i in range(len(tl))]
    fig, (a1, a2) = plt.subplots(2, 1, sharex=True, figsize=(10, 6.5))
    w0, w1 = r["warmup"], r["warmup"] + r["seconds"]
    for ax in (a1, a2):
        ax.axvspan(w0, w1, color="0.92", label="_window")
        ax.grid(alpha=0.3)
    a1.bar(xs, committed, width=0.9, color="tab:blue", alpha=0.45, label="committed / s")
    a1.plot(xs, mean5, color="tab:blue", label="committed, 5 s mean")
    a1.plot(xs, [p["admitted"] for p in tl], color="tab:green", lw=1, label="admitted / s")
    a1.axhline(r["committed_tps"], color="tab:red", ls="--", lw=1, label="window mean")
    a1.set_ylabel("tx/s")
    a1.legend(loc="upper right", fontsize=8)
    a2.plot(xs, [p["p50_ms"] for p in tl], ".-", label="p50 latency")
    a2.plot(xs, [p["p99_ms"] for p in tl], ".-", label="p99 latency")
    a2.set_ylabel("submit to commit, ms")
    a2.set_xlabel("seconds since load start (shaded: measured window)")
    a2.legend(loc="upper left", fontsize=8)
    mode = f"open loop {r['rate']:.0f} tx/s" if r["rate"] else r["mode"]
    fig.suptitle(
        f"huzhu, {r['validators']} validators, {mode}: {r['committed_tps']} tx/s committed, "
        f"p99 {r['p99_ms'] / 1000:.2f} s, lost {r['lost']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
