"""The repository's own reference stays true: generated tables current, no link leaves the repo.

A reader who clones the repository has only the repository, so a doc that points at a path
outside it (or at a file that does not exist) is a dead end; a table generated from a registry
that was changed without `make docs` is a lie. Both are caught here rather than by a reader.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from node import docgen
from node.jsonrpc import RPC_ERROR_MEANINGS
from state.errors import CODE_MEANINGS, Code

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
#: text that only makes sense on the machine the project was written on
OUTSIDE = re.compile(r"\.\./shared|/work/|shared/(PROTOCOL|DESIGN|DOMAIN)|PROTOCOL\.md|DESIGN\.md")
#: Markdown links and images: [text](target)
LINK = re.compile(r"\]\(([^)\s]+)\)")


# --- the committed docs ----------------------------------------------------------------------


def test_committed_docs_are_what_make_docs_writes() -> None:
    stale = docgen.stale_files()
    assert not stale, f"generated tables out of date in {stale}: run `make docs` and commit"


def test_the_check_command_passes_on_the_committed_tree() -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "node.docgen", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    print(f"docgen --check: {time.monotonic() - started:.2f} s")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_point_nowhere_outside_the_repository(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    bad = [
        f"line {n}: {line.strip()}"
        for n, line in enumerate(text.splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not bad, f"{path.relative_to(ROOT)} points outside the repository: {bad}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(path: Path) -> None:
    bad = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # http(s), mailto, in-page anchors
        dest = (path.parent / target.split("#")[0]).resolve()
        if not dest.is_relative_to(ROOT) or not dest.exists():
            bad.append(target)
    assert not bad, f"{path.relative_to(ROOT)} links to {bad}"


def test_protocol_md_carries_every_generated_table() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    for name in docgen.TABLES:
        assert f"<!-- BEGIN GENERATED: {name} -->" in text, name


# --- the registries the error tables read -----------------------------------------------------


def test_every_result_code_has_a_one_line_meaning() -> None:
    assert set(CODE_MEANINGS) == set(Code)
    for code, meaning in CODE_MEANINGS.items():
        assert meaning and "\n" not in meaning and "|" not in meaning, code


def test_every_json_rpc_error_code_has_a_name_and_meaning() -> None:
    import node.jsonrpc as jr

    constants = {
        v for k, v in vars(jr).items() if k.isupper() and type(v) is int and not k.startswith("_")
    }
    assert set(RPC_ERROR_MEANINGS) == constants
    for name, meaning in RPC_ERROR_MEANINGS.values():
        assert name and meaning and "\n" not in meaning


def test_result_codes_table_lists_each_code_with_its_error_name() -> None:
    rows = docgen.result_codes_table().splitlines()[2:]
    assert len(rows) == len(Code)
    assert rows[0].startswith("| 0 | (none) |")
    assert rows[Code.ALREADY_REGISTERED].startswith("| 25 | `already_registered` |")


def test_rpc_errors_table_lists_codes_from_minus_32001_down() -> None:
    rows = docgen.rpc_errors_table().splitlines()[2:]
    assert [r.split(" | ")[0] for r in rows][:2] == ["| -32001", "| -32002"]
    assert rows[-1].startswith("| -32700 | parse error |")


# --- rewriting regions -----------------------------------------------------------------------

_DOC = (
    "# title\n\nbefore\n\n"
    "<!-- BEGIN GENERATED: result-codes -->\nstale text\n<!-- END GENERATED: result-codes -->\n"
    "\nafter\n"
)


def test_render_replaces_only_the_region_and_is_idempotent() -> None:
    out = docgen.render(_DOC)
    assert out.startswith("# title\n\nbefore\n\n<!-- BEGIN GENERATED: result-codes -->\n| code |")
    assert out.endswith("<!-- END GENERATED: result-codes -->\n\nafter\n")
    assert "stale text" not in out
    assert docgen.render(out) == out


def test_render_refuses_unknown_and_unpaired_markers() -> None:
    with pytest.raises(docgen.DocGenError, match="unknown generated table 'nope'"):
        docgen.render("<!-- BEGIN GENERATED: nope -->\nx\n<!-- END GENERATED: nope -->\n")
    with pytest.raises(docgen.DocGenError, match="without its END"):
        docgen.render("<!-- BEGIN GENERATED: result-codes -->\nx\n")
    with pytest.raises(docgen.DocGenError, match="without its END"):
        docgen.render("x\n<!-- END GENERATED: result-codes -->\n")
    prose = "Regions sit between `<!-- BEGIN GENERATED: NAME -->` and its END marker.\n"
    assert docgen.render(prose) == prose


def test_check_mode_names_the_command_that_fixes_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "x.md").write_text(_DOC)
    monkeypatch.setattr(docgen, "ROOT", tmp_path)
    monkeypatch.setattr(docgen, "DOC_FILES", ("docs/x.md",))
    assert docgen.main(["--check"]) == 1
    assert "docs/x.md is out of date: run `make docs`" in capsys.readouterr().err
    assert docgen.main([]) == 0
    assert docgen.main(["--check"]) == 0
    assert docgen.write_all() == []
    assert "stale text" not in (tmp_path / "docs" / "x.md").read_text()


# --- the tables written against the registries other branches build --------------------------


def _kind(name: str, doc: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, doc=doc)


def _field(name: str, kind: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(name=name, kind=kind)


def test_tx_types_table_renders_fields_kinds_and_checks_in_registry_order() -> None:
    address = _kind("address", "bin(32): 64 hex characters in JSON")
    amount = _kind("amount", "int 1..2^53-1")
    registry = (
        SimpleNamespace(
            name="transfer",
            summary="moves an amount to another account",
            fields=(_field("to", address), _field("amount", amount)),
            checks=((Code.INSUFFICIENT_FUNDS, "balance >= amount"),),
        ),
        SimpleNamespace(
            name="admit",
            summary="sets kyc | of an account",
            fields=(_field("account", address),),
            checks=(),
        ),
    )
    out = docgen.tx_types_table(registry)
    assert (
        "| `transfer` | `to`: address, `amount`: amount | moves an amount to another account |"
        in out
    )
    assert "| `admit` | `account`: address | sets kyc \\| of an account |" in out
    assert out.index("`transfer`") < out.index("`admit`")
    assert "| address | bin(32): 64 hex characters in JSON |" in out
    assert "- balance >= amount: else `insufficient_funds` (6)\n" in out
    assert "- none beyond admission: it always succeeds\n" in out


def test_params_tables_show_required_defaults_and_empty_ranges() -> None:
    specs = (
        SimpleNamespace(
            name="min_fee", type_doc="int", default=1, range_doc="0..2^53-1", meaning="lowest fee"
        ),
        SimpleNamespace(
            name="treasury", type_doc="address", default=None, range_doc="", meaning="gets fees"
        ),
        SimpleNamespace(
            name="admission", type_doc="str", default="open", range_doc="", meaning="who joins"
        ),
    )
    rows = docgen.chain_params_table(specs).splitlines()
    assert rows[0] == "| param | type | default | range | meaning |"
    assert rows[2] == "| `min_fee` | int | `1` | 0..2^53-1 | lowest fee |"
    assert rows[3] == "| `treasury` | address | required | – | gets fees |"
    assert docgen.pool_params_table(specs).splitlines()[4] == (
        '| `admission` | str | `"open"` | – | who joins |'
    )


def test_rpc_methods_table_shows_params_defaults_and_websocket_only() -> None:
    def param(
        name: str, schema: dict, required: bool = True, default: object = None, doc: str = ""
    ):
        return SimpleNamespace(
            name=name, schema=schema, required=required, default=default, doc=doc
        )

    methods = (
        SimpleNamespace(
            name="claims",
            summary="claims of a pool",
            params=(
                param("pool", {"type": "string"}),
                param("status", {"enum": ["voting", "paid"]}, False),
                param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, False, 100),
                param("height", {"type": "integer", "minimum": -(2**53 - 1), "maximum": 2**53 - 1}),
                param("nonce", {"type": "integer", "minimum": 0, "maximum": 2**53 - 1}),
                param(
                    "hash",
                    {
                        "type": "string",
                        "pattern": "^[0-9a-fA-F]{64}$",
                        "minLength": 64,
                        "maxLength": 64,
                    },
                    doc="tx hash",
                ),
            ),
            result_doc="list of claims",
            result_schema={"type": "array"},
            ws_only=False,
        ),
        SimpleNamespace(
            name="subscribe",
            summary="events",
            params=(),
            result_doc="a subscription id",
            result_schema={"type": "string"},
            ws_only=True,
        ),
    )
    rows = docgen.rpc_methods_table(methods).splitlines()
    assert rows[2] == (
        '| `claims` | `pool` (string); `status` ("voting" \\| "paid", optional); '
        "`limit` (integer 1..1000, default `100`); `height` (integer); `nonce` (integer >= 0); "
        "`hash` (hex, 32 bytes): tx hash "
        "| list of claims | claims of a pool |"
    )
    assert rows[3] == "| `subscribe` (WebSocket only) | – | a subscription id | events |"


def test_generation_is_fast_and_deterministic() -> None:
    texts = [(ROOT / rel).read_text(encoding="utf-8") for rel in docgen.DOC_FILES]
    started = time.monotonic()
    first = [docgen.render(t) for t in texts]
    elapsed = time.monotonic() - started
    assert [docgen.render(t) for t in texts] == first
    assert elapsed < 2.0, f"{elapsed:.2f} s"
