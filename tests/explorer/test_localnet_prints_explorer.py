"""`make localnet` tells the member where the explorer is."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from node.localnet import run_localnet
from node.localnet_harness import free_base_port


def test_localnet_prints_the_explorer_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = free_base_port(1)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    # stands in for `huzhu start`: runs until SIGTERM, then exits 0
    code = (
        "import signal,sys,time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0));"
        " time.sleep(60)"
    )
    rc = run_localnet(
        1, base, tmp_path / "ln", command=lambda home: [sys.executable, "-c", code], stop=stop
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert f"explorer (every node serves one): http://127.0.0.1:{base}/explorer/\n" in out
