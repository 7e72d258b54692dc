"""``huzhu localnet``: a testnet in a directory plus one ``huzhu start`` process per node.

The nodes are separate processes (not tasks in this one) so that a localnet behaves like a
real deployment: each node has its own event loop, LevelDB and crash behaviour, and can be
killed alone. This process only supervises: it prints each node's RPC address, polls their
heights every few seconds, and on Ctrl-C or SIGTERM sends SIGTERM to every node and waits
for it (SIGKILL after a grace period), so no node is left running.

Without ``--dir`` the network lives in a throwaway directory removed on exit; with ``--dir``
an empty directory gets a new testnet and one that already holds a testnet is restarted
(chain state kept). Node logs go to ``DIR/nodeI.log``.

Failure modes this module guards against, because a newcomer cannot diagnose them:

- a port still held (a previous localnet still stopping, another program): every RPC and P2P
  port is checked before any node starts, and the taken one is named;
- ports in the kernel's ephemeral range (``--base-port 46000``): outgoing connections between
  the nodes may take a port another node is about to listen on; a warning says so;
- orphans: if this supervisor is killed (SIGKILL, closed terminal), Linux sends each node
  SIGTERM (PR_SET_PDEATHSIG), so no node keeps running and holding its ports;
- a node that dies: its last log lines are printed with its exit status.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from node.config import DEFAULT_RPC_PORT, Home, load_config, split_host_port
from node.localnet_harness import (
    LocalNet,
    ephemeral_range,
    node_command,
    port_is_free,
    rpc_url_of,
)
from node.testnet import P2P_PORT_OFFSET, create_testnet
from state.devkeys import LOCALNET_HOSPITAL, LOCALNET_STATIONS

if TYPE_CHECKING:
    from node.cli import SignalHandler

__all__ = ["LocalnetError", "ephemeral_range", "port_is_free", "run_localnet"]

POLL_INTERVAL_S = 3.0
LOG_TAIL_LINES = 5


class LocalnetError(Exception):
    """The localnet cannot start (e.g. a port is taken); the message says what to do."""


def _listen_ports(homes: list[Path]) -> list[tuple[str, str, int]]:
    """(what, host, port) of every listener of the network: RPC and P2P of each node."""
    out = []
    for home in homes:
        cfg = load_config(home)
        for what, listen in (("RPC", cfg.rpc.listen), ("P2P", cfg.p2p.listen)):
            host, port = split_host_port(listen)
            out.append((f"{home.name} {what}", host, port))
    return out


def suggest_base_port(n: int, host: str = "127.0.0.1") -> int | None:
    """A base port whose n RPC and n P2P ports are all free, below the ephemeral range."""
    top = ephemeral_range()[0] - P2P_PORT_OFFSET - n
    for base in range(DEFAULT_RPC_PORT + 100, top, 100):
        ports = [base + i for i in range(n)] + [base + P2P_PORT_OFFSET + i for i in range(n)]
        if all(port_is_free(host, p) for p in ports):
            return base
    return None


def check_ports(homes: list[Path]) -> list[str]:
    """Refuse (LocalnetError) when a port is taken; return warnings for risky ports."""
    ports = _listen_ports(homes)
    taken = [f"{what} port {port}" for what, host, port in ports if not port_is_free(host, port)]
    if taken:
        hint = "or pick free ports with --base-port"
        free = suggest_base_port(len(homes))
        if free is not None:
            hint = f"or try --base-port {free}, free now"
        raise LocalnetError(
            f"{', '.join(taken)} already in use (a localnet or node still running? stop it, {hint})"
        )
    low, high = ephemeral_range()
    risky = sorted(port for _, _, port in ports if low <= port <= high)
    if risky:
        return [
            f"warning: ports {risky[0]}..{risky[-1]} are in the kernel's ephemeral range "
            f"({low}-{high}): connections between the nodes may take a port before its node "
            f"listens on it; a base port below {low - P2P_PORT_OFFSET - len(homes)} avoids that"
        ]
    return []


def _homes(directory: Path) -> list[Path]:
    homes = []
    i = 0
    while Home(directory / f"node{i}").config.is_file():
        homes.append(directory / f"node{i}")
        i += 1
    return homes


def _height(url: str) -> str:
    from node.client import RpcError, RpcUnavailable, SyncRpcClient

    try:
        return str(SyncRpcClient(url, timeout=1.0).status()["height"])
    except (RpcError, RpcUnavailable, KeyError, TypeError):
        return "-"


def _huzhu_command() -> str:
    """How to invoke ``huzhu`` from the user's shell: bare when it is on PATH, else the path
    of the one next to this interpreter (``make localnet`` runs .venv/bin/huzhu)."""
    beside = Path(sys.executable).parent / "huzhu"
    on_path = shutil.which("huzhu")
    if on_path and (not beside.exists() or Path(on_path).resolve() == beside.resolve()):
        return "huzhu"
    if beside.exists():
        return str(beside)
    return f"{sys.executable} -m node.cli"


def _print_keys(root: Path, url: str) -> None:
    """Where the funded development keys are, and a first command to paste."""
    keydir = root / "keys"
    if not keydir.is_dir():
        return
    from node.keys import load_public_key

    names = sorted(p.stem for p in keydir.glob("*.json"))
    members = sorted((n for n in names if n.startswith("member")), key=lambda n: int(n[6:] or 0))
    print(f"keys in {keydir}/:")
    for role in ("treasury", "registrar"):
        if role in names:
            print(f"  {role}: {keydir / (role + '.json')}")
    if members:
        print(f"  funded members: {members[0]}.json .. {members[-1]}.json")
    if LOCALNET_HOSPITAL in names:
        print(f"  medical pool attestor: {LOCALNET_HOSPITAL}.json")
    stations = [s for s in LOCALNET_STATIONS if s in names]
    if stations:
        print(f"  rainfall pool weather stations: {', '.join(s + '.json' for s in stations)}")
    if len(members) >= 2:
        to = load_public_key(keydir / f"{members[1]}.json").hex()
        huzhu = _huzhu_command()
        base = url.rstrip("/")
        print("try:")
        print(
            f"  {huzhu} tx transfer --to {to} --amount 100 "
            f"--key {keydir / (members[0] + '.json')} --rpc {base}"
        )
        print(f"  {huzhu} query account {to} --rpc {base}")
        print(
            f"  {huzhu} tx join --pool medical --key {keydir / (members[1] + '.json')} --rpc {base}"
        )


def run_localnet(
    validators: int = 4,
    base_port: int = DEFAULT_RPC_PORT,
    directory: Path | None = None,
    *,
    command: Callable[[Path], list[str]] = node_command,
    stop: threading.Event | None = None,
    poll_interval: float = POLL_INTERVAL_S,
) -> int:
    """Run until ``stop`` is set, Ctrl-C, SIGTERM or SIGHUP; 0 after a clean stop, 1 if a node
    died or could not start (then the reason is printed).

    ``command`` and ``stop`` exist for tests (and embedding): the defaults are what the
    ``huzhu localnet`` command uses."""
    stop = stop or threading.Event()
    previous: dict[signal.Signals, SignalHandler] = {}
    if threading.current_thread() is threading.main_thread():
        # First thing: a Ctrl-C from here on stops the nodes we started, never orphans them.
        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, on_signal)
    throwaway = directory is None
    root = Path(tempfile.mkdtemp(prefix="huzhu-localnet-")) if directory is None else directory
    sup: LocalNet | None = None
    try:
        if stop.is_set():  # interrupted while starting up: nothing to stop
            return 0
        if not _homes(root):
            net = create_testnet(root, validators, base_port=base_port)
            print(f"localnet {net.chain_id}: {len(net.nodes)} validators in {root}")
        else:
            print(f"localnet: restarting the network in {root}")
        homes = _homes(root)
        urls = [rpc_url_of(h) for h in homes]
        try:
            for warning in check_ports(homes):
                print(f"localnet: {warning}", file=sys.stderr)
        except LocalnetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if stop.is_set():
            return 0
        sup = LocalNet(homes, root, command=command)
        sup.start_all(wait=False)
        for h, url in zip(homes, urls, strict=True):
            print(f"  {h.name}: rpc {url}  log {h.parent / (h.name + '.log')}")
        _print_keys(root, urls[0])
        print(f"explorer (every node serves one): {urls[0].rstrip('/')}/explorer/")
        print("Ctrl-C stops every node.", flush=True)
        status = 0
        while not stop.wait(poll_interval):
            dead = sup.exited()
            if dead:
                names = ", ".join(f"node{i} (exit {c})" for i, c in dead)
                print(
                    f"localnet: node stopped unexpectedly: {names}; stopping the rest",
                    file=sys.stderr,
                )
                for i, _ in dead:
                    tail = sup.log_tail(i, LOG_TAIL_LINES)
                    if tail:
                        tail = "\n".join(f"    {line}" for line in tail.splitlines())
                        print(f"  last lines of node{i}.log:\n{tail}", file=sys.stderr)
                status = 1
                break
            heights = "  ".join(f"{h.name}={_height(u)}" for h, u in zip(homes, urls, strict=True))
            print(f"heights: {heights}", flush=True)
        return status
    finally:
        if sup is not None:
            codes = sup.close()
            print(f"localnet stopped (exit codes {list(codes.values())})", flush=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if throwaway:
            shutil.rmtree(root, ignore_errors=True)
