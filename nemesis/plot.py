"""The timeline plot of a run: faults as bands, each node's height, and the latency of every
acknowledged call. matplotlib is the ``plot`` extra, imported only here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLORS = {
    "partition": "tab:red",
    "latency": "tab:orange",
    "bandwidth": "tab:orange",
    "stall": "tab:orange",
    "reset": "tab:orange",
    "loss": "tab:pink",
    "pause": "tab:purple",
    "kill9": "tab:gray",
    "term": "tab:gray",
    "kill_all": "black",
    "clock_skew": "tab:cyan",
    "disk_full": "tab:brown",
}


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(14, 8), sharex=True)
    for f in report["faults"]:
        if f["status"] != "applied" or f["heal_t"] is None:
            continue
        color = COLORS.get(
            f["kind"].split("_")[0] if f["kind"].startswith("partition") else f["kind"], "tab:olive"
        )
        for ax in (top, bottom):
            ax.axvspan(f["start_t"], f["heal_t"], color=color, alpha=0.18)
        top.text(f["start_t"], 0, f["kind"], rotation=90, fontsize=7, va="bottom")
    nodes = sorted({i for _, i, _ in report["samples"]})
    for i in nodes:
        pts = [(t, h) for t, j, h in report["samples"] if j == i]
        top.plot([t for t, _ in pts], [h for _, h in pts], label=f"node{i}", lw=1)
    top.set_ylabel("height")
    top.legend(loc="upper left", fontsize=8)
    lat = report["latencies"]
    bottom.scatter([t for t, _ in lat], [s for _, s in lat], s=3)
    bottom.set_ylabel("commit latency (s)")
    bottom.set_xlabel("seconds since the workload started")
    v = report["violation_count"]
    top.set_title(
        f"huzhu nemesis seed {report['seed']}: {report['validators']} validators, "
        f"{report['txs_checked']} txs checked, {v} violation{'s' if v != 1 else ''}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
