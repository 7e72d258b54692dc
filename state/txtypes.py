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
from typing import Any

from state.attest import AttestRules
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
from state.parametric import ParametricRules
from state.rules import TxRules
from state.txgen import (
    GenContext,
    Generator,
    GenView,
    Rng,
    gen_admit,
    gen_attest,
    gen_ballot,
    gen_claim,
    gen_collect,
    gen_elect,
    gen_join,
    gen_leave,
    gen_object,
    gen_pay,
    gen_payout,
    gen_propose,
    gen_register_candidate,
    gen_report,
    gen_transfer,
    gen_vote,
)

#: the generators' types are re-exported: the simulator reads them here, with the registry
__all__ = [
    "BY_NAME",
    "GEN_TRIES",
    "REGISTRY",
    "TX_TYPES",
    "GenContext",
    "GenView",
    "Generator",
    "Rng",
    "Rule",
    "TxType",
    "generate",
]

#: a rule: (the block executor, the transaction, its index in the block) -> its event
Rule = Callable[[Any, Any, int], dict[str, Any]]


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
        generate=gen_transfer,
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
        generate=gen_admit,
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
        generate=gen_join,
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
        generate=gen_pay,
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
        generate=gen_leave,
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
        generate=gen_claim,
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
        generate=gen_vote,
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
        generate=gen_payout,
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
        generate=gen_register_candidate,
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
        generate=gen_elect,
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
        generate=gen_propose,
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
        generate=gen_ballot,
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
        generate=gen_attest,
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
        generate=gen_object,
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
        generate=gen_report,
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
        generate=gen_collect,
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
