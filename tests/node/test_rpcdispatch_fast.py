"""The dispatcher's answer encoder is made once; its text must stay node.jsonrpc.dumps'
(compact, ASCII, no NaN), byte for byte, or clients would see a change."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.api import InvalidParams, NotFound
from node.jsonrpc import RpcError, dumps
from node.rpcdispatch import _dumps

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_JSON)
def test_answers_encode_exactly_as_jsonrpc_dumps(obj: Any) -> None:
    assert _dumps(obj) == dumps(obj)


def test_a_broadcast_answer_is_compact_and_ascii() -> None:
    answer = {"jsonrpc": "2.0", "id": 7, "result": {"hash": "ab", "code": 0, "error": None}}
    assert _dumps(answer) == '{"jsonrpc":"2.0","id":7,"result":{"hash":"ab","code":0,"error":null}}'
    assert _dumps({"log": "\udc80é"}) == '{"log":"\\udc80\\u00e9"}'


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {1j: 1}, object()])
def test_what_dumps_refuses_is_refused_too(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        dumps(bad)
    with pytest.raises((TypeError, ValueError)):
        _dumps(bad)


def _dispatcher(handler: Any) -> Any:
    from node.config import RpcConfig
    from node.rpcdispatch import Dispatcher

    return Dispatcher(RpcConfig(), {"tx": handler})


_CALL = b'{"jsonrpc":"2.0","id":1,"method":"tx","params":{"hash":"' + b"ab" * 32 + b'"}}'


@pytest.mark.asyncio
@pytest.mark.parametrize("waits", [False, True])
@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [
        (NotFound("no such tx"), -32001, "not found: no such tx"),
        (InvalidParams("hash", "is odd"), -32602, "hash"),
        (ValueError("boom"), -32603, "internal error"),
        (RpcError(-32002, "limit"), -32002, "limit"),
    ],
)
async def test_a_handler_failure_answers_the_same_whether_it_waits_or_not(
    waits: bool, exc: Exception, code: int, message: str
) -> None:
    def sync_handler(hash: bytes) -> Any:
        raise exc

    async def async_handler(hash: bytes) -> Any:
        await asyncio.sleep(0)
        raise exc

    out = await _dispatcher(async_handler if waits else sync_handler).handle_body(_CALL, None)
    answer = json.loads(out)
    assert answer["id"] == 1 and answer["error"]["code"] == code
    assert message in answer["error"]["message"]


@pytest.mark.asyncio
@pytest.mark.parametrize("waits", [False, True])
async def test_a_handler_result_is_answered_whether_it_waits_or_not(waits: bool) -> None:
    def sync_handler(hash: bytes) -> Any:
        return {"hash": hash.hex()}

    async def async_handler(hash: bytes) -> Any:
        await asyncio.sleep(0)
        return {"hash": hash.hex()}

    out = await _dispatcher(async_handler if waits else sync_handler).handle_body(_CALL, None)
    assert out == '{"jsonrpc":"2.0","id":1,"result":{"hash":"' + "ab" * 32 + '"}}'


# --- broadcast_tx's fast path: the same arguments, errors and answer text -----------------

_PARAM_VALUE = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(["sync", "async", "commit", "SYNC", "", "ab", "a", "0g", "ab cd", " ab"])
    | st.binary(max_size=40).map(bytes.hex)
    | st.binary(max_size=40).map(lambda b: b.hex().upper())
    | st.text(max_size=8)
    | st.lists(st.integers(), max_size=2)
)
_PARAMS = (
    st.dictionaries(st.sampled_from(["tx", "mode", "Tx", "other"]), _PARAM_VALUE, max_size=3)
    | _PARAM_VALUE
)


@given(_PARAMS)
def test_broadcast_params_take_the_fast_path_only_when_bind_accepts_them(params: Any) -> None:
    """The fast path declines whatever _bind refuses (which then answers its exact error)
    and, when it takes a call, gives _bind's arguments."""
    from node.config import RpcConfig
    from node.rpcdispatch import _BROADCAST, _bind, _broadcast_args

    fast = _broadcast_args(params)
    try:
        slow = _bind(_BROADCAST, params, RpcConfig())
    except RpcError:
        assert fast is None
    else:
        assert fast is None or fast == slow
        if (
            type(params) is dict
            and type(params.get("tx")) is str
            and not set(params)
            - {
                "tx",
                "mode",
            }
        ):
            assert fast == slow  # every valid call of the shape clients send is fast


