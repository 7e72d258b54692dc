"""Chain and pool params (PROTOCOL.md section 3), each declared once.

A param is one line of PoolParams or ChainParams: `param(kind, default, meaning)`. From those
lines come the dataclasses the state machine reads on its hot path (plain slotted attributes),
genesis validation (state/genesis.py builds its models from `genesis_fields`), the JSON of the
`pool` answer, the state encoding, and the tables of the docs (`POOL_PARAMS`, `CHAIN_PARAMS`).
A rule over several params of one set is a function in the set's `RULES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Self, cast

from pydantic import Field

from state.paramkinds import (
    ADDRESS,
    ADDRESS_LIST,
    ATTESTOR_LIST,
    BPS,
    CLAIM_MODE,
    GOV_PERIOD,
    MAX_ATTESTORS,
    MAX_FEED_CHARS,
    POS53,
    TRIGGER,
    TRIGGER_OPS,
    U53,
    AddressKind,
    AddressListKind,
    ChoiceKind,
    Hex32,
    IntKind,
    ParamKind,
    Trigger,
    TriggerKind,
    wire_param,
)

#: the kinds are re-exported: the rest of the node reads them here, with the declarations
__all__ = [
    "ADDRESS",
    "ADDRESS_LIST",
    "ATTESTOR_LIST",
    "BPS",
    "CHAIN_CHANGEABLE",
    "CHAIN_PARAMS",
    "CLAIM_MODE",
    "GOV_PARAMS",
    "GOV_PERIOD",
    "MAX_ATTESTORS",
    "MAX_FEED_CHARS",
    "POOL_CHANGEABLE",
    "POOL_DEFAULTS",
    "POOL_PARAMS",
    "POS53",
    "TRIGGER",
    "TRIGGER_OPS",
    "U53",
    "AddressKind",
    "AddressListKind",
    "ChainParams",
    "ChoiceKind",
    "Hex32",
    "IntKind",
    "ParamKind",
    "ParamSet",
    "ParamSpec",
    "PoolParams",
    "Trigger",
    "TriggerKind",
    "apply_changes",
    "genesis_fields",
    "gov_of",
    "param",
    "required",
    "wire_param",
]

# --- the declaration of one param -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One param as the docs and the validators see it.

    `default` is the JSON value a missing param takes (None when genesis must give it,
    `required`)."""

    name: str
    kind: ParamKind
    default: Any
    meaning: str
    required: bool = False

    @property
    def type_doc(self) -> str:
        return self.kind.name

    @property
    def range_doc(self) -> str:
        return self.kind.range_doc


def param(kind: ParamKind, default: Any, meaning: str) -> Any:
    """A dataclass field declaring a param that takes `default` (its JSON value) when missing."""
    spec = ParamSpec("", kind, default, meaning)
    return field(default=kind.from_json(default), metadata={"param": spec})


def required(kind: ParamKind, meaning: str) -> dict[str, ParamSpec]:
    """The metadata of a param genesis must give: `x: T = field(metadata=required(...))`
    (a plain `field` call, so type checkers know the dataclass needs it)."""
    return {"param": ParamSpec("", kind, None, meaning, required=True)}


#: the governance params: the same names, defaults and ranges in pools and in the chain
#: (PROTOCOL.md section 9), so declared once here and placed in both by `_gov`
_GOV: dict[str, tuple[ParamKind, int, str]] = {
    "gov_deposit": (
        U53,
        100,
        "escrowed on propose; back when turnout reaches quorum, else to {deposit_to}",
    ),
    "gov_voting_period": (GOV_PERIOD, 50, "blocks a proposal takes ballots"),
    "gov_timelock": (
        GOV_PERIOD,
        20,
        "blocks between passing and taking effect (who disagrees may leave)",
    ),
    "gov_quorum_bps": (
        IntKind(1000, 10_000),
        2000,
        "turnout (yes + no + abstain) needed, in bps of the electorate",
    ),
    "gov_threshold_bps": (
        IntKind(5000, 10_000),
        6667,
        "passes when yes * 10000 > gov_threshold_bps * (yes + no)",
    ),
    "gov_max_open": (IntKind(1, 64), 8, "proposals of one scope voting or passed at once"),
}


def _gov(name: str, deposit_to: str = "") -> Any:
    """A fresh dataclass field for governance param `name` (a field object serves one class)."""
    kind, default, meaning = _GOV[name]
    return param(kind, default, meaning.format(deposit_to=deposit_to))


