"""The committed line's pacing fields (node.runtime.height_times)."""

from __future__ import annotations

from consensus.actions import Committed, HeightTiming
from consensus.types import Block, BlockHeader, Commit


def _committed(timing: HeightTiming | None, time_ms: int = 10_000) -> Committed:
    header = BlockHeader(
        chain_id="c",
        height=2,
        time_ms=time_ms,
        prev_hash=b"\0" * 32,
        proposer=b"\1" * 32,
        tx_root=b"\0" * 32,
        state_root=b"\0" * 32,
        last_commit_hash=b"\0" * 32,
        evidence_hash=b"\0" * 32,
        validators_hash=b"\0" * 32,
    )
    return Committed(2, Block(header, (), None, ()), Commit(2, 0, b"\0" * 32, ()), timing)


def test_height_times() -> None:
    from node.runtime import height_times

    t = HeightTiming(11_030, 0, 11_200, 5, scheduled_ms=11_000, decided_ms=10_600)
    assert height_times(_committed(t, time_ms=10_000), 10_750) == {
        "late_ms": 30,
        "decided_ms": 600,
        "commit_ms": 150,
    }
    unknown = {"late_ms": "-", "decided_ms": "-", "commit_ms": "-"}
    assert height_times(_committed(None), 0) == unknown
    assert height_times(_committed(HeightTiming(None, 0, None)), 0) == unknown
