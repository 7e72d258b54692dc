"""The transaction types of PROTOCOL.md section 4, each declared once.

An entry names the payload fields (with their kinds, state/fieldkinds.py), the rule that
executes it (state/rules.py), its checks in PROTOCOL order (for the reference docs), the
simulator's generator and the examples the tests walk. decode_tx, the JSON forms, the
execution dispatch, the `huzhu tx` subcommands and the simulator's choice of transactions are
all derived from REGISTRY, so adding a payload-only type is this entry plus its rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from state.attest import AttestRules
from state.codec import MAX_SAFE_INT
from state.errors import Code
from state.fieldkinds import (
    ADDRESS,
    AMOUNT,
    BOOL,
    CANDIDATES,
    CHANGES,
    CHOICE,
    HASH,
    KEY,
    MAX_NAME_CHARS,
    NAME,
    POOL_ID,
    ROUND,
    TEXT_HASH,
    TITLE,
    VALUE,
    Field,
    WireCheck,
)
from state.governance import GovRules
from state.model import (
    ACTIVE,
    CHAIN_SCOPE,
    STAGE_ATTESTATION,
    WAITING,
    Claim,
    Event,
    Pool,
    Proposal,
)
from state.parametric import ParametricRules
from state.rules import TxRules

_T = TypeVar("_T")

#: a rule: (the block executor, the transaction, its index in the block) -> its event
Rule = Callable[[Any, Any, int], dict[str, Any]]


class Rng(Protocol):
    """The randomness a generator may use (random.Random fits; state/ never imports it)."""

    def random(self) -> float: ...

    def randint(self, a: int, b: int) -> int: ...

    def choice(self, seq: Sequence[_T]) -> _T: ...

    def sample(self, population: Sequence[_T], k: int) -> list[_T]: ...

    def randbytes(self, n: int) -> bytes: ...


class GenView(Protocol):
    """What a generator reads of the committed state (state/chain.py StateView fits)."""

    def pool(self, pool_id: str) -> Pool | None: ...

    def member_status(self, pool: str, addr: bytes, h: int | None = None) -> str | None: ...

    def claims(self, pool: str, status: str | None = None, limit: int = 100) -> list[Claim]: ...

    def proposals(
        self, scope: str, status: str | None = None, limit: int = 100
    ) -> list[Proposal] | None: ...

    def events(self, pool: str, limit: int = 100) -> list[Event]: ...


@dataclass(frozen=True, slots=True)
class GenContext:
    """One generator call: who sends, at which height, and what the simulation knows."""

    rng: Rng
    view: GenView
    sender: bytes
    height: int  # the height of the block being built
    accounts: tuple[bytes, ...]  # funded member addresses
    pools: tuple[str, ...]
    candidates: tuple[bytes, ...]  # registered candidates' operators


#: a simulator generator: a payload that makes sense for the sender now, or None
Generator = Callable[[GenContext], "dict[str, Any] | None"]


@dataclass(frozen=True, slots=True)
class TxType:
    """One transaction type. `examples` are valid payloads (wire form, default params);
    `malformed` pairs a payload decode_tx refuses with the field its message names."""

    name: str
    summary: str
    fields: tuple[Field, ...]
    rule: Rule
    checks: tuple[tuple[Code, str], ...]
    generate: Generator
    weight: float  # relative share in the simulator when `generate` has a payload
    examples: tuple[dict[str, Any], ...]
    malformed: tuple[tuple[str, dict[str, Any]], ...]
    keys: frozenset[str] = field(init=False)
    #: (key, kind.check) per field, bound once: decode_tx's loop does no lookups
    wire_checks: tuple[tuple[str, WireCheck], ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", frozenset(f.name for f in self.fields))
        object.__setattr__(self, "wire_checks", tuple((f.name, f.kind.check) for f in self.fields))

    @property
    def cli_name(self) -> str:
        """The `huzhu tx` subcommand (dashes; the underscore name is an alias)."""
        return self.name.replace("_", "-")


# --- simulator generators ---------------------------------------------------------------
# Each returns None when the type makes no sense for the sender now; the simulator then
# draws another type. Rules may still refuse what they make (claim_open, already_voted...):
# failed rules must produce identical roots everywhere too.

_MEMBER_OK = (WAITING, ACTIVE)


def _pool_where(ctx: GenContext, statuses: tuple[str, ...] | None) -> tuple[str, Pool] | None:
    """A random pool, if the sender's status there is in `statuses` (None: not a member)."""
    pool_id = ctx.rng.choice(ctx.pools)
    pool = ctx.view.pool(pool_id)
    if pool is None:
        return None
    status = ctx.view.member_status(pool_id, ctx.sender, ctx.height)
    ok = status not in _MEMBER_OK if statuses is None else status in statuses
    return (pool_id, pool) if ok else None


