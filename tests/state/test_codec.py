"""The canonical codec: one value, one encoding; everything else is a DecodeError."""

from __future__ import annotations

import datetime
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from state import codec
from state.codec import MAX_DEPTH, MAX_SAFE_INT, DecodeError, EncodeError, decode, encode

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INT, max_value=MAX_SAFE_INT)
    | st.text(max_size=40)
    | st.binary(max_size=80)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=25,
)


def same(a: Any, b: Any) -> bool:
    """Equality that also tells True from 1 and str from bytes, recursively."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


@given(values)
def test_encode_decode_identity(value: Any) -> None:
    data = encode(value)
    back = decode(data)
    assert same(back, value)
    assert encode(back) == data


@given(st.dictionaries(st.text(max_size=6), st.integers(0, 9), min_size=2))
def test_map_keys_are_sorted_by_utf8_bytes(d: dict[str, int]) -> None:
    # Python's dict keeps insertion order; the encoding must not depend on it.
    reordered = dict(reversed(list(d.items())))
    assert encode(reordered) == encode(d)
    keys = list(decode(encode(d)))
    assert keys == sorted(d, key=lambda k: k.encode("utf-8"))


def _decode_or_error(data: bytes) -> None:
    """Either a DecodeError, or a value whose canonical encoding is exactly `data`."""
    try:
        value = decode(data)
    except DecodeError:
        return
    assert encode(value) == data


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    _decode_or_error(data)


@settings(max_examples=300)
@given(values, st.data())
def test_mutated_encodings_raise_only_decode_error(value: Any, data: st.DataObject) -> None:
    enc = bytearray(encode(value))
    op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
    pos = data.draw(st.integers(0, len(enc) - 1))
    if op == "flip":
        enc[pos] ^= data.draw(st.integers(1, 255))
    elif op == "insert":
        enc.insert(pos, data.draw(st.integers(0, 255)))
    elif op == "delete":
        del enc[pos]
    else:
        del enc[pos:]
    _decode_or_error(bytes(enc))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("float64", msgpack.packb(1.5)),
        ("float32", b"\xca\x3f\xc0\x00\x00"),
        ("ext", msgpack.packb(msgpack.ExtType(1, b"xyz"))),
        (
            "timestamp",
            msgpack.packb(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC), datetime=True),
        ),
        ("unsorted keys", b"\x82\xa1b\x01\xa1a\x02"),
        ("duplicate keys", b"\x82\xa1a\x01\xa1a\x02"),
        ("non-shortest uint16", b"\xcd\x00\x01"),
        ("non-shortest uint8 for fixint", b"\xcc\x05"),
        ("non-shortest int8", b"\xd0\xff"),
        ("non-shortest str8 header", b"\xd9\x01a"),
        ("non-shortest array16", b"\xdc\x00\x01\xc0"),
        ("int above 2^53-1", msgpack.packb(MAX_SAFE_INT + 1)),
        ("int below -(2^53-1)", msgpack.packb(-MAX_SAFE_INT - 1)),
        ("uint64 max", msgpack.packb(2**64 - 1)),
        ("int map key", msgpack.packb({1: 2})),
        ("bin map key", msgpack.packb({b"k": 2}, use_bin_type=True)),
        ("nil map key", b"\x81\xc0\x01"),
        ("trailing bytes", encode(1) + b"\x00"),
        ("bad utf-8", b"\xa2\xff\xfe"),
        ("overlong utf-8", b"\xa2\xc0\xaf"),
        ("too deep", b"\x91" * (MAX_DEPTH + 2) + b"\xc0"),
        ("truncated", encode({"a": b"x" * 10})[:-3]),
        ("empty", b""),
        ("huge map header", b"\xdf\xff\xff\xff\xff"),
        ("never-used byte", b"\xc1"),
    ],
)
def test_specific_refusals(name: str, data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(data)


def test_depth_limit_is_exact() -> None:
    ok = [None]
    for _ in range(MAX_DEPTH - 1):
        ok = [ok]
    assert same(decode(encode(ok)), ok)
    too_deep = [ok]  # one level more
    with pytest.raises((EncodeError, DecodeError)):
        decode(encode(too_deep))


def test_int_range_boundaries() -> None:
    for v in (MAX_SAFE_INT, -MAX_SAFE_INT, 0, -1, 127, 128, -32, -33, 2**32):
        assert decode(encode(v)) == v
    for v in (MAX_SAFE_INT + 1, -MAX_SAFE_INT - 1):
        with pytest.raises(EncodeError):
            encode(v)


@pytest.mark.parametrize("bad", [1.0, {1: 2}, {b"k": 1}, object(), {"a": {2.5}}])
def test_encode_refuses_values_without_canonical_form(bad: Any) -> None:
    with pytest.raises(EncodeError):
        encode(bad)


@given(values)
def test_encoding_after_a_failed_one_is_unchanged(value: Any) -> None:
    """The module's one Packer starts afresh after an encode that failed half-way (a lone
    surrogate in a key is met after the map's header is written)."""
    with pytest.raises(EncodeError):
        encode({"a": 1, "b": [value, {"\udc80": 1}]})
    assert encode(value) == msgpack.packb(codec._canon(value, 0), use_bin_type=True)


