"""Where the event-loop thread's CPU goes, saturating against overloaded, on every node.

    python bench/loop_cpu.py --validators 4 --overload 2 --seconds 30 [--json out.json] [--top 20]
        [--funcs state.mempool:Mempool.admit_checked,...] [--chaff]

Runs bench/throughput.py --overload F --pairs 1 (a saturating phase, then F times its figure
offered open loop on a fresh network) with every node's event loop charging each callback
the thread CPU it took (bench/loopcpu/sitecustomize.py, put on the nodes' PYTHONPATH; the
node's code is unchanged), and prints, per callback (a task by its coroutine), the loop
thread's CPU in µs per committed tx per node in each phase's window, and the difference.
A row that grows is work the overload adds per committed tx. It also splits each node's CPU
into the loop thread and the others (the signature-check workers) from /proc.

`--funcs module:Qual.name,...` also charges those synchronous functions the thread CPU of
their calls (inclusive) and prints them apart, with their calls per committed tx per node: a
callback's growth placed within it (state.mempool:Mempool.admit_checked inside the worker
hand-off's `_drain`, say). `--chaff` runs the overloaded phase as bench/throughput.py --chaff.

Why not py-spy (bench/profile_node.py): a sampler charges wall time to whatever frame the
GIL holder is in, including while the OS has it preempted; with 5 busy processes on 2 cores
that inflates every area unevenly. Thread CPU counts only the time the loop really ran.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import throughput  # noqa: E402

HOOK_DIR = Path(__file__).resolve().parent / "loopcpu"


def read_dumps(out_dir: Path) -> list[list[dict[str, Any]]]:
    """Every node process's snapshots (one list per process, in time order)."""
    runs = []
    for path in sorted(out_dir.glob("*.jsonl")):
        rows = []
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:  # a line cut short when the node was stopped
                continue
        if rows:
            runs.append(rows)
    return runs


def window_rates(runs: list[list[dict[str, Any]]], w0: float, w1: float) -> dict[str, Any]:
    """Summed over the processes alive through [w0, w1] (one network's nodes): CPU seconds
    per second of each callback key and thread, calls per second, and how many nodes."""
    cpu: dict[str, float] = {}
    calls: dict[str, float] = {}
    threads: dict[str, float] = {}
    fns: dict[str, float] = {}
    fn_calls: dict[str, float] = {}
    nodes = 0
    for rows in runs:
        before = [r for r in rows if r["t"] <= w0 + 1.0]
        after = [r for r in rows if r["t"] >= w1 - 1.0]
        if not before or not after:
            continue  # not running through this window: the other phase's network
        a, b = before[-1], after[0]
        dt = b["t"] - a["t"]
        if dt <= 0:
            continue
        nodes += 1
        pairs = (
            ("cpu", cpu),
            ("calls", calls),
            ("threads", threads),
            ("fns", fns),
            ("fn_calls", fn_calls),
        )
        for key, into in pairs:
            for k, v in b.get(key, {}).items():
                into[k] = into.get(k, 0.0) + (v - a.get(key, {}).get(k, 0.0)) / dt
    return {
        "cpu": cpu,
        "calls": calls,
        "threads": threads,
        "fns": fns,
        "fn_calls": fn_calls,
        "nodes": nodes,
    }


def per_tx(rates: dict[str, Any], tps: float) -> dict[str, dict[str, float]]:
    """µs per committed tx per node of each callback key and thread."""
    n = rates["nodes"] or 1
    scale = 1e6 / tps / n if tps else 0.0
    return {
        "cpu": {k: v * scale for k, v in rates["cpu"].items()},
        "threads": {k: v * scale for k, v in rates["threads"].items()},
        "calls": {k: v / n for k, v in rates["calls"].items()},
        "fns": {k: v * scale for k, v in rates.get("fns", {}).items()},
        # calls per committed tx per node: how often the overload runs each function
        "fn_calls": {k: v / n / tps if tps else 0.0 for k, v in rates.get("fn_calls", {}).items()},
    }


