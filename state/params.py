"""Chain and pool parameters (PROTOCOL.md section 3) as frozen dataclasses with the defaults.

Genesis validation (pydantic, state/genesis.py) produces these; the state machine and the
RPC read them. They are stored in state as canonical msgpack via `to_state` / `from_state`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

POOL_DEFAULTS: dict[str, Any] = {
    "contribution": 100,
    "period": 100,
    "entry_fee": 10,
    "waiting_period": 10,
    "max_claim": 5000,
    "claim_bond": 50,
    "vote_window": 10,
    "quorum": 2,
    "approve_bps": 5000,
    "juror_min_age": 5,
    "notice_period": 3,
    "fee_bps": 800,
    "admission": "open",
}


@dataclass(frozen=True, slots=True)
class PoolParams:
    contribution: int = 100
    period: int = 100
    entry_fee: int = 10
    waiting_period: int = 10
    max_claim: int = 5000
    claim_bond: int = 50
    vote_window: int = 10
    quorum: int = 2
    approve_bps: int = 5000
    juror_min_age: int = 5
    notice_period: int = 3
    fee_bps: int = 800
    admission: str = "open"

    def to_json(self) -> dict[str, Any]:
        """All params, defaults filled (the RPC `pool` result's `params`)."""
        return asdict(self)

    to_state = to_json

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> PoolParams:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class ChainParams:
    treasury: bytes
    min_fee: int = 1
    max_tx_bytes: int = 4096
    max_block_txs: int = 5000
    block_time_ms: int = 1000
    epoch_length: int = 100
    max_validators: int = 21
    min_validators: int = 4
    max_votes_per_elector: int = 30
    registrars: tuple[bytes, ...] = field(default_factory=tuple)
    operators: tuple[bytes, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        d["treasury"] = self.treasury.hex()
        d["registrars"] = [a.hex() for a in self.registrars]
        d["operators"] = [a.hex() for a in self.operators]
        return d

    def to_state(self) -> dict[str, Any]:
        d: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        d["registrars"] = list(self.registrars)
        d["operators"] = list(self.operators)
        return d

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> ChainParams:
        d = dict(d)
        d["registrars"] = tuple(d["registrars"])
        d["operators"] = tuple(d["operators"])
        return cls(**d)