def test_str_and_bin_are_distinct() -> None:
    assert encode("ab") != encode(b"ab")
    assert type(decode(encode("ab"))) is str
    assert type(decode(encode(b"ab"))) is bytes
    assert decode(encode(True)) is True
    assert type(decode(encode(1))) is int


def _reference_check(value: Any) -> None:
    """The stack walk `codec._check` replaced (PROTOCOL.md section 1's rules), kept as the
    reference its faster form must agree with, message included."""
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DecodeError("nesting too deep")
        t = type(v)
        if t is str or t is bytes or v is None or t is bool:
            continue
        if t is int:
            if not -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
                raise DecodeError(f"integer out of range: {v}")
            continue
        if t is list:
            stack.extend((x, depth + 1) for x in v)
            continue
        if t is dict:
            prev = None
            for k, x in v.items():
                if type(k) is not str:
                    raise DecodeError("map key is not a str")
                if prev is not None and not prev < k:
                    raise DecodeError("not canonical")
                prev = k
                stack.append((x, depth + 1))
            continue
        raise DecodeError(f"type {t.__name__} is not allowed")


def _nested(leaf: Any, size: int, int_keys: int, leaves: int) -> Any:
    """Lists and maps (str keys, or ints up to `int_keys`) of `leaf`, `size` items each."""
    return st.recursive(
        leaf,
        lambda inner: (
            st.lists(inner, max_size=size)
            | st.dictionaries(st.text(max_size=3) | st.integers(0, int_keys), inner, max_size=size)
        ),
        max_leaves=leaves,
    )


# what msgpack may hand the checker: the canonical values and every kind of fault
_raw_scalars = scalars | st.floats(allow_nan=False) | st.integers() | st.just(b"")
_raw_values = _nested(_raw_scalars, 5, 3, 30)


def _verdict(check: Any, value: Any) -> str:
    try:
        check(value)
    except DecodeError as exc:
        return str(exc)
    return "ok"


@settings(max_examples=400)
@given(_raw_values)
def test_check_agrees_with_the_reference_walk(value: Any) -> None:
    assert _verdict(codec._check, value) == _verdict(_reference_check, value)


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1])
@pytest.mark.parametrize("leaf", [None, 1, {}, [], 2**60, 1.5])
def test_check_depth_boundary_agrees_with_the_reference(depth: int, leaf: Any) -> None:
    value: Any = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value, "z": 2**60 if i == 3 else 0}
    assert _verdict(codec._check, value) == _verdict(_reference_check, value)


# --- state/tx.py's one-pass decode of a transaction gives the full path's verdicts


def _tx_verdict(decoder: Any, data: bytes) -> tuple[Any, ...]:
    from state.errors import TxError
    from state.params import ChainParams

    params = ChainParams(treasury=b"\x01" * 32)
    try:
        tx = decoder(data, chain_id="huzhu-test", params=params, tx_hash=None)
    except TxError as exc:
        return ("error", exc.code, exc.log)
    return ("ok", tx)


