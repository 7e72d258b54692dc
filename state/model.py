"""State records of PROTOCOL.md section 3 as frozen slotted dataclasses.

Frozen, so the chain can share decoded committed records between executions without copies
(a rule builds a new record instead of mutating one). `to_state()` builds the canonical
msgpack map with its keys already in sorted order, so the hot path can hand it straight to
msgpack; `to_json()` is the JSON of PROTOCOL.md section 6 (lowercase hex, null for absent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from state.errors import Code
from state.params import PoolParams
from state.store import Batch

WAITING = "waiting"
ACTIVE = "active"
LAPSED = "lapsed"
LEFT = "left"
MEMBER_STATUSES: tuple[str, ...] = (WAITING, ACTIVE, LAPSED, LEFT)

VOTING = "voting"
APPROVED = "approved"
REJECTED = "rejected"
PAID = "paid"
CLAIM_STATUSES: tuple[str, ...] = (VOTING, APPROVED, REJECTED, PAID)
CLAIM_STATUS_CODE: dict[str, int] = {s: i for i, s in enumerate(CLAIM_STATUSES)}


@dataclass(frozen=True, slots=True)
class Account:
    """An account; one never seen reads as balance 0, nonce 0, kyc false."""

    balance: int = 0
    nonce: int = 0
    kyc: bool = False

    def to_state(self) -> dict[str, Any]:
        return {"balance": self.balance, "kyc": self.kyc, "nonce": self.nonce}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Account:
        return cls(d["balance"], d["nonce"], d["kyc"])

    def to_json(self, address: bytes, pending_nonce: int | None = None) -> dict[str, Any]:
        """The RPC `account` result; `pending_nonce` is the mempool's (defaults to nonce)."""
        return {
            "address": address.hex(),
            "balance": self.balance,
            "nonce": self.nonce,
            "pending_nonce": self.nonce if pending_nonce is None else pending_nonce,
            "kyc": self.kyc,
        }


EMPTY_ACCOUNT = Account()


