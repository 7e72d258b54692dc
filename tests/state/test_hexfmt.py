"""The one hex check: what the RPC server, CLI, genesis and config accept as an address."""

import pytest

from state.hexfmt import is_hex32, is_hex_bytes, parse_hex32


def test_hex32_accepts_either_case_and_exactly_64_digits() -> None:
    assert parse_hex32("x", "aB" * 32) == bytes([0xAB]) * 32
    assert is_hex32("0" * 64)
    for bad in ("0" * 63, "0" * 65, "g" * 64, "", None, 5, b"0" * 64, "0" * 63 + "\n"):
        assert not is_hex32(bad)


def test_parse_hex32_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"^payload\.to: must be 64 hex characters"):
        parse_hex32("payload.to", "abc")


def test_hex_bytes_needs_whole_bytes() -> None:
    assert is_hex_bytes("") and is_hex_bytes("00ff")
    assert not is_hex_bytes("0") and not is_hex_bytes("zz") and not is_hex_bytes(None)
