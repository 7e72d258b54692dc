"""Param kinds (PROTOCOL.md sections 3, 5, 9 and 10): what a param's value is, in JSON (a
pydantic type, so genesis errors keep pydantic's wording and paths), in memory, in state and
on the wire (a proposal's `changes`).

Split out of :mod:`state.params` (a file past ~600 lines is two files), which declares the
params over these kinds and re-exports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, ClassVar, Literal

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


# --- the wire form (a proposal's changes) -------------------------------------------------


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
