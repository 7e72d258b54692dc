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
from functools import cache
from typing import Annotated, Any, ClassVar, Literal, Self, cast

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from state.codec import MAX_SAFE_INT
from state.hexfmt import HEX32_RULE, is_hex32

# --- kinds: what a param's value is, in JSON, in memory and in state ----------------------


class ParamKind:
    """The type of a param: its JSON check (a pydantic type, so genesis errors keep pydantic's
    wording and paths), and its conversions between JSON, memory and the state encoding.

    The base converts nothing (an int or a str is the same in JSON, memory and state);
    subclasses give their JSON type and convert where the forms differ."""

    __slots__ = ()
    #: the type as the docs name it
    name: ClassVar[str] = "int"
    #: True when the value in memory is already its JSON and its state form
    plain: ClassVar[bool] = True

    @property
    def annotation(self) -> Any:
        """The pydantic type of the JSON value (strict)."""
        raise NotImplementedError

    @property
    def range_doc(self) -> str:
        return ""

    def from_json(self, v: Any) -> Any:
        """Memory form of a JSON value already checked against `annotation`."""
        return v

    def parse(self, v: Any) -> Any:
        """Memory form of one JSON value, checked as genesis checks it; ValueError if bad
        (for a value given alone: a command-line flag, a change of params)."""
        try:
            checked = _adapter(self).validate_python(v)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            raise ValueError(f"{where}: {msg}" if where else msg) from None
        broken = self.fault(checked)
        if broken is not None:
            raise ValueError(f"{broken[0]}: {broken[1]}")
        return self.from_json(checked)

    def fault(self, v: Any) -> tuple[str, str] | None:
        """A fault of a JSON value that pydantic's type cannot name precisely: (the element's
        path under the param, message)."""
        return None

    def to_json(self, v: Any) -> Any:
        return v

    def to_state(self, v: Any) -> Any:
        return v

    def from_state(self, v: Any) -> Any:
        return v


@cache
def _adapter(kind: ParamKind) -> TypeAdapter[Any]:
    return TypeAdapter(kind.annotation)


def _bound(n: int) -> str:
    return "2^53-1" if n == MAX_SAFE_INT else str(n)


@dataclass(frozen=True, slots=True)
class IntKind(ParamKind):
    """An integer in lo..hi (JSON: a number; bool, float and "1" refused)."""

    lo: int
    hi: int = MAX_SAFE_INT

    @property
    def annotation(self) -> Any:
        return Annotated[int, Field(strict=True, ge=self.lo, le=self.hi)]

    @property
    def range_doc(self) -> str:
        return f"{_bound(self.lo)}..{_bound(self.hi)}"


@dataclass(frozen=True, slots=True)
class ChoiceKind(ParamKind):
    """One of a few fixed strings."""

    options: tuple[str, ...]
    name: ClassVar[str] = "string"

    @property
    def annotation(self) -> Any:
        return Literal[self.options]

    @property
    def range_doc(self) -> str:
        return " or ".join(f'"{o}"' for o in self.options)


def _hex32(v: str) -> str:
    if not is_hex32(v):
        raise ValueError(f"bad hex: {HEX32_RULE}")
    return v.lower()


#: an address in JSON, for pydantic: 64 hex characters, lower-cased once checked
Hex32 = Annotated[str, AfterValidator(_hex32)]


@dataclass(frozen=True, slots=True)
class AddressKind(ParamKind):
    """An address: 32 bytes in memory and state, 64 hex characters (either case) in JSON."""

    name: ClassVar[str] = "address"
    plain: ClassVar[bool] = False

    @property
    def annotation(self) -> Any:
        return Hex32

    def from_json(self, v: Any) -> Any:
        return bytes.fromhex(v)

    def to_json(self, v: Any) -> Any:
        return v.hex()

    def to_state(self, v: Any) -> Any:
        return v


@dataclass(frozen=True, slots=True)
class AddressListKind(ParamKind):
    """Addresses without duplicates (at most `max_items` when given): a tuple of 32-byte values
    in memory, a list in state and JSON. Duplicates are found by `fault`, after the type
    check, so the error names the index."""

    max_items: int | None = None
    name: ClassVar[str] = "address list"
    plain: ClassVar[bool] = False

    @property
    def annotation(self) -> Any:
        if self.max_items is None:
            return list[Hex32]
        return Annotated[list[Hex32], Field(max_length=self.max_items)]

    @property
    def range_doc(self) -> str:
        if self.max_items is None:
            return "no duplicates"
        return f"0..{self.max_items} entries, no duplicates"

    def fault(self, v: Any) -> tuple[str, str] | None:
        seen: set[Any] = set()
        for i, a in enumerate(v):
            if a in seen:
                return str(i), f"duplicate address {a!r}"
            seen.add(a)
        return None

    def from_json(self, v: Any) -> Any:
        return tuple(bytes.fromhex(a) for a in v)

    def to_json(self, v: Any) -> Any:
        return [a.hex() for a in v]

    def to_state(self, v: Any) -> Any:
        return list(v)

    def from_state(self, v: Any) -> Any:
        return tuple(v)


#: the ops a trigger may compare with (section 10)
TRIGGER_OPS: tuple[str, ...] = (">=", "<=")
MAX_FEED_CHARS = 64


