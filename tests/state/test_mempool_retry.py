"""The mempool's retry cache: a client re-offering the exact bytes refused mempool_full skips
decoding and the signature check, and checks 7-11 only while nothing they read has changed
(no tx became pending or left, no block committed); its answers are always those of a
mempool without the cache (PROTOCOL.md section 7's order)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_mempool import PARAMS, A, Acct, B, C, View, make, tx

import state.mempool as mempool_mod
import state.tx as txmod
from state.crypto import sha256
from state.errors import Code
from state.mempool import Mempool, MempoolLimits
from state.tx import Tx


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Counts the decodings and signature checks the mempool makes."""
    counts = {"decode": 0, "verify": 0}
    real_decode, real_verify = mempool_mod.decode_tx, txmod.verify_tx

    def decode(*args: object, **kw: object) -> Tx:
        counts["decode"] += 1
        return real_decode(*args, **kw)  # type: ignore[arg-type]

    def verify(t: Tx) -> bool:
        counts["verify"] += 1
        return real_verify(t)

    monkeypatch.setattr(mempool_mod, "decode_tx", decode)
    monkeypatch.setattr(txmod, "verify_tx", verify)
    yield counts


def test_reoffer_after_full_skips_decoding_and_is_admitted_when_room_appears(
    work: dict[str, int],
) -> None:
    mp, view = make(MempoolLimits(max_txs=1), a=100, b=100)
    a0, b0 = tx(A, 0), tx(B, 0)
    assert mp.add(a0.wire).code is Code.OK
    assert mp.add(b0.wire).code is Code.MEMPOOL_FULL
    assert work == {"decode": 2, "verify": 2}
    assert mp.add(b0.wire).code is Code.MEMPOOL_FULL  # still no room: same answer
    view.accounts[A.public_key] = Acct(balance=97, nonce=1)
    view.committed.add(a0.hash)
    mp.update([a0.wire])  # a0 committed: room for one
    res = mp.add(b0.wire)
    assert res.code is Code.OK and res.tx is not None and res.tx.hash == b0.hash
    assert work == {"decode": 2, "verify": 2}  # the re-offers decoded and checked nothing
    assert b0.hash in mp


def _refused_full(**balances: int):  # type: ignore[no-untyped-def]
    """A mempool with room for one tx, holding a0, that refused b0 mempool_full."""
    mp, view = make(MempoolLimits(max_txs=1), **balances)
    a0, b0 = tx(A, 0), tx(B, 0)
    assert mp.add(a0.wire).code is Code.OK
    assert mp.add(b0.wire).code is Code.MEMPOOL_FULL
    view.accounts[A.public_key] = Acct(balance=balances["a"] - 3, nonce=1)
    view.committed.add(a0.hash)
    mp.update([a0.wire])
    return mp, view, b0


def test_a_kept_tx_still_meets_check_8_duplicate_sender_nonce() -> None:
    mp, _, b0 = _refused_full(a=100, b=100)
    other = tx(B, 0, amount=2)  # same sender and nonce, other bytes: admitted first
    assert mp.add(other.wire).code is Code.OK
    assert mp.add(b0.wire).code is Code.DUPLICATE


def test_a_kept_tx_still_meets_check_9_nonce() -> None:
    mp, view, b0 = _refused_full(a=100, b=100)
    view.accounts[B.public_key] = Acct(balance=100, nonce=1)  # nonce 0 used meanwhile
    assert mp.add(b0.wire).code is Code.BAD_NONCE


def test_a_kept_tx_still_meets_check_10_funds() -> None:
    mp, view, b0 = _refused_full(a=100, b=100)
    view.accounts[B.public_key] = Acct(balance=1)
    assert mp.add(b0.wire).code is Code.INSUFFICIENT_FUNDS


def test_a_kept_tx_is_decoded_again_under_new_params_and_meets_check_7(
    work: dict[str, int],
) -> None:
    mp, view, b0 = _refused_full(a=100, b=100)
    view.params = replace(PARAMS, min_fee=3)  # a chain-scope proposal was enacted
    before = work["decode"]
    assert mp.add(b0.wire).code is Code.FEE_TOO_LOW
    assert work["decode"] == before + 1


def test_a_kept_tx_still_meets_check_11() -> None:
    mp, _, b0 = _refused_full(a=100, b=100)
    assert mp.add(tx(A, 1).wire).code is Code.OK  # the room went to another tx
    assert mp.add(b0.wire).code is Code.MEMPOOL_FULL