@dataclass(frozen=True, slots=True)
class Pool:
    id: str
    name: str
    balance: int
    params: PoolParams

    def to_state(self) -> dict[str, Any]:
        return {
            "balance": self.balance,
            "id": self.id,
            "name": self.name,
            "params": dict(sorted(self.params.to_state().items())),
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Pool:
        return cls(d["id"], d["name"], d["balance"], PoolParams.from_state(d["params"]))

    def to_json(self, members: dict[str, int] | None = None) -> dict[str, Any]:
        """The RPC `pool` result; `members` is the count per status (all four present)."""
        counts = {s: 0 for s in MEMBER_STATUSES}
        if members:
            counts.update(members)
        return {
            "id": self.id,
            "name": self.name,
            "balance": self.balance,
            "params": self.params.to_json(),
            "members": counts,
        }


def member_status(
    joined_at: int, paid_through: int, left: bool, waiting_period: int, h: int
) -> str:
    """Status at height h (section 3): `left` wins, then `lapsed`, `active`, `waiting`."""
    if left:
        return LEFT
    if h > paid_through:
        return LAPSED
    if h >= joined_at + waiting_period:
        return ACTIVE
    return WAITING


@dataclass(frozen=True, slots=True)
class Member:
    pool: str
    address: bytes
    joined_at: int
    paid_through: int
    left: bool = False

    def status(self, h: int, waiting_period: int) -> str:
        return member_status(self.joined_at, self.paid_through, self.left, waiting_period, h)

    def to_state(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "joined_at": self.joined_at,
            "left": self.left,
            "paid_through": self.paid_through,
            "pool": self.pool,
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Member:
        return cls(d["pool"], d["address"], d["joined_at"], d["paid_through"], d["left"])

    def to_json(self, h: int, waiting_period: int) -> dict[str, Any]:
        """The RPC `member` result, status evaluated at height h."""
        return {
            "pool": self.pool,
            "address": self.address.hex(),
            "joined_at": self.joined_at,
            "paid_through": self.paid_through,
            "status": self.status(h, waiting_period),
        }


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim. Internal fields, not part of the JSON of section 6: `bond` is the escrowed
    amount (kept on the claim so a later change of pool params cannot unbalance the supply)
    and `index` the claim transaction's position in its block (its place in the listings)."""

    id: bytes
    pool: str
    claimant: bytes
    amount: int
    evidence: bytes
    opened_at: int
    closes_at: int
    votes_for: int = 0
    votes_against: int = 0
    voters: tuple[tuple[bytes, bool], ...] = ()
    status: str = VOTING
    payable_at: int | None = None
    bond: int = 0
    index: int = 0

    @property
    def escrowed(self) -> int:
        """The bond still held in escrow (counted in the supply invariant)."""
        return self.bond if self.status in (VOTING, APPROVED) else 0

    def to_state(self) -> dict[str, Any]:
        return {
            "amount": self.amount,
            "bond": self.bond,
            "claimant": self.claimant,
            "closes_at": self.closes_at,
            "evidence": self.evidence,
            "id": self.id,
            "index": self.index,
            "opened_at": self.opened_at,
            "payable_at": self.payable_at,
            "pool": self.pool,
            "status": self.status,
            "voters": [[a, v] for a, v in self.voters],
            "votes_against": self.votes_against,
            "votes_for": self.votes_for,
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Claim:
        return cls(
            id=d["id"],
            pool=d["pool"],
            claimant=d["claimant"],
            amount=d["amount"],
            evidence=d["evidence"],
            opened_at=d["opened_at"],
            closes_at=d["closes_at"],
            votes_for=d["votes_for"],
            votes_against=d["votes_against"],
            voters=tuple((a, v) for a, v in d["voters"]),
            status=d["status"],
            payable_at=d["payable_at"],
            bond=d["bond"],
            index=d["index"],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id.hex(),
            "pool": self.pool,
            "claimant": self.claimant.hex(),
            "amount": self.amount,
            "evidence": self.evidence.hex(),
            "opened_at": self.opened_at,
            "closes_at": self.closes_at,
            "votes_for": self.votes_for,
            "votes_against": self.votes_against,
            "voters": [{"address": a.hex(), "approve": v} for a, v in self.voters],
            "status": self.status,
            "payable_at": self.payable_at,
        }


@dataclass(frozen=True, slots=True)
class Candidate:
    operator: bytes
    consensus_key: bytes
    name: str
    votes: int = 0
    barred_until: int = 0

    def barred(self, h: int) -> bool:
        """Barred from candidacy while h < barred_until."""
        return h < self.barred_until

    def to_state(self) -> dict[str, Any]:
        return {
            "barred_until": self.barred_until,
            "consensus_key": self.consensus_key,
            "name": self.name,
            "operator": self.operator,
            "votes": self.votes,
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Candidate:
        return cls(d["operator"], d["consensus_key"], d["name"], d["votes"], d["barred_until"])

    def to_json(self) -> dict[str, Any]:
        return {
            "operator": self.operator.hex(),
            "consensus_key": self.consensus_key.hex(),
            "name": self.name,
            "votes": self.votes,
            "barred_until": self.barred_until,
        }


@dataclass(frozen=True, slots=True)
class ValidatorInfo:
    operator: bytes
    consensus_key: bytes
    name: str
    power: int = 1

    def to_state(self) -> dict[str, Any]:
        return {
            "consensus_key": self.consensus_key,
            "name": self.name,
            "operator": self.operator,
            "power": self.power,
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> ValidatorInfo:
        return cls(d["operator"], d["consensus_key"], d["name"], d["power"])

    def to_json(self) -> dict[str, Any]:
        return {
            "operator": self.operator.hex(),
            "consensus_key": self.consensus_key.hex(),
            "name": self.name,
            "power": self.power,
        }


@dataclass(frozen=True, slots=True)
class TxRecord:
    """Where a committed transaction landed and how it ended (the `x/` tx index)."""

    hash: bytes
    height: int
    index: int
    code: Code
    log: str = ""

    @property
    def error(self) -> str | None:
        return self.code.error

    def to_state(self) -> dict[str, Any]:
        return {"code": int(self.code), "height": self.height, "index": self.index, "log": self.log}

    @classmethod
    def from_state(cls, tx_hash: bytes, d: dict[str, Any]) -> TxRecord:
        return cls(tx_hash, d["height"], d["index"], Code(d["code"]), d["log"])

    def to_json(self) -> dict[str, Any]:
        return {
            "hash": self.hash.hex(),
            "height": self.height,
            "index": self.index,
            "code": int(self.code),
            "error": self.error,
            "log": self.log,
        }


# --- block input and output (the executor's interface, re-exported by state.machine) ---


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """Duplicate-vote evidence as the state machine sees it (already verified by consensus).

    The only definition: consensus hands over its own evidence objects, which carry these five
    attributes, and ``state.app.as_evidence`` copies them here (state never imports consensus).
    """

    validator: bytes  # consensus key
    height: int
    round: int
    vote_type: int
    id: bytes  # 32 bytes identifying the evidence: counted once


@dataclass(frozen=True, slots=True)
class BlockInput:
    height: int
    time_ms: int
    proposer: bytes  # the proposer's consensus key
    txs: Sequence[bytes]
    evidence: Sequence[Any] = ()  # EvidenceRef-like: validator, height, round, vote_type, id


class InvalidBlock(Exception):
    """The block breaks "Block validity" of PROTOCOL.md section 2."""


@dataclass(frozen=True, slots=True)
class TxResult:
    code: Code
    log: str = ""

    @property
    def error(self) -> str | None:
        return self.code.error


@dataclass
class Execution:
    """The outcome of executing a block on a given root; `writes` holds state changes and
    tree nodes, `objects` the decoded changed records (the chain's cache after commit)."""

    height: int
    txs: list[bytes]
    tx_hashes: list[bytes]
    results: list[TxResult]
    events: list[dict[str, Any]]
    state_root: bytes
    writes: Batch
    time_ms: int
    prev_root: bytes = b""
    objects: dict[bytes, Any] = field(default_factory=dict)
