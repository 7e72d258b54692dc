"""The signature-check pool (node/workers.py): right answers, batching, its bound, closing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import state.tx as txmod
from node.config import WorkersConfig
from node.workers import (
    DEFAULT_INLINE_MAX_TXS,
    PoolClosed,
    PoolFull,
    WorkerPool,
    default_threads,
)
from state.crypto import Signer
from state.tx import Tx, build_tx

KEY = Signer(b"\x11" * 32)


def signed(nonce: int) -> Tx:
    return build_tx(KEY, "w-test", "transfer", nonce, 1, {"to": b"\x02" * 32, "amount": 5})


def forged(nonce: int) -> Tx:
    t = signed(nonce)
    sig = bytes([t.sig[0] ^ 1]) + t.sig[1:]
    return Tx(t.chain_id, t.type, t.sender, t.nonce, t.fee, t.payload, sig, t.wire, t.hash)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Holds every worker inside its check until set (so the queue stays full)."""
    opened = threading.Event()
    real = txmod.verify_tx

    def held(tx: Tx) -> bool:
        opened.wait(10)
        return real(tx)

    monkeypatch.setattr(txmod, "verify_tx", held)
    yield opened
    opened.set()


@pytest.mark.parametrize("threads", [0, 1, 3])
async def test_answers_in_order_good_and_bad(threads: int) -> None:
    pool = WorkerPool(threads, batch_txs=3)
    txs = [signed(0), forged(1), signed(2), signed(3), forged(4), signed(5), signed(6)]
    try:
        assert await pool.verify(txs, wait=False) == [True, False, True, True, False, True, True]
        assert pool.inline is (threads == 0)
        assert pool.queued == 0
    finally:
        pool.close()


