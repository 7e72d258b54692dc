"""The JSON report of a run (docs/nemesis.md, "Report") and its per-fault records."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nemesis.checker import Observed, Violation, summarize
from nemesis.schedule import Fault

if TYPE_CHECKING:
    from nemesis.runner import Run


@dataclass
class FaultRecord:
    fault: Fault
    status: str = "pending"  # applied / skipped / not_reached
    why: str = ""
    start_t: float | None = None
    heal_t: float | None = None
    recovered_t: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.fault.to_json(),
            "status": self.status,
            "why": self.why,
            "start_t": self.start_t,
            "heal_t": self.heal_t,
            "recovered_t": self.recovered_t,
        }


def build_report(
    run: Run, obs: Observed | None, violations: list[Violation], elapsed: float
) -> dict[str, Any]:
    kinds: dict[str, dict[str, int]] = {}
    for r in run.records:
        kinds.setdefault(r.fault.kind, {}).setdefault(r.status, 0)
        kinds[r.fault.kind][r.status] += 1
    rec_s = [r["seconds"] for r in run.recoveries if r.get("seconds") is not None]
    ops = run.history.ops
    latencies = [
        (op.done_t, round(op.done_t - op.invoke_t, 3))
        for op in ops
        if op.outcome == "ok" and op.done_t is not None
    ]
    return {
        "seed": run.o.seed,
        "validators": run.o.validators,
        "duration_s": run.o.duration_s,
        "profile": run.o.profile,
        "clients": run.o.clients,
        "elapsed_s": round(elapsed, 1),
        "replay": run.o.replay(),
        "workdir": str(run.root),
        "tag": run.net.tag if run.net is not None else None,
        "capabilities": run.capabilities,
        "faults": [r.to_json() for r in run.records],
        "faults_by_kind": kinds,
        "calls": run.history.counts(),
        "calls_by_type": _by_type(ops),
        "unknown_resolved": {
            "committed": sum(1 for op in ops if op.resolved.startswith("committed")),
            "absent": sum(1 for op in ops if op.resolved == "absent"),
        },
        "txs_checked": sum(1 for op in ops if op.outcome in ("ok", "unknown")),
        "blocks_checked": max((len(v.blocks) for v in obs.nodes), default=0) if obs else 0,
        "supply": {str(v.node): v.supply_detail for v in obs.nodes} if obs else {},
        "genesis_supply": obs.genesis_supply if obs else None,
        "longest_recovery_s": max(rec_s, default=None),
        "recoveries": run.recoveries,
        "node_exits": run.events,
        "rss_bytes": run.rss,
        "violations": summarize(violations),
        "violation_count": len(violations),
        "checked": obs is not None,
        "teardown_errors": run.teardown_errors,
        "samples": run.samples,
        "latencies": latencies,
        "history": [op.to_json() for op in ops],
    }


def _by_type(ops: list[Any]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for op in ops:
        d = out.setdefault(op.type, {})
        d[op.outcome] = d.get(op.outcome, 0) + 1
    return out


def rss(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


def write_report(report: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
