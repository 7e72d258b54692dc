"""Canonical msgpack (PROTOCOL.md section 1): one value, one encoding, one hash.

The decoder is strict: it decodes, checks every value's type and key order, re-encodes and
compares bytes. Anything else (floats, ext types, unsorted or duplicate keys, non-shortest
integers, trailing bytes, bad UTF-8) raises :class:`DecodeError` and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

MAX_SAFE_INT = 2**53 - 1
MAX_DEPTH = 32

# The channel byte that tags every p2p payload with the protocol it belongs to (0 is the
# transport's own). Defined here, the one wire module that both p2p/ and consensus/ may import
# (tests/test_layering.py): the transport needs the set, consensus maps its kinds onto them.
CH_CONSENSUS = 1  # proposals and votes
CH_TX = 2  # transaction batches (the node's gossip; consensus does not decode them)
CH_EVIDENCE = 3  # duplicate-vote evidence
CH_BLOCKSYNC = 4  # status, block requests and answers
APP_CHANNELS = frozenset({CH_CONSENSUS, CH_TX, CH_EVIDENCE, CH_BLOCKSYNC})


class DecodeError(ValueError):
    """Bytes that are not canonical msgpack of an allowed value."""


class EncodeError(ValueError):
    """A value that has no canonical encoding (float, non-str key, out-of-range int, ...)."""


def _canon(value: Any, depth: int) -> Any:
    """Return a copy of `value` whose maps are sorted by key bytes, checking every type."""
    if depth > MAX_DEPTH:
        raise EncodeError("nesting too deep")
    t = type(value)
    if value is None or t is bool or t is str or t is bytes:
        return value
    if t is int:
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise EncodeError(f"integer out of range: {value}")
        return value
    if t is bytearray or t is memoryview:
        return bytes(value)
    if t is list or t is tuple:
        return [_canon(v, depth + 1) for v in value]
    if t is dict:
        for k in value:
            if type(k) is not str:
                raise EncodeError(f"map key is not a str: {k!r}")
        return {
            k: _canon(value[k], depth + 1)
            for k in sorted(value, key=lambda s: s.encode("utf-8", "surrogatepass"))
        }
    raise EncodeError(f"type {t.__name__} cannot be encoded canonically")


#: msgpack ships no type information; this is the one signature we rely on. One Packer for
#: the module, as state/keys.py has: `packb` builds (and frees) a Packer per call, ~0.8 of
#: its ~1.4 us for a transaction (the re-encode every node makes of every tx it admits).
#: Sharing it across threads is safe: `pack` runs in C under the GIL, calls no Python code
#: for the plain values packed here (exact types: `_canon`'s copies, `unpackb`'s values),
#: and resets itself after each call, also after an error (tests/state/test_codec.py).
_packb: Callable[[Any], bytes] = msgpack.Packer(use_bin_type=True).pack


def encode(value: Any) -> bytes:
    """Canonical msgpack bytes of `value` (dicts sorted by UTF-8 key bytes)."""
    try:
        return _packb(_canon(value, 0))
    except (UnicodeEncodeError, ValueError, TypeError, OverflowError) as exc:
        if isinstance(exc, EncodeError):
            raise
        raise EncodeError(str(exc)) from exc


def _ext_hook(code: int, data: bytes) -> Any:
    raise DecodeError("ext types are not allowed")


def _check(value: Any) -> None:
    """Refuse types the canonical form excludes and map keys out of canonical order.

    Keys must be strictly increasing: for valid Unicode strings (msgpack decoding refuses bad
    UTF-8) code point order is UTF-8 byte order, so comparing the str values is the
    canonical byte-order rule without encoding them. Leaves are judged in their container's
    loop (no call per value: decode is on every tx's path); the recursion is bounded by
    MAX_DEPTH. Values are visited last child first, as the stack walk this replaced did, so
    input with several faults names the same one.
    """
    t = type(value)
    if t is list or t is dict:
        _check_in(value, 0)
    elif not (t is str or t is bytes or value is None or t is bool):
        if t is not int:
            raise DecodeError(f"type {t.__name__} is not allowed")
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise DecodeError(f"integer out of range: {value}")


def _check_in(value: list[Any] | dict[str, Any], depth: int) -> None:
    """`_check` of a list or map at `depth` (<= MAX_DEPTH: its caller checked) and
    everything in it."""
    if type(value) is dict:
        prev = None
        for k in value:
            if type(k) is not str:
                raise DecodeError("map key is not a str")
            if prev is not None and not prev < k:
                raise DecodeError("not canonical")
            prev = k
        items: Any = reversed(value.values())
    else:
        items = reversed(value)
    depth += 1
    if depth > MAX_DEPTH and value:  # its values would lie too deep (an empty one is fine)
        raise DecodeError("nesting too deep")
    for v in items:
        t = type(v)
        if t is str or t is bytes or t is int or v is None or t is bool:
            if t is int and not -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
                raise DecodeError(f"integer out of range: {v}")
        elif t is list or t is dict:
            _check_in(v, depth)
        else:
            raise DecodeError(f"type {t.__name__} is not allowed")


#: `_check_in` for a caller that proved the levels above a container itself (state/tx.py)
check_in = _check_in


def unpack_plain(data: bytes) -> Any:
    """msgpack's decoding of `data` with decode's options, and no check of any kind: for a
    caller that checks the value's shape itself and compares `pack_plain(value)` with
    `data` (state/tx.py's decode of a transaction). Raises whatever msgpack raises."""
    return msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=False, ext_hook=_ext_hook)


#: msgpack's own encoding of a value `_check` passes: its canonical bytes (decode's re-encode)
pack_plain = _packb


def decode(data: bytes) -> Any:
    """Decode canonical msgpack; raise DecodeError on anything that is not exactly canonical."""
    if type(data) is not bytes:
        data = bytes(data)
    try:
        value = unpack_plain(data)
    except DecodeError:
        raise
    except Exception as exc:  # msgpack raises many types: ExtraData, ValueError, ...
        raise DecodeError(f"not msgpack: {type(exc).__name__}") from None
    _check(value)
    # Types, ranges and key order are checked, so msgpack's own encoder (shortest forms)
    # gives the canonical bytes directly, without _canon's copy: decode is on every tx's path.
    try:
        again = _packb(value)
    except (UnicodeEncodeError, ValueError, TypeError, OverflowError) as exc:
        raise DecodeError(str(exc)) from None
    if again != data:
        raise DecodeError("not canonical")
    return value
