"""The CI sweep: 200 seeds of a 4-validator cluster with one Byzantine validator of each
behaviour, lossy links, partitions and crashes. It must find no safety violation and no
liveness failure; a failing seed is printed with its replay command."""

from __future__ import annotations

import pytest

from sim.config import SimConfig
from sim.run import failed, sweep, totals

SEEDS_PER_BEHAVIOUR = 50
CASES = [
    # behaviour, loss: every behaviour meets lossy links, the worst at 30 %
    ("equivocate", 0.3),
    ("double-vote", 0.3),
    ("silent", 0.3),
    ("twins", 0.2),
]


@pytest.mark.slow
@pytest.mark.parametrize(("behaviour", "loss"), CASES)
def test_ci_sweep_is_safe_and_live(behaviour: str, loss: float) -> None:
    cfg = SimConfig(
        validators=4,
        byzantine=1,
        behaviour=behaviour,
        heights=6,
        txs=3,
        loss=loss,
        duplicate=0.05,
        reorder=0.1,
        partition=True,
        crash=True,
    )
    recs = sweep(cfg, list(range(SEEDS_PER_BEHAVIOUR)), workers=2)
    tot = totals(recs)
    assert tot["runs"] == SEEDS_PER_BEHAVIOUR
    bad = [r for r in recs if failed(r)]
    report = "\n".join(
        f"{cfg.replay_command(r['seed'])}  # "
        + (r.get("error") or str((r["safety_violations"] + r["liveness_failures"])[:2]))
        for r in bad
    )
    assert tot["safety_violations"] == 0, report
    assert tot["liveness_failures"] == 0 and tot["errors"] == 0, report
    # the faults really happened
    assert sum(r["crashes"] for r in recs) > 0
    assert sum(r["dropped"] for r in recs) > 0
    assert sum(r["blocked_by_partition"] for r in recs) > 0
