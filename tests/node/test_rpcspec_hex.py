"""The `hex` param kind (broadcast_tx's `tx`) decodes without a regex; it must accept and
refuse exactly what state.hexfmt.is_hex_bytes does, with the same -32602 message."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.config import RpcConfig
from node.jsonrpc import INVALID_PARAMS, RpcError
from node.rpcspec import HEX
from state.hexfmt import HEX_BYTES_RULE, is_hex_bytes

CFG = RpcConfig()
_HEXISH = st.text(alphabet="0123456789abcdefABCDEF \t\n\r\x0b\x0cgG\u0663\u00a0", max_size=12)


def _answer(v: Any) -> bytes | str:
    try:
        out = HEX.check("tx", v, CFG)
    except RpcError as err:
        assert err.code == INVALID_PARAMS
        return err.message
    assert isinstance(out, bytes)
    return out


@given(st.one_of(_HEXISH, st.text(max_size=8), st.integers(), st.none(), st.binary(max_size=4)))
def test_accepts_exactly_what_the_hex_rule_accepts(v: Any) -> None:
    got = _answer(v)
    if is_hex_bytes(v):
        assert got == bytes.fromhex(v)
    else:
        assert isinstance(got, str) and HEX_BYTES_RULE in got


@pytest.mark.parametrize("v", ["ab cd", " abcd", "abcd ", "ab\ncd", "abc", "zz", "\u0663\u0663"])
def test_whitespace_odd_length_and_non_ascii_digits_are_refused(v: str) -> None:
    with pytest.raises(RpcError) as err:
        HEX.check("tx", v, CFG)
    assert err.value.code == INVALID_PARAMS
    assert "tx" in err.value.message and HEX_BYTES_RULE in err.value.message


def test_empty_and_either_case_decode() -> None:
    assert HEX.check("tx", "", CFG) == b""
    assert HEX.check("tx", "aBcD", CFG) == b"\xab\xcd"
