"""state.crypto.verify calls libsodium's crypto_sign_open without PyNaCl's wrapper: its
verdict must be the wrapper's on every input (a consensus rule: every node must agree)."""

from __future__ import annotations

import json
from pathlib import Path

import nacl.bindings
import nacl.exceptions
from hypothesis import given, settings
from hypothesis import strategies as st

from state import crypto
from state.crypto import Signer, verify

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "ed25519_edge.json"
SIGNER = Signer(b"\x11" * 32)


def _wrapper_verdict(key: bytes, msg: bytes, sig: bytes) -> bool:
    """The rule as it was: PyNaCl's binding, lengths checked first."""
    if len(key) != 32 or len(sig) != 64:
        return False
    try:
        nacl.bindings.crypto_sign_open(sig + msg, key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def test_edge_vectors_same_verdict_as_the_wrapper() -> None:
    cases = json.loads(VECTORS.read_text())["cases"]
    for c in cases:
        key, msg, sig = (bytes.fromhex(c[k]) for k in ("key", "message", "signature"))
        assert verify(key, msg, sig) is _wrapper_verdict(key, msg, sig) is c["valid"], c["name"]


def test_wrong_lengths_are_refused_and_counted() -> None:
    msg = b"huzhu"
    sig = SIGNER.sign(msg)
    before = crypto.verify_count()
    assert verify(SIGNER.public_key, msg, sig)
    assert not verify(SIGNER.public_key[:31], msg, sig)
    assert not verify(SIGNER.public_key + b"\x00", msg, sig)
    assert not verify(SIGNER.public_key, msg, sig[:63])
    assert not verify(SIGNER.public_key, msg, sig + b"\x00")
    assert crypto.verify_count() == before + 5


@settings(max_examples=300, deadline=None)
@given(
    msg=st.binary(max_size=300),
    flip=st.integers(min_value=-1, max_value=8 * (64 + 32) - 1),
    other_msg=st.booleans(),
)
def test_mutated_signatures_same_verdict_as_the_wrapper(
    msg: bytes, flip: int, other_msg: bool
) -> None:
    """A good signature, one bit of its signature or key flipped (or none), or checked
    against another message: both paths give the same verdict, and the untouched one is
    good."""
    sig = bytearray(SIGNER.sign(msg))
    key = bytearray(SIGNER.public_key)
    if 0 <= flip < 8 * 64:
        sig[flip // 8] ^= 1 << (flip % 8)
    elif flip >= 8 * 64:
        k = flip - 8 * 64
        key[k // 8] ^= 1 << (k % 8)
    checked = msg + b"!" if other_msg else msg
    expected = _wrapper_verdict(bytes(key), checked, bytes(sig))
    assert verify(bytes(key), checked, bytes(sig)) is expected
    if flip == -1 and not other_msg:
        assert expected


@settings(max_examples=300, deadline=None)
@given(
    key=st.binary(min_size=30, max_size=34),
    msg=st.binary(max_size=64),
    sig=st.binary(min_size=62, max_size=66),
)
def test_random_inputs_same_verdict_as_the_wrapper(key: bytes, msg: bytes, sig: bytes) -> None:
    assert verify(key, msg, sig) is _wrapper_verdict(key, msg, sig)
