"""The proposer's block sizing (node/pacing.py BlockSizer): a pure function of the timings it
is told, so these tests make the timings up (a fake clock in milliseconds)."""

from __future__ import annotations

import pytest

from consensus.actions import HeightTiming
from node.pacing import (
    EXEC_SHARE_OF_PROPOSE,
    MAX_GROWTH,
    MIN_EXEC_SHARE_OF_TARGET,
    MIN_FEEDBACK_TXS,
    MIN_PROPOSE_TXS,
    POLKA_SHARE_OF_PROPOSE,
    SLOW_SHRINK,
    START_TXS,
    BlockSizer,
)

TIMEOUT_MS = 1000
NO_CEILING = 1_000_000
CHAIN_MAX = 100_000
TARGET_MS = TIMEOUT_MS * POLKA_SHARE_OF_PROPOSE


def timed(polka_after_ms: int | None, round: int = 0, first_txs: int | None = None) -> HeightTiming:
    """A height whose first round started at t=50,000 ms on the fake clock."""
    start = 50_000
    polka = None if polka_after_ms is None else start + polka_after_ms
    return HeightTiming(start, round, polka, first_txs)


def sizer(ceiling: int = NO_CEILING, limit: int = NO_CEILING) -> BlockSizer:
    """A sizer whose feedback bound starts at `limit` (no bound by default)."""
    return BlockSizer(TIMEOUT_MS, ceiling, limit)


def test_a_fresh_node_starts_at_start_txs_and_doubles_under_backlog() -> None:
    s = BlockSizer(TIMEOUT_MS, NO_CEILING)
    assert s.cap(None, CHAIN_MAX) == START_TXS
    assert s.cap(None, START_TXS - 1) == START_TXS - 1  # the chain's max_block_txs binds
    assert BlockSizer(TIMEOUT_MS, 5).cap(None, CHAIN_MAX) == 5  # so does the operator's
    s.observe(START_TXS, timed(20))
    assert s.cap(None, CHAIN_MAX) == START_TXS * MAX_GROWTH


def test_without_feedback_the_chain_limit_or_the_operator_ceiling_binds() -> None:
    assert sizer().cap(None, 5000) == 5000
    assert sizer(ceiling=1500).cap(None, 5000) == 1500
    assert sizer(ceiling=1500).cap(None, 1499) == 1499


def test_own_execution_speed_bounds_the_block_to_its_share_of_the_timeout() -> None:
    s = sizer()
    budget_s = TIMEOUT_MS / 1000 * EXEC_SHARE_OF_PROPOSE
    assert s.cap(budget_s / 4000, CHAIN_MAX) == 4000
    assert s.cap(budget_s / 4000, 3999) == 3999  # the chain's max_block_txs is lower
    assert sizer(ceiling=3000).cap(budget_s / 4000, CHAIN_MAX) == 3000
    # an absurdly slow sample gives the floor, never zero
    assert s.cap(10.0, CHAIN_MAX) == MIN_PROPOSE_TXS


def test_the_floor_never_exceeds_the_operator_ceiling_or_the_chain_limit() -> None:
    assert sizer(ceiling=5).cap(10.0, CHAIN_MAX) == 5
    assert sizer().cap(10.0, 7) == 7


def test_blocks_grow_under_backlog_at_most_by_max_growth_per_height() -> None:
    s = sizer()
    caps = []
    size = 300
    for _ in range(6):  # the backlog fills every block to the cap; blocks are fast (50 ms)
        s.observe(size, timed(50))
        size = s.cap(None, CHAIN_MAX)
        caps.append(size)
    assert caps == [int(300 * MAX_GROWTH**k) for k in range(1, 7)]


def test_growth_stops_where_the_polka_reaches_its_share_of_the_timeout() -> None:
    """A block of n txs whose 2f+1 prevotes came at d ms: the next may hold n * target / d."""
    s = sizer()
    s.observe(4000, timed(int(TARGET_MS * 0.8)))
    assert s.cap(None, CHAIN_MAX) == pytest.approx(4000 / 0.8, abs=1)
    s.observe(5000, timed(int(TARGET_MS)))
    assert s.cap(None, CHAIN_MAX) == 5000  # exactly at the target: stays


def test_a_block_slower_than_the_target_shrinks_the_next() -> None:
    s = sizer()
    s.observe(6000, timed(int(TARGET_MS * 2)))
    assert s.cap(None, CHAIN_MAX) == 3000


