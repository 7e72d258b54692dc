"""Member counts kept, not scanned (issue 10 item 7): per pool, the members in each status;
for the chain scope, the accounts active in some pool, each once.

A member's status changes either by a transaction (join, pay, leave: counted as the record is
written, through :meth:`MemberCounts._put_member`) or by time alone: it becomes active at
``active_from`` and lapsed at ``paid_through + 1``. Each waiting or active member is indexed
under ``s/h/be64(y)`` at one height y no later than its next such change: a join indexes the
first; at the start of block y, before its first transaction,
:meth:`MemberCounts._member_clock` applies the change between the record's status at y - 1
and at y (none if a pay has moved the lapse since: the clock derives it from the record) and
indexes the member at its next height. So a pay or a leave writes no index key, and no change
is ever skipped: after any transaction of block h, and after the block, the counts equal a
scan of every member's status at h, and no client can see the difference. All of it is state,
so every node has the same root.

Cost: O(1) per member write, O(members due) per block, O(1) per read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from state import keys as K
from state.model import ACTIVE, MEMBER_STATUSES, WAITING, Member

if TYPE_CHECKING:
    from state.executor_api import ExecutorApi as _Executor
else:
    _Executor = object  # the interface is for the checker; at run time a plain mixin

__all__ = ["MemberCounts", "counts_map"]

_INDEX = {s: i for i, s in enumerate(MEMBER_STATUSES)}
_NONE = (0,) * len(MEMBER_STATUSES)
_LIVE = (WAITING, ACTIVE)


def counts_map(raw: list[int] | None) -> dict[str, int]:
    """The stored count list (MEMBER_STATUSES order; absent: no member yet) as a map."""
    return dict(zip(MEMBER_STATUSES, raw or _NONE, strict=True))


def _next_due(m: Member, after: int) -> int | None:
    """The first height > `after` at which time alone changes the member's status (none once
    left or lapsed)."""
    if m.left_at is not None:
        return None
    due = [x for x in (m.active_from, m.paid_through + 1) if x > after]
    return min(due) if due else None


class MemberCounts(_Executor):
    """Keeps the counts in step with every member write and with time."""

    def _record(self, pool_id: str, addr: bytes) -> tuple[Member | None, str | None]:
        """The account's member record in the pool (as this block left it) and its status at
        h, or (None, None)."""
        m: Member | None = self.get(K.member_key(pool_id, addr))
        return (None, None) if m is None else (m, m.status(self.h))

    def pool_counts(self, pool_id: str) -> dict[str, int]:
        """Members of the pool per status at this point of block h."""
        return counts_map(self.get(K.member_counts_key(pool_id)))

    def chain_active(self) -> int:
        """Distinct accounts active in some pool at this point of block h."""
        n: int = self.get(K.CHAIN_ACTIVE) or 0
        return n

    def _recount(self, pool_id: str, addr: bytes, old: str | None, new: str) -> None:
        if old == new:
            return
        ckey = K.member_counts_key(pool_id)
        counts = list(self.get(ckey) or _NONE)
        if old is not None:
            counts[_INDEX[old]] -= 1
        counts[_INDEX[new]] += 1
        self.put(ckey, counts)
        if (old == ACTIVE) == (new == ACTIVE):
            return
        step = 1 if new == ACTIVE else -1
        akey = K.active_pools_key(addr)
        before: int = self.get(akey) or 0
        after = before + step
        self._put_or_drop(akey, after)
        if (before == 0) != (after == 0):
            self._put_or_drop(K.CHAIN_ACTIVE, self.chain_active() + step)

    def _put_or_drop(self, key: bytes, n: int) -> None:
        """A zero count is no key, so an empty scope leaves nothing in the tree."""
        if n:
            self.put(key, n)
        else:
            self.delete(key)

    def _put_member(self, old: Member | None, new: Member) -> None:
        """Write a member record (join, pay, leave), keeping the counts exact; a join indexes
        the record's first height at which time changes its status."""
        h = self.h
        pool_id, addr = new.pool, new.address
        self.put(K.member_key(pool_id, addr), new)
        was = None if old is None else old.status(h)
        self._recount(pool_id, addr, was, new.status(h))
        if was in _LIVE:
            return  # pay or leave: the height already indexed comes no later than the next
        nxt = _next_due(new, h)
        if nxt is not None:
            self.put(K.member_due_key(nxt, pool_id, addr), True)

    def _member_clock(self) -> None:
        """Start of block h: the status changes time alone brings at h, in key order (the
        record's status at h - 1 and at h: none at a height a pay made early), each member
        then indexed at its next such height."""
        h = self.h
        prefix = K.member_due_prefix(h)
        for key, _ in self.scan(prefix):
            self.delete(key)
            rest = key[len(prefix) :]
            pool_id = rest[1 : 1 + rest[0]].decode("utf-8")
            addr = rest[1 + rest[0] :]
            m: Member | None = self.get(K.member_key(pool_id, addr))
            assert m is not None, "a due height points at a member"
            self._recount(pool_id, addr, m.status(h - 1), m.status(h))
            nxt = _next_due(m, h)
            if nxt is not None:
                self.put(K.member_due_key(nxt, pool_id, addr), True)
