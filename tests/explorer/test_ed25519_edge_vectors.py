"""tests/vectors/ed25519_edge.json is what its generator writes, and its verdicts are the
node's own (state/crypto.py verify, libsodium): the browser test holds verify.js to them, so
a stale or hand-edited verdict would hold it to the wrong rule."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from state.crypto import verify

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def test_edge_vectors_are_fresh_and_are_the_node_verdicts() -> None:
    spec = importlib.util.spec_from_file_location("gen_edge", VECTORS / "gen_ed25519_edge.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    doc = json.loads((VECTORS / "ed25519_edge.json").read_text())
    assert doc["cases"] == gen.cases()
    verdicts = set()
    for c in doc["cases"]:
        key, msg, sig = (bytes.fromhex(c[k]) for k in ("key", "message", "signature"))
        assert verify(key, msg, sig) is c["valid"], c["name"]
        verdicts.add(c["valid"])
    assert verdicts == {True, False}
    names = " ".join(c["name"] for c in doc["cases"])
    for kind in ("small-order R", "non-canonical S", "non-canonical key", "all-zero key"):
        assert kind in names