class ParamSet:
    """The behaviour the two param dataclasses share, driven by their `param` fields."""

    __slots__ = ()
    SPECS: ClassVar[tuple[ParamSpec, ...]] = ()
    #: rules over several params: each returns (param name, message) when broken
    RULES: ClassVar[tuple[Callable[[Mapping[str, Any]], tuple[str, str] | None], ...]] = ()
    _converted: ClassVar[tuple[ParamSpec, ...]] = ()

    @classmethod
    def declare(cls) -> None:
        """Collect the `param` fields; called once, right after the dataclass is made."""
        specs = tuple(replace(f.metadata["param"], name=f.name) for f in fields(cast(Any, cls)))
        cls.SPECS = specs
        cls._converted = tuple(s for s in specs if not s.kind.plain)

    def to_json(self) -> dict[str, Any]:
        """Every param, defaults filled, in its JSON form (the `pool` answer's `params`)."""
        return {s.name: s.kind.to_json(getattr(self, s.name)) for s in self.SPECS}

    def to_state(self) -> dict[str, Any]:
        """The state form: msgpack-ready values (addresses as bytes)."""
        d = {s.name: getattr(self, s.name) for s in self.SPECS}
        for s in self._converted:
            d[s.name] = s.kind.to_state(d[s.name])
        return d

    @classmethod
    def from_state(cls, d: Mapping[str, Any]) -> Self:
        if cls._converted:
            d = dict(d)
            for s in cls._converted:
                d[s.name] = s.kind.from_state(d[s.name])
        return cls(**d)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Self:
        """From JSON values already checked against `genesis_fields` (missing: default)."""
        return cls(**{s.name: s.kind.from_json(d[s.name]) for s in cls.SPECS if s.name in d})

    @classmethod
    def fault(cls, d: Mapping[str, Any]) -> tuple[str, str] | None:
        """The first broken rule of a set of JSON values: (path under the set, message).

        The cross-param rules come first, then duplicates in address lists (named by the
        index of the second occurrence)."""
        for rule in cls.RULES:
            broken = rule(d)
            if broken is not None:
                return broken
        for s in cls.SPECS:
            if s.name in d:
                broken = s.kind.fault(d[s.name])
                if broken is not None:
                    return f"{s.name}.{broken[0]}", broken[1]
        return None


def genesis_fields(specs: tuple[ParamSpec, ...]) -> dict[str, Any]:
    """pydantic field definitions (for create_model) checking each param's JSON value."""
    out: dict[str, Any] = {}
    for s in specs:
        if s.required:
            out[s.name] = (s.kind.annotation, ...)
        else:
            out[s.name] = (s.kind.annotation, Field(default_factory=_copier(s.default)))
    return out


def _copier(v: Any) -> Callable[[], Any]:
    return lambda: list(v) if isinstance(v, list) else v


# --- version 1 ------------------------------------------------------------------------------


def _attest_bounds(p: Mapping[str, Any]) -> tuple[str, str] | None:
    """When claim_mode is "attested" or a trigger is set, 1 <= attest_quorum <= len(attestors):
    attestors who could never reach their quorum would leave claims and rounds undecided."""
    if p["claim_mode"] != "attested" and p["trigger"] is None:
        return None
    q, n = p["attest_quorum"], len(p["attestors"])
    if not 1 <= q <= n:
        return "attest_quorum", f"{q} is not in 1..{n} (the number of attestors)"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolParams(ParamSet):
    """The rules of one pool, from genesis, changed by its members' proposals (PROTOCOL.md
    sections 3 and 9)."""

    #: cross-param rules (section 9): attested or triggered pools need attest_quorum in
    #: 1..len(attestors)
    RULES = (_attest_bounds,)

    contribution: int = param(POS53, 100, "amount a member pays to be covered for one period")
    period: int = param(POS53, 100, "blocks of cover bought by one contribution")
    entry_fee: int = param(U53, 10, "paid to the treasury when a member joins")
    waiting_period: int = param(
        U53, 10, "blocks after joining before the member may file a claim (observation)"
    )
    max_claim: int = param(U53, 5000, "largest amount one claim may ask for")
    claim_bond: int = param(
        U53,
        50,
        "held from the claimant while the claim is open; back on payout, to the pool on rejection",
    )
    vote_window: int = param(POS53, 10, "blocks during which members may vote on a claim")
    quorum: int = param(POS53, 2, "fewest votes that decide a claim")
    approve_bps: int = param(
        BPS, 5000, "approved when votes_for * 10000 > approve_bps * (votes_for + votes_against)"
    )
    juror_min_age: int = param(U53, 5, "blocks a member must have been in the pool to vote")
    notice_period: int = param(
        U53, 3, "blocks between the end of voting and the earliest payout (public notice)"
    )
    fee_bps: int = param(BPS, 800, "part of each payout that goes to the treasury, rounded down")
    admission: str = param(
        ChoiceKind(("open", "kyc")),
        "open",
        'who may join: "open" anyone, "kyc" only accounts a registrar marked',
    )
    gov_deposit: int = _gov("gov_deposit", "the pool")
    gov_voting_period: int = _gov("gov_voting_period")
    gov_timelock: int = _gov("gov_timelock")
    gov_quorum_bps: int = _gov("gov_quorum_bps")
    gov_threshold_bps: int = _gov("gov_threshold_bps")
    gov_max_open: int = _gov("gov_max_open")
    claim_mode: str = param(
        CLAIM_MODE,
        "vote",
        '"vote": members decide claims; "attested": attestors decide, a member vote the fallback',
    )
    attestors: tuple[bytes, ...] = param(
        ATTESTOR_LIST, [], "addresses allowed to attest claims and report trigger values"
    )
    attest_quorum: int = param(
        IntKind(1, MAX_ATTESTORS), 1, "attestations (or reports) needed to decide"
    )
    objection_quorum: int = param(
        IntKind(0, 1000),
        3,
        "objections that send an approved claim back to a member vote; 0: no objections",
    )
    trigger: Trigger | None = param(
        TRIGGER, None, "parametric cover: what the attestors' reports are compared with"
    )
    collect_window: int = param(
        IntKind(10, 1_000_000), 1000, "blocks after a parametric event during which members collect"
    )


