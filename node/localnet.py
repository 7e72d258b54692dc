"""``huzhu localnet``: a testnet in a directory plus one ``huzhu start`` process per node.

The nodes are separate processes (not tasks in this one) so that a localnet behaves like a
real deployment: each node has its own event loop, LevelDB and crash behaviour, and can be
killed alone. This process only supervises: it prints each node's RPC address, polls their
heights every few seconds, and on Ctrl-C or SIGTERM sends SIGTERM to every node and waits
for it (SIGKILL after a grace period), so no node is left running.

Without ``--dir`` the network lives in a throwaway directory removed on exit; with ``--dir``
an empty directory gets a new testnet and one that already holds a testnet is restarted
(chain state kept). Node logs go to ``DIR/nodeI.log``.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import IO

from node.config import DEFAULT_RPC_PORT, Home, load_config, split_host_port
from node.testnet import create_testnet

POLL_INTERVAL_S = 3.0
STOP_GRACE_S = 20.0


def node_command(home: Path) -> list[str]:
    """The argv that runs one node (the same interpreter, so the same venv)."""
    return [sys.executable, "-m", "node.cli", "start", "--home", str(home)]


def _homes(directory: Path) -> list[Path]:
    homes = []
    i = 0
    while Home(directory / f"node{i}").config.is_file():
        homes.append(directory / f"node{i}")
        i += 1
    return homes


def _rpc_url(home: Path) -> str:
    host, port = split_host_port(load_config(home).rpc.listen)
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{port}/"


def _height(url: str) -> str:
    from node.client import RpcError, RpcUnavailable, SyncRpcClient

    try:
        return str(SyncRpcClient(url, timeout=1.0).status()["height"])
    except (RpcError, RpcUnavailable, KeyError, TypeError):
        return "-"


class _Supervisor:
    """Starts, watches and stops the node processes."""

    def __init__(self, homes: list[Path], command: Callable[[Path], list[str]]) -> None:
        self.homes = homes
        self.command = command
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[IO[bytes]] = []

    def start(self) -> None:
        for home in self.homes:
            log = open(home.parent / f"{home.name}.log", "ab")  # noqa: SIM115 (closed in stop)
            self.logs.append(log)
            self.procs.append(
                subprocess.Popen(self.command(home), stdout=log, stderr=subprocess.STDOUT)
            )

    def exited(self) -> list[tuple[str, int]]:
        return [
            (h.name, p.returncode)
            for h, p in zip(self.homes, self.procs, strict=True)
            if p.poll() is not None
        ]

    def stop(self) -> list[int | None]:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        codes: list[int | None] = []
        for p in self.procs:
            try:
                codes.append(p.wait(timeout=max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                p.kill()
                codes.append(p.wait())
        for log in self.logs:
            log.close()
        return codes


def run_localnet(
    validators: int = 4,
    base_port: int = DEFAULT_RPC_PORT,
    directory: Path | None = None,
    *,
    command: Callable[[Path], list[str]] = node_command,
    stop: threading.Event | None = None,
    poll_interval: float = POLL_INTERVAL_S,
) -> int:
    """Run until ``stop`` is set, Ctrl-C or SIGTERM; 0 after a clean stop, 1 if a node died.

    ``command`` and ``stop`` exist for tests (and embedding): the defaults are what the
    ``huzhu localnet`` command uses."""
    throwaway = directory is None
    root = Path(tempfile.mkdtemp(prefix="huzhu-localnet-")) if directory is None else directory
    stop = stop or threading.Event()
    sup: _Supervisor | None = None
    previous: dict[int, object] = {}
    try:
        if not _homes(root):
            net = create_testnet(root, validators, base_port=base_port)
            print(f"localnet {net.chain_id}: {len(net.nodes)} validators in {root}")
        else:
            print(f"localnet: restarting the network in {root}")
        homes = _homes(root)
        urls = [_rpc_url(h) for h in homes]
        if threading.current_thread() is threading.main_thread():

            def on_signal(signum: int, frame: FrameType | None) -> None:
                stop.set()

            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
        sup = _Supervisor(homes, command)
        sup.start()
        for h, url in zip(homes, urls, strict=True):
            print(f"  {h.name}: rpc {url}  log {h.parent / (h.name + '.log')}")
        print("Ctrl-C stops every node.", flush=True)
        status = 0
        while not stop.wait(poll_interval):
            dead = sup.exited()
            if dead:
                names = ", ".join(f"{n} (exit {c})" for n, c in dead)
                print(
                    f"localnet: node stopped unexpectedly: {names}; stopping the rest",
                    file=sys.stderr,
                )
                status = 1
                break
            heights = "  ".join(f"{h.name}={_height(u)}" for h, u in zip(homes, urls, strict=True))
            print(f"heights: {heights}", flush=True)
        return status
    finally:
        if sup is not None:
            codes = sup.stop()
            print(f"localnet stopped (exit codes {codes})", flush=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        if throwaway:
            shutil.rmtree(root, ignore_errors=True)
