"""The operator's docker compose story: build, bring up 4 validators, stop one, bring it back.

Skipped (with the reason) when no Docker daemon is reachable; on a machine without registry
access, build a local base first with ../shared/tools/docker-local-base.sh. The base image is
PYTHON_IMAGE from the environment (default python:3.11-slim), as for `make docker-build`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker" / "compose.yml"
IMAGE = "huzhu:test"
NODES = ["node0", "node1", "node2", "node3"]
HUZHU_UID = "10001"

# The build alone may take minutes on a cold cache: far above the suite's default timeout.
pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.timeout(1800)]


def _docker_ready() -> str | None:
    """None when a daemon answers, else why not."""
    if shutil.which("docker") is None:
        return "docker client not installed"
    try:
        r = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "no Docker daemon reachable (docker info timed out)"
    if r.returncode != 0:
        return f"no Docker daemon reachable (docker info failed: {r.stderr.strip()[-200:]})"
    return None


def _compose_cmd() -> list[str] | None:
    try:
        r = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if r.returncode == 0:
            return ["docker", "compose"]
    except subprocess.TimeoutExpired:
        pass
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _height(port: int) -> int | None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "status", "params": {}}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:
            return int(json.load(resp)["result"]["height"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _wait(pred: Callable[[], bool], timeout: float, what: str, ports: list[int]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(1)
    heights = [_height(p) for p in ports]
    raise AssertionError(
        f"timed out after {timeout:.0f}s waiting for {what} (heights of node0..3: {heights})"
    )


def _run(args: list[str], timeout: float, **kw) -> subprocess.CompletedProcess[str]:
    """Run; on failure raise with the command's output tail (it was captured)."""
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if r.returncode != 0:
        out = (r.stdout + r.stderr).strip()[-3000:]
        raise AssertionError(f"{' '.join(args)} exited {r.returncode}:\n{out}")
    return r


@dataclass
class Cluster:
    base: list[str]  # the compose command with project and file
    env: dict[str, str]
    ports: list[int]  # host RPC port of node0..node3

    def compose(self, *args: str, timeout: float = 300) -> str:
        return _run([*self.base, *args], timeout, cwd=ROOT, env=self.env).stdout

    def container(self, service: str) -> str:
        # -a: compose v2 lists only running containers without it
        cid = self.compose("ps", "-a", "-q", service).strip()
        assert cid, f"no container for {service}"
        return cid

    def inspect(self, service: str, fmt: str) -> str:
        return _run(["docker", "inspect", "--format", fmt, self.container(service)], 60).stdout

    def logs(self, tail: int = 40) -> str:
        r = subprocess.run(
            [*self.base, "logs", "--no-color", f"--tail={tail}"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            env=self.env,
        )
        return r.stdout + r.stderr


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Build the image, generate a 4-node tree, `up -d` under a unique project name; the
    project (containers, network, volumes) is always removed afterwards."""
    reason = _docker_ready()
    if reason:
        pytest.skip(f"docker cluster test skipped: {reason}")
    cmd = _compose_cmd()
    if cmd is None:
        pytest.skip("docker cluster test skipped: neither 'docker compose' nor docker-compose")
    base_image = os.environ.get("PYTHON_IMAGE", "python:3.11-slim")
    t0 = time.monotonic()
    _run(
        [
            "docker",
            "build",
            "-f",
            "docker/Dockerfile",
            "--build-arg",
            f"PYTHON_IMAGE={base_image}",
            "-t",
            IMAGE,
            ".",
        ],
        1200,
        cwd=ROOT,
    )
    print(f"\nimage {IMAGE} built in {time.monotonic() - t0:.0f}s")
    tree = tmp_path_factory.mktemp("docker-testnet")
    _run(
        [sys.executable, "-m", "node.cli", "testnet", "--validators", "4"]
        + ["--out", str(tree), "--hostnames"],
        60,
        cwd=ROOT,
    )
    ports = _free_ports(len(NODES))
    env = dict(os.environ, HUZHU_IMAGE=IMAGE, HUZHU_TESTNET=str(tree))
    env.update({f"HUZHU_RPC_PORT{i}": str(p) for i, p in enumerate(ports)})
    project = f"huzhutest{uuid.uuid4().hex[:10]}"
    c = Cluster(base=[*cmd, "-p", project, "-f", str(COMPOSE_FILE)], env=env, ports=ports)
    try:
        c.compose("up", "-d")
        yield c
    finally:
        subprocess.run(
            [*c.base, "down", "-v", "--remove-orphans", "--timeout", "30"],
            capture_output=True,
            cwd=ROOT,
            env=env,
            timeout=300,
        )


def test_cluster_survives_a_stopped_node(cluster: Cluster) -> None:
    try:
        _check_cluster(cluster)
    except AssertionError:
        print(f"\n--- compose logs (tail) ---\n{cluster.logs()}")
        raise


def _check_cluster(c: Cluster) -> None:
    p = c.ports
    _wait(lambda: all((_height(x) or 0) >= 5 for x in p), 180, "height >= 5 on every node", p)
    _wait(
        lambda: all(c.inspect(s, "{{.State.Health.Status}}").strip() == "healthy" for s in NODES),
        90,
        "every container's healthcheck to report healthy",
        p,
    )
    for s in NODES:
        top = _run(["docker", "top", c.container(s), "-o", "pid,uid,args"], 60).stdout
        procs = [ln.split(None, 2) for ln in top.splitlines()[1:] if "huzhu start" in ln]
        assert procs and all(u == HUZHU_UID for _, u, _ in procs), f"{s} processes:\n{top}"

    c.compose("stop", "node3")
    assert c.inspect("node3", "{{.State.ExitCode}}").strip() == "0", "node3 exit status on SIGTERM"
    assert _height(p[3]) is None, "node3 still answers after stop"
    start = max(_height(x) or 0 for x in p[:3])
    _wait(
        lambda: all((_height(x) or 0) >= start + 3 for x in p[:3]),
        120,
        f"the three remaining validators to commit 3 blocks past {start}",
        p,
    )

    c.compose("start", "node3")
    target = max(_height(x) or 0 for x in p[:3])
    _wait(lambda: (_height(p[3]) or 0) >= target, 180, f"node3 to catch up to height {target}", p)
    # it resumed from its volume, not from genesis: the node logs its stored height on start
    logs = c.compose("logs", "--no-color", "node3")
    started = [int(h) for h in re.findall(r"node started .*?\bheight=(\d+)", logs)]
    assert len(started) >= 2, f"expected two 'node started' lines in node3's log:\n{logs[-2000:]}"
    assert started[-1] >= 5, f"node3 restarted at height {started[-1]}, not from its volume"
