"""What a running node knows about its own health: store failures that stop it, lesser stalls
and the estimated offset of its clock, for `status`, the log and the exit status.

Why a separate module: the runtime only reports events here (a step failed, a block committed)
and asks one question (must the process stop?); the policy and its limits live in one place.

- A failed store write (LevelDB: a full disk, an I/O error) is fatal: the state machine, the
  block store and the signing record may disagree after it, and nothing the loop can do makes
  a write succeed. The node logs one line and exits with EXIT_FATAL; the operator or Docker's
  restart policy restarts it, and a restart recovers from what the store holds.
- Any other exception inside a replica step is a bug of ours (or a peer's input reaching one):
  the node keeps running (a peer must not be able to stop a validator with one message), and
  `status` shows `stalled_since` (the first failure since the last committed block) and
  `last_error` until a block commits again. Tracebacks are logged once per distinct error, then
  one line per LOG_REPEAT_INTERVAL_MS with a count.
- Clock: every committed block proposed by another validator gives one sample, its header time
  minus our clock when we commit it. A sample is the proposer's offset minus the delay between
  its proposal and our commit, so the estimate (the median of the last CLOCK_SAMPLES samples)
  reads a few hundred ms negative on a healthy node, about +30 s on a node 30 s behind and
  about -30 s on one 30 s ahead. Committed block times cannot be pushed far by a Byzantine
  proposer: a block commits only if honest validators found its time at most their clock plus
  `max_clock_drift_ms`.
"""

from __future__ import annotations

import gc
import logging
import statistics
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import plyvel

from node.logs import kv
from state.store import Batch, KVStore

log = logging.getLogger("huzhu.node")

#: exit status of a node that stopped because it can no longer make progress safely
#: (1 is an operator's mistake at start-up, 0 a clean stop on a signal)
EXIT_FATAL = 2
#: the same failing step logs its traceback once, then one line this often with a count
LOG_REPEAT_INTERVAL_MS = 10_000
#: committed blocks of other proposers that the clock estimate keeps
CLOCK_SAMPLES = 15
#: samples needed before an estimate is given (one block says little)
CLOCK_MIN_SAMPLES = 3
#: while the clock looks skewed, the warning is logged at most this often
CLOCK_LOG_INTERVAL_MS = 60_000
#: `last_error` holds at most this many characters of the exception's text
MAX_ERROR_CHARS = 200


class StoreFailed(Exception):
    """A store write raised: the node cannot go on (see the module docstring)."""


#: what a store raises when the disk refuses a write (LevelDB: IOError on a full disk)
STORE_WRITE_ERRORS: tuple[type[BaseException], ...] = (plyvel.Error, OSError)


