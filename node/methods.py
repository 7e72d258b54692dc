"""The JSON-RPC methods of PROTOCOL.md section 6, declared once: ``METHODS``.

Each method is one entry: its params (each with the check that turns JSON into the typed
argument the node gets, its JSON Schema, whether it is required, its default), its result
(a line of prose and a JSON Schema) and whether it needs a WebSocket. Everything else is
derived from the table, so a method cannot exist in one place and be missing in another:
the server's parameter checks and dispatch (node/rpc.py; a declared method without a handler
fails when the server is built), the ``RpcClient``/``SyncRpcClient`` methods
(node/client.py), the ``huzhu query`` subcommands (node/cli_query.py), the answer of
``rpc.discover`` (an OpenRPC document, :func:`openrpc_document`) and the reference docs.

Methods the server does not answer itself are the node's method of the same name
(node/service.py), called with the params by keyword as their checks typed them.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from node.api import BROADCAST_MODES, EVENT_KINDS
from node.config import RpcConfig
from node.jsonrpc import INVALID_PARAMS, LIMIT_EXCEEDED, NOT_FOUND, RpcError
from state.codec import MAX_SAFE_INT
from state.crypto import KEY_LEN, SIG_LEN
from state.hexfmt import HEX32_RULE, HEX_BYTES_RULE, is_hex32, is_hex_bytes
from state.model import CLAIM_STATUSES, MEMBER_STATUSES

#: the OpenRPC version `rpc.discover` answers in
OPENRPC_VERSION = "1.2.6"
_DEFAULT_CONFIG = RpcConfig()


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


def _cli_hex32(value: str) -> str:
    v = value.strip()
    if not is_hex32(v):
        raise argparse.ArgumentTypeError(f"{value!r} is not {2 * KEY_LEN} hex characters")
    return v.lower()


def _cli_int(low: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            n = int(value, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
        if n < low:
            raise argparse.ArgumentTypeError(f"{value!r} must be {'> 0' if low else '>= 0'}")
        return n

    return parse


def _check_hex32(name: str, v: Any, _cfg: RpcConfig) -> bytes:
    if not is_hex32(v):
        raise invalid_param(name, HEX32_RULE)
    return bytes.fromhex(v)


def _check_hex(name: str, v: Any, _cfg: RpcConfig) -> bytes:
    if not is_hex_bytes(v):
        raise invalid_param(name, HEX_BYTES_RULE)
    return bytes.fromhex(v)


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
    f"{2 * KEY_LEN} hex characters, either case ({KEY_LEN} bytes to the node)",
    _check_hex32,
    lambda _cfg: {"type": "string", "pattern": f"^[0-9a-fA-F]{{{2 * KEY_LEN}}}$"},
    cli=_cli_hex32,
    to_json=_hex_of,
    example="ab" * KEY_LEN,
)
HEX = Kind(
    "hex",
    "hex of any number of bytes, either case (bytes to the node)",
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
    "an integer (outside the method's range: -32001)",
    _check_height,
    lambda _cfg: {"type": "integer", "minimum": -MAX_SAFE_INT, "maximum": MAX_SAFE_INT},
    cli=_cli_int(0),
    example="1",
)
LIMIT = Kind(
    "limit",
    "an integer from 1 to the node's max_claims_limit (1000 by default)",
    _check_limit,
    lambda cfg: {"type": "integer", "minimum": 1, "maximum": cfg.max_claims_limit},
    cli=_cli_int(1),
    example="5",
)
CLAIM_STATUS = choice("claim_status", CLAIM_STATUSES)
BROADCAST_MODE = choice("broadcast_mode", BROADCAST_MODES)
EVENT_KIND = choice("event_kind", EVENT_KINDS)


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
        return self.schema_for(_DEFAULT_CONFIG)

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

_HEX32_OUT = {"type": "string", "pattern": f"^[0-9a-f]{{{2 * KEY_LEN}}}$"}
_SIG_OUT = {"type": "string", "pattern": f"^[0-9a-f]{{{2 * SIG_LEN}}}$"}
_UINT = {"type": "integer", "minimum": 0}
_INT = {"type": "integer"}
_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
_TIME = {"type": "string", "description": "RFC 3339, UTC"}


def _null_or(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _obj(optional: tuple[str, ...] = (), **props: dict[str, Any]) -> dict[str, Any]:
    """An object with these properties, all required but `optional`; more may be added."""
    return {
        "type": "object",
        "properties": props,
        "required": [k for k in props if k not in optional],
    }


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


_TX_RESULT = _obj(
    ("height", "index"),
    hash=_HEX32_OUT,
    code=_INT,
    error=_null_or(_STR),
    log=_STR,
    height=_UINT,
    index=_UINT,
)
_CLAIM = _obj(
    id=_HEX32_OUT,
    pool=_STR,
    claimant=_HEX32_OUT,
    amount=_UINT,
    evidence=_HEX32_OUT,
    opened_at=_UINT,
    closes_at=_UINT,
    votes_for=_UINT,
    votes_against=_UINT,
    voters=_list(_obj(address=_HEX32_OUT, approve=_BOOL)),
    status={"type": "string", "enum": list(CLAIM_STATUSES)},
    payable_at=_null_or(_UINT),
)
_VALIDATOR = _obj(operator=_HEX32_OUT, consensus_key=_HEX32_OUT, name=_STR, power=_UINT)
_CANDIDATE = _obj(
    operator=_HEX32_OUT, consensus_key=_HEX32_OUT, name=_STR, votes=_UINT, barred_until=_UINT
)
_UNKNOWN = "when unknown"

# --- the table -----------------------------------------------------------------------------------

METHODS: tuple[Method, ...] = (
    Method(
        "status",
        "the node's status",
        (),
        "chain_id, node_id (the node key, hex), height (latest committed, 0 before block 1), "
        "block_hash (null at height 0), state_root (after that block), time (of that block; "
        "genesis_time at height 0), validator (this node's key is in the next height's set), "
        "catching_up (block sync in progress), peers (connected peers)",
        _obj(
            chain_id=_STR,
            node_id=_HEX32_OUT,
            height=_UINT,
            block_hash=_null_or(_HEX32_OUT),
            state_root=_HEX32_OUT,
            time=_TIME,
            validator=_BOOL,
            catching_up=_BOOL,
            peers=_UINT,
        ),
    ),
    Method(
        "broadcast_tx",
        "submit a signed transaction",
        (
            Param("tx", HEX, "the transaction's wire bytes"),
            Param(
                "mode",
                BROADCAST_MODE,
                '"async": answer before any check; "sync": after admission; "commit": after '
                "execution in a committed block",
                required=False,
                default="sync",
            ),
        ),
        "hash, code, error (null on success, else a name of section 7), log. A refused "
        "transaction is an answer with code != 0, not a JSON-RPC error. async answers code 0 "
        "at once; commit, when admitted, answers hash, height, index, code, error, log of the "
        'execution, or code -1, error "timeout" after the commit timeout (30 s; outcome '
        "unknown, not failed)",
        _TX_RESULT,
        query=False,
    ),
    Method(
        "tx",
        "a committed transaction",
        (Param("hash", HASH32, "sha256 of the wire bytes"),),
        "hash, height, index, code, error, log, type, sender, nonce, fee, payload (JSON form)",
        {
            **_TX_RESULT,
            "properties": {
                **_TX_RESULT["properties"],
                "type": _STR,
                "sender": _HEX32_OUT,
                "nonce": _UINT,
                "fee": _UINT,
                "payload": {"type": "object"},
            },
            "required": [
                *("hash", "height", "index", "code", "error", "log"),
                *("type", "sender", "nonce", "fee", "payload"),
            ],
        },
        errors=((NOT_FOUND, "unknown or still pending"),),
    ),
    Method(
        "block",
        "a block (default: latest)",
        (Param("height", HEIGHT, "default: the latest", required=False, positional=True),),
        "height, hash, prev_hash, time, proposer (consensus key), state_root, tx_root, txs "
        "(hashes in order), commit (round and the precommit signatures this node holds for "
        "the block, the latest included; null when it holds none)",
        _obj(
            height=_UINT,
            hash=_HEX32_OUT,
            prev_hash=_HEX32_OUT,
            time=_TIME,
            proposer=_HEX32_OUT,
            state_root=_HEX32_OUT,
            tx_root=_HEX32_OUT,
            txs=_list(_HEX32_OUT),
            commit=_null_or(
                _obj(round=_UINT, signatures=_list(_obj(validator=_HEX32_OUT, signature=_SIG_OUT)))
            ),
        ),
        errors=((NOT_FOUND, "height outside 1..latest"),),
    ),
    Method(
        "account",
        "an account",
        (Param("address", HASH32, "the account's public key"),),
        "address, balance, nonce, pending_nonce (the nonce plus the consecutive pending "
        "nonces from it in this node's mempool), kyc; an unseen account reads as zeros",
        _obj(address=_HEX32_OUT, balance=_UINT, nonce=_UINT, pending_nonce=_UINT, kyc=_BOOL),
    ),
    Method(
        "pool",
        "a pool",
        (Param("id", STRING, "the pool id"),),
        "id, name, balance, params (all, defaults filled), members (count per status)",
        _obj(
            id=_STR,
            name=_STR,
            balance=_UINT,
            params={"type": "object"},
            members=_obj(**{s: _UINT for s in MEMBER_STATUSES}),
        ),
        errors=((NOT_FOUND, _UNKNOWN),),
    ),
    Method(
        "member",
        "a pool member",
        (Param("pool", STRING, "the pool id"), Param("address", HASH32, "the member")),
        "pool, address, joined_at, paid_through, status (at the latest height)",
        _obj(
            pool=_STR,
            address=_HEX32_OUT,
            joined_at=_UINT,
            paid_through=_INT,
            status={"type": "string", "enum": list(MEMBER_STATUSES)},
        ),
        errors=((NOT_FOUND, "unknown pool, or never a member"),),
    ),
    Method(
        "claim",
        "a claim",
        (Param("id", HASH32, "the claim id"),),
        "every claim field of section 3",
        _CLAIM,
        errors=((NOT_FOUND, _UNKNOWN),),
    ),
    Method(
        "claims",
        "a pool's claims, oldest first",
        (
            Param("pool", STRING, "the pool id"),
            Param("status", CLAIM_STATUS, "only claims with this status", required=False),
            Param("limit", LIMIT, "at most this many", required=False, default=100),
        ),
        "a list of claims as `claim` answers them, oldest first ([] for a pool without any)",
        _list(_CLAIM),
        errors=((NOT_FOUND, "unknown pool"),),
    ),
    Method(
        "validators",
        "a validator set (default: next height)",
        (
            Param(
                "height",
                HEIGHT,
                "the height the set precommits; default: the next (latest + 1)",
                required=False,
                positional=True,
            ),
        ),
        "height, validators (list of operator, consensus_key, name, power)",
        _obj(height=_UINT, validators=_list(_VALIDATOR)),
        errors=((NOT_FOUND, "height outside 1..latest + 2"),),
    ),
    Method(
        "candidates",
        "validator candidates",
        (),
        "a list of operator, consensus_key, name, votes, barred_until",
        _list(_CANDIDATE),
    ),
    Method(
        "genesis",
        "the genesis document",
        (),
        "the genesis document as the node read it (hex lower-cased)",
        {"type": "object", "properties": {"chain_id": _STR}, "required": ["chain_id"]},
    ),
    Method(
        "net_info",
        "connected peers",
        (),
        'peers: list of node_id, address, direction ("in": the peer dialed us, or "out")',
        _obj(
            peers=_list(_obj(node_id=_HEX32_OUT, address=_STR, direction={"enum": ["in", "out"]}))
        ),
    ),
    Method(
        "subscribe",
        "receive events on this WebSocket",
        (Param("event", EVENT_KIND, "new_block: each committed block; tx: each transaction"),),
        'a subscription id; then notifications {jsonrpc, method: "event", params: '
        "{subscription, event, data}} with data the block or the tx result",
        _STR,
        ws_only=True,
        query=False,
        errors=((LIMIT_EXCEEDED, "too many subscriptions on this connection"),),
    ),
    Method(
        "unsubscribe",
        "stop a subscription",
        (Param("subscription", STRING, "an id that subscribe answered"),),
        "true",
        {"const": True},
        ws_only=True,
        query=False,
        errors=((NOT_FOUND, "unknown subscription id"),),
    ),
    Method(
        "rpc.discover",
        "this API as an OpenRPC document",
        (),
        f"an OpenRPC {OPENRPC_VERSION} document of every method: params, result, errors",
        {"type": "object", "required": ["openrpc", "info", "methods"]},
    ),
)

BY_NAME: dict[str, Method] = {m.name: m for m in METHODS}


def _check_table(methods: tuple[Method, ...]) -> None:
    """Refuse a table that contradicts itself, at import time."""
    seen: set[str] = set()
    for m in methods:
        if m.name in seen or m.py_name in seen:
            raise ValueError(f"RPC method {m.name!r} declared twice")
        seen.update((m.name, m.py_name))
        if not m.py_name.isidentifier():
            raise ValueError(f"RPC method {m.name!r}: not a Python name")
        if m.ws_only and m.query:
            raise ValueError(f"RPC method {m.name!r}: ws-only methods have no query form")
        names = [p.name for p in m.params]
        if len(set(names)) != len(names):
            raise ValueError(f"RPC method {m.name!r}: a parameter declared twice")
        for p in m.params:
            if not p.name.isidentifier():
                raise ValueError(f"RPC method {m.name!r}: parameter {p.name!r} not a Python name")
            if p.required and p.default is not None:
                raise ValueError(f"RPC method {m.name!r}: required {p.name!r} has a default")


_check_table(METHODS)


# --- handlers ------------------------------------------------------------------------------------


def bind_handlers(
    node: Any, own: Mapping[str, Callable[..., Any]]
) -> dict[str, Callable[..., Any]]:
    """The handler of every declared method: ``own[name]`` when the server answers it itself,
    else the node's method of the same Python name.

    Raises ValueError when a method has no handler, a handler has no method, or a handler's
    parameter names differ from the table's, so the mistake stops the server from being
    built instead of turning into a KeyError or TypeError in some client's call."""
    unknown = sorted(set(own) - BY_NAME.keys())
    if unknown:
        raise ValueError(f"handlers for undeclared RPC methods: {', '.join(unknown)}")
    handlers: dict[str, Callable[..., Any]] = {}
    for m in METHODS:
        fn = own.get(m.name) or getattr(node, m.py_name, None)
        if not callable(fn):
            raise ValueError(
                f"no handler for RPC method {m.name!r}: "
                f"{type(node).__name__} has no method {m.py_name}()"
            )
        check_signature(m, fn, skip=1 if m.ws_only else 0)
        handlers[m.name] = fn if m.name in own else _late(node, m.py_name)
    return handlers


