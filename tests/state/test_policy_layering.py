"""The mempool and the tx-gossip policy are pure state/ modules that the node and the
simulator both drive: pinned here, so neither drifts back into the runtime."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: standard-library modules the policies may use: no I/O, no clock, no randomness
PURE_STDLIB = {"__future__", "bisect", "collections", "collections.abc", "dataclasses", "typing"}


def _imports(rel: str) -> set[str]:
    tree = ast.parse((ROOT / rel).read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


@pytest.mark.parametrize("rel", ["state/mempool.py", "state/txgossip.py"])
def test_policies_import_only_state_and_pure_stdlib(rel: str) -> None:
    bad = {n for n in _imports(rel) if n.split(".")[0] != "state" and n not in PURE_STDLIB}
    assert not bad, f"{rel} imports {sorted(bad)}"


def test_drivers_use_the_policies_from_state() -> None:
    assert {"state.mempool", "state.txgossip"} <= _imports("node/runtime.py")
    assert {"state.mempool", "state.txgossip"} <= _imports("sim/node.py")
    # the p2p driver is handed its policy: p2p keeps importing only state.codec/crypto
    assert not {n for n in _imports("p2p/gossip.py") if n.startswith("state")}
    assert not (ROOT / "node" / "mempool.py").exists()
