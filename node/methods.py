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

import copy
import inspect
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

from node.config import RpcConfig
from node.jsonrpc import INVALID_PARAMS, LIMIT_EXCEEDED, NOT_FOUND
from node.rpcspec import (
    BOOL,
    BROADCAST_MODE,
    CANDIDATE,
    CLAIM,
    CLAIM_STATUS,
    DEFAULT_CONFIG,
    EVENT_KIND,
    FLAG,
    HASH32,
    HEIGHT,
    HEX,
    HEX32_OUT,
    INT,
    LIMIT,
    SIG_OUT,
    STR,
    STRING,
    TIME,
    TX_CURSOR,
    TX_RESULT,
    UINT,
    VALIDATOR,
    Kind,
    Method,
    Param,
    choice,
    cli_nonneg,
    invalid_param,
    list_of,
    null_or,
    obj,
)
from state.codec import MAX_SAFE_INT
from state.model import MEMBER_STATUSES, PROPOSAL_STATUSES
from state.params import (
    CHAIN_PARAMS,
    GOV_PARAMS,
    AddressKind,
    AddressListKind,
    IntKind,
    ParamSpec,
)

__all__ = [
    "BY_NAME",
    "METHODS",
    "OPENRPC_VERSION",
    "Kind",
    "Method",
    "Param",
    "bind_handlers",
    "check_signature",
    "check_table",
    "invalid_param",
    "openrpc_document",
]

#: the OpenRPC version `rpc.discover` answers in
OPENRPC_VERSION = "1.2.6"
_UNKNOWN = "when unknown"
# the start of the server's message for each error a method declares
_ERROR_NAMES = {NOT_FOUND: "not found", LIMIT_EXCEEDED: "limit exceeded"}


# --- governance result schemas (derived from the param declarations) ------------------------------


def _param_schema(spec: ParamSpec) -> dict[str, Any]:
    """The JSON Schema of one chain param's JSON value, from its kind."""
    kind = spec.kind
    if isinstance(kind, IntKind):
        return {"type": "integer", "minimum": kind.lo, "maximum": kind.hi}
    if isinstance(kind, AddressKind):
        return HEX32_OUT
    if isinstance(kind, AddressListKind):
        return list_of(HEX32_OUT)
    return {}  # a kind without a schema here: any JSON value


#: every chain param in force, defaults filled (the `params` answer)
CHAIN_PARAMS_OUT = obj(**{s.name: _param_schema(s) for s in CHAIN_PARAMS})
#: the gov params a proposal runs under, copied from its scope when it opened
GOV_PARAMS_OUT = obj(**dict.fromkeys(GOV_PARAMS, UINT))
PROPOSAL = obj(
    id=HEX32_OUT,
    scope=STR,
    proposer=HEX32_OUT,
    changes={"type": "object", "minProperties": 1},
    title=STR,
    text_hash=HEX32_OUT,
    opened_at=UINT,
    closes_at=UINT,
    electorate=UINT,
    yes=UINT,
    no=UINT,
    abstain=UINT,
    status={"type": "string", "enum": list(PROPOSAL_STATUSES)},
    enact_at=null_or(UINT),
    gov=GOV_PARAMS_OUT,
)
PROPOSAL_STATUS = choice("proposal_status", PROPOSAL_STATUSES)
#: one duplicate vote carried by a block (the `evidence` of `block`)
EVIDENCE_OUT = obj(
    id=HEX32_OUT,
    validator=HEX32_OUT,
    height=UINT,
    round=UINT,
    type={"type": "string", "enum": ["prevote", "precommit"]},
    block_id_a=null_or(HEX32_OUT),
    block_id_b=null_or(HEX32_OUT),
)
#: a committed transaction as `tx` answers it (and each item of `txs`)
TX_OUT = obj(
    hash=HEX32_OUT,
    height=UINT,
    index=UINT,
    code=INT,
    error=null_or(STR),
    log=STR,
    type=STR,
    sender=HEX32_OUT,
    nonce=UINT,
    fee=UINT,
    payload={"type": "object"},
)


