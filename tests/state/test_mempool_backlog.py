"""Check 11's backlog bound (`[mempool] backlog_blocks`): pending txs beyond a few blocks
of what the chain commits are refused mempool_full (try later) instead of queueing for many
seconds; never less than one block of max_block_txs, never more than max_txs."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_mempool import PARAMS, A, B, make, tx

from state.errors import Code
from state.mempool import RECENT_BLOCKS, SUSTAINED_BLOCKS, MempoolLimits

SMALL_BLOCKS = replace(PARAMS, max_block_txs=3)


def offer(mp, sender, nonces):  # type: ignore[no-untyped-def]
    return [mp.add(tx(sender, n).wire).code for n in nonces]


def test_an_idle_chain_admits_one_block_of_max_block_txs_then_refuses_mempool_full() -> None:
    mp, view = make(MempoolLimits(max_txs=10), a=1_000)
    view.params = SMALL_BLOCKS
    assert offer(mp, A, range(3)) == [Code.OK] * 3
    res = mp.add(tx(A, 3).wire)
    assert res.code is Code.MEMPOOL_FULL
    assert "3 transactions pending" in res.log and "max_block_txs" in res.log


def test_the_bound_is_twice_the_mean_recent_block_within_max_txs() -> None:
    limits = MempoolLimits(max_txs=10, backlog_blocks=2, peer_reserve_pct=0)
    mp, view = make(limits, a=1_000, b=1_000)
    view.params = SMALL_BLOCKS
    mp.update([b"x"] * 4)  # a block of 4 txs committed (none of ours): bound 8
    assert offer(mp, A, range(8)) == [Code.OK] * 8
    res = mp.add(tx(A, 8).wire)
    assert res.code is Code.MEMPOOL_FULL and res.log.startswith("8 transactions pending")
    assert "pending: 2 times the mean" in res.log  # the bound in force, not backlog_blocks
    mp.update([b"x"] * 8)  # twice 6 (the mean of 4 and 8) = 12, but max_txs is 10
    assert offer(mp, A, (8, 9)) == [Code.OK] * 2
    res = mp.add(tx(A, 10).wire)
    assert res.code is Code.MEMPOOL_FULL and res.log == "10 transactions pending"


def test_the_bound_follows_the_last_blocks_only() -> None:
    mp, view = make(MempoolLimits(max_txs=100, backlog_blocks=2), a=1_000)
    view.params = SMALL_BLOCKS
    for _ in range(RECENT_BLOCKS):
        mp.update([b"x"] * 5)
    assert mp.backlog_cap(view.params) == 10
    for _ in range(RECENT_BLOCKS // 2):
        mp.update([])
    assert mp.backlog_cap(view.params) == 5  # half the window is empty blocks
    for _ in range(RECENT_BLOCKS // 2):
        mp.update([])
    assert mp.backlog_cap(view.params) == 3  # only empty blocks left: one max block


def test_backlog_blocks_0_bounds_by_max_txs_only() -> None:
    mp, view = make(MempoolLimits(max_txs=5, backlog_blocks=0), a=1_000)
    view.params = SMALL_BLOCKS
    assert offer(mp, A, range(5)) == [Code.OK] * 5
    assert mp.add(tx(A, 5).wire).code is Code.MEMPOOL_FULL


def test_a_tx_failing_an_earlier_check_is_refused_for_that_not_for_the_backlog() -> None:
    mp, view = make(MempoolLimits(max_txs=10), a=1_000, b=1)
    view.params = SMALL_BLOCKS
    assert offer(mp, A, range(3)) == [Code.OK] * 3
    assert mp.add(tx(B, 0).wire).code is Code.INSUFFICIENT_FUNDS  # check 10 before 11
    assert mp.add(tx(A, 64).wire).code is Code.BAD_NONCE


def test_backlog_blocks_is_validated() -> None:
    with pytest.raises(ValueError, match="backlog_blocks"):
        MempoolLimits(backlog_blocks=-1)


def test_the_default_bound_is_three_recent_blocks() -> None:
    """Three, not two: at 2,500 tx/s offered to 4 validators (below their ~2,900 capacity) two
    blocks refused 625-10,804 txs mempool_full in a minute (bench/README.md)."""
    assert MempoolLimits().backlog_blocks == 3
    mp, view = make(MempoolLimits(max_txs=100), a=1_000)
    view.params = SMALL_BLOCKS
    mp.update([b"x"] * 6)
    assert mp.backlog_cap(view.params) == 18


def test_a_peers_copy_is_admitted_beyond_the_backlog_bound_up_to_max_txs() -> None:
    """The backlog bound refuses clients only: a peer's gossiped tx was admitted by a node
    already, and refusing it would leave it proposable by that node alone (bench/README.md,
    over7)."""
    mp, view = make(MempoolLimits(max_txs=5), a=1_000, b=1_000)
    view.params = SMALL_BLOCKS
    assert offer(mp, A, range(3)) == [Code.OK] * 3  # the bound: one block of 3
    assert mp.add(tx(A, 3).wire).code is Code.MEMPOOL_FULL  # a client's offer
    assert [mp.add(tx(A, n).wire, peer=True).code for n in (3, 4)] == [Code.OK] * 2
    res = mp.add(tx(B, 0).wire, peer=True)
    assert res.code is Code.MEMPOOL_FULL and res.log == "5 transactions pending"  # max_txs
    assert mp.add(tx(B, 0).wire).code is Code.MEMPOOL_FULL  # and a client's, still


def test_a_peers_copy_failing_an_earlier_check_is_refused_for_that() -> None:
    mp, view = make(MempoolLimits(max_txs=10), a=1_000, b=1)
    view.params = SMALL_BLOCKS
    assert offer(mp, A, range(3)) == [Code.OK] * 3
    assert mp.add(tx(B, 0).wire, peer=True).code is Code.INSUFFICIENT_FUNDS
    assert mp.add(tx(A, 64).wire, peer=True).code is Code.BAD_NONCE


def test_a_clients_kept_refusal_is_not_the_answer_to_a_peers_copy() -> None:
    """The retry cache answers a re-offer from the side that was refused only: the same
    bytes from a peer, bounded by max_txs alone, are admitted at the same epoch."""
    mp, view = make(MempoolLimits(max_txs=5), a=1_000)
    view.params = SMALL_BLOCKS
    assert offer(mp, A, range(3)) == [Code.OK] * 3
    wire = tx(A, 3).wire
    assert mp.add(wire).code is Code.MEMPOOL_FULL
    assert mp.add(wire, peer=True).code is Code.OK


def _refusing_blocks(mp, view, blocks: int, nonce: int) -> None:  # type: ignore[no-untyped-def]
    """`blocks` committed blocks of 4 txs (none of ours), a client refused at the bound in each."""
    for _ in range(blocks):
        assert mp.add(tx(A, nonce).wire).code is Code.MEMPOOL_FULL
        mp.update([b"x"] * 4)


def test_refusals_in_sustained_blocks_in_a_row_tighten_the_bound_until_a_block_refuses_none() -> (
    None
):
    """A standing queue (clients refused at the bound block after block) is held to
    sustained_backlog_blocks (2) blocks' worth; one block without a refusal restores 3."""
    mp, view = make(MempoolLimits(max_txs=100), a=1_000)
    view.params = SMALL_BLOCKS
    for _ in range(RECENT_BLOCKS):
        mp.update([b"x"] * 4)
    assert mp.backlog_cap(view.params) == 12
    assert offer(mp, A, range(12)) == [Code.OK] * 12
    _refusing_blocks(mp, view, SUSTAINED_BLOCKS - 1, 12)
    assert mp.backlog_cap(view.params) == 12  # a burst: not yet sustained
    _refusing_blocks(mp, view, 1, 12)
    assert mp.backlog_cap(view.params) == 8
    res = mp.add(tx(A, 12).wire)
    assert res.code is Code.MEMPOOL_FULL and res.log.startswith("8 transactions pending")
    assert "pending: 2 times the mean" in res.log  # the bound in force, not backlog_blocks
    mp.update([b"x"] * 4)  # the block of that refusal: still sustained
    assert mp.backlog_cap(view.params) == 8
    mp.update([b"x"] * 4)  # a block without a refusal at the bound
    assert mp.backlog_cap(view.params) == 12


