"""Future-nonce transactions (behind a nonce gap) expire from the mempool after
`future_lifetime_blocks` committed blocks (issue 14): before, they stayed until the gap
filled, holding their sender's and the node's future slots forever."""

from __future__ import annotations

import pytest
from test_mempool import A, B, make, tx

from state.errors import Code
from state.mempool import Mempool, MempoolLimits

LIFE = 5


def _blocks(mp: Mempool, n: int) -> list[bytes]:
    """Commit `n` empty blocks; the hashes of what they evicted."""
    out = []
    for _ in range(n):
        _, dropped = mp.update([])
        out += [t.hash for t in dropped]
    return out


def test_a_future_transaction_expires_at_its_lifetime() -> None:
    mp, _ = make(MempoolLimits(future_lifetime_blocks=LIFE), a=100)
    gap = tx(A, 2)
    assert mp.add(gap.wire).code is Code.OK and mp.future_count == 1
    assert _blocks(mp, LIFE - 1) == []  # one block short: still pending
    assert gap.hash in mp
    assert _blocks(mp, 1) == [gap.hash]  # the lifetime-th block evicts it
    assert gap.hash not in mp and mp.future_count == 0 and len(mp) == 0
    assert mp.pending_fees(A.public_key) == 0


def test_a_filled_gap_keeps_the_transaction() -> None:
    mp, _ = make(MempoolLimits(future_lifetime_blocks=LIFE), a=100)
    later = tx(A, 1)
    assert mp.add(later.wire).code is Code.OK
    _blocks(mp, LIFE - 1)
    assert mp.add(tx(A, 0).wire).code is Code.OK  # the gap fills: both are executable
    assert mp.future_count == 0
    assert _blocks(mp, 3 * LIFE) == []  # ready transactions do not expire
    assert mp.reap(10, 1 << 20) == [tx(A, 0).wire, later.wire]


def test_expiry_frees_the_future_slots() -> None:
    limits = MempoolLimits(future_lifetime_blocks=LIFE, max_future_per_sender=1)
    mp, _ = make(limits, a=100, b=100)
    assert mp.add(tx(A, 3).wire).code is Code.OK
    _blocks(mp, 2)
    assert mp.add(tx(B, 3).wire).code is Code.OK  # admitted two blocks later
    assert mp.add(tx(A, 4).wire).code is Code.MEMPOOL_FULL
    assert len(_blocks(mp, LIFE - 2)) == 1  # A's, not yet B's
    assert mp.add(tx(A, 4).wire).code is Code.OK
    assert [t.hash for t in [tx(B, 3)] if t.hash in mp] == [tx(B, 3).hash]
    assert len(_blocks(mp, 2)) == 1  # B's at its own lifetime


@pytest.mark.parametrize("life", [0, -1])
def test_lifetime_must_be_positive(life: int) -> None:
    with pytest.raises(ValueError, match="future_lifetime_blocks"):
        MempoolLimits(future_lifetime_blocks=life)
