"""Parametric cover (PROTOCOL.md section 10): the `report` and `collect` rules, the
parametric rounds of end-of-block step 1 and the return of unclaimed escrow.

A mixin of :class:`state.machine.BlockExecutor`, working only through its overlay. Nothing
here scans: the reports of a pool's open round are one record (at most 32 attestors), the
pools whose round reached its quorum in block h are kept by the executor for that block,
the eligible count of an event is the pool's kept count of active members
(state.membercount), and the events whose window ends at h are indexed by that height.
So a parametric event in a pool of any size costs O(reports) at the end of its block.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from state import keys as K
from state.codec import MAX_SAFE_INT
from state.errors import Code, TxError
from state.membercount import MemberCounts
from state.model import ACTIVE, Event, Member, Pool

if TYPE_CHECKING:
    from state.tx import Tx

__all__ = ["ParametricRules", "lower_median"]


def lower_median(values: list[int]) -> int:
    """Sorted ascending, element (n - 1) // 2: an attestor alone cannot drag the value."""
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


class ParametricRules(MemberCounts):
    """`report`, `collect`, the parametric rounds and the escrow return."""

    # --- transactions ------------------------------------------------------------------------

    def _report(self, tx: Tx, index: int) -> dict[str, Any]:
        p = tx.payload
        pool = self.pool(p["pool"])
        pp = pool.params
        if pp.trigger is None:
            raise TxError(Code.INVALID_PAYLOAD, f"pool {pool.id!r} has no trigger")
        sender = tx.sender
        if sender not in pp.attestors:
            raise TxError(Code.UNAUTHORIZED, f"sender is not an attestor of {pool.id!r}")
        if p["round"] != pool.round:
            raise TxError(Code.STALE_REPORT, f"round {p['round']}, open round {pool.round}")
        rkey = K.reports_key(pool.id)
        reports: list[list[Any]] = self.get(rkey) or []
        if any(r[0] == sender for r in reports):
            raise TxError(Code.ALREADY_VOTED, f"already reported in round {pool.round}")
        value: int = p["value"]
        reports = [*reports, [sender, value]]
        self.put(rkey, reports)
        if len(reports) >= pp.attest_quorum:
            self.reported.add(pool.id)
        return {
            "type": "round_reported",
            "pool": pool.id,
            "round": pool.round,
            "reporter": sender.hex(),
            "value": value,
            "reports": len(reports),
        }

    def _collect(self, tx: Tx, index: int) -> dict[str, Any]:
        p = tx.payload
        pool_id: str = p["pool"]
        rnd: int = p["round"]
        # an unknown pool has no event (and its id may be too long for an event key)
        ev: Event | None = None
        if self.get(K.pool_key(pool_id)) is not None:
            ev = self.get(K.event_key(pool_id, rnd))
        if ev is None:
            raise TxError(Code.NOT_FOUND, f"no event of pool {pool_id!r} in round {rnd}")
        if self.h > ev.collect_until:
            raise TxError(Code.WINDOW_CLOSED, f"collect_until {ev.collect_until}")
        sender = tx.sender
        m: Member | None = self.get(K.member_key(pool_id, sender))
        if m is None or not m.active_at(ev.height):
            raise TxError(Code.NOT_ELIGIBLE, f"not active in {pool_id!r} at height {ev.height}")
        ckey = K.collected_key(pool_id, rnd, sender)
        if self.get(ckey) is not None:
            raise TxError(Code.ALREADY_PAID, "already collected this event")
        amount = ev.per_member
        fee = amount * ev.fee_bps // 10000
        self.put(
            K.event_key(pool_id, rnd),
            replace(ev, escrow=ev.escrow - amount, collected=ev.collected + 1),
        )
        self.put(ckey, True)
        if fee:
            self.credit(self.params.treasury, fee)
        self.credit(sender, amount - fee)
        return {
            "type": "event_collected",
            "pool": pool_id,
            "round": rnd,
            "member": sender.hex(),
            "amount": amount - fee,
            "fee": fee,
        }

    # --- end of block ------------------------------------------------------------------------

    def _return_escrows(self) -> None:
        """Before step 1 of block h: the escrow left in events whose window ends at h goes back
        to their pools."""
        prefix = K.event_return_prefix(self.h)
        for key, _ in self.scan(prefix):
            self.delete(key)
            rest = key[len(prefix) :]
            pool_id = rest[1 : 1 + rest[0]].decode("utf-8")
            rnd = K.from_be64(rest[1 + rest[0] :])
            ekey = K.event_key(pool_id, rnd)
            ev: Event | None = self.get(ekey)
            assert ev is not None and ev.collect_until == self.h, "return index points at events"
            left = ev.escrow
            if left:
                self.put(ekey, replace(ev, escrow=0))
                self.add_to_pool(self.pool(pool_id), left)
            self.events.append(
                {"type": "event_closed", "pool": pool_id, "round": rnd, "returned": left}
            )

    def _rounds(self) -> None:
        """The parametric rounds of step 1, in pool id order: each pool whose open round got
        attest_quorum reports settles it at its lower median, and opens an event when the
        value crosses the trigger."""
        for pool_id in sorted(self.reported):
            pool: Pool = self.pool(pool_id)
            pp = pool.params
            rkey = K.reports_key(pool_id)
            reports: list[list[Any]] = self.get(rkey) or []
            trigger = pp.trigger
            if trigger is None or len(reports) < pp.attest_quorum:
                continue  # cannot happen within one block; kept so a round never settles short
            value = lower_median([r[1] for r in reports])
            rnd = pool.round
            self.delete(rkey)
            settled: dict[str, Any] = {
                "type": "round_settled",
                "pool": pool_id,
                "round": rnd,
                "value": value,
                "reports": len(reports),
                "event": trigger.holds(value),
            }
            if not trigger.holds(value):
                self.put(K.pool_key(pool_id), replace(pool, round=rnd + 1))
                self.events.append(settled)
                continue
            h = self.h
            eligible = self.pool_counts(pool_id)[ACTIVE]
            per_member = min(trigger.payout, pool.available // eligible) if eligible else 0
            escrow = per_member * eligible
            collect_until = min(h + pp.collect_window, MAX_SAFE_INT)
            ev = Event(
                pool=pool_id,
                round=rnd,
                value=value,
                height=h,
                eligible=eligible,
                per_member=per_member,
                fee_bps=pp.fee_bps,
                collect_until=collect_until,
                escrow=escrow,
            )
            self.put(
                K.pool_key(pool_id), replace(pool, round=rnd + 1, balance=pool.balance - escrow)
            )
            self.put(K.event_key(pool_id, rnd), ev)
            self.put(K.event_return_key(collect_until, pool_id, rnd), True)
            self.events.append(settled)
            self.events.append({"type": "event_opened", **ev.to_json()})