async def test_requests_of_one_loop_turn_share_jobs_of_batch_txs() -> None:
    pool = WorkerPool(2, batch_txs=4)
    try:
        answers = await asyncio.gather(*(pool.verify([signed(n)], wait=False) for n in range(10)))
        assert answers == [[True]] * 10
        assert pool.checked == 10
        assert pool.jobs == 3  # 4 + 4 + 2, not one hand-off per tx
    finally:
        pool.close()


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread of every signature check, in order."""
    idents: list[int] = []
    real = txmod.verify_tx

    def where(tx: Tx) -> bool:
        idents.append(threading.get_ident())
        return real(tx)

    monkeypatch.setattr(txmod, "verify_tx", where)
    return idents


async def test_a_flush_of_at_most_inline_max_txs_is_checked_on_the_loop(seen: list[int]) -> None:
    """The boundary: inline_max_txs txs asked in one loop turn are checked on the loop
    thread (no thread started), one more goes to the threads; the answers are the same."""
    pool = WorkerPool(2, inline_max_txs=3)
    try:
        small = [signed(0), forged(1)]
        answers = await asyncio.gather(
            pool.verify(small, wait=False), pool.verify([signed(2)], wait=False)
        )
        assert answers == [[True, False], [True]]
        assert set(seen) == {threading.get_ident()}
        assert (pool.jobs, pool.checked, pool.checked_small, pool.queued) == (0, 3, 3, 0)
        seen.clear()
        big = [signed(3), forged(4), signed(5), signed(6)]
        assert await pool.verify(big, wait=False) == [True, False, True, True]
        assert threading.get_ident() not in seen
        assert (pool.jobs, pool.checked, pool.checked_small) == (1, 7, 3)
    finally:
        pool.close()


async def test_checks_run_off_the_loop_thread(seen: list[int]) -> None:
    pool = WorkerPool(2)
    try:
        assert await pool.verify([signed(0), signed(1)], wait=False) == [True, True]
    finally:
        pool.close()
    assert seen and threading.get_ident() not in seen


async def test_queue_bound_refuses_one_past_it(gate: threading.Event) -> None:
    pool = WorkerPool(1, max_queue_txs=4, batch_txs=2)
    try:
        held = asyncio.ensure_future(pool.verify([signed(n) for n in range(3)], wait=False))
        await asyncio.sleep(0)
        assert pool.queued == 3
        last = asyncio.ensure_future(pool.verify([signed(3)], wait=False))  # exactly the bound
        await asyncio.sleep(0)
        assert pool.queued == 4
        with pytest.raises(PoolFull, match=r"limit 4 \(\[workers\] max_queue_txs\)"):
            await pool.verify([signed(4)], wait=False)
        assert pool.queued == 4  # the refused one took nothing
        gate.set()
        assert await held == [True] * 3 and await last == [True]
        assert pool.queued == 0
        assert await pool.verify([signed(4)], wait=False) == [True]
    finally:
        gate.set()
        pool.close()


async def test_a_waiting_caller_gets_in_when_room_frees(gate: threading.Event) -> None:
    pool = WorkerPool(1, max_queue_txs=2, batch_txs=2)
    try:
        first = asyncio.ensure_future(pool.verify([signed(0), signed(1)], wait=False))
        await asyncio.sleep(0)
        waiting = asyncio.ensure_future(pool.verify([signed(2)], wait=True))
        await asyncio.sleep(0.05)
        assert not waiting.done() and pool.queued == 2  # back-pressure, not a refusal
        gate.set()
        assert await first == [True, True]
        assert await waiting == [True]
        # a request larger than the whole bound goes through in slices
        assert await pool.verify([signed(n) for n in range(5)], wait=True) == [True] * 5
    finally:
        gate.set()
        pool.close()


async def test_close_fails_waiters_and_later_calls(gate: threading.Event) -> None:
    pool = WorkerPool(1, max_queue_txs=2, batch_txs=1)
    running = asyncio.ensure_future(pool.verify([signed(0), signed(1)], wait=False))
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(pool.verify([signed(2)], wait=True))
    await asyncio.sleep(0.01)
    pool.close()
    gate.set()
    with pytest.raises(PoolClosed):
        await waiting
    with pytest.raises((PoolClosed, asyncio.CancelledError)):
        await running  # the job not started yet is dropped
    with pytest.raises(PoolClosed):
        await pool.verify([signed(3)], wait=False)


def test_config_sizes_the_pool_to_the_machine() -> None:
    pools: list[WorkerPool] = []
    try:
        auto = WorkersConfig().pool()
        pools.append(auto)
        assert auto.threads == default_threads() >= 1
        inline = WorkersConfig(threads=0).pool()
        pools.append(inline)
        assert inline.inline
        sized = WorkersConfig(threads=3, max_queue_txs=7, batch_txs=5).pool()
        pools.append(sized)
        assert (sized.threads, sized.max_queue_txs, sized.batch_txs) == (3, 7, 5)
    finally:
        for p in pools:
            p.close()
    assert WorkersConfig().pool().inline_max_txs == DEFAULT_INLINE_MAX_TXS
    assert WorkersConfig(inline_max_txs=0).pool().inline_max_txs == 0
    for bad in ({"threads": -2}, {"max_queue_txs": 0}, {"batch_txs": 0}, {"inline_max_txs": -1}):
        args: dict[str, Any] = {"max_queue_txs": 1, "batch_txs": 1, **bad}
        with pytest.raises(ValueError):
            WorkerPool(args.pop("threads", 1), **args)


def test_a_job_that_outlives_its_loop_ends_its_thread_quietly(gate: threading.Event) -> None:
    """A node stopped mid-check: the thread finishes the job, finds the loop closed and
    exits, without an exception escaping (no "Exception in thread" on a stopping node)."""
    pool = WorkerPool(1, batch_txs=1)
    escaped: list[BaseException] = []
    old_hook = threading.excepthook
    threading.excepthook = lambda args: escaped.append(args.exc_value)  # type: ignore[assignment]

    async def start_one() -> None:
        pool.submit([signed(0)], lambda answer: None)
        await asyncio.sleep(0)  # the turn ends: the job goes to the thread

    try:
        asyncio.run(start_one())  # the loop closes with the job still held
        gate.set()
        for t in pool._workers:
            t.join(5)
            assert not t.is_alive()
    finally:
        threading.excepthook = old_hook
        pool.close()
    assert escaped == []


async def test_jobs_finishing_together_are_all_answered(gate: threading.Event) -> None:
    pool = WorkerPool(3, batch_txs=1)
    try:
        held = [asyncio.ensure_future(pool.verify([signed(n)], wait=False)) for n in range(9)]
        await asyncio.sleep(0.05)  # three jobs held inside the check, six queued
        gate.set()  # they finish at once: answers may share one wake-up of the loop
        assert await asyncio.gather(*held) == [[True]] * 9
        assert pool.queued == 0 and pool.jobs == 9
    finally:
        pool.close()