def _same_verdict(data: bytes) -> None:
    """decode_tx (its one pass first) answers as `_decode_checked`, the full path: the same
    Tx with the same field types, or the same code and message."""
    from state.tx import _decode_checked, decode_tx

    def checked(d: bytes, *, chain_id: str, params: Any, tx_hash: Any) -> Any:
        return _decode_checked(d, chain_id, params, tx_hash)

    got = _tx_verdict(decode_tx, data)
    want = _tx_verdict(checked, data)
    if got[0] == "ok" and want[0] == "ok":
        a, b = got[1], want[1]
        assert a == b and all(
            same(getattr(a, f), getattr(b, f))
            for f in ("chain_id", "type", "sender", "nonce", "fee", "payload", "sig", "wire")
        )
    else:
        assert got == want


_tx_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=6)
    | st.binary(max_size=40)
)
_tx_value = _nested(_tx_leaf, 3, 2, 8)
_BODY = ("chain_id", "fee", "nonce", "payload", "sender", "type")
# a transfer's payload, its values sometimes of another type or range
_transfer_payload = st.fixed_dictionaries(
    {
        "amount": st.integers(min_value=-2, max_value=2**54) | _tx_value,
        "to": st.just(b"\x03" * 32) | st.binary(max_size=40),
    }
)


@st.composite
def _tx_like(draw: st.DrawFn) -> bytes:
    """A tx envelope, canonical or with faults: keys out of order, missing or extra, any
    value in any field (floats, huge ints, nested maps with int keys), another chain or
    type, a payload of the transfer's keys or any, msgpack's own (non-canonical) encoder or
    the canonical one, or a few bytes changed."""
    body: dict[Any, Any] = {
        "chain_id": draw(st.sampled_from(["huzhu-test", "huzhu-test", "other"])),
        "fee": draw(st.integers(min_value=-(2**54), max_value=2**54)),
        "nonce": draw(st.integers(min_value=-(2**54), max_value=2**54)),
        "payload": draw(
            _transfer_payload | st.dictionaries(st.text(max_size=4), _tx_value, max_size=3)
        ),
        "sender": draw(st.just(b"\x01" * 32) | st.binary(max_size=40)),
        "type": draw(st.sampled_from(["transfer", "transfer", "pay", "nope"])),
    }
    faulty = draw(st.booleans())  # else only the fields' values vary
    for key in draw(st.lists(st.sampled_from(_BODY), max_size=2 if faulty else 0)):
        body[key] = draw(_tx_value)
    if faulty and draw(st.booleans()):
        del body[draw(st.sampled_from(_BODY))]
    if faulty and draw(st.booleans()):
        body[draw(st.text(max_size=3))] = draw(_tx_value)
    if faulty and draw(st.booleans()):  # another order
        keys = draw(st.permutations(list(body)))
        body = {k: body[k] for k in keys}
    sig = draw(st.just(b"\x02" * 64) | st.binary(max_size=70) | _tx_value)
    env: dict[Any, Any] = {"body": body, "sig": sig}
    if faulty and draw(st.booleans()):
        env = {"sig": env["sig"], "body": body}
    try:
        data = (
            encode(env)
            if not faulty or draw(st.booleans())
            else msgpack.packb(env, use_bin_type=True, strict_types=False)
        )
    except (EncodeError, ValueError, TypeError, OverflowError):
        data = msgpack.packb(env, use_bin_type=True, strict_types=False)
    enc = bytearray(data)
    for _ in range(draw(st.integers(0, 2 if faulty else 0))):
        pos = draw(st.integers(0, len(enc) - 1))
        enc[pos] ^= draw(st.integers(1, 255))
    return bytes(enc)


@settings(max_examples=1000)
@given(_tx_like())
def test_one_pass_tx_decode_gives_the_full_paths_verdicts(data: bytes) -> None:
    _same_verdict(data)