@dataclass(frozen=True, slots=True)
class Trigger:
    """A pool's parametric trigger (section 10): an event opens when the round's value
    `op` threshold holds; each eligible member may then collect up to `payout`."""

    feed: str
    op: str
    threshold: int
    payout: int

    def holds(self, value: int) -> bool:
        """`value op threshold`."""
        return value >= self.threshold if self.op == ">=" else value <= self.threshold

    def to_state(self) -> dict[str, Any]:
        """The map form (JSON and state alike), keys in sorted order."""
        return {
            "feed": self.feed,
            "op": self.op,
            "payout": self.payout,
            "threshold": self.threshold,
        }

    @classmethod
    def from_map(cls, d: Mapping[str, Any]) -> Trigger:
        return cls(d["feed"], d["op"], d["threshold"], d["payout"])


def _valid_text(v: str) -> str:
    """JSON may carry lone surrogates; they have no UTF-8 (so no canonical) form."""
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return v


@with_config(ConfigDict(extra="forbid", strict=True))
class _TriggerJson(TypedDict):
    """The JSON map of a trigger, for pydantic (every key required, no other key)."""

    feed: Annotated[
        str, Field(min_length=1, max_length=MAX_FEED_CHARS), AfterValidator(_valid_text)
    ]
    op: Literal[">=", "<="]
    threshold: Annotated[int, Field(strict=True, ge=-MAX_SAFE_INT, le=MAX_SAFE_INT)]
    payout: Annotated[int, Field(strict=True, ge=1, le=MAX_SAFE_INT)]


@dataclass(frozen=True, slots=True)
class TriggerKind(ParamKind):
    """nil or a trigger map {feed, op, threshold, payout}: a `Trigger` (or None) in memory, the
    map (or nil) in JSON and state."""

    name: ClassVar[str] = "trigger"
    plain: ClassVar[bool] = False

    @property
    def annotation(self) -> Any:
        return _TriggerJson | None

    @property
    def range_doc(self) -> str:
        return (
            f'null or {{feed: str 1..{MAX_FEED_CHARS}, op: ">=" or "<=",'
            " threshold: int -(2^53-1)..2^53-1, payout: int > 0}"
        )

    def from_json(self, v: Any) -> Any:
        return None if v is None else Trigger.from_map(v)

    def to_json(self, v: Any) -> Any:
        return None if v is None else v.to_state()

    def to_state(self, v: Any) -> Any:
        return None if v is None else v.to_state()

    def from_state(self, v: Any) -> Any:
        return None if v is None else Trigger.from_map(v)


U53 = IntKind(0)
POS53 = IntKind(1)
GOV_PERIOD = IntKind(10, 100_000)
BPS = IntKind(0, 10_000)
ADDRESS = AddressKind()
ADDRESS_LIST = AddressListKind()
#: most attestors a pool may name (section 10)
MAX_ATTESTORS = 32
ATTESTOR_LIST = AddressListKind(MAX_ATTESTORS)
CLAIM_MODE = ChoiceKind(("vote", "attested"))
TRIGGER = TriggerKind()


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


def wire_param(kind: ParamKind, v: Any) -> Any:
    """Memory form of a param value as a payload carries it (msgpack: addresses are bin), or
    ValueError naming the fault (a proposal's `changes`: any fault is invalid_payload)."""
    if isinstance(kind, IntKind):
        if type(v) is not int or not kind.lo <= v <= kind.hi:
            raise ValueError(f"must be an integer in {kind.range_doc}")
        return v
    if isinstance(kind, ChoiceKind):
        if type(v) is not str or v not in kind.options:
            raise ValueError(f"must be {kind.range_doc}")
        return v
    if isinstance(kind, AddressListKind):
        if type(v) is not list or any(type(a) is not bytes or len(a) != 32 for a in v):
            raise ValueError("must be an array of 32-byte addresses")
        if kind.max_items is not None and len(v) > kind.max_items:
            raise ValueError(f"more than {kind.max_items} addresses")
        if len(set(v)) != len(v):
            raise ValueError("duplicate addresses")
        return tuple(v)
    if isinstance(kind, TriggerKind):
        return _wire_trigger(v)
    raise ValueError(f"cannot be changed (kind {kind.name})")


def _wire_trigger(v: Any) -> Trigger | None:
    """A trigger as a payload carries it: nil, or the map of exactly its four keys."""
    if v is None:
        return None
    if type(v) is not dict or set(v) != {"feed", "op", "threshold", "payout"}:
        raise ValueError("must be nil or a map of feed, op, threshold and payout")
    feed, op, threshold, payout = v["feed"], v["op"], v["threshold"], v["payout"]
    if type(feed) is not str or not 1 <= len(feed) <= MAX_FEED_CHARS:
        raise ValueError(f"feed must be a string of 1..{MAX_FEED_CHARS} characters")
    if type(op) is not str or op not in TRIGGER_OPS:
        raise ValueError('op must be ">=" or "<="')
    if type(threshold) is not int or not -MAX_SAFE_INT <= threshold <= MAX_SAFE_INT:
        raise ValueError("threshold must be an integer in -(2^53-1)..2^53-1")
    if type(payout) is not int or not 1 <= payout <= MAX_SAFE_INT:
        raise ValueError("payout must be an integer in 1..2^53-1")
    return Trigger(feed, op, threshold, payout)


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
