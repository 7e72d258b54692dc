"""Write tests/vectors/ed25519_edge.json: Ed25519 edge cases with libsodium's verdict.

Why: PROTOCOL.md section 2 fixes libsodium's strict verify as the signature rule, and the
in-browser verifier must reach the same verdicts (a lenient library accepts small-order R or
non-canonical encodings). The verdict of each case is whatever PyNaCl (libsodium) answers,
never written by hand. Run: .venv/bin/python tests/vectors/gen_ed25519_edge.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nacl
import nacl.bindings
import nacl.exceptions
import nacl.signing

OUT = Path(__file__).with_name("ed25519_edge.json")
#: the order of the Ed25519 base point
L = 2**252 + 27742317777372353535851937790883648493
P = 2**255 - 19
IDENTITY = (1).to_bytes(32, "little")  # the neutral point: order 1


def libsodium_verdict(key: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        nacl.bindings.crypto_sign_open(sig + msg, key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def cases() -> list[dict[str, Any]]:
    sk = nacl.signing.SigningKey(bytes(range(32)))
    pk = bytes(sk.verify_key)
    msg = b"huzhu ed25519 edge"
    sig = sk.sign(msg).signature
    r, s = sig[:32], int.from_bytes(sig[32:], "little")
    out = [
        ("valid", pk, msg, sig),
        ("valid, empty message", pk, b"", sk.sign(b"").signature),
        ("message changed", pk, msg + b"!", sig),
        ("non-canonical S (S + L)", pk, msg, r + (s + L).to_bytes(32, "little")),
        ("S = L", pk, msg, r + L.to_bytes(32, "little")),
        ("small-order R (identity), S = 0", pk, msg, IDENTITY + bytes(32)),
        ("small-order R (order 2), S = 0", pk, msg, (P - 1).to_bytes(32, "little") + bytes(32)),
        ("all-zero key and signature", bytes(32), msg, bytes(64)),
        ("small-order key (identity), R identity, S = 0", IDENTITY, msg, IDENTITY + bytes(32)),
        ("non-canonical key (y = p + 1)", (P + 1).to_bytes(32, "little"), msg, sig),
        ("non-canonical key (y = 2^255 - 1)", b"\xff" * 31 + b"\x7f", msg, sig),
        ("key with the sign bit flipped", pk[:31] + bytes([pk[31] ^ 0x80]), msg, sig),
    ]
    return [
        {
            "name": name,
            "key": key.hex(),
            "message": m.hex(),
            "signature": sg.hex(),
            "valid": libsodium_verdict(key, m, sg),
        }
        for name, key, m, sg in out
    ]


def main() -> None:
    doc = {
        "format": "huzhu ed25519 edge vectors v1: verdicts of libsodium crypto_sign_open",
        "generator": f"PyNaCl {nacl.__version__} (libsodium)",
        "cases": cases(),
    }
    OUT.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