_near_value = (
    _tx_value
    | st.integers(min_value=-2, max_value=2)
    | st.integers(min_value=MAX_SAFE_INT - 1, max_value=MAX_SAFE_INT + 1)
    | st.binary(min_size=30, max_size=66)
)


@st.composite
def _near_valid_tx(draw: st.DrawFn) -> bytes:
    """A well-formed transfer, or one with one field (of the body, the payload or the sig)
    of another value: the one pass and the full path must agree at each boundary."""
    body = _transfer_body()
    env: dict[str, Any] = {"body": body, "sig": b"\x02" * 64}
    where = draw(st.sampled_from(["none", "body", "payload", "sig"]))
    if where == "body":
        body[draw(st.sampled_from(_BODY))] = draw(_near_value)
    elif where == "payload":
        body["payload"][draw(st.sampled_from(["amount", "to"]))] = draw(_near_value)
    elif where == "sig":
        env["sig"] = draw(_near_value)
    return msgpack.packb(env, use_bin_type=True, strict_types=False)


@settings(max_examples=500)
@given(_near_valid_tx())
def test_one_pass_tx_decode_agrees_one_field_off(data: bytes) -> None:
    _same_verdict(data)


def _transfer_body(**change: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "chain_id": "huzhu-test",
        "fee": 1,
        "nonce": 0,
        "payload": {"amount": 5, "to": b"\x03" * 32},
        "sender": b"\x01" * 32,
        "type": "transfer",
    }
    return body | change


@pytest.mark.parametrize(
    "env",
    [
        {"body": _transfer_body(), "sig": b"\x02" * 64},  # well formed: both pass
        {"body": _transfer_body(payload={"amount": 1.5, "to": b"\x03" * 32}), "sig": b"\x02" * 64},
        {"body": _transfer_body(payload={"amount": 2**53, "to": b"\x03" * 32}), "sig": b""},
        {"body": _transfer_body(payload={"to": b"\x03" * 32, "amount": 5}), "sig": b"\x02" * 64},
        {"body": _transfer_body(payload={1: 2}), "sig": b"\x02" * 64},
        {"body": _transfer_body(payload={"amount": [[1.5]], "to": b""}), "sig": b"\x02" * 64},
        {"body": _transfer_body(nonce=2**53), "sig": b"\x02" * 64},
        {"body": _transfer_body(nonce=-1), "sig": b"\x02" * 64},
        {"body": _transfer_body(fee=0.5), "sig": b"\x02" * 64},
        {"body": _transfer_body(chain_id="other"), "sig": b"\x02" * 64},
        {"body": _transfer_body(type="nope"), "sig": b"\x02" * 64},
        {"body": _transfer_body(sender=b"\x01" * 31), "sig": b"\x02" * 64},
        {"body": _transfer_body(), "sig": 1.0},
        {"body": _transfer_body(), "sig": b"\x02" * 63},
        {"sig": b"\x02" * 64, "body": _transfer_body()},
        {"body": dict(reversed(_transfer_body().items())), "sig": b"\x02" * 64},
    ],
)
def test_one_pass_tx_decode_refuses_as_the_full_path_does(env: dict[str, Any]) -> None:
    _same_verdict(msgpack.packb(env, use_bin_type=True))


def test_one_pass_tx_decode_depth_is_decodes() -> None:
    """The payload is checked from depth 2, as decode's walk reaches it: a payload nested to
    exactly the limit and one level more get the full path's verdicts (the second refused
    for its depth by both)."""
    for extra in (0, 1):
        inner: Any = 1
        for _ in range(MAX_DEPTH - 3 + extra):
            inner = [inner]
        data = msgpack.packb(
            {"body": _transfer_body(payload={"amount": inner, "to": b""}), "sig": b""},
            use_bin_type=True,
        )
        _same_verdict(data)
        assert (_decoded(decode, data)[0] == "ok") is (extra == 0)


def _decoded(decoder: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "ok", decoder(data)
    except DecodeError as exc:
        return "error", str(exc)