# --- section 11: reads at a height, with proofs ---------------------------------------------------

#: the proof fields a read answers with ``prove: true`` (docs/protocol.md section 11)
PROOF_OUT = obj(
    proof=obj(
        key=STR,
        value=null_or(STR),
        leaf=null_or(list_of(HEX32_OUT)),
        siblings=list_of(list_of(HEX32_OUT)),
    ),
    header=obj(
        chain_id=STR,
        height=UINT,
        time_ms=UINT,
        prev_hash=HEX32_OUT,
        proposer=HEX32_OUT,
        tx_root=HEX32_OUT,
        state_root=HEX32_OUT,
        last_commit_hash=HEX32_OUT,
        evidence_hash=HEX32_OUT,
        validators_hash=HEX32_OUT,
        hash=HEX32_OUT,
    ),
    commit=obj(
        height=UINT,
        round=UINT,
        block_id=HEX32_OUT,
        signatures=list_of(obj(validator=HEX32_OUT, signature=SIG_OUT)),
    ),
)
_PRUNED = "below the retained state (message: pruned), 0, or above the latest"
PROVE = Param(
    "prove",
    FLAG,
    "also answer proof, header and commit (section 11); an absent record then answers "
    "its proof of absence instead of -32001",
    required=False,
    default=False,
)
#: the two params of every provable point read: one line per method in the table
AT_HEIGHT: tuple[Param, ...] = (
    Param(
        "height",
        HEIGHT,
        "read the state after this block; default: the latest",
        required=False,
    ),
    PROVE,
)
_PROVEN_DOC = (
    "; with prove: also proof (key, value, leaf, siblings), header (every field, and hash) "
    "and commit (height, round, block_id, signatures)"
)


def provable(schema: dict[str, Any]) -> dict[str, Any]:
    """A read's result schema: the record (proof fields added with prove), or, with prove
    and an absent record, only the proof fields."""
    with_proof = copy.deepcopy(schema)
    with_proof["properties"] = {**schema["properties"], **PROOF_OUT["properties"]}
    return {"anyOf": [schema, with_proof, PROOF_OUT]}


# --- section 10: parametric events ----------------------------------------------------------------


def _check_round(name: str, v: Any, _cfg: RpcConfig) -> int:
    # A round is >= 0 on the wire (the payloads of report and collect), so a negative one is a
    # malformed request here too, not a round that was never reached.
    if type(v) is not int or not 0 <= v <= MAX_SAFE_INT:
        raise invalid_param(name, f"must be an integer in 0..{MAX_SAFE_INT}")
    return v


#: a parametric round of a pool (section 10): an integer >= 0
ROUND = Kind(
    "round",
    f"an integer from 0 to {MAX_SAFE_INT}",
    _check_round,
    lambda _cfg: {"type": "integer", "minimum": 0, "maximum": MAX_SAFE_INT},
    cli=cli_nonneg,
    example="0",
)
#: a parametric event: what the event's record holds, `escrow` and `collected` as they are now
EVENT = obj(
    pool=STR,
    round=UINT,
    value=INT,
    height=UINT,
    eligible=UINT,
    per_member=UINT,
    fee_bps=UINT,
    collect_until=UINT,
    escrow=UINT,
    collected=UINT,
)


# --- the table -----------------------------------------------------------------------------------

