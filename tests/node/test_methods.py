"""node/methods.py, the table of JSON-RPC methods: the OpenRPC document of ``rpc.discover``
against the OpenRPC meta-schema, schemas that agree with the server's checks, and handlers,
client methods and query commands that cannot drift from the table."""

from __future__ import annotations

import copy
import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

from node.client import SYNC_METHODS, RpcClient, SyncRpcClient, add_client_methods
from node.config import RpcConfig
from node.jsonrpc import RpcError
from node.methods import (
    BY_NAME,
    METHODS,
    Method,
    Param,
    bind_handlers,
    check_table,
    openrpc_document,
)
from node.rpc import RpcServer
from node.rpcspec import HASH32, STRING
from node.service import NodeService
from state.model import Claim

META = Path(__file__).parent / "openrpc"


def _meta_validator() -> Draft7Validator:
    """The OpenRPC meta-schema (it is draft-07, and `$ref`s json-schema-tools' schema of a
    JSON Schema for every schema in a document: both shipped in tests/node/openrpc)."""
    openrpc = json.loads((META / "openrpc_meta_schema.json").read_text())
    json_schema = json.loads((META / "json_schema_meta_schema.json").read_text())
    registry: Registry[Any] = Registry().with_resources(
        [
            (uri, DRAFT7.create_resource(doc))
            for uri, doc in (
                ("https://meta.open-rpc.org/", openrpc),
                ("https://meta.json-schema.tools", json_schema),
                ("https://meta.json-schema.tools/", json_schema),
            )
        ]
    )
    return Draft7Validator(openrpc, registry=registry)


def _errors(doc: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in _meta_validator().iter_errors(doc)]


def test_discover_document_is_valid_openrpc() -> None:
    doc = openrpc_document()
    assert _errors(doc) == []
    assert doc["openrpc"].startswith(("1.2.", "1.3."))
    assert doc["info"]["title"] == "huzhu" and doc["info"]["version"]


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (("openrpc",), "2.0.0"),  # not an OpenRPC 1.x version
        (("methods", 0, "params"), [{"schema": {"type": "string"}}]),  # a param without name
        (("methods", 1, "params", 0, "schema"), {"type": 5}),  # not a JSON Schema
        (("methods", 2, "paramStructure"), "by-order"),
    ],
)
def test_the_meta_schema_check_can_fail(path: tuple[Any, ...], bad: Any) -> None:
    """The check above is no formality: a broken document is refused."""
    doc = copy.deepcopy(openrpc_document())
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = bad
    assert _errors(doc) != []


def test_every_method_of_the_table_is_in_the_document_as_declared() -> None:
    doc = openrpc_document(RpcConfig(max_claims_limit=50))
    assert [m["name"] for m in doc["methods"]] == [m.name for m in METHODS]
    for entry, m in zip(doc["methods"], METHODS, strict=True):
        assert entry["summary"] == m.summary
        assert entry["result"]["schema"] == m.result_schema
        assert [(p["name"], p["required"]) for p in entry["params"]] == [
            (p.name, p.required) for p in m.params
        ]
        codes = {e["code"] for e in entry.get("errors", [])}
        assert ({-32602} if m.params else set()) | {c for c, _ in m.errors} == codes
    claims = next(m for m in doc["methods"] if m["name"] == "claims")
    limit = next(p for p in claims["params"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 50, "default": 100}


def test_every_schema_is_a_json_schema() -> None:
    for m in METHODS:
        Draft7Validator.check_schema(m.result_schema)
        for p in m.params:
            Draft7Validator.check_schema(p.schema)


# Values a client might send. 1.0 is left out on purpose: JSON Schema counts it as an integer,
# section 1 does not (the server refuses it; test_rpc.py pins that).
SAMPLES: list[Any] = [
    *("ab" * 32, "AB" * 32, "ab" * 31, "ab" * 33, "zz" * 32, "", "abc", "0xab", "ab cd", "00"),
    *(0, 1, -1, 5, 100, 1000, 1001, 2**53 - 1, 2**53, -(2**53)),
    *(True, False, None, [], {}, 1.5),
    *("voting", "paid", "open", "sync", "commit", "later", "new_block", "tx", "medical", "7"),
]


@pytest.mark.parametrize("m", METHODS, ids=lambda m: m.name)
def test_param_schemas_say_what_the_checks_accept(m: Method) -> None:
    """A client that trusts rpc.discover's schemas is never surprised by -32602."""
    cfg = RpcConfig()
    for p in m.params:
        validator = Draft7Validator(p.schema_for(cfg))
        for value in SAMPLES:
            try:
                p.check(value, cfg)
                accepted = True
            except RpcError as err:
                assert err.code == -32602 and err.message.startswith(f"invalid params: {p.name}:")
                accepted = False
            assert accepted == validator.is_valid(value), (m.name, p.name, value)


# --- handlers ------------------------------------------------------------------------------


def _taking(*names: str) -> Any:
    """A handler whose signature names these params."""

    def handler(**kwargs: Any) -> None:
        return None

    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, kind) for n in names]
    )
    return handler


