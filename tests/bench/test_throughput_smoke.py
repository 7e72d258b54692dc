"""Smoke run of bench/throughput.py: the benchmark works end to end on a real 4-validator
localnet and accounts for every transaction. It never asserts a speed: this machine is shared
and speed lives in the benchmark's own report (bench/README.md)."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = (
    "committed_tps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "lost",
    "refused",
    "validators",
    "verify_per_core",
    "efficiency",
)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base_port(n: int) -> int:
    """A base P with P..P+n-1 (RPC) and P+1000..P+1000+n-1 (P2P, the testnet layout) free,
    below the ephemeral range (32768+) where outgoing connections could take them first."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(200):
        base = rng.randrange(20000, 31000, 10)
        if all(_port_free(base + i) and _port_free(base + 1000 + i) for i in range(n)):
            return base
    raise RuntimeError("no free port range")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_throughput_smoke_run(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "throughput.py"),
        "--validators",
        "4",
        "--seconds",
        "10",
        "--rate",
        "200",
        "--warmup",
        "2",
        "--senders",
        "400",
        "--base-port",
        str(free_base_port(4)),
        "--json",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    r = json.loads(out.read_text())
    missing = [k for k in REQUIRED if k not in r]
    assert not missing, missing
    assert r["validators"] == 4
    assert r["accepted"] > 0
    assert r["committed_tps"] > 0
    assert r["lost"] == 0
    assert r["refused"] == 0  # 200 tx/s is far below every mempool limit
    assert r["timeline"] and all("committed" in p for p in r["timeline"])