class GuardedStore:
    """A KVStore whose writes raise StoreFailed when the underlying store's write fails, so
    the runtime tells "the disk refused" (fatal) from a bug of ours (logged, the node goes on)
    wherever in the replica or the state machine the write happened."""

    def __init__(self, inner: KVStore) -> None:
        self.inner = inner
        self.failure: BaseException | None = None  # the first write that failed

    def _failed(self, exc: BaseException) -> StoreFailed:
        if self.failure is None:
            self.failure = exc
        return StoreFailed(short_error(exc))

    def get(self, key: bytes) -> bytes | None:
        return self.inner.get(key)

    def put(self, key: bytes, value: bytes, sync: bool = False) -> None:
        try:
            self.inner.put(key, value, sync)
        except STORE_WRITE_ERRORS as exc:
            raise self._failed(exc) from exc

    def delete(self, key: bytes, sync: bool = False) -> None:
        try:
            self.inner.delete(key, sync)
        except STORE_WRITE_ERRORS as exc:
            raise self._failed(exc) from exc

    def iterate(
        self, prefix: bytes, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        return self.inner.iterate(prefix, start, reverse)

    def write(self, batch: Batch, sync: bool = True) -> None:
        try:
            self.inner.write(batch, sync)
        except STORE_WRITE_ERRORS as exc:
            raise self._failed(exc) from exc

    def close(self) -> None:
        self.inner.close()


@dataclass(frozen=True)
class Fatal:
    """Why the node stopped: one line for the log and the exit status."""

    reason: str


def short_error(exc: BaseException) -> str:
    """`Type: message`, cut to MAX_ERROR_CHARS (an exception may carry a client's bytes)."""
    args = exc.args
    # plyvel's errors carry LevelDB's message as bytes: show the text, not b'...'
    detail = (
        args[0].decode("utf-8", "replace")
        if len(args) == 1 and isinstance(args[0], bytes)
        else str(exc)
    )
    text = f"{type(exc).__name__}: {detail}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


class Vitals:
    """Stall and clock bookkeeping of one node. Times are wall-clock ms passed in by the caller.

    `skew_warn_ms` is the offset beyond which the clock is reported as skewed: the runtime
    passes half of the consensus `max_clock_drift_ms`, the offset at which blocks start to be
    refused (a node behind judges others' blocks untimely; one ahead has its own refused)."""

    def __init__(self, skew_warn_ms: int) -> None:
        if skew_warn_ms <= 0:
            raise ValueError("skew_warn_ms must be positive")
        self.skew_warn_ms = skew_warn_ms
        self.fatal: Fatal | None = None
        self.stalled_since_ms: int | None = None
        self.last_error: str | None = None
        self.errors = 0
        self._logged: dict[str, tuple[int, int]] = {}  # error key -> (last logged ms, count)
        self._samples: deque[int] = deque(maxlen=CLOCK_SAMPLES)
        self._clock_logged_ms: int | None = None

    # ---------------------------------------------------------------- failures

    def step_failed(self, where: str, exc: BaseException, now_ms: int) -> bool:
        """Record an exception from a replica step; True when it is fatal (the store failed).

        Logs the traceback the first time an error is seen, then a one-line reminder with a
        count at most every LOG_REPEAT_INTERVAL_MS (13 tracebacks a second helped no one)."""
        self.errors += 1
        self.last_error = short_error(exc)
        if self.stalled_since_ms is None:
            self.stalled_since_ms = now_ms
        if isinstance(exc, StoreFailed):
            if self.fatal is None:
                self.fatal = Fatal(f"store write failed ({short_error(exc.__cause__ or exc)})")
            return True
        key = f"{where}:{type(exc).__name__}:{exc}"[:MAX_ERROR_CHARS]
        last = self._logged.get(key)
        if last is None:
            if len(self._logged) >= 64:  # bounded: distinct errors beyond this log again
                self._logged.clear()
            self._logged[key] = (now_ms, 0)
            log.error("%s failed: %s", where, self.last_error, exc_info=exc)
        elif now_ms - last[0] >= LOG_REPEAT_INTERVAL_MS:
            log.error("%s still failing %s", where, kv(error=self.last_error, times=last[1] + 1))
            self._logged[key] = (now_ms, 0)
        else:
            self._logged[key] = (last[0], last[1] + 1)
        return False

    def store_failed(self, exc: BaseException) -> None:
        """A store write raised outside a replica step (pruning between blocks): fatal too."""
        if self.fatal is None:
            self.fatal = Fatal(f"store write failed ({short_error(exc)})")
        self.last_error = short_error(exc)

    # ---------------------------------------------------------------- progress and clock

    def committed(self, block_time_ms: int, own: bool, now_ms: int) -> None:
        """A block committed: the node progresses; a block of another proposer is a clock
        sample (our own carry our clock, which says nothing about it)."""
        self.stalled_since_ms = None
        self.last_error = None
        if own:
            return
        self._samples.append(block_time_ms - now_ms)
        offset = self.clock_offset_ms()
        if offset is None or abs(offset) <= self.skew_warn_ms:
            return
        if self._clock_logged_ms is None or now_ms - self._clock_logged_ms >= CLOCK_LOG_INTERVAL_MS:
            self._clock_logged_ms = now_ms
            log.warning(
                "clock skew: this node's clock is %s the chain's by about %d ms (tolerated: "
                "%d ms); blocks will be refused. Synchronise the clock (NTP) %s",
                "behind" if offset > 0 else "ahead of",
                abs(offset),
                self.skew_warn_ms,
                kv(clock_offset_ms=offset),
            )

    def clock_offset_ms(self) -> int | None:
        """Estimated (chain's clock - our clock) in ms: positive when ours is behind; None
        until CLOCK_MIN_SAMPLES blocks of other proposers committed."""
        if len(self._samples) < CLOCK_MIN_SAMPLES:
            return None
        return int(statistics.median(self._samples))

    def clock_skewed(self) -> bool:
        offset = self.clock_offset_ms()
        return offset is not None and abs(offset) > self.skew_warn_ms


#: allocations between young-generation collections (CPython's default is 700). A node
#: allocates a few hundred objects per transaction and keeps most of them (mempool, caches,
#: the block being built) for seconds: with the default, survivors are promoted in bulk and
#: full collections of a heap of 10^6 objects paused the loop for ~250 ms every few blocks.
GC_GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Process-wide collector settings for a long-running node (not for library use)."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


class GcClock:
    """Time spent in the cyclic garbage collector (all of it blocks the event loop), so the
    per-block log line shows when collections of a large heap start to cost latency."""

    def __init__(self) -> None:
        self._t0 = 0.0
        self._total = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self._total += time.perf_counter() - self._t0

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def take_ms(self) -> int:
        """Milliseconds spent collecting since the previous call."""
        ms, self._total = round(self._total * 1000), 0.0
        return ms
