"""The operator's docker compose story: build, bring up 4 validators, stop one, bring it back.

Skipped (with the reason) when no Docker daemon is reachable; on a machine without registry
access, build a local base first with ../shared/tools/docker-local-base.sh.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker" / "compose.yml"
IMAGE = "huzhu:test"
PORTS = [36657, 36658, 36659, 36660]

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def _docker_ready() -> str | None:
    """None when a daemon answers, else why not."""
    if shutil.which("docker") is None:
        return "docker client not installed"
    r = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return "no Docker daemon reachable (docker info failed)"
    return None


def _compose_cmd() -> list[str]:
    r = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    if r.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("neither 'docker compose' nor 'docker-compose' is installed")


def _height(port: int) -> int | None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "status", "params": {}}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:
            return int(json.load(resp)["result"]["height"])
    except (OSError, ValueError, KeyError):
        return None


def _wait(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


Compose = Callable[..., None]


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    """Build the image, generate a 4-node tree, `up -d`; yields a runner for compose commands."""
    reason = _docker_ready()
    if reason:
        pytest.skip(reason)
    cmd = _compose_cmd()
    subprocess.run(
        ["docker", "build", "-q", "-f", "docker/Dockerfile", "-t", IMAGE, "."],
        cwd=ROOT,
        check=True,
        timeout=900,
    )
    tree = tmp_path_factory.mktemp("docker-testnet")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "node.cli",
            "testnet",
            "--validators",
            "4",
            "--out",
            str(tree),
            "--hostnames",
        ],
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    env = dict(os.environ, HUZHU_IMAGE=IMAGE, HUZHU_TESTNET=str(tree))
    env.update({f"HUZHU_RPC_PORT{i}": str(p) for i, p in enumerate(PORTS)})
    base = [*cmd, "-p", f"huzhutest{os.getpid()}", "-f", str(COMPOSE_FILE)]

    def run(*args: str) -> None:
        subprocess.run([*base, *args], cwd=ROOT, env=env, check=True, timeout=300)

    run("up", "-d")
    try:
        yield run
    finally:
        subprocess.run([*base, "down", "-v"], cwd=ROOT, env=env, timeout=300)


def test_cluster_survives_a_stopped_node(compose: Compose) -> None:
    _wait(lambda: all((_height(p) or 0) >= 5 for p in PORTS), 180, "height >= 5 on every node")

    compose("stop", "node3")
    _wait(lambda: _height(PORTS[3]) is None, 60, "node3 to stop answering")
    start = max(_height(p) or 0 for p in PORTS[:3])
    _wait(
        lambda: all((_height(p) or 0) >= start + 3 for p in PORTS[:3]),
        120,
        "the three remaining validators to commit 3 more blocks",
    )

    compose("start", "node3")
    target = max(_height(p) or 0 for p in PORTS[:3])
    _wait(lambda: (_height(PORTS[3]) or 0) >= target, 180, "node3 to catch up by block sync")
