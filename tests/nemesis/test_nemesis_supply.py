"""The supply the collector reads over RPC counts what section 10 adds: every pool the run
makes, the event escrows, and the pools' liabilities beside the approved claims."""

from __future__ import annotations

from typing import Any

from nemesis.collect import read_supply
from nemesis.workload import ATTESTED, POOL, POOLS, TRIGGERED

A, B = "aa" * 32, "bb" * 32


class FakeRpc:
    """Answers the reads read_supply makes from fixed per-pool records."""

    def __init__(self, events: list[dict[str, Any]], liabilities: int = 120) -> None:
        self.events, self.liabilities = events, liabilities

    async def call(self, method: str, **params: Any) -> Any:
        assert method == "genesis"
        return {"params": {}, "accounts": [{"address": A, "balance": 0}]}

    def _one(self, method: str, p: dict[str, Any]) -> Any:
        if method == "status":
            return {"height": 9}
        if method == "account":
            return {"balance": {A: 1000, B: 500}[p["address"]]}
        if method == "pool":
            owed = self.liabilities if p["id"] == ATTESTED else 0
            return {"balance": 300, "params": {"claim_bond": 50}, "liabilities": owed}
        if method == "claims" and p["pool"] == ATTESTED and p["status"] == "approved":
            return [{"amount": 120, "terms": {"claim_bond": 40}}]
        if method == "claims" and p["pool"] == POOL and p["status"] == "voting":
            return [{"amount": 7}]  # no terms: the pool's bond
        if method == "events":
            return self.events if p["pool"] == TRIGGERED else []
        return []

    async def batch(self, calls: list[tuple[str, dict[str, Any]]], timeout: float) -> list[Any]:
        return [self._one(m, p) for m, p in calls]


async def test_event_escrows_and_every_pool_count_in_the_supply() -> None:
    events = [{"round": 0, "escrow": 0}, {"round": 3, "escrow": 160}]
    total, detail = await read_supply(FakeRpc(events), [bytes.fromhex(B)])  # type: ignore[arg-type]  # a duck-typed Rpc
    # accounts 1500, three pools 900, bonds 40 + 50, escrow 160
    assert total == 1500 + 3 * 300 + 90 + 160
    assert detail["escrows"] == 160 and detail["pools"] == 3 * 300 and len(POOLS) == 3
    assert detail["liabilities"] == detail["approved_amounts"] == 120


async def test_liabilities_are_read_beside_the_approved_claims() -> None:
    _, detail = await read_supply(FakeRpc([], liabilities=999), [])  # type: ignore[arg-type]  # a duck-typed Rpc
    assert (detail["liabilities"], detail["approved_amounts"]) == (999, 120)
