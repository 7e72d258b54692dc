"""What the benchmarks share besides the process harness: throwaway keys and the table."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from state.crypto import Signer, sha256


def bench_signer(domain: bytes, i: int) -> Signer:
    """Deterministic bench keys (reproducible runs, never used outside a throwaway net):
    seed = sha256(domain + "/" + i as 4 bytes)."""
    return Signer(sha256(domain + b"/" + i.to_bytes(4, "big")))


def metric_table(r: dict[str, Any], keys: Iterable[str], title: str | None = None) -> Any:
    """A rich Table with one row per key of the result `r` (rich is imported only here, when a
    table is printed)."""
    from rich.table import Table

    t = Table(title=title)
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k in keys:
        t.add_row(k, str(r[k]))
    return t


def report(result: dict[str, Any], json_out: str | None) -> int:
    """Print `result` as one JSON line (what a caller parses from stdout), write it indented
    to `json_out` when given; the exit status 0, for ``sys.exit(main())``."""
    print(json.dumps(result))
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=2))
    return 0
