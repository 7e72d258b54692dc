"""The proposer's block-size pacing: how long this node takes to execute a transaction.

Split from node/runtime.py (which wires it): measuring is independent of driving the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from state.app import ChainApp

#: executions smaller than this say little about the cost per tx (fixed costs dominate)
PACE_MIN_SAMPLE_TXS = 100
PACE_EWMA_ALPHA = 0.3


class PacedApp(ChainApp):
    """ChainApp that measures how long this node takes to execute a transaction (wall clock,
    so a machine shared with other work counts), for the proposer's block-size pacing.

    Only real executions count: `prepare` always executes; `validate` only on a cache miss
    (the proposer's own block and re-proposals hit the cache)."""

    def __init__(
        self,
        *args: Any,
        on_valid: Callable[[list[bytes]], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.seconds_per_tx: float | None = None
        self.on_valid = on_valid
        #: told every block execution's seconds (the metrics' histogram), when set
        self.on_exec: Callable[[float], None] | None = None

    def _sample(self, txs: int, seconds: float) -> None:
        if txs < PACE_MIN_SAMPLE_TXS:
            return
        x = seconds / txs
        old = self.seconds_per_tx
        self.seconds_per_tx = x if old is None else old + PACE_EWMA_ALPHA * (x - old)

    def prepare(self, *args: Any, **kwargs: Any) -> tuple[list[bytes], bytes]:
        t = time.perf_counter()
        out = super().prepare(*args, **kwargs)
        self._sample(len(out[0]), time.perf_counter() - t)
        if self.on_exec is not None:
            self.on_exec(time.perf_counter() - t)
        return out

    def validate(self, height: int, time_ms: int, proposer: bytes, txs: Any, *rest: Any) -> bool:
        before = self.executions
        t = time.perf_counter()
        ok = super().validate(height, time_ms, proposer, txs, *rest)
        if ok and self.on_valid is not None:
            self.on_valid(txs)
        if self.executions != before:  # executed, not a cache hit
            self._sample(len(txs), time.perf_counter() - t)
            if self.on_exec is not None:
                self.on_exec(time.perf_counter() - t)
        return ok
