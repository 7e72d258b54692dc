"""A real full disk: `huzhu start` with its data directory on a small tmpfs that fills up.

The node must exit with EXIT_FATAL and one clear line (not live on at a stale height with
/health 200 and a traceback flood), and once space is freed a restart goes on from the
height it had. Needs root (mount); skipped with the reason otherwise."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_runtime import make_home

from node.config import NodeConfig, load_config, write_config
from node.vitals import EXIT_FATAL

TMPFS_SIZE = "16m"


@contextlib.contextmanager
def tmpfs(path: Path) -> Iterator[None]:
    path.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {res.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def status(url: str) -> dict[str, object] | None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "status", "params": {}}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            out: dict[str, object] = json.loads(r.read())["result"]
            return out
    except OSError:
        return None


def rpc_url(home: Path) -> str:
    return "http://" + load_config(home).rpc.listen + "/"


def wait_height(proc: subprocess.Popen[bytes], url: str, h: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"node exited with {proc.returncode}"
        st = status(url)
        if st is not None and isinstance(st["height"], int) and st["height"] >= h:
            return st["height"]
        time.sleep(0.1)
    raise AssertionError(f"height {h} not reached")


def fill(path: Path) -> Path:
    """Write a file until the file system refuses: the disk is full."""
    filler = path / "filler"
    with open(filler, "wb") as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    return filler


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_full_disk_stops_the_node_and_a_restart_after_freeing_space_goes_on(
    tmp_path: Path,
) -> None:
    home = make_home(tmp_path)
    cfg = load_config(home)
    port = _free_port()
    write_config(
        home / "config.toml",
        NodeConfig.model_validate(
            {**cfg.model_dump(), "rpc": {**cfg.rpc.model_dump(), "listen": f"127.0.0.1:{port}"}}
        ),
    )
    url = rpc_url(home)
    cmd = [sys.executable, "-m", "node.cli", "start", "--home", str(home)]
    repo = Path(__file__).resolve().parents[2]
    with tmpfs(home / "data"):
        log = tmp_path / "node.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, cwd=repo, stdout=out, stderr=subprocess.STDOUT)
            try:
                wait_height(proc, url, 3)
                filler = fill(home / "data")
                rc = proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        text = log.read_text()
        assert rc == EXIT_FATAL, text[-3000:]
        fatal = [ln for ln in text.splitlines() if "cannot continue" in ln]
        assert len(fatal) == 1 and "store write failed" in fatal[0], text[-3000:]
        assert "No space left on device" in fatal[0] and "b'" not in fatal[0], fatal[0]
        assert text.count("Traceback") == 0, text[-3000:]
        # space freed: the same store opens and the chain goes on from where it stopped
        filler.unlink()
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmd, cwd=repo, stdout=out, stderr=subprocess.STDOUT)
            try:
                st = None
                deadline = time.monotonic() + 60
                while st is None and time.monotonic() < deadline:
                    assert proc.poll() is None, log.read_text()[-3000:]
                    st = status(url)
                    time.sleep(0.1)
                assert st is not None
                h = st["height"]
                assert isinstance(h, int) and h >= 3
                wait_height(proc, url, h + 3)
            finally:
                proc.terminate()
                assert proc.wait(timeout=30) == 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