_TEXT = st.text() | st.sampled_from(["", "\udc80", 'é\u2028\x00"\\', "bad_nonce"])


@given(
    id_=st.none() | st.integers() | _TEXT,
    tx_hash=_TEXT,
    code=st.integers(),
    error=st.none() | _TEXT,
    log_=_TEXT,
)
def test_a_broadcast_answer_from_the_template_is_dumps_text(
    id_: Any, tx_hash: str, code: int, error: str | None, log_: str
) -> None:
    from node.rpcdispatch import _tx_answer

    result = {"hash": tx_hash, "code": code, "error": error, "log": log_}
    assert _tx_answer(id_, result) == dumps({"jsonrpc": "2.0", "id": id_, "result": result})


@pytest.mark.parametrize(
    "result",
    [
        {"hash": "ab", "code": 0, "error": None},  # a key missing
        {"code": 0, "hash": "ab", "error": None, "log": ""},  # another order
        {"hash": "ab", "code": True, "error": None, "log": ""},  # bool is not int
        {"hash": "ab", "code": 0.0, "error": None, "log": ""},
        {"hash": "ab", "code": 0, "error": 3, "log": ""},
        {"hash": b"ab", "code": 0, "error": None, "log": ""},
        {"hash": "ab", "code": 0, "error": None, "height": 1},  # four keys, not these
        {"hash": "ab", "code": 0, "error": None, "log": "", "height": 1},  # commit's answer
        ["hash", "code", "error", "log"],
        None,
    ],
)
def test_other_results_are_left_to_the_encoder(result: Any) -> None:
    from node.rpcdispatch import _tx_answer

    assert _tx_answer(1, result) is None


@pytest.mark.asyncio
async def test_a_batch_of_broadcasts_answers_each_call_as_a_single_call_would() -> None:
    """Mixed valid and invalid broadcast_tx calls in one batch: each answer is the one the
    same call gets alone (the fast path and the checked path agree in place)."""
    from node.config import RpcConfig
    from node.rpcdispatch import Dispatcher

    async def handler(tx: bytes, mode: str) -> Any:
        await asyncio.sleep(0)
        return {"hash": tx.hex(), "code": 0 if mode == "sync" else 5, "error": None, "log": mode}

    calls: list[Any] = [
        {"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx", "params": {"tx": "ab"}},
        {
            "jsonrpc": "2.0",
            "id": "x",
            "method": "broadcast_tx",
            "params": {"tx": "AB", "mode": None},
        },
        {"jsonrpc": "2.0", "id": 3, "method": "broadcast_tx", "params": {"tx": "a b"}},
        {"jsonrpc": "2.0", "id": 4, "method": "broadcast_tx", "params": {"mode": "sync"}},
        {"jsonrpc": "2.0", "id": 5, "method": "broadcast_tx", "params": {"tx": "ab", "x": 1}},
        {"jsonrpc": "2.0", "id": 6, "method": "broadcast_tx", "params": {"tx": "ab", "mode": "x"}},
        {"jsonrpc": "2.0", "id": 7, "method": "broadcast_tx", "params": ["ab"]},
        {"jsonrpc": "2.0", "id": None, "method": "broadcast_tx", "params": {"tx": ""}},
        {"jsonrpc": "2.0", "method": "broadcast_tx", "params": {"tx": "ab"}},  # notification
        {
            "jsonrpc": "2.0",
            "id": 9,
            "method": "broadcast_tx",
            "params": {"tx": "ab", "mode": "async"},
        },
    ]
    d = Dispatcher(RpcConfig(), {"broadcast_tx": handler})
    out = await d.handle_body(json.dumps(calls).encode(), None)
    assert out is not None
    alone = [await d.handle_body(json.dumps(c).encode(), None) for c in calls]
    assert out == "[" + ",".join(a for a in alone if a is not None) + "]"
    answers = json.loads(out)
    assert [a.get("error", {}).get("code") for a in answers] == [
        None,
        None,
        -32602,
        -32602,
        -32602,
        -32602,
        -32602,
        None,
        None,
    ]
    assert answers[1]["result"] == {"hash": "ab", "code": 0, "error": None, "log": "sync"}
