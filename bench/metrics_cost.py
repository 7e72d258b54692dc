"""What Prometheus scraping costs a node under load: node CPU with and without `/metrics`
scraped every --every seconds, at an open-loop --rate tx/s (bench/throughput.py's workload).

    python bench/metrics_cost.py --rate 1000 --seconds 30 --every 5 --json out.json

Runs bench/throughput.py twice on fresh localnets, the second time with a thread that
scrapes every node's `/metrics` every --every seconds (as Prometheus would), and reports
node CPU % of both runs, the scrape's own time and size, and the difference. The machine's
other load shows up in both runs alike: compare the difference with the run-to-run noise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import throughput  # noqa: E402
from node.localnet_harness import LocalNet  # noqa: E402


class Scraper:
    """Scrapes every node of the net each `every` seconds until stopped."""

    def __init__(self, net: LocalNet, every: float) -> None:
        self.net = net
        self.every = every
        self.stop = threading.Event()
        self.ms: list[float] = []
        self.sizes: list[int] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            for i in range(self.net.n):
                t = time.perf_counter()
                try:
                    with urllib.request.urlopen(self.net.rpc_url(i) + "metrics", timeout=5) as r:
                        body = r.read()
                except OSError:
                    continue  # a node not listening yet
                self.ms.append((time.perf_counter() - t) * 1000)
                self.sizes.append(len(body))


def measured(args: argparse.Namespace, every: float | None) -> dict[str, Any]:
    """One throughput run; with `every`, scraped during all of it."""
    box: dict[str, Scraper] = {}
    create = LocalNet.create

    def capturing(*a: Any, **kw: Any) -> LocalNet:
        net = create(*a, **kw)
        if every is not None:
            box["s"] = Scraper(net, every)
            box["s"].thread.start()
        return net

    throughput.LocalNet.create = capturing  # type: ignore[method-assign]  # bench-only hook
    try:
        result = throughput.run(args)
    finally:
        throughput.LocalNet.create = create  # type: ignore[method-assign]  # restore it
        if "s" in box:
            box["s"].stop.set()
    out = {
        "committed_tps": result.get("committed_tps"),
        "node_cpu_pct": result.get("node_cpu_pct"),
    }
    if "s" in box:
        s = box["s"]
        out["scrapes"] = len(s.ms)
        out["scrape_ms_median"] = round(statistics.median(s.ms), 2) if s.ms else None
        out["scrape_ms_max"] = round(max(s.ms), 2) if s.ms else None
        out["scrape_bytes"] = max(s.sizes) if s.sizes else None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--every", type=float, default=5.0, help="scrape interval, seconds")
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--json", dest="json_out", required=True)
    a = p.parse_args(argv)
    base = [
        "--validators",
        str(a.validators),
        "--seconds",
        str(a.seconds),
        "--rate",
        str(a.rate),
        "--json",
        "/dev/null",
    ]
    args = _throughput_args(base)
    off = measured(args, None)
    on = measured(args, a.every)
    mean = statistics.fmean
    report = {
        "rate": a.rate,
        "seconds": a.seconds,
        "every_s": a.every,
        "without": off,
        "with": on,
        "node_cpu_pct_mean_without": round(mean(off["node_cpu_pct"]), 1),
        "node_cpu_pct_mean_with": round(mean(on["node_cpu_pct"]), 1),
    }
    Path(a.json_out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


def _throughput_args(argv: list[str]) -> argparse.Namespace:
    """bench/throughput.py's own argument defaults for `argv` (its parser, not a copy)."""
    captured: dict[str, argparse.Namespace] = {}
    real_run = throughput.run

    def grab(args: argparse.Namespace) -> dict[str, Any]:
        captured["args"] = args
        raise SystemExit(0)

    throughput.run = grab
    try:
        throughput.main(argv)
    except SystemExit:
        pass
    finally:
        throughput.run = real_run
    return captured["args"]


if __name__ == "__main__":
    sys.exit(main())