def _late(node: Any, name: str) -> Callable[..., Any]:
    """Calls the node's method as it is at call time (a node may swap one, as tests do)."""
    return lambda **kwargs: getattr(node, name)(**kwargs)


def check_signature(m: Method, fn: Callable[..., Any], skip: int = 0) -> None:
    """ValueError unless `fn` takes exactly `m`'s params by name (after `skip` leading ones)."""
    sig = list(inspect.signature(fn).parameters.values())[skip:]
    got = [p.name for p in sig if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    want = [p.name for p in m.params]
    if got != want:
        raise ValueError(
            f"handler {getattr(fn, '__qualname__', fn)!r} of RPC method {m.name!r} takes "
            f"({', '.join(got)}), the table declares ({', '.join(want)})"
        )


# --- OpenRPC -------------------------------------------------------------------------------------


def _version() -> str:
    try:
        return metadata.version("huzhu")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def openrpc_document(cfg: RpcConfig | None = None) -> dict[str, Any]:
    """The answer of ``rpc.discover``: every method of the table as an OpenRPC document.

    `cfg` sets the limits the schemas state (``limit``'s maximum is the node's)."""
    cfg = cfg or _DEFAULT_CONFIG
    methods = []
    for m in METHODS:
        errors = [{"code": INVALID_PARAMS, "message": "invalid params: the message names it"}]
        errors += [{"code": code, "message": when} for code, when in m.errors]
        entry: dict[str, Any] = {
            "name": m.name,
            "summary": m.summary,
            "paramStructure": "by-name",
            "params": [
                {
                    "name": p.name,
                    "description": f"{p.doc} ({p.kind.doc})",
                    "required": p.required,
                    "schema": p.schema_for(cfg),
                }
                for p in m.params
            ],
            "result": {"name": "result", "description": m.result_doc, "schema": m.result_schema},
            "errors": errors if m.params else errors[1:],
        }
        if m.ws_only:
            entry["description"] = "WebSocket (/ws) only: over HTTP it is -32601."
        methods.append(entry)
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "huzhu",
            "version": _version(),
            "description": "JSON-RPC 2.0 over HTTP POST / and WebSocket /ws of a huzhu node.",
        },
        "methods": methods,
    }