def compare(sat: dict[str, Any], over: dict[str, Any], top: int) -> list[dict[str, Any]]:
    """Rows of the callbacks whose cost per committed tx changed by at least 0.05 µs either
    way, or that cost at least 1 µs saturating, largest growth first, at most `top` (the
    caller prints the total of every callback)."""
    keys = set(sat["cpu"]) | set(over["cpu"])
    rows = [
        {
            "callback": k,
            "saturating_us": round(sat["cpu"].get(k, 0.0), 2),
            "overloaded_us": round(over["cpu"].get(k, 0.0), 2),
            "delta_us": round(over["cpu"].get(k, 0.0) - sat["cpu"].get(k, 0.0), 2),
            "calls_per_s": (round(sat["calls"].get(k, 0.0)), round(over["calls"].get(k, 0.0))),
        }
        for k in keys
    ]
    rows = [r for r in rows if abs(r["delta_us"]) >= 0.05 or r["saturating_us"] >= 1]
    rows.sort(key=lambda r: -r["delta_us"])
    return rows[:top]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--overload", type=float, default=2.0)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--top", type=int, default=20)
    p.add_argument(
        "--funcs",
        default="",
        help="also charge these synchronous functions (comma-separated module:Qual.name, e.g. "
        "state.mempool:Mempool.admit_checked) their calls' thread CPU, inclusive, and print "
        "them apart: to place a callback's growth within it (each call costs ~1 µs more)",
    )
    p.add_argument(
        "--chaff",
        action="store_true",
        help="the overloaded phase as bench/throughput.py --chaff runs it: the saturating "
        "closed loop plus (F - 1) x capacity calls a second refused at check 2",
    )
    p.add_argument("--json", dest="json_out", default=None)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="huzhu-loopcpu-") as tmp:
        out_dir = Path(tmp)
        # inherited by every node process the bench starts (and only read by the hook)
        os.environ["HUZHU_LOOP_CPU_DIR"] = str(out_dir)
        os.environ["HUZHU_LOOP_CPU_FUNCS"] = args.funcs
        paths = [str(HOOK_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
        os.environ["PYTHONPATH"] = os.pathsep.join(paths)
        tp = throughput.parser().parse_args(
            ["--validators", str(args.validators), "--seconds", str(args.seconds)]
            + ["--overload", str(args.overload), "--pairs", "1", "--json", "-"]
            + (["--chaff"] if args.chaff else [])
        )
        tp.json_out = None
        tp.warmup = throughput.OVERLOAD_WARMUP_S
        result = throughput.overload(tp)
        runs = read_dumps(out_dir)
    sat_phase = result["saturating"]
    phases = {}
    for name, phase in (("saturating", sat_phase), ("overloaded", result)):
        w0, w1 = phase["window_unix_s"]
        rates = window_rates(runs, w0, w1)
        if not rates["nodes"]:
            print(f"no node snapshots cover the {name} window: was the hook loaded?")
            return 1
        phases[name] = {
            "tps": phase["committed_tps"],
            "node_cpu_us_per_tx": phase.get("node_cpu_us_per_tx"),
            "machine_cpu_us_per_tx": phase.get("machine_cpu_us_per_tx"),
            "offers_per_committed_tx": (
                round(
                    (phase["offered_calls_per_s"] + phase.get("chaff_calls_per_s", 0))
                    / phase["committed_tps"],
                    2,
                )
                if phase.get("offered_calls_per_s") and phase["committed_tps"]
                else None
            ),
            **per_tx(rates, phase["committed_tps"]),
        }
    sat, over = phases["saturating"], phases["overloaded"]
    rows = compare(sat, over, args.top)
    print(
        f"\ncommitted {sat['tps']} tx/s saturating, {over['tps']} overloaded "
        f"(committed/max {result['committed_over_max']}); µs of CPU per committed tx per node"
    )
    print("\n| per committed tx | saturating | overloaded |\n| --- | --- | --- |")
    for key, label in (
        ("node_cpu_us_per_tx", "node CPU, all nodes (µs)"),
        ("machine_cpu_us_per_tx", "nodes and submitter (µs)"),
        ("offers_per_committed_tx", "broadcast_tx calls"),
    ):
        print(f"| {label} | {sat[key]} | {over[key]} |")
    print("\n| thread (µs per committed tx per node) | saturating | overloaded |")
    print("| --- | --- | --- |")
    for t in sorted(set(sat["threads"]) | set(over["threads"])):
        print(f"| {t} | {sat['threads'].get(t, 0):.1f} | {over['threads'].get(t, 0):.1f} |")
    loop_sat, loop_over = sum(sat["cpu"].values()), sum(over["cpu"].values())
    print("\n| loop callback | saturating | overloaded | delta | calls/s per node |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['callback']} | {r['saturating_us']:.2f} | {r['overloaded_us']:.2f} | "
            f"{r['delta_us']:+.2f} | {r['calls_per_s'][0]} → {r['calls_per_s'][1]} |"
        )
    print(f"| all callbacks | {loop_sat:.1f} | {loop_over:.1f} | {loop_over - loop_sat:+.1f} | |")
    if args.funcs:
        print(
            "\n| function (inclusive) | saturating | overloaded | delta | calls per committed tx |"
        )
        print("| --- | --- | --- | --- | --- |")
        for k in sorted(set(sat["fns"]) | set(over["fns"])):
            a, b = sat["fns"].get(k, 0.0), over["fns"].get(k, 0.0)
            ca, cb = sat["fn_calls"].get(k, 0.0), over["fn_calls"].get(k, 0.0)
            print(f"| {k} | {a:.2f} | {b:.2f} | {b - a:+.2f} | {ca:.2f} → {cb:.2f} |")
    if args.json_out:
        out = {"committed_over_max": result["committed_over_max"], "phases": phases}
        out["rows"] = rows
        Path(args.json_out).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
