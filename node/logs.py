"""Logging set-up for a node process: one readable line per event, UTC timestamps.

Operators read these lines with `tail -f` and grep them, so each line is
`TIME LEVEL logger: message key=value ...`; the node logs one line per committed block
(height, txs, round, block time), which is the heartbeat to look for.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

LEVELS = ("debug", "info", "warning", "error")
_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)-5s %(name)s: %(message)s"
_DATEFMT = "%Y-%m-%dT%H:%M:%S"


class _UTCFormatter(logging.Formatter):
    converter = time.gmtime  # type: ignore[assignment]  # a builtin does not bind to self


def parse_level(level: str | int) -> int:
    """`debug`/`info`/`warning`/`error` (any case) or a logging int; ValueError otherwise."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if isinstance(level, str) and level.lower() in LEVELS:
        return getattr(logging, level.upper())
    raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")


def setup_logging(level: str | int = "info", stream: TextIO | None = None) -> None:
    """Route every `huzhu`/library logger to `stream` (stderr) at `level`, replacing handlers
    installed before (a restarted in-process node must not log each line twice)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_UTCFormatter(_FORMAT, _DATEFMT))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(parse_level(level))
    # aiohttp logs every request at info; keep access logs out unless debugging
    logging.getLogger("aiohttp.access").setLevel(
        logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    )


def kv(**fields: object) -> str:
    """`key=value` pairs in the given order, for grep-friendly log lines."""
    return " ".join(f"{k}={v}" for k, v in fields.items())
