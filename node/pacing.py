"""The proposer's block sizing: how long this node takes to execute a transaction
(`PacedApp`), and how many transactions its next proposal may hold (`BlockSizer`).

Split from node/runtime.py (which wires them): measuring and deciding are independent of
driving the loop, and `BlockSizer` is a pure function of what it was told (tests drive it
with made-up timings).

The size of a block is bounded by what the validators can do before their propose timeout:
the proposer executes the block to build it, sends it, and each validator executes it again
before it prevotes. No fixed count: the bound follows the measurements.

- Prior (own speed): the proposer's execution of its block may take EXEC_SHARE_OF_PROPOSE of
  the round-0 propose timeout, at this node's measured seconds per transaction.
- Feedback (everyone's speed, the network included): each committed height tells when 2f+1
  prevotes for its block came in after round 0 started (consensus.actions.HeightTiming).
  Of that delay, two executions of the block (at this node's speed) grow with its size and
  the rest does not: the next block may fill what the target, POLKA_SHARE_OF_PROPOSE of
  the timeout, leaves after the rest (without a measured speed: n * target / delay).
  Growth is at most MAX_GROWTH per height, so a backlog grows blocks geometrically from
  what was seen to work.
- Slow block: a height decided after round 0 although a round-0 proposal of n txs arrived
  (too late, or judged late) halves the bound below n.
- Start: until a height teaches otherwise the bound is START_TXS, so a burst after a (re)start
  grows blocks 500, 1,000, 2,000... rather than proposing at once what a speed measured on
  small blocks promises.
- The operator's `[mempool] propose_max_txs` and the chain's max_block_txs cap it all; the
  proposal's byte budget is the reap's (block_tx_budget below); MIN_PROPOSE_TXS is
  the floor no measurement pushes the bound under.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from consensus.actions import Committed, HeightTiming
from state.app import MAX_BLOCK_BYTES, ChainApp
from state.params import ChainParams

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


#: share of the round-0 propose timeout the proposer's own execution of its block may take
#: (the prior): every other validator executes the block again after it arrived
EXEC_SHARE_OF_PROPOSE = 0.4
#: 2f+1 prevotes for a block should be in by this share of the round-0 propose timeout after
#: the round started; the rest is margin for a busier machine or a slower validator
POLKA_SHARE_OF_PROPOSE = 0.7
#: no measurement lowers the bound under this many txs (a slow sample must not starve the
#: chain); the operator's propose_max_txs still applies when lower
MIN_PROPOSE_TXS = 200
#: share of the polka target always left to the block's executions, however long the rest of
#: the polka took: when fixed costs (votes of many validators, a busy machine) alone pass the
#: target, no block size brings the polka under it, and starving blocks to the floor only
#: lets the backlog (and latency) grow (21 validators: blocks of 200 txs under a 9,800-tx
#: backlog); a block that truly comes too late still halves the bound (SLOW_SHRINK)
MIN_EXEC_SHARE_OF_TARGET = 0.3
#: blocks smaller than this say little about per-transaction costs (fixed costs dominate)
MIN_FEEDBACK_TXS = 100
#: the feedback bound grows at most this factor per committed height
MAX_GROWTH = 2.0
#: after a slow height, the bound falls to this share of the late round-0 block
SLOW_SHRINK = 0.5
#: the bound before any height taught anything (a fresh start): a backlog then grows blocks
#: from here at MAX_GROWTH a height, instead of betting the first round on an execution
#: speed measured on small blocks of a quieter moment
START_TXS = 500


@dataclass(slots=True)
class BlockSizer:
    """How many transactions this node's next proposal may hold.

    `observe` each committed height's timing, `cap` before each proposal. Deterministic
    and clock-free: the times are those of the HeightTiming it was given."""

    propose_timeout_ms: int
    #: the operator's `[mempool] propose_max_txs`
    ceiling: int
    #: the feedback bound
    limit: int = START_TXS

    @property
    def target_ms(self) -> float:
        return self.propose_timeout_ms * POLKA_SHARE_OF_PROPOSE

    def observe(
        self,
        txs: int,
        timing: HeightTiming | None,
        *,
        proposed: bool = True,
        seconds_per_tx: float | None = None,
    ) -> None:
        """Learn from a committed height of `txs` transactions (`timing` None: a block
        fetched by block sync, which says nothing about this round's speed).

        With this node's execution speed known (`seconds_per_tx`), the polka's delay is
        split into what grows with the block, two executions of it (the proposer's, then a
        validator's), and the rest (links, votes, a busy loop), which a smaller block would
        not shorten: the next block may fill what the target leaves after the rest. At a
        validator that did not propose the block (`proposed` False) the polka may carry the
        time of the proposal's arrival (its own prevote completed it inside the step that
        executed the block), so only one execution is taken out, erring towards smaller
        blocks; at least MIN_EXEC_SHARE_OF_TARGET of the target stays for the executions.
        Without a speed, the whole delay is taken to grow with the block."""
        if timing is None:
            return
        if timing.round > 0:
            first = timing.first_txs
            if first is not None and first >= MIN_FEEDBACK_TXS:
                self.limit = max(MIN_PROPOSE_TXS, int(min(self.limit, first) * SLOW_SHRINK))
            return
        if timing.polka_ms is None or timing.started_ms is None or txs < MIN_FEEDBACK_TXS:
            return
        took = float(max(1, timing.polka_ms - timing.started_ms))
        if seconds_per_tx is None or seconds_per_tx <= 0:
            fit = txs * self.target_ms / took
        else:
            per_tx_ms = seconds_per_tx * 1000
            rest = max(0.0, took - txs * per_tx_ms * (2 if proposed else 1))
            room = max(self.target_ms - rest, self.target_ms * MIN_EXEC_SHARE_OF_TARGET)
            fit = room / (2 * per_tx_ms)
        self.limit = max(MIN_PROPOSE_TXS, int(min(fit, txs * MAX_GROWTH)))

    def cap(self, seconds_per_tx: float | None, max_block_txs: int) -> int:
        """The most transactions to reap now, given this node's measured execution speed
        and the chain's max_block_txs."""
        cap = min(self.ceiling, max_block_txs)
        floor = min(cap, MIN_PROPOSE_TXS)
        if seconds_per_tx is not None and seconds_per_tx > 0:
            budget_s = self.propose_timeout_ms / 1000 * EXEC_SHARE_OF_PROPOSE
            cap = min(cap, int(budget_s / seconds_per_tx))
        return max(floor, min(cap, self.limit))


#: room kept in a proposal frame for everything that is not transaction bytes: the header,
#: the previous block's commit (one signature per validator), evidence, msgpack framing
PROPOSAL_OVERHEAD_BYTES = 256 * 1024


def block_tx_budget(max_payload: int, params: ChainParams) -> int:
    """Transaction bytes a proposer may reap so that the whole proposal fits one P2P frame.

    Without this bound a mempool holding ~8 MiB of large transactions makes every proposer
    build blocks it cannot send (the transport refuses payloads over its frame limit).
    """
    per_tx = 8  # msgpack bin header and array slot per transaction, rounded up
    budget = max_payload - PROPOSAL_OVERHEAD_BYTES - per_tx * params.max_block_txs
    return max(params.max_tx_bytes, min(MAX_BLOCK_BYTES, budget))


def polka_ms(a: Committed) -> int | str:
    """ms from the height's first round to 2f+1 prevotes for its block ("-" unknown)."""
    t = a.timing
    if t is None or t.polka_ms is None or t.started_ms is None:
        return "-"
    return t.polka_ms - t.started_ms