def test_other_bytes_of_a_kept_tx_are_checked_in_full(work: dict[str, int]) -> None:
    mp, _, b0 = _refused_full(a=100, b=100)
    forged = bytearray(b0.wire)
    forged[-1] ^= 1  # the last signature byte
    verified = work["verify"]
    assert mp.add(bytes(forged)).code is Code.BAD_SIGNATURE
    assert work["verify"] == verified + 1


@pytest.mark.parametrize(("cap", "skipped", "evicted"), [(0, 0, 0), (1, 1, 2), (2, 2, 0)])
def test_retry_cache_keeps_at_most_its_bound(
    work: dict[str, int], cap: int, skipped: int, evicted: int
) -> None:
    mp, _ = make(MempoolLimits(max_txs=1, retry_cache=cap), a=100, b=100)
    assert mp.add(tx(A, 0).wire).code is Code.OK
    refused = [tx(B, 0), tx(B, 1)]
    for t in refused:
        assert mp.add(t.wire).code is Code.MEMPOOL_FULL
    before = work["decode"]
    for t in reversed(refused):  # the newest first: with room for one, it is the one kept
        assert mp.add(t.wire).code is Code.MEMPOOL_FULL
    assert work["decode"] - before == len(refused) - skipped
    # cap 1: the second refusal pushed out the first, and the first's re-offer the second
    assert mp.retry_evicted == evicted


def test_retry_cache_bound_is_validated() -> None:
    with pytest.raises(ValueError, match="retry_cache"):
        MempoolLimits(retry_cache=-1)


def test_a_reoffer_while_nothing_changed_gets_the_same_answer_without_a_state_read() -> None:
    mp, view = make(MempoolLimits(max_txs=1), a=100, b=100)
    reads = {"n": 0}
    real_account, real_result = view.account, view.tx_result

    def account(addr: bytes) -> Acct:
        reads["n"] += 1
        return real_account(addr)

    def tx_result(h: bytes) -> object | None:
        reads["n"] += 1
        return real_result(h)

    view.account, view.tx_result = account, tx_result  # type: ignore[method-assign]
    a0, b0 = tx(A, 0), tx(B, 0)
    assert mp.add(a0.wire).code is Code.OK
    first = mp.add(b0.wire)
    assert first.code is Code.MEMPOOL_FULL
    before = reads["n"]
    for _ in range(3):
        again = mp.add(b0.wire)
        assert (again.code, again.log) == (first.code, first.log)
    assert reads["n"] == before
    mp.update([])  # a block without b's txs: check 11 alone is asked again (over11)
    assert mp.add(b0.wire).code is Code.MEMPOOL_FULL
    assert reads["n"] == before
    mp.update([])  # two blocks since the kept answer: the checks run again
    mp.update([])
    assert mp.add(b0.wire).code is Code.MEMPOOL_FULL
    assert reads["n"] > before


def _count_reads(view: object) -> dict[str, int]:
    """Counts the view's state reads (account and committed-index lookups)."""
    reads = {"n": 0}
    real_account, real_result = view.account, view.tx_result  # type: ignore[attr-defined]

    def account(addr: bytes) -> Acct:
        reads["n"] += 1
        return real_account(addr)  # type: ignore[no-any-return]

    def tx_result(h: bytes) -> object | None:
        reads["n"] += 1
        return real_result(h)

    view.account, view.tx_result = account, tx_result  # type: ignore[attr-defined]
    return reads


def test_a_backlog_refusal_holds_while_other_senders_txs_come_without_a_state_read() -> None:
    """Under overload peers' copies are admitted between a client's re-offers (each moves the
    epoch): the backlog refusal still stands while the re-offered tx's sender is unchanged."""
    mp, view = make(MempoolLimits(max_txs=10), a=100, b=100, c=100)
    view.params = replace(PARAMS, max_block_txs=1)  # the backlog bound: 1 pending
    reads = _count_reads(view)
    a0, b0, c0 = tx(A, 0), tx(B, 0), tx(C, 0)
    assert mp.add(a0.wire).code is Code.OK
    first = mp.add(b0.wire)
    assert first.code is Code.MEMPOOL_FULL
    assert mp.add(c0.wire, peer=True).code is Code.OK  # another sender's copy: epoch moved
    before = reads["n"]
    again = mp.add(b0.wire)
    assert (again.code, again.log) == (first.code, first.log)
    assert reads["n"] == before
    # b's own pending set changed: another tx of b at nonce 0, so check 8 now refuses first
    assert mp.add(tx(B, 0, amount=2).wire, peer=True).code is Code.OK
    assert mp.add(b0.wire).code is Code.DUPLICATE
    assert reads["n"] > before


