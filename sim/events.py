"""The simulated clock and the one event queue that orders everything in a run.

Every happening of a simulation (a message arriving, a timer firing, a periodic tick, a
fault starting or ending) is an event in a single priority queue ordered by
(time, sequence number). The sequence number is assigned at push time, so two events at the
same millisecond run in the order they were scheduled: nothing depends on heap tie-breaking
or on comparing payloads, and the same seed replays the same order exactly (the VOPR and
FoundationDB simulators work the same way).
"""

from __future__ import annotations

import heapq
import random
from typing import Any


class EventQueue:
    """A min-queue of events keyed by (time_ms, seq); `seq` breaks ties in push order."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        # plain tuples: compared in C; `seq` is unique, so the event is never compared
        self._heap: list[tuple[int, int, Any]] = []
        self._seq = 0

    def push(self, time_ms: int, event: Any) -> None:
        """Schedule `event` at absolute global time `time_ms`."""
        heapq.heappush(self._heap, (int(time_ms), self._seq, event))
        self._seq += 1

    def pop(self) -> tuple[int, Any]:
        """Remove and return the earliest (time_ms, event); IndexError when empty."""
        time_ms, _, event = heapq.heappop(self._heap)
        return time_ms, event

    def peek_time(self) -> int | None:
        """Time of the earliest event, or None when the queue is empty."""
        return self._heap[0][0] if self._heap else None

    @property
    def pushed(self) -> int:
        """How many events were ever scheduled (a cheap work counter)."""
        return self._seq

    def __len__(self) -> int:
        return len(self._heap)


class SimClock:
    """Global simulated time plus a fixed skew per node.

    Replicas only ever see their *local* time (global + skew), as real nodes see their own
    wall clock. Timers a replica asks for are in its local time; `to_global` converts them
    back so the queue, which runs on global time, fires them at the right moment.
    """

    __slots__ = ("now_ms", "_skews")

    def __init__(self, start_ms: int, skews_ms: list[int]) -> None:
        self.now_ms = int(start_ms)
        self._skews = list(skews_ms)

    @classmethod
    def with_random_skews(
        cls, start_ms: int, nodes: int, max_skew_ms: int, rng: random.Random
    ) -> SimClock:
        """Skews drawn uniformly from [-max_skew_ms, +max_skew_ms], one per node."""
        skews = [rng.randint(-max_skew_ms, max_skew_ms) if max_skew_ms else 0 for _ in range(nodes)]
        return cls(start_ms, skews)

    def skew(self, node: int) -> int:
        return self._skews[node]

    def local(self, node: int) -> int:
        """What node `node` reads from its clock now."""
        return self.now_ms + self._skews[node]

    def to_global(self, node: int, local_ms: int) -> int:
        """The global time at which node `node`'s clock shows `local_ms`."""
        return local_ms - self._skews[node]

    def advance(self, time_ms: int) -> None:
        """Move global time forward; the simulation never goes back in time."""
        assert time_ms >= self.now_ms, f"time went backwards: {time_ms} < {self.now_ms}"
        self.now_ms = time_ms
