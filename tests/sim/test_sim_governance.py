"""Governance in the simulator: seeded load files proposals and casts ballots, proposals are
tallied and enacted while the cluster keeps equal state roots, and the record and the sweep
totals count them (the sim summary prints them)."""

from __future__ import annotations

from rich.console import Console

from sim.cli import print_summary
from sim.config import SimConfig
from sim.run import totals
from sim.world import run_seed


def test_seeded_runs_file_vote_and_enact_proposals() -> None:
    cfg = SimConfig(validators=4, heights=40, txs=6)
    rec = run_seed(cfg, 1)
    assert rec["ok"], rec["safety_violations"] or rec["liveness_failures"]
    ran = rec["executed_by_type"]
    assert ran["propose"] > 0 and ran["ballot"] > 0
    assert sum(ran.values()) <= rec["committed_txs"]  # code 0 only
    ended = rec["proposals"]
    # enactment needs 10 + 10 heights after filing: a 40-height run gets there
    assert ended["enacted"] > 0
    assert sum(ended.values()) == ran["propose"]  # every executed propose opened one

    tot = totals([rec, rec])
    assert tot["executed_by_type"]["propose"] == 2 * ran["propose"]
    assert tot["proposals"]["enacted"] == 2 * ended["enacted"]
    console = Console(record=True, width=200)
    print_summary(console, cfg, [rec], totals([rec]), 1.0)
    text = console.export_text()
    assert f"propose {ran['propose']}, ballot {ran['ballot']}" in text
    assert f"enacted {ended['enacted']}" in text
