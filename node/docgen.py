"""`make docs`: rewrite the generated tables of the docs from the registries they describe.

A table written by hand drifts from the code the day a type, param, method or code is added;
generated from the one declaration the code itself runs on, it cannot. Each region of a
Markdown file between ``<!-- BEGIN GENERATED: NAME -->`` and ``<!-- END GENERATED: NAME -->``
is replaced by the table NAME renders. Output is a pure function of the registries: stable
order, no dates, so tests/test_docs.py can compare the committed files byte for byte.

    python -m node.docgen           # rewrite the files in place
    python -m node.docgen --check   # exit 1 (and name the command) when a file is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from state.codec import MAX_SAFE_INT

ROOT = Path(__file__).resolve().parents[1]
#: the files whose generated regions `make docs` keeps current
DOC_FILES: tuple[str, ...] = ("docs/protocol.md", "docs/INTERNALS.md")
FIX_COMMAND = "make docs"

_REGION = re.compile(
    r"(?P<begin><!-- BEGIN GENERATED: (?P<name>[a-z0-9-]+) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<end><!-- END GENERATED: (?P=name) -->)",
    re.DOTALL,
)
# Names are lowercase, so prose can show a marker with a placeholder (NAME) without being one.
_BEGIN = re.compile(r"<!-- BEGIN GENERATED: ([a-z0-9-]+) -->")
_END = re.compile(r"<!-- END GENERATED: ([a-z0-9-]+) -->")


class DocGenError(Exception):
    """A doc file whose markers the generator cannot rewrite safely (unknown, unpaired)."""


# --- Markdown helpers ------------------------------------------------------------------------


def _cell(text: Any) -> str:
    """One table cell: pipes escaped and newlines folded, so a doc string cannot break a row."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _json_value(value: Any) -> str:
    """A default as a reader types it in genesis or a request: JSON, compact."""
    return "`" + json.dumps(value, separators=(", ", ": "), ensure_ascii=False) + "`"


# --- the tables ------------------------------------------------------------------------------


def result_codes_table() -> str:
    """Transaction result codes (admission answers and block results) from state.errors."""
    from state.errors import CODE_MEANINGS, Code

    return _table(
        ("code", "error", "meaning"),
        ((int(c), f"`{c.error}`" if c.error else "(none)", CODE_MEANINGS[c]) for c in sorted(Code)),
    )


def rpc_errors_table() -> str:
    """JSON-RPC error codes from node.jsonrpc, most negative last as JSON-RPC lists them."""
    from node.jsonrpc import RPC_ERROR_MEANINGS

    return _table(
        ("code", "name", "meaning"),
        (
            (code, name, meaning)
            for code, (name, meaning) in sorted(RPC_ERROR_MEANINGS.items(), reverse=True)
        ),
    )


def tx_types_table(registry: Sequence[Any] | None = None) -> str:
    """Every transaction type: its payload fields with their kinds, and its checks in order.

    `registry` defaults to state.txtypes.REGISTRY (TxType: name, summary, fields of
    Field(name, kind(name, doc)), checks of (Code, condition)).
    """
    if registry is None:
        from state.txtypes import REGISTRY

        registry = REGISTRY
    out = [
        _table(
            ("type", "payload", "what it does"),
            (
                (
                    f"`{t.name}`",
                    ", ".join(f"`{f.name}`: {f.kind.name}" for f in t.fields),
                    t.summary,
                )
                for t in registry
            ),
        )
    ]
    kinds: dict[str, str] = {}
    for t in registry:
        for f in t.fields:
            kinds.setdefault(f.kind.name, f.kind.doc)
    out.append("\nField kinds:\n\n")
    out.append(_table(("kind", "wire and JSON form"), sorted(kinds.items())))
    for t in registry:
        out.append(f"\n`{t.name}` checks, in order (the first that fails is the result):\n\n")
        if not t.checks:
            out.append("- none beyond admission: it always succeeds\n")
        for code, condition in t.checks:
            out.append(f"- {_cell(condition)}: else `{code.error}` ({int(code)})\n")
    return "".join(out)


def _params_table(specs: Sequence[Any]) -> str:
    return _table(
        ("param", "type", "default", "range", "meaning"),
        (
            (
                f"`{p.name}`",
                p.type_doc,
                "required" if p.default is None else _json_value(p.default),
                p.range_doc or "–",
                p.meaning,
            )
            for p in specs
        ),
    )