def _gen_transfer(ctx: GenContext) -> dict[str, Any] | None:
    return {"to": ctx.rng.choice(ctx.accounts), "amount": ctx.rng.randint(1, 1_000)}


def _gen_admit(ctx: GenContext) -> dict[str, Any] | None:
    return {"account": ctx.rng.choice(ctx.accounts)}  # members are no registrars: unauthorized


def _gen_join(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, None)
    return None if found is None else {"pool": found[0]}


def _gen_pay(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, _MEMBER_OK)
    if found is None:
        return None
    pool_id, pool = found
    return {"pool": pool_id, "amount": pool.params.contribution * ctx.rng.randint(1, 3)}


def _gen_leave(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, _MEMBER_OK)
    return None if found is None else {"pool": found[0]}


def _gen_claim(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, (ACTIVE,))
    if found is None:
        return None
    pool_id, pool = found
    amount = ctx.rng.randint(1, pool.params.max_claim)
    return {"pool": pool_id, "amount": amount, "evidence": ctx.rng.randbytes(32)}


def _gen_vote(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, (ACTIVE,))
    if found is None:
        return None
    voting = [c for c in ctx.view.claims(found[0], "voting", 20) if c.claimant != ctx.sender]
    if not voting:
        return None
    return {"claim": ctx.rng.choice(voting).id, "approve": ctx.rng.random() < 0.7}


def _gen_payout(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, _MEMBER_OK)
    if found is None:
        return None
    h = ctx.height
    approved = [
        c
        for c in ctx.view.claims(found[0], "approved", 20)
        if c.payable_at is not None and c.payable_at <= h
    ]
    return {"claim": ctx.rng.choice(approved).id} if approved else None


def _gen_register_candidate(ctx: GenContext) -> dict[str, Any] | None:
    # members are no operators: the rule refuses it (unauthorized), as it must everywhere
    return {"consensus_key": ctx.rng.randbytes(32), "name": "sim-candidate"}


def _gen_elect(ctx: GenContext) -> dict[str, Any] | None:
    if not ctx.candidates:
        return None
    n = min(len(ctx.candidates), ctx.rng.randint(1, 5))
    return {"candidates": ctx.rng.sample(ctx.candidates, n)}


def _gen_propose(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, (ACTIVE,))
    if found is None:
        return None
    rng = ctx.rng
    changes: dict[str, Any]
    if rng.random() < 0.3:
        scope = CHAIN_SCOPE
        changes = {"gov_deposit": rng.randint(50, 150)}
    else:
        scope = found[0]
        changes = {"max_claim": rng.randint(1_000, 9_000)}
        if rng.random() < 0.2:
            changes["quorum"] = rng.randint(1, 3)
    return {
        "scope": scope,
        "changes": changes,
        "title": "sim proposal",
        "text_hash": rng.randbytes(32),
    }


def _gen_ballot(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, _MEMBER_OK)
    if found is None:
        return None
    scope = CHAIN_SCOPE if ctx.rng.random() < 0.3 else found[0]
    voting = ctx.view.proposals(scope, "voting", 20)
    if not voting:
        return None
    roll = ctx.rng.random()
    choice = "yes" if roll < 0.7 else "no" if roll < 0.9 else "abstain"
    return {"proposal": ctx.rng.choice(voting).id, "choice": choice}


