"""One PNG that tells a researcher how a sweep went, at a glance.

Four panels: commit latency per height (one faint line per seed, the median in bold), the
distribution of commit latencies, the rounds it took to decide each height (how often the
first round failed), and per-seed simulated duration with failing seeds marked in red.
Uses the Agg backend: no display needed, same output on CI.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sim.config import SimConfig  # noqa: E402
from sim.run import failed  # noqa: E402

MAX_SEED_LINES = 200


def _title(cfg: SimConfig, runs: int) -> str:
    parts = [f"n={cfg.validators}"]
    if cfg.byzantine:
        parts.append(f"{cfg.byzantine} {cfg.behaviour}")
    if cfg.loss:
        parts.append(f"loss {cfg.loss:.0%}")
    if cfg.partition:
        parts.append("partitions")
    if cfg.crash:
        parts.append("crashes")
    parts += [f"{cfg.heights} heights", f"{cfg.txs} txs/block", f"{runs} seed(s)"]
    return "huzhu sim: " + ", ".join(parts)


def plot(records: Sequence[dict[str, Any]], cfg: SimConfig, path: str) -> None:
    """Write the figure for `records` (one or many seeds of `cfg`) to `path`."""
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    (ax_lat, ax_hist), (ax_rounds, ax_seeds) = axes
    fig.suptitle(_title(cfg, len(records)))

    # 1. latency per height
    by_height: dict[int, list[int]] = {}
    for i, r in enumerate(records):
        lat = r["commit_latency_ms"]
        xs = [h + 1 for h, v in enumerate(lat) if v is not None]
        ys = [v for v in lat if v is not None]
        if i < MAX_SEED_LINES and xs:
            ax_lat.plot(xs, ys, color="tab:blue", alpha=0.15 if len(records) > 1 else 0.9, lw=1)
        for x, y in zip(xs, ys, strict=True):
            by_height.setdefault(x, []).append(y)
    if by_height and len(records) > 1:
        hs = sorted(by_height)
        ax_lat.plot(
            hs,
            [statistics.median(by_height[h]) for h in hs],
            color="black",
            lw=2.2,
            label="median over seeds",
        )
        ax_lat.legend(loc="upper right")
    ax_lat.set_xlabel("height")
    ax_lat.set_ylabel("commit latency (ms since previous height)")
    ax_lat.set_title("commit latency per height")
    ax_lat.grid(alpha=0.3)

    # 2. latency distribution
    all_lat = [v for r in records for v in r["commit_latency_ms"] if v is not None]
    if all_lat:
        ax_hist.hist(all_lat, bins=min(60, max(10, len(all_lat) // 5)), color="tab:green")
        med = statistics.median(all_lat)
        ax_hist.axvline(med, color="black", ls="--", label=f"median {med:.0f} ms")
        ax_hist.legend(loc="upper right")
    ax_hist.set_xlabel("commit latency (ms)")
    ax_hist.set_ylabel("heights")
    ax_hist.set_title("commit latency distribution")
    ax_hist.grid(alpha=0.3)

    # 3. rounds per height: stacked share of heights decided in round 0, 1, 2, 3+
    rounds_by_height: dict[int, list[int]] = {}
    for r in records:
        for h, v in enumerate(r["rounds_per_height"]):
            if v is not None:
                rounds_by_height.setdefault(h + 1, []).append(v)
    if rounds_by_height:
        hs = sorted(rounds_by_height)
        bottom = [0] * len(hs)
        for label, lo, hi, color in (
            ("round 0", 0, 0, "tab:green"),
            ("round 1", 1, 1, "gold"),
            ("round 2", 2, 2, "tab:orange"),
            ("round 3+", 3, 10**9, "tab:red"),
        ):
            counts = [sum(1 for v in rounds_by_height[h] if lo <= v <= hi) for h in hs]
            ax_rounds.bar(hs, counts, bottom=bottom, color=color, label=label)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        ax_rounds.set_ylim(0, max(bottom) * 1.3)  # headroom for the legend
        ax_rounds.legend(loc="upper right", ncols=4, fontsize="small")
    ax_rounds.set_xlabel("height")
    ax_rounds.set_ylabel("seeds")
    ax_rounds.set_title("round in which each height was decided")

    # 4. per seed: simulated duration, failures in red
    ok = [r for r in records if not failed(r)]
    bad = [r for r in records if failed(r)]
    ax_seeds.scatter(
        [r["seed"] for r in ok],
        [r["simulated_seconds"] for r in ok],
        s=12,
        color="tab:blue",
        label=f"ok ({len(ok)})",
    )
    if bad:
        ax_seeds.scatter(
            [r["seed"] for r in bad],
            [r["simulated_seconds"] for r in bad],
            s=40,
            marker="x",
            color="red",
            label=f"failed ({len(bad)})",
        )
    ax_seeds.set_xlabel("seed")
    ax_seeds.set_ylabel("simulated seconds to reach the target height")
    ax_seeds.set_title("seeds")
    ax_seeds.legend(loc="upper right")
    ax_seeds.grid(alpha=0.3)

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
