"""The genesis file (PROTOCOL.md section 5): validated once at start, refused loudly when wrong.

pydantic (strict: no bool for int, no "1" for 1, no 1.0 for 1; unknown keys refused) checks
the shape and the ranges of section 3 (the params' models are built from their declarations
in state/params.py); the cross-field rules (duplicates, supply, min <= max) are checked
afterwards so that each message names the exact field, e.g.
`validators.1.consensus_key: duplicate consensus key`.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model

from state import codec
from state.codec import MAX_SAFE_INT
from state.crypto import sha256
from state.fieldkinds import MAX_NAME_CHARS
from state.model import CHAIN_SCOPE
from state.params import (
    CHAIN_PARAMS,
    POOL_PARAMS,
    ChainParams,
    Hex32,
    ParamSet,
    PoolParams,
    genesis_fields,
)

MAX_CHAIN_ID_CHARS = 50
MAX_POOL_ID_CHARS = 32

_POOL_ID = re.compile(r"[a-z0-9-]{1,32}")
_RFC3339_UTC = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|\+00:00)"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class GenesisError(ValueError):
    """A genesis document that breaks section 5; `field` is the dotted path of the culprit."""

    def __init__(self, field: str, message: str, more: list[str] | None = None) -> None:
        text = f"{field}: {message}"
        if more:
            text += "; " + "; ".join(more)
        super().__init__(text)
        self.field = field
        self.message = message


# --- field types -------------------------------------------------------------------------


def _text(v: str) -> str:
    """JSON may carry lone surrogates ("\\ud800"); they have no UTF-8 (so no canonical) form."""
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return v


def _pool_id(v: str) -> str:
    if not _POOL_ID.fullmatch(v):
        raise ValueError(f"must be 1 to {MAX_POOL_ID_CHARS} characters of a-z, 0-9, -")
    if v == CHAIN_SCOPE:
        raise ValueError(f"{CHAIN_SCOPE!r} is the chain's governance scope, not a pool id")
    return v


def _power(v: int) -> int:
    if v != 1:
        raise ValueError("must be 1")
    return v


def _p2p(v: str) -> str:
    host, sep, port = v.rpartition(":")
    if not sep or not host or not port.isascii() or not port.isdigit():
        raise ValueError("must be host:port")
    if not 1 <= int(port) <= 65535:
        raise ValueError("port must be in 1..65535")
    return v


def parse_rfc3339_utc_ms(v: str) -> int:
    """Milliseconds since the Unix epoch of an RFC 3339 UTC time (`Z` or `+00:00`).

    Digits beyond milliseconds are truncated; times before 1970 are refused."""
    m = _RFC3339_UTC.fullmatch(v)
    if m is None:
        raise ValueError("must be an RFC 3339 UTC time like 2026-11-26T00:00:00Z")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    try:
        dt = datetime(y, mo, d, h, mi, s, tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"not a valid date/time: {exc}") from None
    if dt < _EPOCH:
        raise ValueError("must not be before 1970-01-01T00:00:00Z")
    frac = m.group(7)
    ms = int((frac[1:] + "00")[:3]) if frac else 0
    return (dt - _EPOCH) // timedelta(milliseconds=1) + ms


def _rfc3339(v: str) -> str:
    parse_rfc3339_utc_ms(v)
    return v


U53 = Annotated[int, Field(strict=True, ge=0, le=MAX_SAFE_INT)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS), AfterValidator(_text)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# The params' models come from their declarations; mypy sees them as plain models, read
# through model_dump.
if TYPE_CHECKING:
    PoolParamsModel: TypeAlias = _Model
    ChainParamsModel: TypeAlias = _Model
else:
    PoolParamsModel = create_model(
        "PoolParamsModel", __base__=_Model, **genesis_fields(POOL_PARAMS)
    )
    ChainParamsModel = create_model(
        "ChainParamsModel", __base__=_Model, **genesis_fields(CHAIN_PARAMS)
    )


class ValidatorModel(_Model):
    name: Name
    operator: Hex32
    consensus_key: Hex32
    power: Annotated[int, Field(strict=True), AfterValidator(_power)]
    p2p: Annotated[str, AfterValidator(_text), AfterValidator(_p2p)]


class AccountModel(_Model):
    address: Hex32
    balance: U53


class PoolModel(_Model):
    id: Annotated[str, AfterValidator(_pool_id)]
    name: Name
    params: PoolParamsModel = Field(default_factory=PoolParamsModel)


class GenesisModel(_Model):
    chain_id: Annotated[
        str, Field(min_length=1, max_length=MAX_CHAIN_ID_CHARS), AfterValidator(_text)
    ]
    genesis_time: Annotated[str, AfterValidator(_rfc3339)]
    params: ChainParamsModel
    validators: Annotated[list[ValidatorModel], Field(min_length=1)]
    accounts: list[AccountModel]
    pools: list[PoolModel]


# --- the parsed result -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GenesisValidator:
    name: str
    operator: bytes
    consensus_key: bytes
    power: int
    p2p: str


@dataclass(frozen=True, slots=True)
class GenesisAccount:
    address: bytes
    balance: int


@dataclass(frozen=True, slots=True)
class GenesisPool:
    id: str
    name: str
    params: PoolParams


@dataclass(frozen=True, slots=True)
class Genesis:
    """A validated genesis document.

    `params.operators` is the file's `operators` followed by the validators' operators
    not already listed (genesis validators are candidates of their operators).
    """

    chain_id: str
    genesis_time: str
    genesis_time_ms: int
    params: ChainParams
    validators: list[GenesisValidator]
    accounts: list[GenesisAccount]
    pools: list[GenesisPool]
    _doc: dict[str, Any] = field(repr=False, compare=False)
    _hash: bytes = field(repr=False, compare=False)

    @property
    def supply(self) -> int:
        """Total supply at genesis: the sum of the account balances."""
        return sum(a.balance for a in self.accounts)

    def to_json(self) -> dict[str, Any]:
        """The parsed document: exactly the keys the file had (omitted optional keys stay
        omitted, no defaults filled, validators' operators not merged into `operators`),
        values as given except hex strings, which are lower-cased. A fresh copy."""
        return copy.deepcopy(self._doc)

    def hash(self) -> bytes:
        """sha256 of the canonical msgpack of `to_json()` (block 1's prev_hash).

        Whitespace, key order and hex case of the file do not change it; adding a key
        whose value equals its default does. Computed once, at parse time."""
        return self._hash


# --- parsing -----------------------------------------------------------------------------


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "genesis"


def _msg(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def _first_duplicate(values: list[Any]) -> int | None:
    seen: set[Any] = set()
    for i, v in enumerate(values):
        if v in seen:
            return i
        seen.add(v)
    return None


def _param_checks(path: str, cls: type[ParamSet], values: dict[str, Any]) -> None:
    broken = cls.fault(values)
    if broken is not None:
        raise GenesisError(f"{path}.{broken[0]}", broken[1])


def _cross_checks(m: GenesisModel, params: dict[str, Any], pools: list[dict[str, Any]]) -> None:
    """Rules that span fields: the params' own rules (validator bounds, duplicate addresses),
    duplicate ids and keys, total supply."""
    _param_checks("params", ChainParams, params)
    checks: list[tuple[str, str, list[Any]]] = [
        ("validators", "operator", [v.operator for v in m.validators]),
        ("validators", "consensus_key", [v.consensus_key for v in m.validators]),
        ("accounts", "address", [a.address for a in m.accounts]),
        ("pools", "id", [pool.id for pool in m.pools]),
    ]
    for base, attr, values in checks:
        i = _first_duplicate(values)
        if i is not None:
            raise GenesisError(f"{base}.{i}.{attr}", f"duplicate {attr} {values[i]!r}")
    for i, pool_params in enumerate(pools):
        _param_checks(f"pools.{i}.params", PoolParams, pool_params)
    total = 0
    for i, a in enumerate(m.accounts):
        total += a.balance
        if total > MAX_SAFE_INT:
            raise GenesisError(
                f"accounts.{i}.balance", "total supply exceeds 2^53-1 (9007199254740991)"
            )


def parse_genesis(obj: Any) -> Genesis:
    """Validate a parsed JSON genesis document; raise GenesisError naming the field."""
    if not isinstance(obj, dict):
        raise GenesisError("genesis", "must be a JSON object")
    try:
        m = GenesisModel.model_validate(obj)
    except ValidationError as exc:
        errs = exc.errors(include_url=False)
        first, rest = errs[0], errs[1:]
        raise GenesisError(
            _loc(first["loc"]),
            _msg(first["msg"]),
            [f"{_loc(e['loc'])}: {_msg(e['msg'])}" for e in rest],
        ) from None
    chain_params = m.params.model_dump()
    pool_params = [pool.params.model_dump() for pool in m.pools]
    _cross_checks(m, chain_params, pool_params)
    doc = m.model_dump(mode="python", exclude_unset=True)
    # genesis validators are candidates of their operators: those join `operators`
    operators = list(chain_params["operators"])
    for v in m.validators:
        if v.operator not in operators:
            operators.append(v.operator)
    params = ChainParams.from_json({**chain_params, "operators": operators})
    return Genesis(
        chain_id=m.chain_id,
        genesis_time=m.genesis_time,
        genesis_time_ms=parse_rfc3339_utc_ms(m.genesis_time),
        params=params,
        validators=[
            GenesisValidator(
                name=v.name,
                operator=bytes.fromhex(v.operator),
                consensus_key=bytes.fromhex(v.consensus_key),
                power=v.power,
                p2p=v.p2p,
            )
            for v in m.validators
        ],
        accounts=[GenesisAccount(bytes.fromhex(a.address), a.balance) for a in m.accounts],
        pools=[
            GenesisPool(pool.id, pool.name, PoolParams.from_json(values))
            for pool, values in zip(m.pools, pool_params, strict=True)
        ],
        _doc=doc,
        _hash=sha256(codec.encode(doc)),
    )


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise GenesisError("genesis", f"duplicate JSON key {k!r}")
        out[k] = v
    return out


def _no_constants(name: str) -> Any:
    raise GenesisError("genesis", f"{name} is not valid JSON")


def parse_genesis_bytes(data: bytes) -> Genesis:
    """Parse genesis JSON bytes (UTF-8; duplicate keys, NaN and Infinity refused)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GenesisError("genesis", f"not UTF-8: {exc}") from None
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except GenesisError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, huge int literals, nesting
        raise GenesisError("genesis", f"not JSON: {exc}") from None
    return parse_genesis(obj)


def load_genesis(path: Any) -> Genesis:
    """Read and validate a genesis.json file; every problem is a GenesisError."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise GenesisError("genesis", f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_genesis_bytes(data)
