"""Field kinds of transaction payloads: each kind is one object owning every form of its values.

A kind knows its wire check (decode_tx: `malformed` naming `payload.<field>`), its JSON parsing
and rendering (RPC and CLI input: ValueError naming the field; hex for binary values) and its
command-line argument (flag, help, conversion to the JSON form). A transaction type lists
`Field(name, kind)` pairs (state/txtypes.py), so a new type with the fields of existing kinds
needs no new checking, parsing or CLI code, and the three forms of one kind cannot drift.

The wire check is on the mempool's hot path: it is a plain type test, with the message built
only when it fails.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from state.codec import MAX_SAFE_INT
from state.crypto import KEY_LEN
from state.errors import Code, TxError
from state.hexfmt import is_hex32
from state.params import ChainParams

#: limits from chain params by name (payload_from_json knows them only when told)
Limits = Mapping[str, int]
#: a bound `FieldKind.check`: (field key, wire value, chain params), raises `malformed`
WireCheck = Callable[[str, Any, ChainParams], None]


def malformed(key: str, rule: str) -> TxError:
    """The `malformed` refusal of payload field `key` (the message names the field)."""
    return TxError(Code.MALFORMED, f"payload.{key}: {rule}")


def _is_text(v: str) -> bool:
    """False for strings with lone surrogates (possible in JSON, impossible in msgpack)."""
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def cli_hex32(value: str) -> str:
    """argparse type of a 32-byte hex value (address, key, hash, claim id): lowercase hex."""
    v = value.strip()
    if not is_hex32(v):
        raise argparse.ArgumentTypeError(f"{value!r} is not 64 hex characters")
    return v.lower()


def cli_positive(value: str) -> int:
    """argparse type of an integer > 0."""
    try:
        n = int(value, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be > 0")
    return n


def cli_bool(value: str) -> bool:
    """argparse type of a yes/no answer in the words people type."""
    v = value.strip().lower()
    if v in ("true", "yes", "1", "approve"):
        return True
    if v in ("false", "no", "0", "reject"):
        return False
    raise argparse.ArgumentTypeError(f"{value!r} is not true or false")


@dataclass(frozen=True, slots=True)
class Field:
    """One payload field: its key, its kind, and what the CLI says about it.

    `negation` names a second flag that sets a bool field to false (`--reject`)."""

    name: str
    kind: FieldKind
    help: str = ""
    negation: str | None = None
    #: the CLI flag's word when it is not the field's name (`--text` for text_hash)
    cli: str | None = None

    @property
    def flag(self) -> str:
        return "--" + (self.cli or self.name).replace("_", "-")


class FieldKind:
    """Base of the kinds: `name` and `doc` describe it in the generated reference."""

    name: str = ""
    doc: str = ""

    def check(self, key: str, v: Any, params: ChainParams) -> None:
        """Raise `malformed` unless `v` is a wire value of this kind (decode_tx)."""
        raise NotImplementedError

    def from_json(self, key: str, v: Any, limits: Limits) -> Any:
        """The wire value of the JSON value `v`, or ValueError starting with `key:`."""
        raise NotImplementedError

    def to_json(self, v: Any) -> Any:
        """The JSON form of a wire value (identity unless the kind holds bytes)."""
        return v

    def add_argument(self, parser: argparse.ArgumentParser, field: Field) -> None:
        """Add the field's flag; the parsed value is in the JSON form (see `from_cli`)."""
        parser.add_argument(
            field.flag, dest=field.name, required=True, help=field.help or None, **self._cli()
        )

    def _cli(self) -> dict[str, Any]:
        return {}

    def from_cli(self, v: Any) -> Any:
        """The JSON value of what argparse parsed for the field."""
        return v

    def cli_args(self, field: Field, v: Any) -> list[str]:
        """The command-line words that give the field the JSON value `v` (examples, docs)."""
        return [field.flag, str(v)]

    #: True when the CLI value names a file whose sha256 is the field's value: the CLI
    #: (node/cli_tx.py) reads and hashes it, since state/ does no I/O
    cli_hashes_file: bool = False

    def __repr__(self) -> str:
        return f"<field kind {self.name}>"