def chain_params_table(specs: Sequence[Any] | None = None) -> str:
    """Genesis `params` from state.params.CHAIN_PARAMS (ParamSpec: name, type_doc, default,
    range_doc, meaning)."""
    if specs is None:
        from state.params import CHAIN_PARAMS

        specs = CHAIN_PARAMS
    return _params_table(specs)


def pool_params_table(specs: Sequence[Any] | None = None) -> str:
    """A pool's `params` from state.params.POOL_PARAMS."""
    if specs is None:
        from state.params import POOL_PARAMS

        specs = POOL_PARAMS
    return _params_table(specs)


def _schema_doc(schema: dict[str, Any]) -> str:
    """A JSON Schema in a few words: enough for a table cell, the full schema is rpc.discover's."""
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and low <= -MAX_SAFE_INT:
        low = None  # every JSON-safe integer: the bound says nothing a reader needs
    if high is not None and high >= MAX_SAFE_INT:
        high = None
    if low is not None and high is not None:
        return f"{kind} {low}..{high}"
    if low is not None:
        return f"{kind} >= {low}"
    if high is not None:
        return f"{kind} <= {high}"
    if kind == "string" and "a-f" in schema.get("pattern", ""):
        size = schema.get("maxLength")
        if size is not None and size == schema.get("minLength"):
            return f"hex, {size // 2} bytes"
        return "hex"
    return str(kind)


def _param_doc(p: Any) -> str:
    words = f"`{p.name}` ({_schema_doc(p.schema)}"
    if not p.required:
        words += ", optional" if p.default is None else f", default {_json_value(p.default)}"
    words += ")"
    return words + (f": {p.doc}" if p.doc else "")


def rpc_methods_table(methods: Sequence[Any] | None = None) -> str:
    """Every JSON-RPC method from node.methods.METHODS (Method: name, summary, params of
    Param(name, schema, required, default, doc), result_doc, result_schema, ws_only)."""
    if methods is None:
        from node.methods import METHODS

        methods = METHODS
    return _table(
        ("method", "params", "result", "what it does"),
        (
            (
                f"`{m.name}`" + (" (WebSocket only)" if m.ws_only else ""),
                "; ".join(_param_doc(p) for p in m.params) or "–",
                m.result_doc,
                m.summary,
            )
            for m in methods
        ),
    )


#: every table a doc may name in its markers; each function reads its registry
TABLES: dict[str, Callable[[], str]] = {
    "tx-types": tx_types_table,  # state/txtypes.py REGISTRY
    "chain-params": chain_params_table,  # state/params.py CHAIN_PARAMS
    "pool-params": pool_params_table,  # state/params.py POOL_PARAMS
    "result-codes": result_codes_table,  # state/errors.py Code and CODE_MEANINGS
    "rpc-errors": rpc_errors_table,  # node/jsonrpc.py RPC_ERROR_MEANINGS
    "rpc-methods": rpc_methods_table,  # node/methods.py METHODS
}


def render_table(name: str) -> str:
    """The body of region `name`, generated from its registry."""
    return TABLES[name]()


def render(text: str, where: str = "<text>") -> str:
    """`text` with every generated region rewritten; DocGenError on unknown or unpaired markers."""
    begins = _BEGIN.findall(text)
    for name in begins:
        if name not in TABLES:
            raise DocGenError(f"{where}: unknown generated table {name!r}")
    matches = list(_REGION.finditer(text))
    if len(matches) != len(begins) or len(_END.findall(text)) != len(begins):
        raise DocGenError(f"{where}: a BEGIN GENERATED marker without its END (or the reverse)")
    return _REGION.sub(
        lambda m: m.group("begin") + render_table(m.group("name")) + m.group("end"), text
    )


def stale_files(root: Path | None = None) -> list[str]:
    """The doc files whose committed text differs from what the generator writes."""
    root = root or ROOT
    return [
        rel
        for rel in DOC_FILES
        if (text := (root / rel).read_text(encoding="utf-8")) != render(text, rel)
    ]


def write_all(root: Path | None = None) -> list[str]:
    """Rewrite the stale doc files; returns the ones changed."""
    root = root or ROOT
    changed = []
    for rel in DOC_FILES:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        new = render(text, rel)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(rel)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node.docgen", description=__doc__)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = stale_files()
            for rel in stale:
                print(f"{rel} is out of date: run `{FIX_COMMAND}`", file=sys.stderr)
            return 1 if stale else 0
        for rel in write_all():
            print(f"rewrote {rel}")
    except DocGenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