#: share of draws in which a generator sends a type the sender holds no role for (the
#: refusals must give equal roots too)
_STRAY = 0.05


def _gen_attest(ctx: GenContext) -> dict[str, Any] | None:
    pool_id = ctx.rng.choice(ctx.pools)
    pool = ctx.view.pool(pool_id)
    if pool is None:
        return None
    voting = [c for c in ctx.view.claims(pool_id, "voting", 20) if c.claimant != ctx.sender]
    if ctx.sender in pool.params.attestors:
        voting = [c for c in voting if c.stage == STAGE_ATTESTATION]
    elif ctx.rng.random() >= _STRAY:
        return None
    if not voting:
        return None
    return {
        "claim": ctx.rng.choice(voting).id,
        "approve": ctx.rng.random() < 0.7,
        "report": ctx.rng.randbytes(32),
    }


def _gen_object(ctx: GenContext) -> dict[str, Any] | None:
    found = _pool_where(ctx, (ACTIVE,))
    if found is None:
        return None
    h = ctx.height
    open_ = [
        c
        for c in ctx.view.claims(found[0], "approved", 20)
        if c.payable_at is not None and h < c.payable_at and c.claimant != ctx.sender
    ]
    if not open_ or ctx.rng.random() >= 0.5:
        return None
    return {"claim": ctx.rng.choice(open_).id}