METHODS: tuple[Method, ...] = (
    Method(
        "status",
        "the node's status",
        (),
        "chain_id, node_id (the node key, hex), height (latest committed, 0 before block 1), "
        "block_hash (null at height 0), state_root (after that block), time (of that block; "
        "genesis_time at height 0), validator (this node's key is in the next height's set), "
        "catching_up (block sync in progress), peers (connected peers), stalled_since (null, or "
        "when a step of this node first failed since its last committed block), last_error "
        "(null, or that failure, at most 200 characters), clock_offset_ms (null, or the "
        "estimated committed block times minus this node's clock: positive when it is behind), "
        "clock_skew_warning (the offset exceeds half the tolerated clock drift)",
        obj(
            chain_id=STR,
            node_id=HEX32_OUT,
            height=UINT,
            block_hash=null_or(HEX32_OUT),
            state_root=HEX32_OUT,
            time=TIME,
            validator=BOOL,
            catching_up=BOOL,
            peers=UINT,
            stalled_since=null_or(TIME),
            last_error=null_or(STR),
            clock_offset_ms=null_or(INT),
            clock_skew_warning=BOOL,
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
        TX_RESULT,
        query=False,
    ),
    Method(
        "tx",
        "a committed transaction",
        (Param("hash", HASH32, "sha256 of the wire bytes"),),
        "hash, height, index, code, error, log, type, sender, nonce, fee, payload (JSON form)",
        TX_OUT,
        errors=((NOT_FOUND, "unknown or still pending"),),
    ),
    Method(
        "block",
        "a block (default: latest)",
        (Param("height", HEIGHT, "default: the latest", required=False, positional=True),),
        "height, hash, prev_hash, time, proposer (consensus key), state_root, tx_root, txs "
        "(hashes in order), evidence (the duplicate votes the block carries: id, validator, "
        "height, round, type, block_id_a, block_id_b), commit (round and the precommit "
        "signatures this node holds for the block, the latest included; null when it holds "
        "none)",
        obj(
            height=UINT,
            hash=HEX32_OUT,
            prev_hash=HEX32_OUT,
            time=TIME,
            proposer=HEX32_OUT,
            state_root=HEX32_OUT,
            tx_root=HEX32_OUT,
            txs=list_of(HEX32_OUT),
            evidence=list_of(EVIDENCE_OUT),
            commit=null_or(
                obj(round=UINT, signatures=list_of(obj(validator=HEX32_OUT, signature=SIG_OUT)))
            ),
        ),
        errors=((NOT_FOUND, "height outside 1..latest"),),
    ),
    Method(
        "account",
        "an account",
        (Param("address", HASH32, "the account's public key"), *AT_HEIGHT),
        "address, balance, nonce, pending_nonce (the nonce plus the consecutive pending "
        "nonces from it in this node's mempool), kyc; an unseen account reads as zeros"
        + _PROVEN_DOC,
        provable(obj(address=HEX32_OUT, balance=UINT, nonce=UINT, pending_nonce=UINT, kyc=BOOL)),
        errors=((NOT_FOUND, _PRUNED),),
    ),
    Method(
        "pool",
        "a pool",
        (Param("id", STRING, "the pool id"), *AT_HEIGHT),
        "id, name, balance, params (all, defaults filled), members (count per status), round "
        "(its open parametric round), liabilities (the amounts of its approved, unpaid "
        "claims), reserve_bps (min(balance * 10000 // liabilities, 10^9); null without "
        "liabilities)" + _PROVEN_DOC,
        provable(
            obj(
                id=STR,
                name=STR,
                balance=UINT,
                params={"type": "object"},
                members=obj(**{s: UINT for s in MEMBER_STATUSES}),
                round=UINT,
                liabilities=UINT,
                reserve_bps=null_or(UINT),
            )
        ),
        errors=((NOT_FOUND, _UNKNOWN), (NOT_FOUND, _PRUNED)),
    ),
    Method(
        "member",
        "a pool member",
        (Param("pool", STRING, "the pool id"), Param("address", HASH32, "the member"), *AT_HEIGHT),
        "pool, address, joined_at, paid_through, active_from (joined_at + the waiting_period "
        "in force at the join), left_at (height of the leave, null unless left), status (at "
        "the height read)" + _PROVEN_DOC,
        provable(
            obj(
                pool=STR,
                address=HEX32_OUT,
                joined_at=UINT,
                paid_through=INT,
                active_from=UINT,
                left_at=null_or(UINT),
                status={"type": "string", "enum": list(MEMBER_STATUSES)},
            )
        ),
        errors=((NOT_FOUND, "unknown pool, or never a member"), (NOT_FOUND, _PRUNED)),
    ),
    Method(
        "claim",
        "a claim",
        (Param("id", HASH32, "the claim id"), *AT_HEIGHT),
        "every claim field of section 3, terms (section 9), stage, attest_for, attest_against, "
        "attestations, objections, objected (section 10)" + _PROVEN_DOC,
        provable(CLAIM),
        errors=((NOT_FOUND, _UNKNOWN), (NOT_FOUND, _PRUNED)),
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
        list_of(CLAIM),
        errors=((NOT_FOUND, "unknown pool"),),
    ),
    Method(
        "proposal",
        "a governance proposal",
        (
            Param("id", HASH32, "the proposal id (the hash of its propose transaction)"),
            *AT_HEIGHT,
        ),
        "id, scope, proposer, changes (param name -> new value, JSON form), title, text_hash, "
        "opened_at, closes_at, electorate, yes, no, abstain, status, enact_at (null until "
        "passed), gov (the gov params it runs under)" + _PROVEN_DOC,
        provable(PROPOSAL),
        errors=((NOT_FOUND, _UNKNOWN), (NOT_FOUND, _PRUNED)),
    ),
    Method(
        "proposals",
        "the proposals of a scope, oldest first",
        (
            Param("scope", STRING, '"chain" or a pool id'),
            Param("status", PROPOSAL_STATUS, "only proposals with this status", required=False),
            Param("limit", LIMIT, "at most this many", required=False, default=100),
        ),
        "a list of proposals as `proposal` answers them, oldest first ([] for a scope without any)",
        list_of(PROPOSAL),
        errors=((NOT_FOUND, 'scope neither "chain" nor a pool'),),
    ),
    Method(
        "event",
        "a parametric event of a pool",
        (
            Param("pool", STRING, "the pool id"),
            Param("round", ROUND, "the parametric round that opened the event"),
            *AT_HEIGHT,
        ),
        "pool, round, value (the round's lower median report), height (of the block that "
        "opened it), eligible (members active in the pool then), per_member, fee_bps, "
        "collect_until (last height a collect is accepted), escrow (what remains), collected "
        "(how many members collected)" + _PROVEN_DOC,
        provable(EVENT),
        errors=((NOT_FOUND, "unknown pool, or no event for that round"), (NOT_FOUND, _PRUNED)),
    ),
    Method(
        "events",
        "a pool's parametric events, oldest first",
        (
            Param("pool", STRING, "the pool id"),
            Param("limit", LIMIT, "at most this many", required=False, default=100),
        ),
        "a list of events as `event` answers them, oldest (lowest round) first ([] for a pool "
        "without any)",
        list_of(EVENT),
        errors=((NOT_FOUND, "unknown pool"),),
    ),
    Method(
        "params",
        "the chain params in force",
        (
            Param(
                "height",
                HEIGHT,
                "after this block; default: the latest",
                required=False,
                positional=True,
            ),
            PROVE,
        ),
        "every chain param in force after that block, defaults filled, gov_ params included"
        + _PROVEN_DOC,
        provable(CHAIN_PARAMS_OUT),
        errors=((NOT_FOUND, _PRUNED),),
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
            Param(
                "prove",
                FLAG,
                "also answer effective_height (the change that put this set in force), the "
                "proof of its record s/V/be64(effective_height) and the header and commit of "
                "the block whose state proves it",
                required=False,
                default=False,
            ),
            Param(
                "at",
                HEIGHT,
                "with prove: the block whose state proves the record, from "
                "max(effective_height - 2, 1) (the block that decided the change) to the latest; "
                "default max(effective_height - 1, 1) (the last block the previous set signs, "
                "what a light client checks), or the latest if that is lower",
                required=False,
            ),
        ),
        "height, validators (list of operator, consensus_key, name, power); with prove also "
        "effective_height, proof, header and commit (of the block `at`)",
        obj(
            ("effective_height",), height=UINT, validators=list_of(VALIDATOR), effective_height=UINT
        ),
        errors=(
            (NOT_FOUND, "height outside 1..latest + 2"),
            (NOT_FOUND, "at outside effective_height - 2..latest, or pruned"),
        ),
    ),
    Method(
        "validator_changes",
        "the heights at which a validator set took effect",
        (
            Param(
                "after",
                HEIGHT,
                "only heights above this one; default 0 (the genesis set's 1 included)",
                required=False,
                default=0,
            ),
            Param("limit", LIMIT, "at most this many", required=False, default=100),
        ),
        "effective heights in increasing order: 1 (genesis) and every h + 2 where block h "
        "wrote a set (an election or a jailing; the set may equal the previous one). A light "
        "client follows each with validators(height, prove) (section 11)",
        list_of(UINT),
    ),
    Method(
        "candidates",
        "validator candidates",
        (),
        "a list of operator, consensus_key, name, votes, barred_until",
        list_of(CANDIDATE),
    ),
    Method(
        "genesis",
        "the genesis document",
        (),
        "the genesis document as the node read it (hex lower-cased)",
        {"type": "object", "properties": {"chain_id": STR}, "required": ["chain_id"]},
    ),
    Method(
        "net_info",
        "connected peers",
        (),
        'peers: list of node_id, address, direction ("in": the peer dialed us, or "out")',
        obj(peers=list_of(obj(node_id=HEX32_OUT, address=STR, direction={"enum": ["in", "out"]}))),
    ),
    Method(
        "txs",
        "an account's history, newest first",
        (
            Param("address", HASH32, "the account"),
            Param("limit", LIMIT, "at most this many", required=False, default=100),
            Param(
                "before",
                TX_CURSOR,
                "only transactions before this position (exclusive): the height and index "
                "of the last one of the previous page (HEIGHT:INDEX on the command line)",
                required=False,
            ),
        ),
        "the committed transactions the address sent or that name it in their payload's "
        "`to` or `account` field, each as `tx` answers it, ordered by (height, index) "
        "descending ([] for an address without any)",
        list_of(TX_OUT),
    ),
    Method(
        "subscribe",
        "receive events on this WebSocket",
        (Param("event", EVENT_KIND, "new_block: each committed block; tx: each transaction"),),
        'a subscription id; then notifications {jsonrpc, method: "event", params: '
        "{subscription, event, data}} with data the block or the tx result",
        STR,
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


def check_table(methods: tuple[Method, ...]) -> None:
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
        for code, _ in m.errors:
            if code not in _ERROR_NAMES:
                raise ValueError(f"RPC method {m.name!r}: error {code} has no name here")
        names = [p.name for p in m.params]
        if len(set(names)) != len(names):
            raise ValueError(f"RPC method {m.name!r}: a parameter declared twice")
        for p in m.params:
            if not p.name.isidentifier():
                raise ValueError(f"RPC method {m.name!r}: parameter {p.name!r} not a Python name")
            if p.required and p.default is not None:
                raise ValueError(f"RPC method {m.name!r}: required {p.name!r} has a default")


check_table(METHODS)


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
    cfg = cfg or DEFAULT_CONFIG
    methods = []
    for m in METHODS:
        errors = [
            {"code": INVALID_PARAMS, "message": "invalid params: the message names the param"}
        ][: len(m.params)]
        errors += [
            {"code": code, "message": f"{_ERROR_NAMES[code]}: {when}"} for code, when in m.errors
        ]
        entry: dict[str, Any] = {
            "name": m.name,
            "summary": m.summary,
            "paramStructure": "by-name",
            "params": [
                {
                    "name": p.name,
                    "description": f"{p.doc}; {p.kind.doc}",
                    "required": p.required,
                    "schema": p.schema_for(cfg),
                }
                for p in m.params
            ],
            "result": {
                "name": "result",
                "description": m.result_doc,
                "schema": copy.deepcopy(m.result_schema),  # the table's stay as declared
            },
        }
        if errors:
            entry["errors"] = errors
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
