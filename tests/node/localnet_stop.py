"""Stopping an in-process localnet (node/localnet.py's run_localnet) once it has printed what a
test checks, instead of on a fixed timer that a slow start on a loaded machine outruns."""

from __future__ import annotations

import io
import sys
import threading
import time

# the last line run_localnet prints (flushed) before it supervises its nodes
LAST_LINE = "Ctrl-C stops every node."


def stop_once_printed(
    stop: threading.Event, line: str = LAST_LINE, bound_s: float = 120.0
) -> threading.Thread:
    """Set `stop` once `line` is on the calling test's captured stdout (capsys), or after
    `bound_s`, so a localnet that never prints it still ends and the test fails on its
    output. Call from the test's thread before run_localnet; join the thread afterwards."""
    out = sys.stdout.buffer  # capsys: a BytesIO under the text layer
    assert isinstance(out, io.BytesIO), "needs the capsys fixture"
    wanted = line.encode()

    def watch() -> None:
        deadline = time.monotonic() + bound_s
        while wanted not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher
