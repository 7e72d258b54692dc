"""Ed25519 and hashing in one place, so every node applies the same signature rule.

libsodium's verify (what pynacl calls) refuses S >= L, non-canonical A or R and small-order
A or R, then checks the cofactorless equation: exactly PROTOCOL.md section 2's rule.
"""

from __future__ import annotations

import hashlib
import importlib
from typing import Any

import nacl.signing

SIG_LEN = 64
KEY_LEN = 32


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


#: signature checks made (node/metrics.py reads it); a list: no `global`. Worker threads
#: (node/workers.py) count here too: with the GIL, `+= 1` on a list item runs no instruction
#: that lets another thread in between the read and the write, so no check is lost.
_verified = [0]


def verify_count() -> int:
    """Signature checks made by this process so far (the operators' metrics)."""
    return _verified[0]


# libsodium's crypto_sign_open called directly through PyNaCl's own cffi module (no new
# dependency), as p2p/secret.py does for its frames: nacl.bindings' wrapper adds type checks,
# a second output pointer, a copy of the opened message and an exception per bad signature,
# ~1.5 us of the ~54 us a check costs, on every node for every tx. Same C function, so the
# same verdicts (tests/vectors/ed25519_edge.json, tests/state/test_crypto.py).
# (nacl._sodium is a compiled module without type stubs: imported by name, typed Any)
_sodium = importlib.import_module("nacl._sodium")
_alloc: Any = _sodium.ffi.new_allocator(should_clear_after_alloc=False)
_sign_open: Any = _sodium.lib.crypto_sign_open
_NULL: Any = _sodium.ffi.NULL


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `message` by `public_key`."""
    _verified[0] += 1
    if len(public_key) != KEY_LEN or len(signature) != SIG_LEN:
        return False
    signed = signature + message
    opened = _alloc("unsigned char[]", len(signed))  # libsodium writes the message there
    rc: int = _sign_open(opened, _NULL, signed, len(signed), public_key)
    return rc == 0


class Signer:
    """An Ed25519 private key; `public_key` is the 32-byte address / consensus key."""

    __slots__ = ("_key", "public_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._key = nacl.signing.SigningKey(seed)
        self.public_key: bytes = bytes(self._key.verify_key)

    @classmethod
    def generate(cls, seed: bytes) -> Signer:
        """Build from caller-supplied randomness (core code never draws its own)."""
        return cls(seed)

    @property
    def seed(self) -> bytes:
        return bytes(self._key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message).signature