def test_a_height_that_needed_more_rounds_halves_the_bound_under_its_late_block() -> None:
    s = sizer()
    s.observe(8000, timed(None, round=1, first_txs=8000))
    assert s.cap(None, CHAIN_MAX) == int(8000 * SLOW_SHRINK)
    # and again below what was already lowered
    s.observe(100, timed(None, round=2, first_txs=8000))
    assert s.cap(None, CHAIN_MAX) == int(8000 * SLOW_SHRINK * SLOW_SHRINK)
    # then grows back from fast heights
    s.observe(2000, timed(100))
    assert s.cap(None, CHAIN_MAX) == int(2000 * MAX_GROWTH)


def test_a_round_lost_without_a_large_proposal_says_nothing_about_size() -> None:
    """A crashed proposer (no round-0 proposal) or a tiny late one: the bound stays."""
    s = sizer()
    s.observe(4000, timed(int(TARGET_MS)))
    s.observe(10, timed(None, round=1, first_txs=None))
    s.observe(10, timed(None, round=1, first_txs=MIN_FEEDBACK_TXS - 1))
    assert s.cap(None, CHAIN_MAX) == 4000


def test_shrinking_never_goes_under_the_floor() -> None:
    s = sizer()
    s.observe(MIN_FEEDBACK_TXS, timed(TIMEOUT_MS * 100))
    assert s.cap(None, CHAIN_MAX) == MIN_PROPOSE_TXS
    s.observe(MIN_FEEDBACK_TXS, timed(None, round=3, first_txs=MIN_FEEDBACK_TXS))
    assert s.cap(None, CHAIN_MAX) == MIN_PROPOSE_TXS


def test_small_blocks_and_synced_blocks_teach_nothing() -> None:
    s = sizer()
    s.observe(4000, timed(int(TARGET_MS)))
    s.observe(MIN_FEEDBACK_TXS - 1, timed(TIMEOUT_MS * 10))  # fixed costs dominate
    s.observe(5000, None)  # fetched by block sync
    s.observe(5000, timed(None))  # decided without a polka seen (precommits alone)
    assert s.cap(None, CHAIN_MAX) == 4000


def test_with_a_known_speed_only_the_executions_scale_with_the_block() -> None:
    """0.1 ms a tx: a block of 1,000 takes 2 x 100 ms of execution; the other 300 ms of its
    polka (links, votes, a busy loop) would not shrink with it. The target (700 ms) leaves
    400 ms for executions: 2,000 txs, not the 1,750 a proportional rule would allow."""
    s = sizer()
    s.observe(1000, timed(500), seconds_per_tx=0.0001)
    assert s.cap(None, CHAIN_MAX) == 2000
    # the rest alone beyond the target: no size brings the polka under it, so the executions
    # keep their minimum share of the target (210 ms: 1,050 txs), not the floor
    s.observe(1000, timed(int(TARGET_MS) + 300), seconds_per_tx=0.0001)
    room = TARGET_MS * MIN_EXEC_SHARE_OF_TARGET
    assert s.cap(None, CHAIN_MAX) == int(room / 0.2) == 1050
    # ... and a slow machine still reaches the floor
    s.observe(1000, timed(int(TARGET_MS) + 300), seconds_per_tx=0.002)
    assert s.cap(None, CHAIN_MAX) == MIN_PROPOSE_TXS


def test_fixed_costs_past_the_target_do_not_starve_blocks_under_a_backlog() -> None:
    """21 validators on one machine: the polka of a 200-tx block takes 1.2 s, nearly all of
    it votes; blocks grow (at most MAX_GROWTH a height) to the executions' share."""
    s = BlockSizer(TIMEOUT_MS, NO_CEILING, MIN_PROPOSE_TXS)
    s.observe(200, timed(1200), seconds_per_tx=0.0002)
    assert s.cap(None, CHAIN_MAX) == int(200 * MAX_GROWTH)
    s.observe(400, timed(1300), seconds_per_tx=0.0002)
    assert s.cap(None, CHAIN_MAX) == int(TARGET_MS * MIN_EXEC_SHARE_OF_TARGET / 0.4) == 525


def test_a_block_proposed_by_another_takes_out_one_execution_only() -> None:
    """Its polka may carry the time of the proposal's arrival, before this node executed."""
    s = sizer()
    s.observe(1000, timed(500), proposed=False, seconds_per_tx=0.0001)
    assert s.cap(None, CHAIN_MAX) == 1500  # rest 400 ms: 300 ms left for 2 x 0.1 ms a tx


def test_feedback_and_own_speed_both_bound_the_cap() -> None:
    s = sizer()
    budget_s = TIMEOUT_MS / 1000 * EXEC_SHARE_OF_PROPOSE
    s.observe(1000, timed(int(TARGET_MS)))  # the others are slow: 1,000 fit
    assert s.cap(budget_s / 4000, CHAIN_MAX) == 1000
    s.observe(1000, timed(10))  # the others are fast: own speed binds
    assert s.cap(budget_s / 1500, CHAIN_MAX) == 1500
