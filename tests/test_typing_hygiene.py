"""The type checker's configuration does what it claims, and its escapes say why.

`make test` runs mypy: strict for state/ and consensus/, default mode for node/, p2p/, sim/.
A `type: ignore` switches the checker off for a line, so each one names its error code and
gives its reason on the same line: a reviewer can then tell a deliberate escape from a
silenced bug.
"""

from __future__ import annotations

import io
import re
import tokenize
import tomllib
from pathlib import Path

import pytest
from mypy.main import define_options, process_options
from mypy.options import Options

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
#: as mypy reads them: a comment (or a comment's later `#` part) starting with type: ignore
_IGNORE = re.compile(r"#\s*type:\s*ignore\b(?P<codes>\[[^\]]*\])?(?P<rest>.*)")
#: what follows the ignore must be another comment with some words in it
_REASON = re.compile(r"\s*#\s*\w+")


def unexplained_ignores(source: str) -> list[tuple[int, str]]:
    """(line, code) of each `type: ignore` comment without an error code and a reason."""
    out: list[tuple[int, str]] = []
    lines = source.splitlines()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        m = _IGNORE.search(tok.string)
        if m is None:
            continue
        if m.group("codes") is None or not _REASON.match(m.group("rest")):
            line = tok.start[0]
            out.append((line, lines[line - 1][: tok.start[1]].strip()))
    return out


def _checked_files() -> list[Path]:
    """The files `make test` type-checks (mypy's `files` setting)."""
    dirs = tomllib.loads(PYPROJECT.read_text())["tool"]["mypy"]["files"]
    return sorted(p for d in dirs for p in (ROOT / d).rglob("*.py"))


def _options() -> Options:
    """mypy's own reading of the project configuration."""
    _, options = process_options(["--config-file", str(PYPROJECT)])
    return options


def _strict_flags() -> list[tuple[str, bool]]:
    """(option, value) of every flag that `mypy --strict` sets, as this mypy defines it."""
    _, _, assignments = define_options()
    return assignments


# --- the checker of ignore comments -----------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "x = f()  # type: ignore\n",
        "x = f()  # type: ignore[arg-type]\n",
        "x = f()  # type: ignore[arg-type]  #\n",
        "x = f()  # type: ignore[arg-type]  # \n",
        "x = f()  # type:ignore[arg-type] because\n",
        "x = f()  # noqa: E501  # type: ignore[arg-type]\n",
    ],
)
def test_an_ignore_without_code_and_reason_is_reported(line: str) -> None:
    assert unexplained_ignores("a = 1\n" + line) == [(2, "x = f()")]


@pytest.mark.parametrize(
    "source",
    [
        "x = f()  # type: ignore[arg-type]  # plyvel has no stubs\n",
        "x = f()  # type: ignore[union-attr,misc]  # only members are recorded\n",
        "x = '# type: ignore'\n",  # in a string, not a comment: ignores nothing
        "# a note about type: ignore comments; type: ignore[x]  # with its reason\n",
    ],
)
def test_an_ignore_with_code_and_reason_passes(source: str) -> None:
    assert unexplained_ignores(source) == []


def test_every_ignore_in_checked_code_gives_its_reason() -> None:
    found = [
        (str(p.relative_to(ROOT)), line, code)
        for p in _checked_files()
        for line, code in unexplained_ignores(p.read_text())
    ]
    bad = [f"{path}:{n}: {code}" for path, n, code in found]
    assert not bad, "type: ignore[code]  # reason, on the same line:\n" + "\n".join(bad)


def test_the_scan_covers_the_packages() -> None:
    """Guard against a vacuous pass: the files scanned are the project's, ignores included."""
    names = {str(p.relative_to(ROOT)) for p in _checked_files()}
    assert {"state/tree.py", "consensus/core.py", "p2p/node.py", "node/rpc.py"} <= names
    assert "sim/world.py" in names
    assert unexplained_ignores((ROOT / "state" / "tree.py").read_text()) == []
    assert "type: ignore[" in (ROOT / "state" / "tree.py").read_text()


# --- the configuration ------------------------------------------------------------------


@pytest.mark.parametrize("module", ["state.tx", "state.tree", "consensus.core", "consensus.types"])
def test_the_core_is_checked_with_every_strict_flag(module: str) -> None:
    """state/ and consensus/ get all of --strict, including flags a newer mypy adds to it."""
    opts = _options().clone_for_module(module)
    missing = [f"{name}={value}" for name, value in _strict_flags() if getattr(opts, name) != value]
    assert not missing, f"{module}: set in the state.*/consensus.* override: {missing}"
    assert not opts.ignore_errors


@pytest.mark.parametrize("module", ["node.rpc", "p2p.node", "sim.world"])
def test_the_drivers_are_checked_in_default_mode(module: str) -> None:
    """A `strict = true` in any override makes every module strict (mypy applies it globally);
    the drivers stay in default mode."""
    opts = _options().clone_for_module(module)
    assert not opts.disallow_untyped_defs
    assert not opts.warn_return_any


def test_no_shipped_module_is_exempt_from_checking() -> None:
    """An `ignore_errors` override would let a whole file's errors pass `make test` unseen."""
    opts = _options()
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in _checked_files()}
    assert {"state.rules", "state.machine", "node.cli", "sim.node"} <= modules
    exempt = sorted(m for m in modules if opts.clone_for_module(m).ignore_errors)
    assert not exempt, f"type errors switched off for {exempt}"


def test_missing_stubs_are_excused_by_name_only() -> None:
    opts = _options()
    assert not opts.ignore_missing_imports
    assert opts.clone_for_module("plyvel").ignore_missing_imports
    assert opts.clone_for_module("msgpack").ignore_missing_imports
    assert not opts.clone_for_module("nacl").ignore_missing_imports