class Bin32(FieldKind):
    """bin of exactly 32 bytes; 64 hex characters (either case) in JSON."""

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.doc = doc

    def check(self, key: str, v: Any, params: ChainParams) -> None:
        if type(v) is not bytes or len(v) != KEY_LEN:
            raise malformed(key, f"must be bin of {KEY_LEN} bytes")

    def from_json(self, key: str, v: Any, limits: Limits) -> bytes:
        if not is_hex32(v):
            raise ValueError(f"{key}: must be {2 * KEY_LEN} hex characters")
        return bytes.fromhex(v)

    def to_json(self, v: Any) -> Any:
        return v.hex() if isinstance(v, bytes) else v

    def _cli(self) -> dict[str, Any]:
        return {"type": cli_hex32}


class Amount(FieldKind):
    """An integer > 0 (the codec bounds it by 2^53-1 on the wire)."""

    name = "amount"
    doc = "int > 0 (at most 2^53-1)"

    def check(self, key: str, v: Any, params: ChainParams) -> None:
        if type(v) is not int or v <= 0:
            raise malformed(key, "must be an integer > 0")

    def from_json(self, key: str, v: Any, limits: Limits) -> int:
        if type(v) is not int or not 0 < v <= MAX_SAFE_INT:
            raise ValueError(f"{key}: must be an integer in 1..2^53-1")
        return v

    def _cli(self) -> dict[str, Any]:
        return {"type": cli_positive}


