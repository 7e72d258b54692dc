"""The dispatcher's answer encoder is made once; its text must stay node.jsonrpc.dumps'
(compact, ASCII, no NaN), byte for byte, or clients would see a change."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.jsonrpc import dumps
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