def _validators_bounds(p: Mapping[str, Any]) -> tuple[str, str] | None:
    """min_validators <= max_validators: an election must be able to seat enough."""
    lo, hi = p["min_validators"], p["max_validators"]
    if lo > hi:
        return "min_validators", f"{lo} is greater than max_validators {hi}"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainParams(ParamSet):
    """The rules of the whole chain, from genesis `params` (PROTOCOL.md sections 3 and 5).

    max_tx_bytes, max_block_txs and block_time_ms are at least 1: a chain where no
    transaction fits, or with no time between blocks, cannot run."""

    min_fee: int = param(U53, 1, "smallest fee a transaction must pay")
    max_tx_bytes: int = param(POS53, 4096, "largest signed transaction, in bytes")
    max_block_txs: int = param(POS53, 5000, "most transactions in one block")
    block_time_ms: int = param(POS53, 1000, "target time between blocks, in milliseconds")
    epoch_length: int = param(POS53, 100, "blocks between validator elections")
    max_validators: int = param(POS53, 21, "most validators an election may seat")
    min_validators: int = param(
        POS53, 4, "fewest validators an election must seat (at most max_validators)"
    )
    max_votes_per_elector: int = param(
        U53, 30, "most candidates one account may vote for in elections"
    )
    treasury: bytes = field(
        metadata=required(
            ADDRESS, "the account that collects fees, entry fees and the share of payouts"
        )
    )
    registrars: tuple[bytes, ...] = param(
        ADDRESS_LIST, [], "accounts allowed to set or clear an account's kyc mark"
    )
    operators: tuple[bytes, ...] = param(
        ADDRESS_LIST, [], "accounts allowed to register a validator candidate"
    )
    gov_deposit: int = _gov("gov_deposit", "the treasury")
    gov_voting_period: int = _gov("gov_voting_period")
    gov_timelock: int = _gov("gov_timelock")
    gov_quorum_bps: int = _gov("gov_quorum_bps")
    gov_threshold_bps: int = _gov("gov_threshold_bps")
    gov_max_open: int = _gov("gov_max_open")

    RULES = (_validators_bounds,)


PoolParams.declare()
ChainParams.declare()

#: the docs' tables, in PROTOCOL.md order
POOL_PARAMS: tuple[ParamSpec, ...] = PoolParams.SPECS
CHAIN_PARAMS: tuple[ParamSpec, ...] = ChainParams.SPECS
POOL_DEFAULTS: dict[str, Any] = {s.name: s.default for s in POOL_PARAMS}


# --- governance: what a proposal may change (PROTOCOL.md section 9) -------------------------

GOV_PARAMS: tuple[str, ...] = tuple(s.name for s in POOL_PARAMS if s.name.startswith("gov_"))

#: pool scope: every pool param, in its genesis range
POOL_CHANGEABLE: dict[str, ParamKind] = {s.name: s.kind for s in POOL_PARAMS}
#: chain scope: these only, in the narrower ranges section 9 gives (nothing else: chain_id,
#: treasury, block_time_ms, epoch_length, max_tx_bytes stay as in genesis)
CHAIN_CHANGEABLE: dict[str, ParamKind] = {
    "min_fee": IntKind(0, 1_000_000),
    "max_block_txs": IntKind(1, 100_000),
    "registrars": ADDRESS_LIST,
    "operators": ADDRESS_LIST,
    "max_validators": IntKind(1, 100),
    "min_validators": IntKind(1, 100),
    "max_votes_per_elector": IntKind(1, 1000),
    **{name: POOL_CHANGEABLE[name] for name in GOV_PARAMS},
}


def apply_changes(
    current: ParamSet, changeable: Mapping[str, ParamKind], changes: Mapping[str, Any]
) -> ParamSet:
    """`current` with the wire `changes` applied, every key changeable, every value valid and
    the set's cross-param rules holding after the whole change; ValueError naming the fault.

    Keys are taken in sorted order so the first fault named is the same on every node."""
    new: dict[str, Any] = {}
    for name in sorted(changes):
        kind = changeable.get(name)
        if kind is None:
            raise ValueError(f"{name}: cannot be changed in this scope")
        try:
            new[name] = wire_param(kind, changes[name])
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    after = replace(cast(Any, current), **new)
    broken = type(current).fault(after.to_state())
    if broken is not None:
        raise ValueError(f"{broken[0]}: {broken[1]}")
    return cast(ParamSet, after)


def gov_of(params: ParamSet) -> dict[str, int]:
    """The gov_ params of a scope, as a proposal copies them at opening."""
    return {name: getattr(params, name) for name in GOV_PARAMS}
