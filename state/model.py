"""State records of PROTOCOL.md section 3 as frozen slotted dataclasses.

Frozen, so the chain can share decoded committed records between executions without copies
(a rule builds a new record instead of mutating one). `to_state()` builds the canonical
msgpack map with its keys already in sorted order, so the hot path can hand it straight to
msgpack; `to_json()` is the JSON of PROTOCOL.md section 6 (lowercase hex, null for absent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from state.errors import Code
from state.parametric_event import Event as Event  # a record of section 10, read from here
from state.params import PoolParams
from state.store import Batch

if TYPE_CHECKING:
    from state.tx import Tx

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


_T = TypeVar("_T")
_NO_ARG = object()  # slot_init: a default_factory field's argument was left out


def slot_init(cls: type[_T]) -> type[_T]:
    """Give a frozen slotted dataclass an `__init__` that stores through its slots'
    descriptors: the frozen one calls object.__setattr__ per field, ~60 % slower, and the hot
    records (accounts, members, pools; state/tx.py's Tx) are built once or more per
    transaction, a claim once per vote. Same signature, defaults and frozenness; a default_factory is called when
    its argument is left out, as dataclasses does."""
    params: list[str] = []
    body: list[str] = []
    env: dict[str, Any] = {"_no_arg": _NO_ARG}
    for f in fields(cls):  # type: ignore[arg-type]  # a dataclass by contract
        value = f.name
        if f.default_factory is not MISSING:
            env[f"_f_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_no_arg")
            value = f"_f_{f.name}() if {f.name} is _no_arg else {f.name}"
        elif f.default is MISSING:
            params.append(f.name)
        else:
            env[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        env[f"_s_{f.name}"] = getattr(cls, f.name).__set__
        body.append(f"    _s_{f.name}(self, {value})")
    src = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body) + "\n"
    exec(src, env)  # noqa: S102  # generated from the field names alone, as dataclasses does
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]  # replacing the generated one is the point
    return cls


@slot_init
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


#: reserve_bps is capped here (section 12), so a tiny liability cannot make a huge number
MAX_RESERVE_BPS = 10**9


@slot_init
@dataclass(frozen=True, slots=True)
class Pool:
    """A pool. `round` is its open parametric round and `liabilities` the sum of the amounts
    of its approved, unpaid claims (section 12): both kept on the record so that a point read
    (and its proof) answers them without a scan."""

    id: str
    name: str
    balance: int
    params: PoolParams
    round: int = 0
    liabilities: int = 0

    @property
    def available(self) -> int:
        """What a parametric event may reserve: approved claims keep priority (section 10)."""
        return max(0, self.balance - self.liabilities)

    @property
    def reserve_bps(self) -> int | None:
        """min(balance * 10000 // liabilities, 10^9); None when nothing is owed."""
        if not self.liabilities:
            return None
        return min(self.balance * 10000 // self.liabilities, MAX_RESERVE_BPS)

    def to_state(self) -> dict[str, Any]:
        return {
            "balance": self.balance,
            "id": self.id,
            "liabilities": self.liabilities,
            "name": self.name,
            "params": dict(sorted(self.params.to_state().items())),
            "round": self.round,
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Pool:
        return cls(
            d["id"],
            d["name"],
            d["balance"],
            PoolParams.from_state(d["params"]),
            d["round"],
            d["liabilities"],
        )

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
            "round": self.round,
            "liabilities": self.liabilities,
            "reserve_bps": self.reserve_bps,
        }


def member_status(active_from: int, paid_through: int, left_at: int | None, h: int) -> str:
    """Status at height h (sections 3 and 9): `left` wins, then `lapsed`, `active`, `waiting`."""
    if left_at is not None:
        return LEFT
    if h > paid_through:
        return LAPSED
    if h >= active_from:
        return ACTIVE
    return WAITING


@slot_init
@dataclass(frozen=True, slots=True)
class Member:
    """A member record. `active_from` is joined_at + the waiting_period in force at the join
    (a later change of the param does not move it); `left_at` the height of the leave."""

    pool: str
    address: bytes
    joined_at: int
    paid_through: int
    active_from: int
    left_at: int | None = None

    def status(self, h: int) -> str:
        """Status at height h (the record keeps active_from, so no pool param is needed)."""
        return member_status(self.active_from, self.paid_through, self.left_at, h)

    def active_at(self, x: int) -> bool:
        """ "Active at height x" of section 9 (electorates): from this record only."""
        return self.active_from <= x <= self.paid_through and (
            self.left_at is None or self.left_at > x
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "active_from": self.active_from,
            "address": self.address,
            "joined_at": self.joined_at,
            "left_at": self.left_at,
            "paid_through": self.paid_through,
            "pool": self.pool,
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Member:
        return cls(
            d["pool"],
            d["address"],
            d["joined_at"],
            d["paid_through"],
            d["active_from"],
            d["left_at"],
        )

    def to_json(self, h: int) -> dict[str, Any]:
        """The RPC `member` result, status evaluated at height h."""
        return {
            "pool": self.pool,
            "address": self.address.hex(),
            "joined_at": self.joined_at,
            "paid_through": self.paid_through,
            "status": self.status(h),
            "active_from": self.active_from,
            "left_at": self.left_at,
        }


#: the params a claim is decided and paid under, recorded at filing (section 9)
CLAIM_TERMS: tuple[str, ...] = (
    "claim_bond",
    "quorum",
    "approve_bps",
    "vote_window",
    "juror_min_age",
    "notice_period",
    "fee_bps",
    "attestors",
    "attest_quorum",
    "objection_quorum",
)

STAGE_ATTESTATION = "attestation"
STAGE_JURY = "jury"
CLAIM_STAGES: tuple[str, ...] = (STAGE_ATTESTATION, STAGE_JURY)


def claim_terms(params: PoolParams) -> dict[str, Any]:
    """The terms of a claim filed now, keys in sorted order (its state form: attestors a list
    of addresses, so a decoded claim equals the one written)."""
    terms: dict[str, Any] = {name: getattr(params, name) for name in sorted(CLAIM_TERMS)}
    terms["attestors"] = list(terms["attestors"])
    return terms


def terms_json(terms: dict[str, Any]) -> dict[str, Any]:
    """The JSON of a claim's terms: addresses as hex."""
    out = dict(terms)
    if "attestors" in out:
        out["attestors"] = [a.hex() for a in out["attestors"]]
    return out


@dataclass(frozen=True, slots=True)
class Attestation:
    """One attestor's decision on a claim; `report` is the hash of its signed report, kept
    off chain (section 10)."""

    attestor: bytes
    approve: bool
    report: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "attestor": self.attestor.hex(),
            "approve": self.approve,
            "report": self.report.hex(),
        }


@slot_init
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
    terms: dict[str, Any] = field(default_factory=dict)
    stage: str = STAGE_JURY
    attest_for: int = 0
    attest_against: int = 0
    attestations: tuple[Attestation, ...] = ()
    objections: tuple[bytes, ...] = ()
    objected: bool = False

    @property
    def escrowed(self) -> int:
        """The bond still held in escrow (counted in the supply invariant)."""
        return self.bond if self.status in (VOTING, APPROVED) else 0

    def with_vote(self, voter: bytes, approve: bool) -> Claim:
        """This claim with one more jury vote (section 4, vote): the constructor with every
        field in order, not dataclasses.replace, which walks the 21 fields by name (~3x
        slower); votes are a fifth of bench/throughput.py's transactions."""
        return Claim(
            self.id,
            self.pool,
            self.claimant,
            self.amount,
            self.evidence,
            self.opened_at,
            self.closes_at,
            self.votes_for + (1 if approve else 0),
            self.votes_against + (0 if approve else 1),
            self.voters + ((voter, approve),),
            self.status,
            self.payable_at,
            self.bond,
            self.index,
            self.terms,
            self.stage,
            self.attest_for,
            self.attest_against,
            self.attestations,
            self.objections,
            self.objected,
        )

    def to_state(self, voters: bool = True) -> dict[str, Any]:
        """The record's map; `voters=False` leaves its voters list empty (state/keys.py
        encodes a long list from its previous encoding instead of walking it)."""
        return {
            "amount": self.amount,
            "attest_against": self.attest_against,
            "attest_for": self.attest_for,
            "attestations": [[a.attestor, a.approve, a.report] for a in self.attestations],
            "bond": self.bond,
            "claimant": self.claimant,
            "closes_at": self.closes_at,
            "evidence": self.evidence,
            "id": self.id,
            "index": self.index,
            "objected": self.objected,
            "objections": list(self.objections),
            "opened_at": self.opened_at,
            "payable_at": self.payable_at,
            "pool": self.pool,
            "stage": self.stage,
            "status": self.status,
            "terms": self.terms,
            "voters": [[a, v] for a, v in self.voters] if voters else [],
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
            terms=d["terms"],
            stage=d["stage"],
            attest_for=d["attest_for"],
            attest_against=d["attest_against"],
            attestations=tuple(Attestation(a, v, r) for a, v, r in d["attestations"]),
            objections=tuple(d["objections"]),
            objected=d["objected"],
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
            "terms": terms_json(self.terms),
            "stage": self.stage,
            "attest_for": self.attest_for,
            "attest_against": self.attest_against,
            "attestations": [a.to_json() for a in self.attestations],
            "objections": [a.hex() for a in self.objections],
            "objected": self.objected,
        }


CHAIN_SCOPE = "chain"
PASSED = "passed"
EXPIRED = "expired"
ENACTED = "enacted"
FAILED = "failed"
PROPOSAL_STATUSES: tuple[str, ...] = (VOTING, PASSED, REJECTED, EXPIRED, ENACTED, FAILED)
#: statuses that count against gov_max_open
PROPOSAL_OPEN: tuple[str, ...] = (VOTING, PASSED)
BALLOT_CHOICES: tuple[str, ...] = ("yes", "no", "abstain")


def json_value(v: Any) -> Any:
    """JSON form of a wire value: bin as lowercase hex, inside lists and maps too."""
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, list | tuple):
        return [json_value(x) for x in v]
    if isinstance(v, dict):
        return {k: json_value(x) for k, x in v.items()}
    return v


@dataclass(frozen=True, slots=True)
class Proposal:
    """A governance proposal (section 9). `changes` holds the wire values; `gov` the gov_
    params of its scope at opening, which it runs under. Internal: `deposit` escrowed (in the
    supply invariant while voting) and `index`, its position in its block (enactment order)."""

    id: bytes
    scope: str
    proposer: bytes
    changes: dict[str, Any]
    title: str
    text_hash: bytes
    opened_at: int
    closes_at: int
    electorate: int
    yes: int = 0
    no: int = 0
    abstain: int = 0
    status: str = VOTING
    enact_at: int | None = None
    gov: dict[str, int] = field(default_factory=dict)
    deposit: int = 0
    index: int = 0

    @property
    def escrowed(self) -> int:
        """The deposit still held (until the tally routes it)."""
        return self.deposit if self.status == VOTING else 0

    def to_state(self) -> dict[str, Any]:
        return {
            "abstain": self.abstain,
            "changes": dict(sorted(self.changes.items())),
            "closes_at": self.closes_at,
            "deposit": self.deposit,
            "electorate": self.electorate,
            "enact_at": self.enact_at,
            "gov": dict(sorted(self.gov.items())),
            "id": self.id,
            "index": self.index,
            "no": self.no,
            "opened_at": self.opened_at,
            "proposer": self.proposer,
            "scope": self.scope,
            "status": self.status,
            "text_hash": self.text_hash,
            "title": self.title,
            "yes": self.yes,
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Proposal:
        return cls(
            id=d["id"],
            scope=d["scope"],
            proposer=d["proposer"],
            changes=d["changes"],
            title=d["title"],
            text_hash=d["text_hash"],
            opened_at=d["opened_at"],
            closes_at=d["closes_at"],
            electorate=d["electorate"],
            yes=d["yes"],
            no=d["no"],
            abstain=d["abstain"],
            status=d["status"],
            enact_at=d["enact_at"],
            gov=d["gov"],
            deposit=d["deposit"],
            index=d["index"],
        )

    def to_json(self) -> dict[str, Any]:
        """The RPC `proposal` result (PROTOCOL.md section 12)."""
        return {
            "id": self.id.hex(),
            "scope": self.scope,
            "proposer": self.proposer.hex(),
            "changes": json_value(self.changes),
            "title": self.title,
            "text_hash": self.text_hash.hex(),
            "opened_at": self.opened_at,
            "closes_at": self.closes_at,
            "electorate": self.electorate,
            "yes": self.yes,
            "no": self.no,
            "abstain": self.abstain,
            "status": self.status,
            "enact_at": self.enact_at,
            "gov": dict(self.gov),
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
    tree nodes, `objects` the decoded changed records (the chain's cache after commit),
    `decoded` the decoded form of each of `txs` (so the commit's history index neither
    decodes nor hashes a transaction again)."""

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
    decoded: list[Tx] = field(default_factory=list)
