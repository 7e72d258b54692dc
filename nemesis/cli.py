"""``huzhu nemesis``: the argument parser and the command (node/cli.py registers it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nemesis.schedule import MAX_VALIDATORS, MIN_VALIDATORS

MAX_DURATION_S = 24 * 3600.0
MAX_CLIENTS = 16


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "nemesis",
        help="real validators in network namespaces under a seeded fault schedule (root)",
        description="Start validators in network namespaces, run a seeded schedule of faults "
        "and a mutual-aid workload, then check the invariants over RPC (docs/nemesis.md). "
        "Exit 0: no violation; 1: violations (the replay command is printed); 2: cannot run.",
    )
    p.add_argument("--validators", type=int, default=4, help=f"{MIN_VALIDATORS}..{MAX_VALIDATORS}")
    p.add_argument("--duration", type=float, default=300.0, help="seconds of faults and workload")
    p.add_argument("--seed", type=int, default=0, help="the schedule's seed (replays it)")
    p.add_argument("--clients", type=int, default=8, help=f"concurrent clients, 1..{MAX_CLIENTS}")
    p.add_argument(
        "--profile", choices=["default", "short"], default="default", help="fault timing"
    )
    p.add_argument("--json", dest="json_out", type=Path, help="write the report here")
    p.add_argument("--plot", type=Path, help="write the timeline plot (PNG; the plot extra)")
    p.add_argument("--workdir", type=Path, help="node homes and logs (default: a new temp dir)")
    p.add_argument(
        "--cleanup",
        action="store_true",
        help="only remove what crashed runs left (namespaces, links, mounts), then exit",
    )
    p.set_defaults(func=cmd_nemesis)


def cmd_nemesis(args: argparse.Namespace) -> int:
    from nemesis.ending import Interrupted
    from nemesis.report import write_report
    from nemesis.runner import Options, Unavailable, run_nemesis

    if args.cleanup:
        return cmd_cleanup()
    if not MIN_VALIDATORS <= args.validators <= MAX_VALIDATORS:
        print(
            f"nemesis: --validators must be in {MIN_VALIDATORS}..{MAX_VALIDATORS}", file=sys.stderr
        )
        return 2
    if not 0 < args.duration <= MAX_DURATION_S:
        print(f"nemesis: --duration must be in (0, {MAX_DURATION_S:g}]", file=sys.stderr)
        return 2
    if not 1 <= args.clients <= MAX_CLIENTS:
        print(f"nemesis: --clients must be in 1..{MAX_CLIENTS}", file=sys.stderr)
        return 2
    opts = Options(
        validators=args.validators,
        duration_s=args.duration,
        seed=args.seed,
        clients=args.clients,
        profile=args.profile,
        workdir=args.workdir,
    )
    try:
        report = run_nemesis(opts)
    except Unavailable as exc:
        print(f"nemesis: cannot run here: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        if exc.left:
            print(f"nemesis: interrupted ({exc.signame}); NOT removed:", file=sys.stderr)
            for line in exc.left:
                print(f"  {line}", file=sys.stderr)
        else:
            print(
                f"nemesis: interrupted ({exc.signame}); namespaces, links, rules, relay, "
                "mounts and processes removed",
                file=sys.stderr,
            )
        return 130
    except KeyboardInterrupt:
        # only before the run set up its own handlers or after it tore down: nothing is left
        print("nemesis: interrupted", file=sys.stderr)
        return 130
    json_out = args.json_out or Path("nemesis.json")
    report["replay"] = opts.replay(str(json_out))
    write_report(report, json_out)
    if args.plot:
        from nemesis.plot import plot

        plot(report, args.plot)
    print(summary(report))
    for line in report["teardown_errors"]:
        print(f"nemesis: NOT removed: {line}", file=sys.stderr)
    if report["violation_count"] or not report["checked"]:
        print(f"nemesis: VIOLATIONS with seed {opts.seed}; replay: {report['replay']}")
        return 1
    return 0


def cmd_cleanup() -> int:
    """Remove the leftovers of runs whose process is gone: 0 when nothing is left, 1 when a
    part could not be removed (its line says how to do it by hand), 2 when not root."""
    import os

    from nemesis.leftovers import cleanup

    if os.geteuid() != 0:
        print("nemesis: --cleanup needs root (it deletes namespaces and mounts)", file=sys.stderr)
        return 2
    done = cleanup(progress=lambda line: print(line, file=sys.stderr))
    for line in done.removed:
        print(f"removed {line}")
    for line in done.alive:
        print(f"kept {line}: its run is still going")
    for line in done.left:
        print(f"NOT removed: {line}")
    if not (done.removed or done.alive or done.left):
        print("nothing to remove")
    return 1 if done.left else 0


def summary(report: dict[str, Any]) -> str:
    """The closing lines: faults by kind, calls, violations, recovery, RSS."""
    lines = [
        f"seed {report['seed']}: {report['elapsed_s']}s, faults {report['faults_by_kind']}",
        f"calls {report['calls']}; txs checked {report['txs_checked']}; blocks {report['blocks_checked']}",
        f"longest recovery after a heal: {report['longest_recovery_s']} s; "
        f"node RSS (MB): { {k: (v // 2**20 if isinstance(v, int) else v) for k, v in report['rss_bytes'].items()} }",
        f"node exits not caused by the nemesis: {len(report['node_exits'])}",
        f"violations: {report['violation_count']} {report['violations']}",
    ]
    return "\n".join(lines)