def _gen_report(ctx: GenContext) -> dict[str, Any] | None:
    pool_id = ctx.rng.choice(ctx.pools)
    pool = ctx.view.pool(pool_id)
    if pool is None:
        return None
    trigger = pool.params.trigger
    if trigger is None or ctx.sender not in pool.params.attestors:
        if ctx.rng.random() >= _STRAY:
            return None
        return {"pool": pool_id, "round": pool.round, "value": ctx.rng.randint(-10, 10)}
    spread = max(10, abs(trigger.threshold) // 4)
    value = trigger.threshold + ctx.rng.randint(-spread, spread)
    return {
        "pool": pool_id,
        "round": pool.round,
        "value": max(-MAX_SAFE_INT, min(value, MAX_SAFE_INT)),
    }


def _gen_collect(ctx: GenContext) -> dict[str, Any] | None:
    pool_id = ctx.rng.choice(ctx.pools)
    if ctx.view.pool(pool_id) is None:
        return None
    h = ctx.height
    open_ = [e for e in ctx.view.events(pool_id, 20) if h <= e.collect_until]
    if open_:
        return {"pool": pool_id, "round": ctx.rng.choice(open_).round}
    if ctx.rng.random() >= _STRAY:
        return None
    return {"pool": pool_id, "round": ctx.rng.randint(0, 3)}


# --- the registry -----------------------------------------------------------------------

_K = b"\x07" * 32
_K2 = b"\x08" * 32
_NOT_FOUND_POOL = (Code.NOT_FOUND, "the pool exists")
_NOT_FOUND_CLAIM = (Code.NOT_FOUND, "the claim exists")
_MEMBER = (Code.NOT_MEMBER, "sender is a waiting or active member of the pool")

REGISTRY: tuple[TxType, ...] = (
    TxType(
        name="transfer",
        summary="move funds to another account",
        fields=(Field("to", ADDRESS), Field("amount", AMOUNT)),
        rule=TxRules._transfer,
        checks=((Code.INSUFFICIENT_FUNDS, "balance >= amount"),),
        generate=_gen_transfer,
        weight=25,
        examples=(
            {"to": _K, "amount": 5},
            {"to": _K, "amount": 1},
            {"to": _K, "amount": 2**53 - 1},
        ),
        malformed=(
            ("amount", {"to": _K, "amount": 0}),
            ("amount", {"to": _K, "amount": -5}),
            ("amount", {"to": _K, "amount": True}),
            ("amount", {"to": _K, "amount": "5"}),
            ("to", {"to": _K[:31], "amount": 5}),
            ("to", {"to": _K + b"\x00", "amount": 5}),
            ("to", {"to": _K.hex(), "amount": 5}),
        ),
    ),
    TxType(
        name="admit",
        summary="registrar: set an account's kyc flag",
        fields=(Field("account", ADDRESS),),
        rule=TxRules._admit,
        checks=((Code.UNAUTHORIZED, "sender is a registrar"),),
        generate=_gen_admit,
        weight=1,
        examples=({"account": _K},),
        malformed=(("account", {"account": b""}),),
    ),
    TxType(
        name="join",
        summary="join a pool",
        fields=(Field("pool", POOL_ID),),
        rule=TxRules._join,
        checks=(
            _NOT_FOUND_POOL,
            (Code.ALREADY_MEMBER, "sender is not a waiting or active member"),
            (Code.UNAUTHORIZED, "sender has kyc when the pool's admission is kyc"),
            (Code.INSUFFICIENT_FUNDS, "balance >= entry_fee + contribution"),
        ),
        generate=_gen_join,
        weight=30,
        examples=(
            {"pool": "medical"},
            {"pool": ""},  # any str: an unknown pool is not_found at execution
            {"pool": "Not A Valid Genesis Id \u2603"},
        ),
        malformed=(("pool", {"pool": b"medical"}), ("pool", {"pool": 1})),
    ),
    TxType(
        name="pay",
        summary="pay contributions to a pool",
        fields=(Field("pool", POOL_ID), Field("amount", AMOUNT)),
        rule=TxRules._pay,
        checks=(
            _NOT_FOUND_POOL,
            _MEMBER,
            (Code.INVALID_PAYLOAD, "amount is a multiple of contribution"),
            (Code.INSUFFICIENT_FUNDS, "balance >= amount"),
        ),
        generate=_gen_pay,
        weight=10,
        examples=({"pool": "medical", "amount": 100},),
        malformed=(
            ("amount", {"pool": "medical", "amount": 0}),
            ("amount", {"pool": "medical", "amount": False}),
            ("pool", {"pool": None, "amount": 100}),
        ),
    ),
    TxType(
        name="leave",
        summary="leave a pool",
        fields=(Field("pool", POOL_ID),),
        rule=TxRules._leave,
        checks=(_NOT_FOUND_POOL, _MEMBER),
        generate=_gen_leave,
        weight=2,
        examples=({"pool": "medical"},),
        malformed=(("pool", {"pool": ["medical"]}),),
    ),
    TxType(
        name="claim",
        summary="file a claim",
        fields=(
            Field("pool", POOL_ID),
            Field("amount", AMOUNT),
            Field("evidence", HASH, help="32-byte hash, hex"),
        ),
        rule=TxRules._claim,
        checks=(
            _NOT_FOUND_POOL,
            _MEMBER,
            (Code.WAITING_PERIOD, "sender is past its waiting period (active)"),
            (Code.INVALID_PAYLOAD, "amount <= max_claim"),
            (Code.CLAIM_OPEN, "no claim of the sender in this pool is voting or approved"),
            (Code.INSUFFICIENT_FUNDS, "balance >= claim_bond"),
        ),
        generate=_gen_claim,
        weight=15,
        examples=({"pool": "medical", "amount": 300, "evidence": _K},),
        malformed=(
            ("amount", {"pool": "medical", "amount": 0, "evidence": _K}),
            ("evidence", {"pool": "medical", "amount": 1, "evidence": _K[:31]}),
            ("pool", {"pool": b"medical", "amount": 1, "evidence": _K}),
        ),
    ),
    TxType(
        name="vote",
        summary="vote on a claim",
        fields=(
            Field("claim", HASH),
            Field("approve", BOOL, help="approve (or --approve false)", negation="reject"),
        ),
        rule=TxRules._vote,
        checks=(
            (Code.NOT_FOUND, "the claim exists"),
            (Code.VOTING_CLOSED, "the claim is voting and h < closes_at"),
            (Code.NOT_MEMBER, "sender is a waiting or active member of the claim's pool"),
            (
                Code.NOT_ELIGIBLE,
                "sender is active, a member for >= juror_min_age blocks, not the claimant",
            ),
            (Code.ALREADY_VOTED, "sender has not voted on the claim"),
        ),
        generate=_gen_vote,
        weight=30,
        examples=({"claim": _K, "approve": True}, {"claim": _K, "approve": False}),
        malformed=(
            ("approve", {"claim": _K, "approve": 1}),
            ("approve", {"claim": _K, "approve": "yes"}),
            ("claim", {"claim": _K[:31], "approve": True}),
        ),
    ),
    TxType(
        name="payout",
        summary="pay an approved claim out",
        fields=(Field("claim", HASH),),
        rule=TxRules._payout,
        checks=(
            (Code.NOT_FOUND, "the claim exists"),
            (Code.ALREADY_PAID, "the claim is not paid"),
            (Code.NOT_APPROVED, "the claim is approved"),
            (Code.NOTICE_PERIOD, "h >= payable_at"),
            (Code.POOL_INSOLVENT, "pool balance >= amount (the claim stays approved)"),
        ),
        generate=_gen_payout,
        weight=13,
        examples=({"claim": _K},),
        malformed=(("claim", {"claim": _K * 2}),),
    ),
    TxType(
        name="register_candidate",
        summary="operator: stand as a validator candidate",
        fields=(Field("consensus_key", KEY), Field("name", NAME)),
        rule=TxRules._register_candidate,
        checks=(
            (Code.UNAUTHORIZED, "sender is an operator and not barred"),
            (
                Code.ALREADY_REGISTERED,
                "the key is not held by another candidate or a validator of the current or"
                " next set",
            ),
        ),
        generate=_gen_register_candidate,
        weight=1,
        examples=(
            {"consensus_key": _K, "name": "node-x"},
            {"consensus_key": _K, "name": "n"},
            {"consensus_key": _K, "name": "\U0001f600" * MAX_NAME_CHARS},
        ),
        malformed=(
            ("name", {"consensus_key": _K, "name": ""}),
            ("name", {"consensus_key": _K, "name": "n" * (MAX_NAME_CHARS + 1)}),
            ("name", {"consensus_key": _K, "name": "\u00e9" * (MAX_NAME_CHARS + 1)}),
            ("name", {"consensus_key": _K, "name": b"node"}),
            ("consensus_key", {"consensus_key": _K[:31], "name": "node"}),
        ),
    ),
    TxType(
        name="elect",
        summary="vote for validator candidates (replaces the previous list)",
        fields=(
            Field(
                "candidates",
                CANDIDATES,
                help="operators, comma- or space-separated; none withdraws every vote",
            ),
        ),
        rule=TxRules._elect,
        checks=((Code.NOT_FOUND, "every entry is a registered candidate"),),
        generate=_gen_elect,
        weight=5,
        examples=(
            {"candidates": [_K, _K2]},
            {"candidates": []},
            {"candidates": [bytes([i]) * 32 for i in range(30)]},  # max_votes_per_elector
        ),
        malformed=(
            ("candidates", {"candidates": [_K, _K]}),
            ("candidates", {"candidates": [_K, _K[:31]]}),
            ("candidates", {"candidates": [_K.hex()]}),
            ("candidates", {"candidates": _K}),
            ("candidates", {"candidates": [bytes([i]) * 32 for i in range(31)]}),
        ),
    ),
    TxType(
        name="propose",
        summary="propose a change of a pool's or the chain's params (section 9)",
        fields=(
            Field("scope", POOL_ID, help='a pool id, or "chain"'),
            Field("changes", CHANGES),
            Field("title", TITLE),
            Field("text_hash", TEXT_HASH, help="file holding the proposal's text", cli="text"),
        ),
        rule=GovRules._propose,
        checks=(
            (Code.NOT_FOUND, 'scope is "chain" or an existing pool'),
            (
                Code.INVALID_PAYLOAD,
                "every key changeable in the scope, every value valid, the cross-param rules"
                " hold after the change",
            ),
            (Code.NOT_MEMBER, "sender is a waiting or active member (chain: active in a pool)"),
            (Code.WAITING_PERIOD, "sender is past its waiting period (active)"),
            (Code.TOO_MANY_PROPOSALS, "open proposals of the scope < gov_max_open"),
            (Code.INSUFFICIENT_FUNDS, "balance >= gov_deposit"),
        ),
        generate=_gen_propose,
        weight=2,
        examples=(
            {"scope": "medical", "changes": {"max_claim": 6000}, "title": "t", "text_hash": _K},
            {
                "scope": "chain",
                "changes": {"registrars": [_K, _K2], "min_fee": 2},
                "title": "x" * 120,
                "text_hash": _K,
            },
            {
                "scope": "chain",
                "changes": {f"k{i}": i for i in range(16)},  # wrong keys: invalid_payload later
                "title": "\U0001f600",
                "text_hash": _K,
            },
        ),
        malformed=(
            ("changes", {"scope": "chain", "changes": {}, "title": "t", "text_hash": _K}),
            (
                "changes",
                {
                    "scope": "chain",
                    "changes": {f"k{i:02}": i for i in range(17)},
                    "title": "t",
                    "text_hash": _K,
                },
            ),
            ("changes", {"scope": "chain", "changes": [1], "title": "t", "text_hash": _K}),
            ("title", {"scope": "chain", "changes": {"min_fee": 1}, "title": "", "text_hash": _K}),
            (
                "title",
                {"scope": "chain", "changes": {"min_fee": 1}, "title": "x" * 121, "text_hash": _K},
            ),
            (
                "text_hash",
                {"scope": "chain", "changes": {"min_fee": 1}, "title": "t", "text_hash": _K[:31]},
            ),
            (
                "scope",
                {"scope": b"chain", "changes": {"min_fee": 1}, "title": "t", "text_hash": _K},
            ),
        ),
    ),
    TxType(
        name="ballot",
        summary="cast a ballot on a proposal (one member, one vote)",
        fields=(Field("proposal", HASH), Field("choice", CHOICE)),
        rule=GovRules._ballot,
        checks=(
            (Code.NOT_FOUND, "the proposal exists"),
            (Code.VOTING_CLOSED, "the proposal is voting and h < closes_at"),
            (
                Code.NOT_ELIGIBLE,
                "sender is now a waiting or active member of the scope's pool (chain: of some"
                " pool) whose record has active_from <= opened_at",
            ),
            (Code.ALREADY_VOTED, "sender has not cast a ballot on the proposal"),
        ),
        generate=_gen_ballot,
        weight=20,
        examples=(
            {"proposal": _K, "choice": "yes"},
            {"proposal": _K, "choice": "no"},
            {"proposal": _K, "choice": "abstain"},
        ),
        malformed=(
            ("choice", {"proposal": _K, "choice": "maybe"}),
            ("choice", {"proposal": _K, "choice": True}),
            ("proposal", {"proposal": _K[:31], "choice": "yes"}),
        ),
    ),
    TxType(
        name="attest",
        summary="attestor: approve or reject a claim in stage attestation (section 10)",
        fields=(
            Field("claim", HASH),
            Field("approve", BOOL, help="true to approve, false to reject"),
            Field(
                "report", HASH, help="hash of the attestor's signed report (kept off chain), hex"
            ),
        ),
        rule=AttestRules._attest,
        checks=(
            _NOT_FOUND_CLAIM,
            (
                Code.UNAUTHORIZED,
                "sender is in the claim's terms.attestors and in the pool's attestors now",
            ),
            (Code.NOT_ELIGIBLE, "sender is not the claimant"),
            (Code.VOTING_CLOSED, "the claim is voting, in stage attestation, and h < closes_at"),
            (Code.ALREADY_VOTED, "sender has not attested the claim"),
        ),
        generate=_gen_attest,
        weight=10,
        examples=(
            {"claim": _K, "approve": True, "report": _K2},
            {"claim": _K, "approve": False, "report": _K2},
        ),
        malformed=(
            ("approve", {"claim": _K, "approve": 1, "report": _K2}),
            ("claim", {"claim": _K[:31], "approve": True, "report": _K2}),
            ("report", {"claim": _K, "approve": True, "report": _K2.hex()}),
        ),
    ),
    TxType(
        name="object",
        summary="object to an approved claim during its notice period (section 10)",
        fields=(Field("claim", HASH),),
        rule=AttestRules._object,
        checks=(
            _NOT_FOUND_CLAIM,
            (
                Code.VOTING_CLOSED,
                "the claim is approved, h < payable_at, not objected before, and"
                " terms.objection_quorum > 0",
            ),
            (Code.NOT_MEMBER, "sender is a waiting or active member of the claim's pool"),
            (
                Code.NOT_ELIGIBLE,
                "sender is active, a member for >= terms.juror_min_age blocks, not the claimant",
            ),
            (Code.ALREADY_VOTED, "sender has not objected to the claim"),
        ),
        generate=_gen_object,
        weight=3,
        examples=({"claim": _K},),
        malformed=(("claim", {"claim": b""}),),
    ),
    TxType(
        name="report",
        summary="attestor: report the trigger feed's value for a pool's open round (section 10)",
        fields=(
            Field("pool", POOL_ID),
            Field("round", ROUND, help="the pool's open round"),
            Field("value", VALUE, help="the feed's value (integer, may be negative)"),
        ),
        rule=ParametricRules._report,
        checks=(
            _NOT_FOUND_POOL,
            (Code.INVALID_PAYLOAD, "the pool has a trigger"),
            (Code.UNAUTHORIZED, "sender is in the pool's attestors"),
            (Code.STALE_REPORT, "round is the pool's open round"),
            (Code.ALREADY_VOTED, "sender has not reported in this round"),
        ),
        generate=_gen_report,
        weight=10,
        examples=(
            {"pool": "rain", "round": 0, "value": 220},
            {"pool": "rain", "round": 2**53 - 1, "value": -(2**53 - 1)},
            {"pool": "rain", "round": 3, "value": 2**53 - 1},
        ),
        malformed=(
            ("round", {"pool": "rain", "round": -1, "value": 1}),
            ("round", {"pool": "rain", "round": True, "value": 1}),
            ("value", {"pool": "rain", "round": 0, "value": "220"}),
            ("value", {"pool": "rain", "round": 0, "value": False}),
            ("pool", {"pool": b"rain", "round": 0, "value": 1}),
        ),
    ),
    TxType(
        name="collect",
        summary="collect a member's share of a parametric event (section 10)",
        fields=(Field("pool", POOL_ID), Field("round", ROUND, help="the event's round")),
        rule=ParametricRules._collect,
        checks=(
            (Code.NOT_FOUND, "an event of this pool and round exists"),
            (Code.WINDOW_CLOSED, "h <= the event's collect_until"),
            (Code.NOT_ELIGIBLE, "sender was active in the pool at the event's height"),
            (Code.ALREADY_PAID, "sender has not collected this event"),
        ),
        generate=_gen_collect,
        weight=10,
        examples=({"pool": "rain", "round": 0}, {"pool": "rain", "round": 7}),
        malformed=(
            ("round", {"pool": "rain", "round": "0"}),
            ("pool", {"pool": None, "round": 0}),
        ),
    ),
)

BY_NAME: dict[str, TxType] = {t.name: t for t in REGISTRY}
TX_TYPES: tuple[str, ...] = tuple(BY_NAME)
assert len(BY_NAME) == len(REGISTRY), "type names are unique"

#: tries before a member sends nothing this block (every type said None)
GEN_TRIES = 8


def generate(
    ctx: GenContext, types: Sequence[TxType] = REGISTRY
) -> tuple[str, dict[str, Any]] | None:
    """The simulator's pick for one sender: a type drawn by weight whose generator has a
    payload, or None after GEN_TRIES draws found nothing."""
    total = sum(t.weight for t in types)
    rng = ctx.rng
    for _ in range(GEN_TRIES):
        roll = rng.random() * total
        for t in types:
            roll -= t.weight
            if roll < 0:
                break
        payload = t.generate(ctx)
        if payload is not None:
            return t.name, payload
    return None
