"""`huzhu sim`: run seeds of the deterministic simulator from the command line.

    huzhu sim --validators 4 --byzantine 1 --behaviour equivocate --loss 0.2 \\
              --partition --crash --heights 8 --txs 5 --seeds 0:200 --json out.json --plot out.png

Exit status 0 when every seed was safe and live, 1 when any seed had a safety violation,
a liveness failure or an error (each failing seed is printed with the exact command that
replays it), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sim.byzantine import BEHAVIOURS, SILENT
from sim.config import SimConfig
from sim.run import default_workers, failed, sweep, totals

MAX_TABLE_ROWS = 25
MAX_REPLAY_LINES = 20


def parse_seeds(text: str) -> list[int]:
    """`A:B` is seeds A, A+1, ..., B-1 (like a Python range)."""
    a, sep, b = text.partition(":")
    try:
        lo, hi = int(a), int(b)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds must be A:B, not {text!r}") from None
    if not sep or hi <= lo or lo < 0:
        raise argparse.ArgumentTypeError("--seeds A:B needs 0 <= A < B")
    return list(range(lo, hi))


def _probability(text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= p < 1.0:
        raise argparse.ArgumentTypeError("must be in [0, 1)")
    return p


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="huzhu sim",
        description="Deterministic simulation of a huzhu cluster: real replicas and state "
        "machines over a simulated network, clock and faults, driven by one seed.",
    )
    d = SimConfig()
    p.add_argument("--validators", type=int, default=d.validators, metavar="N")
    p.add_argument(
        "--byzantine",
        type=int,
        default=d.byzantine,
        metavar="F",
        help="Byzantine validators (twins: F keys run twice)",
    )
    p.add_argument("--behaviour", "--behavior", choices=BEHAVIOURS, default=SILENT)
    p.add_argument(
        "--heights",
        type=int,
        default=d.heights,
        metavar="H",
        help="run until every honest node committed H heights",
    )
    p.add_argument(
        "--txs",
        type=int,
        default=d.txs,
        metavar="K",
        help="member transactions each node's clients submit to its mempool per committed "
        "height (one per sender, so at most --members)",
    )
    p.add_argument("--loss", type=_probability, default=d.loss, metavar="P")
    p.add_argument("--duplicate", type=_probability, default=d.duplicate, metavar="P")
    p.add_argument(
        "--reorder",
        type=_probability,
        default=d.reorder,
        metavar="P",
        help="probability a message gets up to 500 ms of extra delay",
    )
    p.add_argument(
        "--latency", default=d.latency, help="lognormal:MEDIAN_MS:SIGMA or uniform:LOW_MS:HIGH_MS"
    )
    p.add_argument("--partition", action="store_true", help="random partitions that heal")
    p.add_argument("--crash", action="store_true", help="crash and restart honest nodes")
    p.add_argument("--max-skew-ms", type=int, default=d.max_skew_ms)
    p.add_argument("--members", type=int, default=d.members)
    p.add_argument(
        "--fault-window-ms",
        type=int,
        default=d.fault_window_ms,
        help="faults happen in this first stretch of simulated time (0: 1 s/height)",
    )
    p.add_argument(
        "--max-sim-ms",
        type=int,
        default=d.max_sim_ms,
        help="bound on simulated time per seed (0: derived)",
    )
    p.add_argument("--max-events", type=int, default=d.max_events)
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, metavar="S")
    seeds.add_argument("--seeds", type=parse_seeds, metavar="A:B", help="seeds A..B-1")
    p.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="processes for a sweep (default: up to 2 cores)",
    )
    p.add_argument("--json", metavar="FILE", help="write one record per seed and totals")
    p.add_argument("--plot", metavar="FILE.png", help="write latency/rounds figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def config_from_args(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        validators=args.validators,
        byzantine=args.byzantine,
        behaviour=args.behaviour,
        heights=args.heights,
        txs=args.txs,
        loss=args.loss,
        duplicate=args.duplicate,
        reorder=args.reorder,
        latency=args.latency,
        partition=args.partition,
        crash=args.crash,
        max_skew_ms=args.max_skew_ms,
        members=args.members,
        fault_window_ms=args.fault_window_ms,
        max_sim_ms=args.max_sim_ms,
        max_events=args.max_events,
    )


def _fmt(x: Any, digits: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _mempool_summary(m: dict[str, int]) -> str:
    """Admitted, refused, evicted, gossiped: one line, so the table stays readable."""
    if not m.get("submitted"):
        return "-"
    refused = sum(v for k, v in m.items() if k.startswith("client_") and k != "client_ok")
    return (
        f"submitted {m['submitted']}, admitted {m.get('client_ok', 0)}, refused {refused}, "
        f"reaped {m.get('reaped', 0)}, evicted {m.get('evicted', 0)}, "
        f"gossiped {m.get('gossip_txs_sent', 0)}"
    )


def _counts(c: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in c.items()) or "-"


def _governance_summary(tot: dict[str, Any]) -> str:
    """What a sweep exercised of governance: proposals filed and ballots cast (executed),
    and how the proposals ended."""
    ran = tot["executed_by_type"]
    ended = {k: v for k, v in tot["proposals"].items() if v}
    return f"propose {ran.get('propose', 0)}, ballot {ran.get('ballot', 0)}; proposals " + (
        _counts(ended) if ended else "none"
    )


def _section10_summary(tot: dict[str, Any]) -> str:
    """What a sweep exercised of section 10: attest, object, report and collect executed,
    then the claims and events they produced and where the events' money went."""
    ran = tot["executed_by_type"]
    s = tot.get("section10") or {}
    return (
        ", ".join(f"{t} {ran.get(t, 0)}" for t in ("attest", "object", "report", "collect"))
        + f"; claims attested {s.get('claims_attested', 0)}, objected"
        f" {s.get('claims_objected', 0)}; events {s.get('events', 0)} (reserved"
        f" {s.get('reserved', 0)}, paid out {s.get('paid_out', 0)}, returned"
        f" {s.get('returned', 0)})"
    )


