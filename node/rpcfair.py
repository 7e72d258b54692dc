"""Fair shares of the RPC server's event loop between client addresses (issue 14).

Every JSON-RPC call runs on the node's one event loop, next to consensus. Most calls never
wait for anything, so a bound on calls *in flight* bounds nothing: 128 connections pipelining
batches of 100 ``genesis`` calls had 12,800 calls ready in one turn of the loop, which then
ran for 8 s without a block. What is bounded instead is the work one IP address may *start
in one turn of the loop*: a weight of ``[rpc] max_call_weight_per_address``. A call beyond
it waits in its address's queue (first come, first served) for a later turn, and the loop
runs everything else that is ready in between (consensus, P2P, other clients), so one
address adds at most its budget's worth of work to any turn, whatever it sends. Other
addresses never queue behind it.

A call weighs 1; the reads that build large answers weigh more (:func:`call_weight`). The
weights are estimates of the work relative to ``status``, not measurements: the point is
that ``genesis`` or a ``txs`` of 1,000 entries cannot be started as often as ``status``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from typing import Any

__all__ = ["HEAVY_METHODS", "LIMIT_PER_WEIGHT", "PROVE_WEIGHT", "AddressBudget", "call_weight"]

#: methods whose answer is large whatever their params: a fixed weight
HEAVY_METHODS: dict[str, int] = {"genesis": 8, "candidates": 4}
#: added when a read answers a proof, header and commit (``prove: true``)
PROVE_WEIGHT = 4
#: a list method weighs one more per this many entries asked for (``limit``)
LIMIT_PER_WEIGHT = 100


def call_weight(method: str, args: Mapping[str, Any]) -> int:
    """The weight of one call with its typed arguments (at least 1)."""
    weight = HEAVY_METHODS.get(method, 1)
    limit = args.get("limit")
    if isinstance(limit, int):
        weight += limit // LIMIT_PER_WEIGHT
    if args.get("prove") is True:
        weight += PROVE_WEIGHT
    return weight


class _Account:
    """One address: the weight it started this turn and the calls waiting for a turn."""

    __slots__ = ("new_turn_scheduled", "used", "waiting")

    def __init__(self) -> None:
        self.used = 0
        self.waiting: deque[tuple[int, asyncio.Future[None]]] = deque()
        self.new_turn_scheduled = False


class AddressBudget:
    """Per address, at most ``capacity`` weight of calls started per turn of the event loop,
    the rest admitted in later turns in the order they came.

    A turn ends when a callback scheduled with ``call_soon`` during it runs (the loop runs
    the callbacks that were ready when its iteration began, then polls again). A call
    heavier than the capacity counts as the capacity (it runs alone in its turn). An address
    with nothing started this turn and nothing waiting is forgotten, so the table is bounded
    by the open connections."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._accounts: dict[str, _Account] = {}
        #: calls that had to wait for a later turn (all addresses; metrics and tests)
        self.deferred = 0

    def waiting(self, source: str) -> int:
        """How many calls of `source` wait for a turn."""
        acct = self._accounts.get(source)
        return 0 if acct is None else len(acct.waiting)

    @property
    def addresses(self) -> int:
        """Addresses with work this turn or waiting."""
        return len(self._accounts)

    async def take(self, source: str, weight: int) -> None:
        """Return once `source` may start a call of `weight` (at once when its turn has room
        and nobody of it waits; else in a later turn, in order)."""
        if self.try_take(source, weight):
            return
        w = max(1, min(weight, self.capacity))
        acct = self._accounts[source]  # try_take made it
        self.deferred += 1
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acct.waiting.append((w, fut))
        try:
            await fut
        except asyncio.CancelledError:
            if not fut.done():
                fut.cancel()
            # a cancelled waiter stays in the queue until a turn skips it (no O(n) removal)
            raise

    def try_take(self, source: str, weight: int) -> bool:
        """Start a call of `weight` now if `source`'s turn has room and nobody of it waits
        (True); else False, and the caller awaits :meth:`take`. No coroutine: most calls
        never wait, and a batch makes a hundred of them."""
        w = 1 if weight <= 1 else min(weight, self.capacity)  # max(1, min(...)), cheaper
        acct = self._turn_account(source)
        if not acct.waiting and acct.used + w <= self.capacity:
            acct.used += w
            return True
        return False

    def try_take_ones(self, source: str, n: int) -> int:
        """`try_take(source, 1)` up to `n` times, stopping at the first refusal: how many
        calls of weight 1 may start now (a JSON-RPC batch's broadcasts take their turn's
        share in one step, not call by call)."""
        if n <= 0:
            return 0
        acct = self._turn_account(source)
        if acct.waiting:
            return 0
        got = min(n, self.capacity - acct.used)
        if got <= 0:
            return 0
        acct.used += got
        return got

    def _turn_account(self, source: str) -> _Account:
        """`source`'s account, with the start of its next turn scheduled (try_take's and
        try_take_ones' common first step)."""
        acct = self._accounts.get(source)
        if acct is None:
            acct = self._accounts[source] = _Account()
        if not acct.new_turn_scheduled:
            self._schedule_turn(source, acct)
        return acct

    def _schedule_turn(self, source: str, acct: _Account) -> None:
        if not acct.new_turn_scheduled:
            acct.new_turn_scheduled = True
            asyncio.get_running_loop().call_soon(self._new_turn, source, acct)

    def _new_turn(self, source: str, acct: _Account) -> None:
        acct.new_turn_scheduled = False
        acct.used = 0
        while acct.waiting:
            w, fut = acct.waiting[0]
            if fut.done():  # cancelled while waiting
                acct.waiting.popleft()
                continue
            if acct.used + w > self.capacity:
                break
            acct.waiting.popleft()
            acct.used += w
            fut.set_result(None)
        if acct.used or acct.waiting:
            self._schedule_turn(source, acct)
        elif self._accounts.get(source) is acct:
            del self._accounts[source]
