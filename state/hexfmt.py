"""Hex text forms of binary values (JSON, config, CLI): the one place their shape is checked.

Binary fields travel as lowercase hex in JSON (PROTOCOL.md section 1) but are accepted in any
case; every reader of an address, hash or key given as text uses these checks so the rule and
its error wording cannot drift between the RPC server, the CLI, genesis and config files.
"""

from __future__ import annotations

import re
from typing import Any, TypeGuard

from state.crypto import KEY_LEN

#: exactly 32 bytes (an address, a hash, a consensus key), either case
HEX32 = re.compile(rf"[0-9a-fA-F]{{{2 * KEY_LEN}}}")
#: any whole number of bytes, either case (the empty string is zero bytes)
HEX_BYTES = re.compile(r"(?:[0-9a-fA-F]{2})*")

HEX32_RULE = f"must be {2 * KEY_LEN} hex characters ({KEY_LEN} bytes)"
HEX_BYTES_RULE = "must be a hex string (an even number of 0-9, a-f, A-F)"


def is_hex32(value: object) -> TypeGuard[str]:
    """True when `value` is a str of exactly 64 hex digits (the checker then knows a str)."""
    return isinstance(value, str) and HEX32.fullmatch(value) is not None


def is_hex_bytes(value: object) -> TypeGuard[str]:
    """True when `value` is a str of an even number of hex digits (the checker then knows a
    str)."""
    return isinstance(value, str) and HEX_BYTES.fullmatch(value) is not None


def parse_hex32(field: str, value: Any) -> bytes:
    """The 32 bytes `value` spells, or ValueError naming `field`."""
    if not is_hex32(value):
        raise ValueError(f"{field}: {HEX32_RULE}")
    return bytes.fromhex(value)
