"""The vocabulary node/methods.py declares the JSON-RPC methods in: parameter kinds, ``Param``,
``Method`` and the pieces of result schemas.

A kind keeps a parameter's check, its JSON Schema and its command-line form together, so the
server, ``rpc.discover`` and ``huzhu query`` cannot disagree on what a value may be; the
table itself (``METHODS``) is in node/methods.py.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.api import BROADCAST_MODES, EVENT_KINDS
from node.config import RpcConfig
from node.jsonrpc import INVALID_PARAMS, RpcError
from state.codec import MAX_SAFE_INT
from state.crypto import KEY_LEN, SIG_LEN
from state.fieldkinds import cli_hex32, cli_positive
from state.hexfmt import HEX32_RULE, HEX_BYTES_RULE, is_hex32
from state.model import CLAIM_STATUSES

#: the limits a schema states when no server's config is given
DEFAULT_CONFIG = RpcConfig()


def invalid_param(param: str, message: str) -> RpcError:
    """The -32602 error of one parameter: PROTOCOL.md section 6 wants the message to name it."""
    return RpcError(INVALID_PARAMS, f"invalid params: {param}: {message}")


# --- parameter kinds -------------------------------------------------------------------------


def _same(v: Any) -> Any:
    return v


def _hex_of(v: Any) -> Any:
    """What a Python caller may pass for a binary value: bytes or hex text."""
    return bytes(v).hex() if isinstance(v, bytes | bytearray) else v


def _is_int(v: Any) -> bool:
    return type(v) is int  # bool is an int subclass; section 1: never an integer


@dataclass(frozen=True, slots=True)
class Kind:
    """A parameter's type: its check, JSON Schema and command-line form, kept together so the
    server, the OpenRPC document and ``huzhu query`` cannot disagree on what a value may be."""

    name: str
    #: how the value travels in JSON, and what the node's handler receives
    doc: str
    #: (param name, JSON value, limits) -> typed value; raises -32602 naming the param
    check: Callable[[str, Any, RpcConfig], Any]
    schema: Callable[[RpcConfig], dict[str, Any]]
    #: argparse ``type`` of the ``huzhu query`` argument (None: the text as given)
    cli: Callable[[str], Any] | None = None
    #: argparse ``choices``
    choices: tuple[str, ...] = ()
    #: a Python client's value -> its JSON value
    to_json: Callable[[Any], Any] = _same
    #: a valid command-line value (tests run every query form with it)
    example: str = ""
    #: on the command line a bare ``--name`` switch (true when given) instead of a value
    flag: bool = False


def cli_nonneg(value: str) -> int:
    """argparse type of an integer >= 0 (a height, a fee, a nonce)."""
    try:
        n = int(value, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be >= 0")
    return n


def _check_hex32(name: str, v: Any, _cfg: RpcConfig) -> bytes:
    if not is_hex32(v):
        raise invalid_param(name, HEX32_RULE)
    return bytes.fromhex(v)


def _check_hex(name: str, v: Any, _cfg: RpcConfig) -> bytes:
    """What state.hexfmt.is_hex_bytes accepts, decoded in one pass instead of a regex match
    and then a decode (a broadcast_tx's wire is hundreds of hex digits). bytes.fromhex alone
    also skips whitespace between pairs: two digits per byte rules that out."""
    if isinstance(v, str):
        try:
            raw = bytes.fromhex(v)
        except ValueError:
            pass
        else:
            if 2 * len(raw) == len(v):
                return raw
    raise invalid_param(name, HEX_BYTES_RULE)


def _check_str(name: str, v: Any, _cfg: RpcConfig) -> str:
    if not isinstance(v, str):
        raise invalid_param(name, "must be a string")
    return v


def _check_height(name: str, v: Any, _cfg: RpcConfig) -> int:
    # Any integer: a height outside the method's range is -32001 from the node, not -32602.
    if not _is_int(v) or abs(v) > MAX_SAFE_INT:
        raise invalid_param(name, "must be an integer height")
    return int(v)


def _check_limit(name: str, v: Any, cfg: RpcConfig) -> int:
    if not _is_int(v) or not 1 <= v <= cfg.max_claims_limit:
        raise invalid_param(name, f"must be an integer in 1..{cfg.max_claims_limit}")
    return int(v)


def choice(name: str, options: tuple[str, ...], example: str = "") -> Kind:
    """A string that is one of `options`."""

    def check(param: str, v: Any, _cfg: RpcConfig) -> str:
        if not isinstance(v, str) or v not in options:
            raise invalid_param(param, "must be one of " + ", ".join(f'"{o}"' for o in options))
        return v

    return Kind(
        name,
        "one of " + ", ".join(f'"{o}"' for o in options),
        check,
        lambda _cfg: {"type": "string", "enum": list(options)},
        choices=options,
        example=example or options[0],
    )


HASH32 = Kind(
    "hash32",
    f"{2 * KEY_LEN} hex characters, either case; {KEY_LEN} bytes to the node",
    _check_hex32,
    lambda _cfg: {"type": "string", "pattern": f"^[0-9a-fA-F]{{{2 * KEY_LEN}}}$"},
    cli=cli_hex32,
    to_json=_hex_of,
    example="ab" * KEY_LEN,
)
HEX = Kind(
    "hex",
    "hex of any number of bytes, either case; bytes to the node",
    _check_hex,
    lambda _cfg: {"type": "string", "pattern": "^(?:[0-9a-fA-F]{2})*$"},
    to_json=_hex_of,
    example="00",
)
STRING = Kind(
    "string",
    "any string",
    _check_str,
    lambda _cfg: {"type": "string"},
    example="medical",
)
HEIGHT = Kind(
    "height",
    "an integer; one outside the method's range is -32001",
    _check_height,
    lambda _cfg: {"type": "integer", "minimum": -MAX_SAFE_INT, "maximum": MAX_SAFE_INT},
    cli=cli_nonneg,
    example="1",
)
LIMIT = Kind(
    "limit",
    "an integer from 1 to the node's max_claims_limit, 1000 by default",
    _check_limit,
    lambda cfg: {"type": "integer", "minimum": 1, "maximum": cfg.max_claims_limit},
    cli=cli_positive,
    example="5",
)


def _check_bool(name: str, v: Any, _cfg: RpcConfig) -> bool:
    if type(v) is not bool:
        raise invalid_param(name, "must be true or false")
    return v


FLAG = Kind(
    "flag",
    "true or false",
    _check_bool,
    lambda _cfg: {"type": "boolean"},
    flag=True,
    example="",
)
CLAIM_STATUS = choice("claim_status", CLAIM_STATUSES)
BROADCAST_MODE = choice("broadcast_mode", BROADCAST_MODES)
EVENT_KIND = choice("event_kind", EVENT_KINDS)

#: the largest position of a transaction in a block (a be32 in the account-history index)
MAX_TX_INDEX = 2**32 - 1
_CURSOR_RULE = (
    f'must be an object {{"height", "index"}} of integers, height in 0..{MAX_SAFE_INT}, '
    f"index in 0..{MAX_TX_INDEX}"
)


def _check_cursor(name: str, v: Any, _cfg: RpcConfig) -> tuple[int, int]:
    if not isinstance(v, dict) or v.keys() != {"height", "index"}:
        raise invalid_param(name, _CURSOR_RULE)
    height, index = v["height"], v["index"]
    if not (_is_int(height) and _is_int(index)):
        raise invalid_param(name, _CURSOR_RULE)
    if not (0 <= height <= MAX_SAFE_INT and 0 <= index <= MAX_TX_INDEX):
        raise invalid_param(name, _CURSOR_RULE)
    return height, index


def cli_cursor(value: str) -> dict[str, int]:
    """argparse type of a ``HEIGHT:INDEX`` position (the ``before`` of ``txs``)."""
    h, sep, i = value.partition(":")
    try:
        if not sep:
            raise ValueError
        height, index = int(h, 10), int(i, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not HEIGHT:INDEX") from None
    if not (0 <= height <= MAX_SAFE_INT and 0 <= index <= MAX_TX_INDEX):
        raise argparse.ArgumentTypeError(f"{value!r}: height or index out of range")
    return {"height": height, "index": index}


def _cursor_json(v: Any) -> Any:
    """A Python caller may pass (height, index) as a pair."""
    if isinstance(v, tuple | list) and len(v) == 2:
        return {"height": v[0], "index": v[1]}
    return v


TX_CURSOR = Kind(
    "tx_cursor",
    '{"height", "index"}: a transaction\'s position; HEIGHT:INDEX on the command line',
    _check_cursor,
    lambda _cfg: {
        "type": "object",
        "properties": {
            "height": {"type": "integer", "minimum": 0, "maximum": MAX_SAFE_INT},
            "index": {"type": "integer", "minimum": 0, "maximum": MAX_TX_INDEX},
        },
        "required": ["height", "index"],
        "additionalProperties": False,
    },
    cli=cli_cursor,
    to_json=_cursor_json,
    example="5:0",
)


@dataclass(frozen=True, slots=True)
class Param:
    """One named parameter of a method."""

    name: str
    kind: Kind
    doc: str
    required: bool = True
    #: what the handler gets when the param is absent or null (optional params only)
    default: Any = None
    #: on the command line: a positional argument (else ``--name``); default: when required
    positional: bool | None = None

    @property
    def schema(self) -> dict[str, Any]:
        """The JSON Schema under the default RpcConfig."""
        return self.schema_for(DEFAULT_CONFIG)

    def schema_for(self, cfg: RpcConfig) -> dict[str, Any]:
        schema = self.kind.schema(cfg)
        if not self.required and self.default is not None:
            schema["default"] = self.default
        return schema

    @property
    def cli_positional(self) -> bool:
        return self.required if self.positional is None else self.positional

    def check(self, value: Any, cfg: RpcConfig) -> Any:
        return self.kind.check(self.name, value, cfg)


@dataclass(frozen=True, slots=True)
class Method:
    """One JSON-RPC method."""

    name: str
    summary: str
    params: tuple[Param, ...]
    result_doc: str
    result_schema: dict[str, Any]
    #: only over the WebSocket (/ws): its handler gets the connection first
    ws_only: bool = False
    #: a ``huzhu query`` subcommand (reads); writes and subscriptions have other forms
    query: bool = True
    #: JSON-RPC errors besides -32602 the node answers, with when (for rpc.discover and docs)
    errors: tuple[tuple[int, str], ...] = ()

    @property
    def py_name(self) -> str:
        """Its name as a Python method (client, node handler): ``rpc.discover`` -> rpc_discover."""
        return self.name.replace(".", "_")

    @property
    def cli_name(self) -> str:
        """Its ``huzhu query`` subcommand: ``net_info`` -> net-info."""
        return self.name.replace("_", "-").replace(".", "-")


# --- result schemas ----------------------------------------------------------------------------

HEX32_OUT = {"type": "string", "pattern": f"^[0-9a-f]{{{2 * KEY_LEN}}}$"}
SIG_OUT = {"type": "string", "pattern": f"^[0-9a-f]{{{2 * SIG_LEN}}}$"}
UINT = {"type": "integer", "minimum": 0}
INT = {"type": "integer"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
TIME = {"type": "string", "description": "RFC 3339, UTC"}


def null_or(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(optional: tuple[str, ...] = (), /, **props: dict[str, Any]) -> dict[str, Any]:
    """An object with these properties, all required but `optional`; more may be added."""
    return {
        "type": "object",
        "properties": props,
        "required": [k for k in props if k not in optional],
    }


def list_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


TX_RESULT = obj(
    ("height", "index"),
    hash=HEX32_OUT,
    code=INT,
    error=null_or(STR),
    log=STR,
    height=UINT,
    index=UINT,
)
CLAIM = obj(
    id=HEX32_OUT,
    pool=STR,
    claimant=HEX32_OUT,
    amount=UINT,
    evidence=HEX32_OUT,
    opened_at=UINT,
    closes_at=UINT,
    votes_for=UINT,
    votes_against=UINT,
    voters=list_of(obj(address=HEX32_OUT, approve=BOOL)),
    status={"type": "string", "enum": list(CLAIM_STATUSES)},
    payable_at=null_or(UINT),
    terms={"type": "object"},
    stage={"type": "string", "enum": ["attestation", "jury"]},
    attest_for=UINT,
    attest_against=UINT,
    attestations=list_of(obj(attestor=HEX32_OUT, approve=BOOL, report=HEX32_OUT)),
    objections=list_of(HEX32_OUT),
    objected=BOOL,
)
VALIDATOR = obj(operator=HEX32_OUT, consensus_key=HEX32_OUT, name=STR, power=UINT)
CANDIDATE = obj(
    operator=HEX32_OUT, consensus_key=HEX32_OUT, name=STR, votes=UINT, barred_until=UINT
)
