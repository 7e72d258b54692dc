"""The parametric event record (PROTOCOL.md sections 10 and 12), re-exported by
:mod:`state.model` with the other records (split out so that file stays under ~600 lines)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """A parametric event (section 10): a round of `pool` whose value crossed the trigger.
    `escrow` is what remains reserved for collectors, `collected` how many have collected."""

    pool: str
    round: int
    value: int
    height: int
    eligible: int
    per_member: int
    fee_bps: int
    collect_until: int
    escrow: int
    collected: int = 0

    @property
    def escrowed(self) -> int:
        """Held outside accounts and pools (counted in the supply invariant)."""
        return self.escrow

    def to_state(self) -> dict[str, Any]:
        return {
            "collect_until": self.collect_until,
            "collected": self.collected,
            "eligible": self.eligible,
            "escrow": self.escrow,
            "fee_bps": self.fee_bps,
            "height": self.height,
            "per_member": self.per_member,
            "pool": self.pool,
            "round": self.round,
            "value": self.value,
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Event:
        return cls(
            d["pool"],
            d["round"],
            d["value"],
            d["height"],
            d["eligible"],
            d["per_member"],
            d["fee_bps"],
            d["collect_until"],
            d["escrow"],
            d["collected"],
        )

    def to_json(self) -> dict[str, Any]:
        """The RPC `event` result (section 12)."""
        return {
            "pool": self.pool,
            "round": self.round,
            "value": self.value,
            "height": self.height,
            "eligible": self.eligible,
            "per_member": self.per_member,
            "fee_bps": self.fee_bps,
            "collect_until": self.collect_until,
            "escrow": self.escrow,
            "collected": self.collected,
        }
