"""A count-bound refusal kept across one block: when the block held no tx of the refused
tx's sender and its pending txs did not change, checks 7-10 answer as before (nonce
unchanged, balance only credited), so only check 11 is asked again; in every other case the
full checks run. The answers are always those of a mempool without the retry cache."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from test_mempool import PARAMS, A, Acct, B, C, make, tx
from test_mempool_retry import _POOL, commit_block, differential_pair, offer_both
from test_mempool_retry import _count_reads as _reads

from state.crypto import sha256
from state.errors import Code
from state.mempool import Mempool, MempoolLimits


def test_a_block_of_other_senders_asks_check_11_only() -> None:
    mp, view = make(MempoolLimits(max_txs=2), a=100, b=100, c=100)
    a0, a1, b0 = tx(A, 0), tx(A, 1), tx(B, 0)
    assert mp.add(a0.wire).code is Code.OK and mp.add(a1.wire).code is Code.OK
    first = mp.add(b0.wire)
    assert first.code is Code.MEMPOOL_FULL
    commit_block(view, [mp], [a0])  # one of a's: b untouched, one pending left, room for b0
    assert mp.add(tx(C, 0).wire, peer=True).code is Code.OK  # the room taken again
    reads = _reads(view)
    again = mp.add(b0.wire)
    assert (again.code, again.log) == (first.code, first.log)
    assert reads["n"] == 0  # b0's checks 7-10 were not run again


def test_a_block_with_a_tx_of_the_sender_runs_the_checks_again() -> None:
    mp, view = make(MempoolLimits(max_txs=1), a=100, b=100)
    a0, b0 = tx(A, 0), tx(B, 0)
    assert mp.add(a0.wire).code is Code.OK
    assert mp.add(b0.wire).code is Code.MEMPOOL_FULL
    other = tx(B, 0, amount=2)  # b's nonce 0, other bytes, committed through another node
    commit_block(view, [mp], [other])
    assert mp.add(b0.wire).code is Code.BAD_NONCE  # check 9, not the kept refusal


def test_a_changed_backlog_bound_is_named_in_the_new_answer() -> None:
    """Check 11 is asked again, not its old answer replayed: the bound moves with the
    blocks, and the log names the one that refuses now."""
    mp, view = make(MempoolLimits(max_txs=100), a=100, b=100, c=100)
    view.params = replace(PARAMS, max_block_txs=1)
    a0, a1, a2, b0 = tx(A, 0), tx(A, 1), tx(A, 2), tx(B, 0)
    for t in (a0, a1, a2):
        assert mp.add(t.wire, peer=True).code is Code.OK
    first = mp.add(b0.wire)
    assert first.code is Code.MEMPOOL_FULL and first.log.startswith("1 transactions pending")
    commit_block(view, [mp], [a0])  # the mean block is 1 tx: the bound is 3 now, 2 pending
    assert mp.add(tx(C, 0).wire, peer=True).code is Code.OK  # 3 pending: at the bound
    plain = Mempool(lambda: view, replace(mp.limits, retry_cache=0))
    for t in (a1, a2, tx(C, 0)):
        assert plain.add(t.wire, peer=True).code is Code.OK
    plain.update([a0.wire])  # the same recent block sizes
    again, want = mp.add(b0.wire), plain.add(b0.wire)
    assert again.code is Code.MEMPOOL_FULL
    assert (again.code, again.log) == (want.code, want.log)
    assert again.log != first.log


_SIGNERS = (A, B, C)  # the senders of _POOL's txs, in its order


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.integers(0, len(_POOL) - 1)),
            st.tuples(st.just("gossip"), st.integers(0, len(_POOL) - 1)),
            st.tuples(st.just("commit"), st.integers(0, 2)),
            st.tuples(st.just("foreign"), st.integers(0, len(_POOL) - 1)),
            st.tuples(st.just("credit"), st.integers(0, 2)),
        ),
        max_size=40,
    )
)
def test_answers_across_blocks_never_differ_from_a_mempool_without_the_cache(
    ops: list[tuple[str, int]],
) -> None:
    """Differential, with blocks of the pending txs, blocks holding a tx the mempools never
    saw (a sender's nonce used up elsewhere), empty blocks and credits to a sender (a
    transfer to it in a block of others' txs): the same answers, code and message."""
    cached, plain, view = differential_pair(max_block_txs=1)
    for op, k in ops:
        if op in ("add", "gossip"):
            offer_both(cached, plain, _POOL[k].wire, peer=op == "gossip")
        elif op == "credit":  # a block crediting the sender (no tx of its own)
            s = _SIGNERS[k].public_key
            acct = view.accounts.get(s, Acct())
            view.accounts[s] = Acct(balance=acct.balance + 3, nonce=acct.nonce)
            cached.update([])
            plain.update([])
        else:
            if op == "commit":  # up to k txs reaped by the plain mempool
                txs = [plain.get(sha256(w)) for w in plain.reap(k, 1 << 20)]
            else:  # one tx at the sender's next nonce, whoever's copy it is
                t = _POOL[k]
                acct = view.accounts.get(t.sender, Acct())
                txs = [t] if t.nonce == acct.nonce and acct.balance >= t.fee else []
                if t.hash in view.committed:
                    txs = []
            assert None not in txs
            commit_block(view, [cached, plain], txs)  # type: ignore[arg-type]  # None excluded above
        assert [t.hash for t in cached] == [t.hash for t in plain]