def test_refusals_broken_by_a_quiet_block_are_bursts() -> None:
    mp, view = make(MempoolLimits(max_txs=100), a=1_000)
    view.params = SMALL_BLOCKS
    for _ in range(RECENT_BLOCKS):
        mp.update([b"x"] * 4)
    assert offer(mp, A, range(12)) == [Code.OK] * 12
    for _ in range(3):
        _refusing_blocks(mp, view, SUSTAINED_BLOCKS - 1, 12)
        mp.update([b"x"] * 4)
        assert mp.backlog_cap(view.params) == 12


@pytest.mark.parametrize("sustained", [0, 3, 4])
def test_sustained_backlog_blocks_0_or_not_below_backlog_blocks_changes_nothing(
    sustained: int,
) -> None:
    mp, view = make(MempoolLimits(max_txs=100, sustained_backlog_blocks=sustained), a=1_000)
    view.params = SMALL_BLOCKS
    for _ in range(RECENT_BLOCKS):
        mp.update([b"x"] * 4)
    assert offer(mp, A, range(12)) == [Code.OK] * 12
    _refusing_blocks(mp, view, SUSTAINED_BLOCKS + 2, 12)
    assert mp.backlog_cap(view.params) == 12


def test_sustained_backlog_blocks_is_validated_and_defaults_to_two() -> None:
    """Two under sustained overload: 4 validators on the quiet 2-core machine kept 0.94-0.96
    of their saturating rate at 2x overload with 2 blocks against 0.87-0.92 with 3, and
    refused nothing at 2,500 tx/s with 3 where 2 refused 625-10,804 (bench/README.md)."""
    assert MempoolLimits().sustained_backlog_blocks == 2
    with pytest.raises(ValueError, match="sustained_backlog_blocks"):
        MempoolLimits(sustained_backlog_blocks=-1)
    assert MempoolLimits(sustained_backlog_blocks=0).sustained_backlog_blocks == 0