class _Reads:
    """A node with every read of the table (accepting anything)."""

    def __init__(self) -> None:
        for m in METHODS:
            setattr(self, m.py_name, _taking(*(p.name for p in m.params)))

    def subscribe_events(self, listener: Any, wants: Any = None) -> Any:
        return lambda: None


def test_a_server_over_a_complete_node_builds() -> None:
    RpcServer(_Reads())  # type: ignore[arg-type]  # a duck NodeAPI


def test_a_missing_handler_stops_the_server_from_being_built() -> None:
    node = _Reads()
    del node.claims  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="no handler for RPC method 'claims'"):
        RpcServer(node)  # type: ignore[arg-type]


def test_a_handler_with_other_params_stops_the_server_from_being_built() -> None:
    node = _Reads()
    node.member = _taking("pool", "addr")  # type: ignore[attr-defined]
    with pytest.raises(
        ValueError, match=r"'member' takes \(pool, addr\).*\(pool, address, height, prove\)"
    ):
        RpcServer(node)  # type: ignore[arg-type]


def test_a_handler_for_an_undeclared_method_is_refused() -> None:
    with pytest.raises(ValueError, match="undeclared RPC methods: attestation"):
        bind_handlers(_Reads(), {"attestation": _taking("id")})


def test_node_service_answers_exactly_the_tables_node_methods() -> None:
    """The reverse of bind_handlers' check: no read of the service lacks a table entry."""
    served = {
        name
        for name, fn in vars(NodeService).items()
        if not name.startswith("_") and inspect.iscoroutinefunction(fn)
    }
    own = {"subscribe", "unsubscribe", "rpc_discover"}  # answered by the server itself
    batched = {"broadcast_txs"}  # a batch's broadcast_tx calls as one request, no method
    assert served - batched == {m.py_name for m in METHODS} - own


# --- the client ----------------------------------------------------------------------------


def test_client_methods_match_the_table() -> None:
    for m in METHODS:
        if m.ws_only:
            assert m.py_name not in SYNC_METHODS
            continue
        fn = getattr(RpcClient, m.py_name)
        params = list(inspect.signature(fn).parameters.values())[1:]
        assert [(p.name, p.default is inspect.Parameter.empty) for p in params] == [
            (p.name, p.required) for p in m.params
        ], m.name
        assert m.py_name in SYNC_METHODS and callable(getattr(SyncRpcClient("x"), m.py_name))


@pytest.mark.parametrize(
    "claim",
    [
        Claim(b"\x01" * 32, "medical", b"\x02" * 32, 70, b"\x03" * 32, 5, 105),
        Claim(
            b"\x01" * 32,
            "medical",
            b"\x02" * 32,
            70,
            b"\x03" * 32,
            5,
            105,
            votes_for=2,
            votes_against=1,
            voters=((b"\x04" * 32, True), (b"\x05" * 32, False), (b"\x06" * 32, True)),
            status="approved",
            payable_at=200,
        ),
    ],
)
def test_claim_results_match_their_schema(claim: Claim) -> None:
    """The claim reads, which tests/node/test_service.py only sees as -32001 or []."""
    Draft7Validator(BY_NAME["claim"].result_schema).validate(claim.to_json())
    Draft7Validator(BY_NAME["claims"].result_schema).validate([claim.to_json()])
    bad = {**claim.to_json(), "status": "open"}
    assert not Draft7Validator(BY_NAME["claim"].result_schema).is_valid(bad)


def _method(name: str, *params: Param, **kw: Any) -> Method:
    return Method(name, "a method", params, "a result", {"type": "object"}, **kw)


class _HandWritten:
    async def close(self) -> None: ...

    async def genesis(self, verbose: bool) -> None: ...


def test_client_methods_are_generated_and_checked() -> None:
    cls = type("Client", (_HandWritten,), {})
    add_client_methods(cls, [_method("proposal", Param("id", HASH32, "the id"))])
    assert list(inspect.signature(cls.proposal).parameters) == ["self", "id"]
    with pytest.raises(ValueError, match="'close' clashes with _HandWritten.close"):
        add_client_methods(_HandWritten, [_method("close")])
    with pytest.raises(ValueError, match=r"takes \(verbose\), the table declares \(\)"):
        add_client_methods(_HandWritten, [_method("genesis")])


@pytest.mark.parametrize(
    ("methods", "match"),
    [
        ((_method("x"), _method("x")), "declared twice"),
        ((_method("rpc.x"), _method("rpc_x")), "declared twice"),
        ((_method("x-y"),), "not a Python name"),
        ((_method("x", ws_only=True),), "ws-only methods have no query form"),
        ((_method("x", Param("a", STRING, ""), Param("a", STRING, "")),), "parameter declared"),
        ((_method("x", Param("a", STRING, "", default="d")),), "required 'a' has a default"),
        ((_method("x", errors=((-32603, "always"),)),), "error -32603 has no name"),
    ],
)
def test_a_table_that_contradicts_itself_is_refused(
    methods: tuple[Method, ...], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        check_table(methods)