def print_summary(
    console: Console,
    cfg: SimConfig,
    records: list[dict[str, Any]],
    tot: dict[str, Any],
    wall: float,
) -> None:
    if len(records) <= MAX_TABLE_ROWS:
        table = Table(title="huzhu sim: per seed")
        for col in (
            "seed",
            "heights",
            "max round",
            "median latency ms",
            "messages",
            "sim s",
            "safety",
            "liveness",
        ):
            table.add_column(col, justify="right")
        for r in records:
            lat = sorted(x for x in r["commit_latency_ms"] if x is not None)
            rounds = [x for x in r["rounds_per_height"] if x is not None]
            table.add_row(
                str(r["seed"]),
                str(r["committed_heights"]),
                _fmt(max(rounds, default=None)),
                _fmt(lat[len(lat) // 2] if lat else None),
                str(r["messages"]),
                _fmt(r["simulated_seconds"], 1),
                "[red]ERROR[/]" if r.get("error") else str(len(r["safety_violations"])),
                str(len(r["liveness_failures"])),
            )
        console.print(table)
    if len(records) == 1 and failed(records[0]) and records[0].get("final_nodes"):
        nodes = Table(title=f"seed {records[0]['seed']}: where each node ended")
        # (record field, column label): short labels keep the table inside 80 columns
        cols = (
            ("node", "node"),
            ("key", "key"),
            ("honest", "hon"),
            ("up", "up"),
            ("restarts", "rst"),
            ("height", "height"),
            ("round", "round"),
            ("step", "step"),
            ("locked_round", "lock"),
            ("valid_round", "valid"),
        )
        for _, label in cols:
            nodes.add_column(label, justify="right")
        for nd in records[0]["final_nodes"]:
            nodes.add_row(*(_fmt(nd.get(field)) for field, _ in cols))
        console.print(nodes)
        console.print("step: 0 new height, 1 propose, 2 prevote, 3 precommit, 4 decided")
    t = Table(title="huzhu sim: totals")
    t.add_column("figure")
    t.add_column("value", justify="right")
    rows = [
        ("runs", tot["runs"]),
        ("safety violations", tot["safety_violations"]),
        ("liveness failures", tot["liveness_failures"]),
        ("errors", tot["errors"]),
        ("heights committed", tot["heights_committed"]),
        ("median commit latency (ms)", _fmt(tot["commit_latency_ms_median"])),
        ("p95 commit latency (ms)", _fmt(tot["commit_latency_ms_p95"])),
        ("mean rounds per height", _fmt(tot["rounds_mean"], 3)),
        ("messages", tot["messages"]),
        ("  by kind", ", ".join(f"{k} {v}" for k, v in tot["messages_by_kind"].items()) or "-"),
        ("committed txs", tot["committed_txs"]),
        ("  executed (code 0)", _counts(tot["executed_by_type"])),
        ("governance", _governance_summary(tot)),
        ("attested & parametric", _section10_summary(tot)),
        ("mempool", _mempool_summary(tot["mempool"])),
        ("simulated seconds", _fmt(tot["simulated_seconds"], 1)),
        ("wall seconds", f"{wall:.1f}"),
        ("seeds per minute", f"{60 * tot['runs'] / wall:.1f}" if wall > 0 else "-"),
    ]
    for k, v in rows:
        t.add_row(k, str(v))
    console.print(t)
    bad = [r for r in records if failed(r)]
    errors = [r for r in bad if r.get("traceback")]
    if errors:  # the first one in full: where to start debugging
        console.print(f"[red]seed {errors[0]['seed']} raised:[/]", highlight=False)
        console.print(errors[0]["traceback"], highlight=False, markup=False)
    for r in bad[:MAX_REPLAY_LINES]:
        what = r.get("error") or ", ".join(
            sorted({v["kind"] for v in r["safety_violations"] + r["liveness_failures"]})
        )
        console.print(f"[red]seed {r['seed']} failed[/] ({what}); replay with:", highlight=False)
        console.print(f"  {cfg.replay_command(r['seed'])}", highlight=False, soft_wrap=True)
    if len(bad) > MAX_REPLAY_LINES:
        console.print(f"... and {len(bad) - MAX_REPLAY_LINES} more failing seeds (see --json)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        # checked before a long sweep, not after it: plots are an optional extra
        parser.error("--plot needs matplotlib: pip install 'huzhu[plot]'")
    seeds = args.seeds if args.seeds is not None else [0 if args.seed is None else args.seed]
    console = Console()
    err = Console(stderr=True)
    start = time.perf_counter()
    if len(seeds) > 1 and not args.quiet:
        with Progress(
            TextColumn("[bold]sim[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("failed: {task.fields[failed]}"),
            TimeElapsedColumn(),
            console=err,
        ) as progress:
            task = progress.add_task("seeds", total=len(seeds), failed=0)
            bad = 0

            def tick(rec: dict[str, Any]) -> None:
                nonlocal bad
                bad += failed(rec)
                progress.update(task, advance=1, failed=bad)

            records = sweep(cfg, seeds, args.workers, tick)
    else:
        records = sweep(cfg, seeds, args.workers)
    wall = time.perf_counter() - start
    tot = totals(records)
    if args.json:
        doc = {"config": cfg.to_json(), "records": records, "totals": tot}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    if args.plot:
        from sim.plot import plot

        plot(records, cfg, args.plot)
    print_summary(console, cfg, records, tot, wall)
    return 1 if any(failed(r) for r in records) else 0
