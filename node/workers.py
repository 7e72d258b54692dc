"""Signature checks on worker threads, so admission uses every core and the loop never waits.

Why threads, not processes: PyNaCl calls libsodium through cffi, which releases the GIL for
the call, so N threads verify on N cores (measured on the 2-core dev machine: two threads
doing nothing but `verify_tx` used 1.70 cores, one used 0.71; decoding in the same two
threads used 0.50, the GIL serialises it). A process pool would also run decoding in
parallel, but it pickles every wire out and every decoded Tx back on the loop thread, which
costs about what decoding does (~11 us a tx): so decoding stays on the loop and only the
signature (~57 us a tx of CPU) moves.

Batching: the txs asked for during one turn of the event loop (RPC calls arriving together,
a gossip batch, a proposal) go to the threads as jobs of at most `batch_txs`, one
thread hand-off per job rather than per tx. The hand-off is a plain queue read by the
pool's own threads, not `loop.run_in_executor`: that built a concurrent Future, an asyncio
Future chained to it and a done-callback per job, and woke the loop once per finished job
(ThreadPoolExecutor.submit alone was 7.6 % of a validator's loop samples). A finished job
now appends its answers to a list the loop drains, and wakes the loop only when no wake-up
is pending already: jobs that finish together cost one wake-up.

The bound: `max_queue_txs` txs may be waiting for (or in) a check at once. `verify(...,
wait=False)` refuses beyond it with `PoolFull` (the RPC answers mempool_full, naming the
limit); `wait=True` waits for room (a peer's gossip: its reader stops reading, the
transport's back-pressure).

`threads=0` checks inline on the caller's thread (no pool, today's behaviour).

Small flushes stay on the loop: a flush of at most `inline_max_txs` txs is checked there
and then, not handed to a thread. The hand-off (a thread woken, the GIL handed back and
forth around each check, the loop woken by the answer) costs ~150-370 us of process CPU
per job whatever its size (bench/node_path.py --handoff), more than checking a few txs
(~52 us each) on the loop; and a node gets a roughly fixed number of jobs a second (one
per client request, one per peer's gossip batch every 50 ms), so on a loaded machine
that hand-off was most of the CPU a validator spends per second that does not grow with
the load (bench/README.md, cpu8). Larger flushes (a client's batch of 100, a busy peer's
batch) still go to the threads, where the parallelism pays.

The default (one thread per CPU) is for a validator alone on its machine: the checks use
every core and the loop stays free for consensus. Where several nodes share fewer cores
(a localnet, bench/throughput.py), the threads add no parallelism and cost a little:
bench/admission.py, 2026-12-06, total CPU per tx with threads 2 against 0, peer batches of
500 87 vs 90 us (nothing), a client's txs over HTTP 128 vs 122 us (+5 %, smaller jobs);
`threads = 0` is the setting there.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence

from state import tx as txmod
from state.tx import Tx

#: the default of [workers] max_queue_txs: two seconds of 5,000 tx/s
DEFAULT_MAX_QUEUE_TXS = 10_000
#: the default of [workers] batch_txs: ~15 ms of one thread's work, small next to a block
DEFAULT_BATCH_TXS = 256
#: the default of [workers] inline_max_txs: a flush this small is checked on the loop
#: (<= ~1.8 ms of it), cheaper than a thread hand-off (module doc). 32, not 16: at 2,500
#: tx/s on 4 validators a peer's 50 ms batch holds ~12-31 txs, and a job of 24-32 handed to
#: a thread cost 6-16 us per tx more than on the loop (bench/README.md, cpu9)
DEFAULT_INLINE_MAX_TXS = 32


class PoolFull(Exception):
    """`verify(wait=False)` would take the queue past its bound."""


class PoolClosed(RuntimeError):
    """The pool was closed (the node is stopping)."""


def default_threads() -> int:
    """One thread per CPU the machine reports (1 when it does not say)."""
    return os.cpu_count() or 1


def _verify_job(txs: Sequence[Tx]) -> list[bool]:
    verify = txmod.verify_tx  # looked up per job: one place to observe every check
    return [verify(tx) for tx in txs]


#: told a request's answers (in order), or why there are none, on the loop
Done = Callable[[list[bool] | BaseException], None]


class _Request:
    __slots__ = ("txs", "done")

    def __init__(self, txs: Sequence[Tx], done: Done) -> None:
        self.txs = txs
        self.done = done


#: a finished job as the loop receives it: called with the answers or what stopped them
_Finished = Callable[[list[bool] | BaseException], None]
#: a job as a thread receives it: the txs, and the loop's callback (None: the thread stops)
_Job = tuple[Sequence[Tx], _Finished] | None


class WorkerPool:
    """Ed25519 checks of transactions on `threads` worker threads, with a bounded queue.

    Used from one event loop only (the node's): the counters are touched on the loop,
    the threads only run `verify_tx` and hand the answers back."""

    def __init__(
        self,
        threads: int,
        *,
        max_queue_txs: int = DEFAULT_MAX_QUEUE_TXS,
        batch_txs: int = DEFAULT_BATCH_TXS,
        inline_max_txs: int = 0,
    ) -> None:
        if threads < 0:
            raise ValueError("worker threads must be >= 0")
        if max_queue_txs < 1 or batch_txs < 1:
            raise ValueError("worker max_queue_txs and batch_txs must be >= 1")
        if inline_max_txs < 0:
            raise ValueError("worker inline_max_txs must be >= 0")
        self.threads = threads
        self.max_queue_txs = max_queue_txs
        self.batch_txs = batch_txs
        self.inline_max_txs = inline_max_txs
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []  # started at the first job
        self._loop: asyncio.AbstractEventLoop | None = None
        # finished jobs not yet handed to their callbacks; threads append, the loop drains
        self._finished: deque[tuple[_Finished, list[bool] | BaseException]] = deque()
        self._wake_pending = False
        self._queued = 0  # txs asked for and not yet answered
        self._waiting: list[_Request] = []  # asked this turn of the loop, not yet handed over
        self._waiting_txs = 0
        self._flush_scheduled = False
        self._room = asyncio.Event()
        self._closed = False
        #: what went through the pool (tests, bench/profile figures)
        self.jobs = 0
        self.checked = 0
        self.checked_inline = 0  # checks made on the loop because the queue was full
        self.checked_small = 0  # checks made on the loop because their flush was small

    @property
    def inline(self) -> bool:
        """True when checks run on the caller's thread (threads = 0)."""
        return self.threads == 0

    @property
    def queued(self) -> int:
        """Txs waiting for a check or being checked."""
        return self._queued

    def verify_inline(self, txs: Sequence[Tx]) -> list[bool]:
        """Check `txs` on the calling thread (a client's request that found the queue
        full: see node.admission.Admission.admit)."""
        self.checked += len(txs)
        self.checked_inline += len(txs)
        return _verify_job(txs)

    def submit(self, txs: Sequence[Tx], done: Done) -> None:
        """Queue `txs` for a check now; `done` is called on the loop with the answers in
        order (or the exception that stopped them). PoolFull when the queue has no room for
        all of them (nothing queued then); inline, `done` runs before this returns."""
        if self._closed:
            raise PoolClosed("worker pool closed")
        if not self.threads or not txs:
            self.checked += len(txs)
            done(_verify_job(txs))
            return
        if self._queued + len(txs) > self.max_queue_txs:
            raise PoolFull(
                f"{self._queued} transactions waiting for a signature check, "
                f"limit {self.max_queue_txs} ([workers] max_queue_txs)"
            )
        self._waiting.append(_Request(txs, done))
        self._waiting_txs += len(txs)
        self._queued += len(txs)
        if self._waiting_txs >= self.batch_txs:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def room(self, n: int) -> None:
        """Wait until `n` more txs fit the queue (n is at most max_queue_txs)."""
        while self._queued + n > self.max_queue_txs:
            if self._closed:
                raise PoolClosed("worker pool closed")
            self._room.clear()
            await self._room.wait()
        if self._closed:
            raise PoolClosed("worker pool closed")

    async def verify(self, txs: Sequence[Tx], *, wait: bool) -> list[bool]:
        """Whether each tx's signature is good, in order. PoolFull (wait=False) when the
        queue has no room for all of them; wait=True waits for room instead, and a request
        larger than the whole bound goes through in slices of `max_queue_txs`."""
        if not wait or not self.threads:
            return await self._verify_now(txs)
        out: list[bool] = []
        step = self.max_queue_txs
        for lo in range(0, max(1, len(txs)), step):
            part = txs[lo : lo + step]
            await self.room(len(part))
            out.extend(await self._verify_now(part))
        return out

    def _verify_now(self, txs: Sequence[Tx]) -> asyncio.Future[list[bool]]:
        fut: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()

        def done(answer: list[bool] | BaseException) -> None:
            if fut.done():
                return
            if isinstance(answer, BaseException):
                fut.set_exception(answer)
            else:
                fut.set_result(answer)

        self.submit(txs, done)
        return fut

    def _start(self) -> None:
        """The threads, at the first job (a pool never used starts none)."""
        self._loop = asyncio.get_running_loop()
        for i in range(self.threads):
            t = threading.Thread(target=self._work, name=f"huzhu-verify_{i}", daemon=True)
            t.start()
            self._workers.append(t)

    def _work(self) -> None:
        """A worker thread: check jobs until told to stop, handing each answer to the loop."""
        jobs = self._jobs
        finished = self._finished
        while True:
            job = jobs.get()
            if job is None:
                return
            txs, callback = job
            answer: list[bool] | BaseException
            try:
                answer = _verify_job(txs)
            except BaseException as exc:  # noqa: BLE001 - the request fails, the pool goes on
                answer = exc
            finished.append((callback, answer))
            # Appended before the flag is read, and the loop clears the flag before it
            # drains: an answer is never left behind. Two threads may both wake the loop
            # (the second drain finds nothing): harmless.
            if not self._wake_pending:
                self._wake_pending = True
                loop = self._loop
                assert loop is not None
                try:
                    loop.call_soon_threadsafe(self._drain)
                except RuntimeError:  # the loop is closed: nobody waits any more
                    return

    def _drain(self) -> None:
        """On the loop: hand every finished job's answers to its callback."""
        self._wake_pending = False
        finished = self._finished
        while finished:
            callback, answer = finished.popleft()
            callback(answer)

    def _flush(self) -> None:
        """Hand what was asked this turn to the threads, in jobs of at most batch_txs."""
        self._flush_scheduled = False
        requests, self._waiting = self._waiting, []
        self._waiting_txs = 0
        if not requests:
            return
        if self._closed:
            for r in requests:
                r.done(PoolClosed("worker pool closed"))
            return
        flat = [tx for r in requests for tx in r.txs]
        if len(flat) <= self.inline_max_txs:
            self._check_here(requests, flat)
            return
        if not self._workers:
            self._start()
        results: list[bool] = [False] * len(flat)
        left = [0]
        failed: list[BaseException] = []

        def finished(lo: int, size: int, answer: list[bool] | BaseException) -> None:
            self._release(size)
            left[0] -= 1
            if isinstance(answer, BaseException):
                failed.append(answer)
            else:
                results[lo : lo + size] = answer
            if not left[0]:
                _answer_each(requests, failed[0] if failed else results)

        step = self.batch_txs
        jobs = self._jobs
        for lo in range(0, len(flat), step):
            chunk = flat[lo : lo + step]
            left[0] += 1
            self.jobs += 1
            self.checked += len(chunk)
            jobs.put((chunk, _bind(finished, lo, len(chunk))))

    def _check_here(self, requests: list[_Request], flat: list[Tx]) -> None:
        """A small flush, checked on the loop: the same answers, in the same order, as
        from a thread, without the hand-off (module doc)."""
        self.checked += len(flat)
        self.checked_small += len(flat)
        answer: list[bool] | BaseException
        try:
            answer = _verify_job(flat)
        except Exception as exc:  # noqa: BLE001 - the requests fail, as from a thread
            answer = exc
        self._release(len(flat))
        _answer_each(requests, answer)

    def _release(self, n: int) -> None:
        self._queued -= n
        self._room.set()

    def close(self) -> None:
        """Stop: jobs not started are dropped (their waiters fail with PoolClosed), a
        running job finishes on its own thread (at most batch_txs checks)."""
        if self._closed:
            return
        self._closed = True
        self._room.set()
        dropped: list[_Finished] = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                dropped.append(job[1])
        for _ in self._workers:
            self._jobs.put(None)
        for callback in dropped:
            callback(PoolClosed("worker pool closed"))
        waiting, self._waiting = self._waiting, []
        for r in waiting:
            r.done(PoolClosed("worker pool closed"))
        self._waiting_txs = 0


def _bind(
    finished: Callable[[int, int, list[bool] | BaseException], None], lo: int, size: int
) -> _Finished:
    """`finished` with a job's place in its flush (a closure: cheaper than a partial)."""

    def callback(answer: list[bool] | BaseException) -> None:
        finished(lo, size, answer)

    return callback


def _answer_each(requests: list[_Request], answer: list[bool] | BaseException) -> None:
    """Give each request of a flush its slice of the flush's answers (in the order their
    txs were flattened), or all of them what stopped the check."""
    at = 0
    for r in requests:
        k = len(r.txs)
        r.done(answer if isinstance(answer, BaseException) else answer[at : at + k])
        at += k