def test_a_refusal_at_the_backlog_is_checked_again_once_max_txs_binds_first() -> None:
    """Check 11's first failing bound decides the message: at max_txs pending it is max_txs's."""
    mp, view = make(MempoolLimits(max_txs=2), a=100, b=100, c=100)
    view.params = replace(PARAMS, max_block_txs=1)
    assert mp.add(tx(A, 0).wire).code is Code.OK
    first = mp.add(tx(B, 0).wire)
    assert first.code is Code.MEMPOOL_FULL and "max_block_txs" in first.log
    assert mp.add(tx(C, 0).wire, peer=True).code is Code.OK  # 2 pending: max_txs
    again = mp.add(tx(B, 0).wire)
    assert again.code is Code.MEMPOOL_FULL
    assert again.log == "2 transactions pending"


def test_a_kept_answer_is_not_reused_after_a_pending_tx_left() -> None:
    mp, _ = make(MempoolLimits(max_txs=1), a=100, b=100)
    a0, b0 = tx(A, 0), tx(B, 0)
    assert mp.add(a0.wire).code is Code.OK
    assert mp.add(b0.wire).code is Code.MEMPOOL_FULL
    assert mp.remove(a0.hash)
    assert mp.add(b0.wire).code is Code.OK


# every tx the differential tests offer: 3 senders, nonces 0-3, two variants each
_POOL = [tx(s, n, amount=v) for s in (A, B, C) for n in range(4) for v in (1, 2)]


def differential_pair(max_block_txs: int) -> tuple[Mempool, Mempool, View]:
    """A mempool with the retry cache and one without it (retry_cache=0) over one view: the
    two sides of the differential tests (here and in test_mempool_retry_blocks.py)."""
    limits = dict(max_txs=3, max_future_txs=1, max_future_per_sender=1)
    cached, view = make(MempoolLimits(**limits), a=7, b=100, c=100)
    view.params = replace(PARAMS, max_block_txs=max_block_txs)
    return cached, Mempool(lambda: view, MempoolLimits(**limits, retry_cache=0)), view


def offer_both(cached: Mempool, plain: Mempool, wire: bytes, peer: bool) -> None:
    """The same offer to both sides gets the same answer, code and message."""
    r1 = cached.add(wire, peer=peer)
    r2 = plain.add(wire, peer=peer)
    assert (r1.code, r1.log) == (r2.code, r2.log)


def commit_block(view: View, mempools: list[Mempool], txs: list[Tx]) -> None:
    """A block of `txs` (each sender's fee and nonce applied to the view) reaches `mempools`."""
    for t in txs:
        acct = view.accounts.get(t.sender, Acct())
        view.accounts[t.sender] = Acct(balance=acct.balance - t.fee, nonce=t.nonce + 1)
        view.committed.add(t.hash)
    wires = [t.wire for t in txs]
    for mp in mempools:
        mp.update(wires)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.integers(0, len(_POOL) - 1)),
            st.tuples(st.just("gossip"), st.integers(0, len(_POOL) - 1)),
            st.tuples(st.just("commit"), st.integers(1, 2)),
            st.tuples(st.just("remove"), st.integers(0, len(_POOL) - 1)),
        ),
        max_size=40,
    )
)
def test_kept_answers_never_differ_from_a_mempool_without_them(
    ops: list[tuple[str, int]],
) -> None:
    """Differential: the same offers (clients' and peers'), blocks and removals given to a
    mempool with the retry cache and one without (retry_cache=0) get the same answers (code
    and message); a backlog bound of one block below max_txs makes the two sides differ."""
    cached, plain, view = differential_pair(max_block_txs=2)
    for op, k in ops:
        if op in ("add", "gossip"):
            offer_both(cached, plain, _POOL[k].wire, peer=op == "gossip")
        elif op == "remove":
            assert cached.remove(_POOL[k].hash) == plain.remove(_POOL[k].hash)
        else:  # a block of up to k txs reaped by the plain mempool commits
            txs = [plain.get(sha256(w)) for w in plain.reap(k, 1 << 20)]
            assert None not in txs
            commit_block(view, [cached, plain], txs)  # type: ignore[arg-type]  # None excluded above
        assert [t.hash for t in cached] == [t.hash for t in plain]
