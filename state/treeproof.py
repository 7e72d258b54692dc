"""State tree proofs: the `Proof` of one key and its pure verifier `verify_proof`, needing no
store (the hash rules and the proof format are in the state/tree.py module docstring, which
state/tree.py re-exports these under)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from state import codec

_sha256 = hashlib.sha256

EMPTY_ROOT: bytes = _sha256(b"huzhu/tree/v1/empty").digest()
HASH_LEN = 32
MAX_DEPTH = 64  # nibbles in a sha256
LEAF_TAG = b"\x00"
INTERNAL_TAG = b"\x01"


@dataclass(frozen=True, slots=True)
class Proof:
    """The authentication path of one key; state/tree.py's module docstring fixes its meaning."""

    siblings: tuple[tuple[bytes, ...], ...]
    leaf: tuple[bytes, bytes] | None

    def to_bytes(self) -> bytes:
        return codec.encode(
            {
                "leaf": None if self.leaf is None else list(self.leaf),
                "siblings": [list(level) for level in self.siblings],
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Proof:
        """Decode a proof; raises DecodeError on anything that is not the documented form."""
        obj = codec.decode(data)
        if not isinstance(obj, dict) or set(obj) != {"leaf", "siblings"}:
            raise codec.DecodeError("proof: want a map with leaf and siblings")
        leaf = obj["leaf"]
        sibs = obj["siblings"]
        if leaf is not None and not (
            isinstance(leaf, list) and len(leaf) == 2 and all(type(x) is bytes for x in leaf)
        ):
            raise codec.DecodeError("proof: leaf must be nil or [bin, bin]")
        if not isinstance(sibs, list) or not all(
            isinstance(lv, list) and all(type(x) is bytes for x in lv) for lv in sibs
        ):
            raise codec.DecodeError("proof: siblings must be a list of lists of bin")
        return cls(
            siblings=tuple(tuple(lv) for lv in sibs),
            leaf=None if leaf is None else (leaf[0], leaf[1]),
        )


def internal_hash(children: list[bytes]) -> bytes:
    return _sha256(INTERNAL_TAG + b"".join(children)).digest()


def nibble(kh: bytes, d: int) -> int:
    b = kh[d >> 1]
    return b & 0x0F if d & 1 else b >> 4


def verify_proof(root: bytes, key: bytes, value: bytes | None, proof: Proof) -> bool:
    """True iff `proof` shows `key` maps to `value` (None: is absent) in the tree of `root`.

    Pure: needs no store. Malformed proofs give False, never an exception.
    """
    try:
        siblings = proof.siblings
        leaf = proof.leaf
        n = len(siblings)
        if n > MAX_DEPTH:
            return False
        kh = _sha256(key).digest()
        if leaf is None:
            if value is not None:
                return False
            h = EMPTY_ROOT
        else:
            leaf_kh, leaf_vh = leaf
            if type(leaf_kh) is not bytes or type(leaf_vh) is not bytes:
                return False
            if len(leaf_kh) != HASH_LEN or len(leaf_vh) != HASH_LEN:
                return False
            if leaf_kh.hex()[:n] != kh.hex()[:n]:
                return False
            if value is None:
                if leaf_kh == kh:
                    return False
            elif leaf_kh != kh or leaf_vh != _sha256(value).digest():
                return False
            h = _sha256(LEAF_TAG + leaf_kh + leaf_vh).digest()
        for d in range(n - 1, -1, -1):
            level = siblings[d]
            if len(level) != 15 or any(type(s) is not bytes or len(s) != HASH_LEN for s in level):
                return False
            nib = nibble(kh, d)
            children = [*level[:nib], h, *level[nib:]]
            h = internal_hash(children)
        return h == root
    except (TypeError, ValueError, AttributeError):
        return False
