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