def test_a_client_never_fills_the_share_of_max_txs_kept_for_peers_copies() -> None:
    """With a client bound as large as max_txs, each validator under overload filled its
    mempool with its own clients' txs and refused its peers' copies (4 validators: 0.85 of
    the saturating rate, p99 11 s, bench/README.md); peers' copies keep their share."""
    mp, view = make(MempoolLimits(max_txs=8, peer_reserve_pct=25), a=1_000, b=1_000)
    view.params = replace(PARAMS, max_block_txs=100)  # the blocks alone would allow 100
    assert mp.client_max_txs() == 6 and mp.backlog_cap(view.params) == 6
    assert offer(mp, A, range(6)) == [Code.OK] * 6
    res = mp.add(tx(A, 6).wire)
    assert res.code is Code.MEMPOOL_FULL
    assert res.log == "6 transactions pending: max_txs less the 25 % kept for peers' copies"
    assert [mp.add(tx(B, n).wire, peer=True).code for n in (0, 1)] == [Code.OK] * 2
    assert mp.add(tx(B, 2).wire, peer=True).code is Code.MEMPOOL_FULL  # max_txs: 8
    # 0: the client bound may reach max_txs (as backlog_blocks 0 always does)
    mp0, view0 = make(MempoolLimits(max_txs=8, peer_reserve_pct=0), a=1_000)
    view0.params = replace(PARAMS, max_block_txs=100)
    assert offer(mp0, A, range(9)) == [Code.OK] * 8 + [Code.MEMPOOL_FULL]


def test_the_defaults_leave_peers_a_block_above_the_largest_client_bound() -> None:
    """At the default max_block_txs (5,000) a client's bound reaches three blocks, 15,000; a
    peer's copies keep the 5,000 above it (and 10,000 under sustained overload)."""
    lim = MempoolLimits()
    mp, view = make(lim)
    view.params = replace(PARAMS, max_block_txs=5_000)
    for _ in range(RECENT_BLOCKS):
        mp.update([b"x"] * 5_000)
    assert mp.backlog_cap(view.params) == 15_000 == mp.client_max_txs()
    assert lim.max_txs - mp.backlog_cap(view.params) >= view.params.max_block_txs


def test_peer_reserve_pct_is_validated() -> None:
    with pytest.raises(ValueError, match="peer_reserve_pct"):
        MempoolLimits(peer_reserve_pct=91)
    with pytest.raises(ValueError, match="peer_reserve_pct"):
        MempoolLimits(peer_reserve_pct=-1)
