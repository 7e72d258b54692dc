"""The dependency rule of DESIGN.md, checked on the source: the deterministic core stays pure.

state/ and consensus/ never import I/O, clocks or randomness (the simulator replays a run from
its seed only because of this), and consensus/ takes from state/ only the encoding, crypto
and store primitives, so the two can evolve apart. Dependencies point one way, towards the
core: p2p/ takes only the encoding and crypto of state/ (the transport knows no chain), sim/
only consensus/ and state/ (what it tests is exactly what the node runs, without the node's
I/O), and node/, the asyncio driver, is imported by none of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"asyncio", "socket", "time", "random", "os", "threading", "secrets"}
#: datetime may parse times (genesis_time); it must never read the clock
CLOCK_READS = {"now", "utcnow", "today"}
OUR_DRIVERS = {"node", "p2p", "sim"}
OUR_PACKAGES = {"state", "consensus", "p2p", "node", "sim", "nemesis"}
CONSENSUS_MAY_USE = {"state.codec", "state.crypto", "state.store"}
P2P_MAY_USE = {"state.codec", "state.crypto"}
SIM_MAY_USE = {"consensus", "state"}
#: the nemesis drives real nodes: it may use the node's harness, state and consensus
NEMESIS_MAY_USE = {"node", "state", "consensus"}


def _imports(path: Path) -> list[str]:
    """Absolute names of the modules `path` imports, anywhere in it (relative ones resolved,
    so `from ..node import x` in p2p/ reads as node)."""
    package = path.relative_to(ROOT).parent.parts
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            names.append(".".join((*base, *([node.module] if node.module else []))))
    return names


def _ours(name: str) -> bool:
    return name.split(".")[0] in OUR_PACKAGES


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", ["state", "consensus"])
def test_core_packages_import_no_io_clock_or_randomness(package: str) -> None:
    bad = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in _files(package)
        for name in _imports(p)
        if name.split(".")[0] in FORBIDDEN | OUR_DRIVERS
    ]
    assert not bad, bad


@pytest.mark.parametrize("package", ["state", "consensus"])
def test_core_packages_never_read_the_clock(package: str) -> None:
    bad = [
        f"{p.relative_to(ROOT)}:{node.lineno} calls .{node.func.attr}()"
        for p in _files(package)
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in CLOCK_READS
    ]
    assert not bad, bad


def test_consensus_uses_only_state_primitives() -> None:
    bad = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in _files("consensus")
        for name in _imports(p)
        if name.split(".")[0] == "state" and name not in CONSENSUS_MAY_USE
    ]
    assert not bad, bad


def test_state_does_not_import_consensus() -> None:
    bad = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in _files("state")
        for name in _imports(p)
        if name.split(".")[0] == "consensus"
    ]
    assert not bad, bad


def test_p2p_uses_only_the_encoding_and_crypto_of_state() -> None:
    bad = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in _files("p2p")
        for name in _imports(p)
        if _ours(name) and name.split(".")[0] != "p2p" and name not in P2P_MAY_USE
    ]
    assert not bad, bad


def test_sim_uses_only_consensus_and_state() -> None:
    bad = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in _files("sim")
        for name in _imports(p)
        if _ours(name) and name.split(".")[0] not in SIM_MAY_USE | {"sim"}
    ]
    assert not bad, bad


def test_nemesis_uses_only_node_state_and_consensus() -> None:
    bad = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in _files("nemesis")
        for name in _imports(p)
        if _ours(name) and name.split(".")[0] not in NEMESIS_MAY_USE | {"nemesis"}
    ]
    assert not bad, bad


def test_only_the_cli_imports_the_nemesis() -> None:
    """The node runs without it (its image does not ship it): node/cli.py registers the
    subcommand when the package is there, and nothing else of ours imports it."""
    bad = [
        f"{p.relative_to(ROOT)} imports {name}"
        for package in sorted(OUR_PACKAGES - {"nemesis"})
        for p in _files(package)
        for name in _imports(p)
        if name.split(".")[0] == "nemesis" and p != ROOT / "node" / "cli.py"
    ]
    assert not bad, bad


@pytest.mark.parametrize("package", sorted(OUR_PACKAGES - {"node", "nemesis"}))
def test_nothing_of_ours_imports_node(package: str) -> None:
    bad = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in _files(package)
        for name in _imports(p)
        if name.split(".")[0] == "node"
    ]
    assert not bad, bad


def test_the_checker_sees_imports() -> None:
    """Guard against a vacuous pass: the parser finds the imports these files really have."""
    assert "state.codec" in _imports(ROOT / "consensus" / "types.py")
    assert "asyncio" in _imports(ROOT / "node" / "runtime.py")
    # relative imports resolve against the file's package
    assert "p2p.types" in _imports(ROOT / "p2p" / "node.py")
    assert "consensus.types" in _imports(ROOT / "consensus" / "core.py")
    # imports inside functions count too (sim.cli imports its plotting lazily)
    assert "sim.plot" in _imports(ROOT / "sim" / "cli.py")


#: standard-library modules the mempool and gossip policies may use: no I/O, clock or randomness
PURE_STDLIB = {"__future__", "bisect", "collections", "collections.abc", "dataclasses", "typing"}


@pytest.mark.parametrize("rel", ["state/mempool.py", "state/txgossip.py"])
def test_policies_import_only_state_and_pure_stdlib(rel: str) -> None:
    """The node and the simulator drive the same pure policies, so neither may grow I/O."""
    bad = {n for n in _imports(ROOT / rel) if n.split(".")[0] != "state" and n not in PURE_STDLIB}
    assert not bad, f"{rel} imports {sorted(bad)}"


def test_drivers_use_the_policies_from_state() -> None:
    def imports(rel: str) -> set[str]:
        return set(_imports(ROOT / rel))

    assert {"state.mempool", "state.txgossip"} <= imports("node/runtime.py")
    assert {"state.mempool", "state.txgossip"} <= imports("sim/node.py")
    # the p2p driver is handed its policy: p2p keeps importing only state.codec/crypto
    assert not {n for n in imports("p2p/gossip.py") if n.startswith("state")}
    assert not (ROOT / "node" / "mempool.py").exists()


def test_the_light_client_verifier_is_pure() -> None:
    """node/light.py judges recorded answers (tests/vectors/) exactly as live ones: it may use
    the state and consensus primitives and pure standard library, never I/O, a clock or the
    node's driver modules."""
    names = set(_imports(ROOT / "node" / "light.py"))
    assert {"consensus.types", "state.tree"} <= names  # the checker sees its imports
    bad = {n for n in names if n.split(".")[0] not in {"state", "consensus"} | PURE_STDLIB}
    assert not bad, f"node/light.py imports {sorted(bad)}"
