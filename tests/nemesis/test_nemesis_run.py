"""The CI run: a short schedule on 4 real validators in network namespaces, every fault kind
once, then the checker. Skips, naming why, where namespaces cannot be created (not root, no
`ip netns`). Bounded: under 3 minutes, 4 nodes, 4 clients with one call in flight each."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nemesis.cli import summary
from nemesis.netns import why_unavailable
from nemesis.runner import Options, run_nemesis
from nemesis.schedule import KINDS

pytestmark = pytest.mark.slow

SEED = 3
#: what the checker must never find, whatever the schedule (liveness is reported apart)
SAFETY = {
    "acked_missing",
    "acked_moved",
    "unknown_split",
    "tx_twice",
    "block_mismatch",
    "supply",
    "double_payout",
    "double_collect",
    "double_sign",
}


def test_a_short_schedule_of_every_fault_kind(tmp_path: Path) -> None:
    why = why_unavailable()
    if why:
        pytest.skip(f"the nemesis needs network namespaces: {why}")
    lines: list[str] = []
    opts = Options(
        validators=4,
        duration_s=125,
        seed=SEED,
        clients=4,
        profile="short",
        workdir=tmp_path / "run",
        progress=lines.append,
    )
    report = run_nemesis(opts)
    context = "\n".join(lines[-30:])
    print(summary(report))  # shown with -s, and in the failure output

    # the schedule starts with every kind once; each of those ran, or was skipped with the
    # reason (a fault the kernel cannot do); later ones may be cut by the duration
    first = report["faults"][: len(KINDS)]
    assert {f["kind"] for f in first} == set(KINDS)
    for f in first:
        assert f["status"] in ("applied", "skipped"), (f, context)
        assert f["status"] == "applied" or f["why"], f
    assert report["checked"], context
    assert report["txs_checked"] > 0 and report["blocks_checked"] > 10
    calls = report["calls_by_type"]
    assert {"transfer", "join", "pay", "claim", "vote", "payout"} <= set(calls)
    assert {"attest", "object", "report", "collect"} <= set(calls)  # version 2
    found = set(report["violations"])
    assert not found & SAFETY, (report["violations"], report["replay"])
    assert report["elapsed_s"] < 180, report["elapsed_s"]

    # everything the run made is gone: namespaces, links, mounts, processes
    assert report["teardown_errors"] == []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    mounts = Path("/proc/mounts").read_text()
    assert report["workdir"] not in mounts
    assert all(not name.startswith(f"hz{report['tag']}n") for name in netns.split()), netns