def cli_int(value: str) -> int:
    """argparse type of an integer (any sign; the kind checks its range)."""
    try:
        return int(value.strip(), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None


class Int(FieldKind):
    """An integer in lo..hi (bool refused)."""

    def __init__(self, name: str, lo: int, hi: int = MAX_SAFE_INT) -> None:
        self.name = name
        self.lo = lo
        self.hi = hi
        self._range = f"{_bound(lo)}..{_bound(hi)}"
        self.doc = f"int in {self._range}"

    def check(self, key: str, v: Any, params: ChainParams) -> None:
        if type(v) is not int or not self.lo <= v <= self.hi:
            raise malformed(key, f"must be an integer in {self._range}")

    def from_json(self, key: str, v: Any, limits: Limits) -> int:
        if type(v) is not int or not self.lo <= v <= self.hi:
            raise ValueError(f"{key}: must be an integer in {self._range}")
        return v

    def _cli(self) -> dict[str, Any]:
        return {"type": cli_int}

    def cli_args(self, field: Field, v: Any) -> list[str]:
        # `--value=-5`: a separate "-5" could read as a flag
        return [f"{field.flag}={v}"]


def _bound(n: int) -> str:
    if n == MAX_SAFE_INT:
        return "2^53-1"
    if n == -MAX_SAFE_INT:
        return "-(2^53-1)"
    return str(n)


class Text(FieldKind):
    """A string, optionally of min_chars..max_chars code points."""

    def __init__(
        self, name: str, doc: str, min_chars: int = 0, max_chars: int | None = None
    ) -> None:
        self.name = name
        self.doc = doc
        self.min_chars = min_chars
        self.max_chars = max_chars
        self._bounded = min_chars > 0 or max_chars is not None
        top = "" if max_chars is None else str(max_chars)
        self._bounds = f"{min_chars}..{top}"

    def _fits(self, v: str) -> bool:
        n = len(v)
        return n >= self.min_chars and (self.max_chars is None or n <= self.max_chars)

    def check(self, key: str, v: Any, params: ChainParams) -> None:
        if type(v) is not str:
            raise malformed(key, self._wire_rule())
        if self._bounded and not self._fits(v):
            raise malformed(key, self._wire_rule())

    def _wire_rule(self) -> str:
        return f"must be a string of {self._bounds} chars" if self._bounded else "must be a string"

    def from_json(self, key: str, v: Any, limits: Limits) -> str:
        if type(v) is not str or not _is_text(v) or (self._bounded and not self._fits(v)):
            if self._bounded:
                raise ValueError(f"{key}: must be a string of {self._bounds} characters")
            raise ValueError(f"{key}: must be a string")
        return v


class Bool(FieldKind):
    """true or false (never 0/1). On the command line `--FIELD [BOOL]`, plus the field's
    `negation` flag when it has one."""

    name = "bool"
    doc = "bool"

    def check(self, key: str, v: Any, params: ChainParams) -> None:
        if type(v) is not bool:
            raise malformed(key, "must be a boolean")

    def from_json(self, key: str, v: Any, limits: Limits) -> bool:
        if type(v) is not bool:
            raise ValueError(f"{key}: must be true or false")
        return v

    def add_argument(self, parser: argparse.ArgumentParser, field: Field) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        help = field.help or None
        if field.negation:
            help = field.help or f"{field.name} (or {field.flag} false)"
        group.add_argument(
            field.flag,
            dest=field.name,
            nargs="?",
            const=True,
            type=cli_bool,
            metavar="BOOL",
            help=help,
        )
        if field.negation:
            group.add_argument("--" + field.negation, dest=field.name, action="store_false")

    def cli_args(self, field: Field, v: Any) -> list[str]:
        return [field.flag, "true" if v else "false"]


class Choice(FieldKind):
    """One of a fixed set of strings."""

    def __init__(self, name: str, options: tuple[str, ...]) -> None:
        self.name = name
        self.options = options
        self._set = frozenset(options)
        self.doc = "str, one of " + ", ".join(options)

    def check(self, key: str, v: Any, params: ChainParams) -> None:
        if type(v) is not str or v not in self._set:
            raise malformed(key, "must be one of " + ", ".join(self.options))

    def from_json(self, key: str, v: Any, limits: Limits) -> str:
        if type(v) is not str or v not in self._set:
            raise ValueError(f"{key}: must be one of " + ", ".join(self.options))
        return v

    def _cli(self) -> dict[str, Any]:
        return {"choices": self.options}


class AddressList(FieldKind):
    """An array of distinct bin(32) values, at most the chain param `limit_param` of them."""

    def __init__(self, name: str, doc: str, limit_param: str) -> None:
        self.name = name
        self.doc = doc
        self.limit_param = limit_param

    def check(self, key: str, v: Any, params: ChainParams) -> None:
        if type(v) is not list:
            raise malformed(key, "must be an array")
        limit = getattr(params, self.limit_param)
        if len(v) > limit:
            raise malformed(key, f"more than {limit} entries")
        for c in v:
            if type(c) is not bytes or len(c) != KEY_LEN:
                raise malformed(key, f"entries must be bin of {KEY_LEN} bytes")
        if len(set(v)) != len(v):
            raise malformed(key, "duplicate entries")

    def from_json(self, key: str, v: Any, limits: Limits) -> list[bytes]:
        if type(v) is not list:
            raise ValueError(f"{key}: must be an array of addresses")
        items = [self._entry(f"{key}.{i}", c) for i, c in enumerate(v)]
        if len(set(items)) != len(items):
            raise ValueError(f"{key}: duplicate entries")
        limit = limits.get(self.limit_param)
        if limit is not None and len(items) > limit:
            raise ValueError(f"{key}: more than {limit} entries")
        return items

    @staticmethod
    def _entry(key: str, v: Any) -> bytes:
        if not is_hex32(v):
            raise ValueError(f"{key}: must be {2 * KEY_LEN} hex characters")
        return bytes.fromhex(v)

    def to_json(self, v: Any) -> Any:
        if not isinstance(v, list):
            return v
        return [c.hex() if isinstance(c, bytes) else c for c in v]

    def _cli(self) -> dict[str, Any]:
        # comma- or space-separated; `--FIELD` alone or "" gives the empty list
        return {"type": _cli_hex32_list, "nargs": "*"}

    def from_cli(self, v: Any) -> Any:
        return [c for group in v for c in group]

    def cli_args(self, field: Field, v: Any) -> list[str]:
        return [field.flag, *v]


class FileHash(Bin32):
    """bin(32): the sha256 of a document; on the command line the document's path (the CLI
    reads and hashes the file, `cli_hashes_file`)."""

    cli_hashes_file = True

    def _cli(self) -> dict[str, Any]:
        return {"metavar": "FILE"}


#: params whose values are address lists: hex in JSON, bin on the wire
_ADDRESS_PARAMS = frozenset(("registrars", "operators", "attestors"))


def _cli_setting(value: str) -> tuple[str, Any]:
    """argparse type of `--set NAME=VALUE`: VALUE read as JSON, else a bare string."""
    name, sep, raw = value.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{value!r} is not NAME=VALUE")
    try:
        v = json.loads(raw)
    except ValueError:
        v = raw
    return name, v


class ParamMap(FieldKind):
    """A map of min_keys..max_keys str keys (param name -> new value); the values are checked
    when the transaction executes (any fault there is invalid_payload, not malformed)."""

    def __init__(self, name: str, min_keys: int, max_keys: int) -> None:
        self.name = name
        self.min_keys = min_keys
        self.max_keys = max_keys
        self.doc = f"map of {min_keys} to {max_keys} str keys (param name -> new value)"

    def check(self, key: str, v: Any, params: ChainParams) -> None:
        if type(v) is not dict or not self.min_keys <= len(v) <= self.max_keys:
            raise malformed(key, f"must be a map of {self.min_keys} to {self.max_keys} entries")
        for k in v:
            if type(k) is not str:
                raise malformed(key, "keys must be strings")

    def from_json(self, key: str, v: Any, limits: Limits) -> dict[str, Any]:
        if type(v) is not dict or not self.min_keys <= len(v) <= self.max_keys:
            raise ValueError(f"{key}: must be an object of {self.min_keys} to {self.max_keys} keys")
        out: dict[str, Any] = {}
        for k, x in v.items():
            if not _is_text(k):
                raise ValueError(f"{key}: keys must be valid text")
            if k in _ADDRESS_PARAMS and type(x) is list:
                x = [AddressList._entry(f"{key}.{k}.{i}", a) for i, a in enumerate(x)]
            out[k] = x
        return out

    def to_json(self, v: Any) -> Any:
        return _json_of(v)

    def add_argument(self, parser: argparse.ArgumentParser, field: Field) -> None:
        parser.add_argument(
            "--set",
            dest=field.name,
            action="append",
            required=True,
            type=_cli_setting,
            metavar="NAME=VALUE",
            help=field.help or "a param and its new value (JSON; a bare word is a string)",
        )

    def from_cli(self, v: Any) -> Any:
        return dict(v)

    def cli_args(self, field: Field, v: Any) -> list[str]:
        out: list[str] = []
        for k, x in v.items():
            out += ["--set", f"{k}={x if isinstance(x, str) else json.dumps(x)}"]
        return out


def _json_of(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, list):
        return [_json_of(x) for x in v]
    if isinstance(v, dict):
        return {k: _json_of(x) for k, x in v.items()}
    return v


def _cli_hex32_list(value: str) -> list[str]:
    return [cli_hex32(p) for p in value.split(",") if p.strip()]


ADDRESS = Bin32("address", "bin(32): an account address; 64 hex characters in JSON")
HASH = Bin32("hash", "bin(32): a 32-byte hash or id; 64 hex characters in JSON")
KEY = Bin32("key", "bin(32): an Ed25519 public key; 64 hex characters in JSON")
AMOUNT = Amount()
POOL_ID = Text("pool id", "str: any string (an unknown pool is not_found at execution)")
MAX_NAME_CHARS = 64
NAME = Text("name", f"str of 1..{MAX_NAME_CHARS} code points", 1, MAX_NAME_CHARS)
BOOL = Bool()
CANDIDATES = AddressList(
    "address list",
    "array of bin(32), at most max_votes_per_elector, no duplicates",
    "max_votes_per_elector",
)
MAX_CHANGES = 16
MAX_TITLE_CHARS = 120
CHANGES = ParamMap("param map", 1, MAX_CHANGES)
TITLE = Text("title", f"str of 1..{MAX_TITLE_CHARS} code points", 1, MAX_TITLE_CHARS)
TEXT_HASH = FileHash(
    "text hash", "bin(32): sha256 of the proposal's text; on the command line the text's file"
)
CHOICE = Choice("choice", ("yes", "no", "abstain"))
ROUND = Int("round", 0)
VALUE = Int("value", -MAX_SAFE_INT)
