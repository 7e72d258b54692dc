"""One harness for a network of real ``huzhu start`` processes on this machine.

The end-to-end tests, the benchmarks and ``huzhu localnet`` all need the same things: a
``huzhu testnet`` tree on free ports, one node process per home with its log in a file,
"wait until node i answers / reaches height h", stopping or killing one node and starting it
again, the last log lines when something fails, and every process gone at the end whatever
happened. :class:`LocalNet` does them once.

Ports are drawn at random below the kernel's ephemeral range: there, an outgoing connection
of any process (a node dialing its peers included) may hold a port before the node that owns
it listens, and random bases keep parallel runs on one machine out of each other's way.
"""

from __future__ import annotations

import ctypes
import http.client
import json
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from node.config import Home, load_config, split_host_port, write_config
from node.jsonrpc import RpcError
from node.keys import generate_key, load_public_key
from node.testnet import P2P_PORT_OFFSET, create_testnet

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WAIT_S = 30.0
STOP_GRACE_S = 20.0
POLL_S = 0.1
LOG_TAIL_LINES = 40
#: random base ports are drawn from here (and never reach the ephemeral range)
PORT_LOW, PORT_HIGH = 20000, 31000
PORT_TRIES = 200
_PR_SET_PDEATHSIG = 1

#: what a call to a node that is down, starting or stopping raises
RPC_FAILURES: tuple[type[Exception], ...] = (
    OSError,
    ValueError,
    http.client.HTTPException,
    RpcError,
)


def port_is_free(host: str, port: int) -> bool:
    """Whether a listener could bind host:port now (with SO_REUSEADDR, as the node does, so
    that connections of a previous run lingering in TIME_WAIT do not count as taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of ports for outgoing connections (Linux; else IANA's)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49152, 65535


def _rng() -> random.Random:
    # seeded per call from the clock on purpose: two runs started together draw apart
    return random.Random(time.monotonic_ns() ^ id(object()))


def free_base_port(n: int, host: str = "127.0.0.1") -> int:
    """A base P whose RPC ports P..P+n-1 and P2P ports P+1000.. (the testnet layout) are all
    free now, below the ephemeral range; RuntimeError after PORT_TRIES draws."""
    high = min(PORT_HIGH, ephemeral_range()[0] - P2P_PORT_OFFSET - n)
    rng = _rng()
    for _ in range(PORT_TRIES):
        base = rng.randrange(PORT_LOW, high, 10)
        ports = [base + i for i in range(n)] + [base + P2P_PORT_OFFSET + i for i in range(n)]
        if all(port_is_free(host, p) for p in ports):
            return base
    raise RuntimeError(f"no {n} free RPC and P2P ports in {PORT_LOW}..{high}")


def free_ports(k: int, exclude: Iterable[int] = (), host: str = "127.0.0.1") -> list[int]:
    """k distinct ports free now, below the ephemeral range, none in `exclude` (ports of
    nodes not started yet)."""
    taken = set(exclude)
    rng = _rng()
    out: list[int] = []
    for _ in range(PORT_TRIES * k):
        port = rng.randrange(PORT_LOW + P2P_PORT_OFFSET, PORT_HIGH + P2P_PORT_OFFSET)
        if port not in out and port not in taken and port_is_free(host, port):
            out.append(port)
            if len(out) == k:
                return out
    raise RuntimeError(f"no {k} free ports")


def death_signal_setter() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGTERM (a clean stop) when its parent dies;
    None where prctl does not exist (orphans are possible there, nothing else breaks).

    prctl is looked up here, in the parent: the function runs between fork and exec, where
    loading libraries is unsafe."""
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

    def set_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    return set_death_signal


def node_command(home: Path) -> list[str]:
    """The argv that runs one node (the same interpreter, so the same venv)."""
    return [sys.executable, "-m", "node.cli", "start", "--home", str(home)]


def rpc_url_of(home: Path) -> str:
    """Where a client on this machine reaches the node of `home` (from its config.toml)."""
    host, port = split_host_port(load_config(home).rpc.listen)
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{port}/"


def p2p_port_of(home: Path) -> int:
    return split_host_port(load_config(home).p2p.listen)[1]


def update_config(home: Path, overrides: Mapping[str, Any]) -> None:
    """Rewrite `home`'s config.toml: a mapping value updates that section's keys, any other
    value replaces the top-level key."""
    cfg = load_config(home)
    update = {
        key: getattr(cfg, key).model_copy(update=dict(value))
        if isinstance(value, Mapping)
        else value
        for key, value in overrides.items()
    }
    write_config(Home(home).config, cfg.model_copy(update=update))


class LocalNet:
    """Node homes (numbered 0.., validators first) and their processes.

    :meth:`create` generates a testnet; the constructor takes existing homes (``huzhu
    localnet`` restarting a directory). Node i logs to ``log_dir/node{i}{tag}.log``. Use it as
    a context manager, or call :meth:`close`: every process is then stopped.
    """

    def __init__(
        self,
        homes: Iterable[Path],
        log_dir: Path,
        *,
        command: Callable[[Path], list[str]] = node_command,
    ) -> None:
        # absolute: the processes run in the repository (so `-m node.cli` imports without an
        # install), not in the caller's directory
        self.log_dir = Path(log_dir).resolve()
        self.command = command
        self.homes: dict[int, Path] = {}
        self._urls: dict[int, str] = {}
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self._preexec = death_signal_setter()
        for i, home in enumerate(homes):
            self.add_home(i, Path(home))
        self.validators = len(self.homes)  # the homes it was made with; observers come later

    @classmethod
    def create(
        cls,
        root: Path,
        validators: int,
        template: dict[str, Any],
        *,
        config: Mapping[str, Any] | None = None,
        base_port: int | None = None,
    ) -> LocalNet:
        """`huzhu testnet` for `validators` nodes from `template` in ``root/net`` on free ports
        (or from `base_port`); `config` overrides every node's config.toml (see
        :func:`update_config`). Nothing is started."""
        base = free_base_port(validators) if base_port is None else base_port
        tree = create_testnet(Path(root) / "net", validators, template=template, base_port=base)
        net = cls((n.home for n in tree.nodes), Path(root))
        if config:
            for i in range(validators):
                update_config(net.home(i), config)
        return net

    # ------------------------------------------------------------------ homes and ports

    @property
    def n(self) -> int:
        """How many homes (validators and observers) the net manages."""
        return len(self.homes)

    def add_home(self, i: int, home: Path) -> None:
        self.homes[i] = Path(home).resolve()
        self._urls[i] = rpc_url_of(home)

    def home(self, i: int) -> Path:
        return self.homes[i]

    def rpc_url(self, i: int) -> str:
        return self._urls[i]

    def rpc_port(self, i: int) -> int:
        return urllib.parse.urlsplit(self._urls[i]).port or 0

    def p2p_port(self, i: int) -> int:
        return p2p_port_of(self.homes[i])

    def node_id(self, i: int) -> bytes:
        return load_public_key(Home(self.homes[i]).node_key)

    def add_observer(self, i: int) -> bytes:
        """Create (not start) home i: a fresh node key, node 0's genesis and config on free
        ports, dialing every node so far. Returns its node id, which the validators refuse
        until :meth:`allow_observer` lists it."""
        assert i not in self.homes, f"node{i} exists"
        home = Home(self.log_dir / f"extra{i}")
        home.root.mkdir()
        shutil.copy(Home(self.homes[0]).genesis, home.genesis)
        generate_key(home.node_key)
        peers = [f"{self.node_id(k).hex()}@127.0.0.1:{self.p2p_port(k)}" for k in self.homes]
        used = [self.rpc_port(k) for k in self.homes] + [self.p2p_port(k) for k in self.homes]
        rpc_port, p2p_port = free_ports(2, used)
        shutil.copy(Home(self.homes[0]).config, home.config)
        update_config(
            home.root,
            {
                "rpc": {"listen": f"127.0.0.1:{rpc_port}"},
                "p2p": {"listen": f"127.0.0.1:{p2p_port}", "peers": peers, "observers": []},
            },
        )
        self.add_home(i, home.root)
        return self.node_id(i)

    def allow_observer(self, node_id: bytes) -> None:
        """List `node_id` in every other node's `p2p.observers` (read at its next start)."""
        for i, home in self.homes.items():
            if self.node_id(i) != node_id:
                observers = load_config(home).p2p.observers
                update_config(home, {"p2p": {"observers": [*observers, node_id.hex()]}})

    # ------------------------------------------------------------------------ processes

    def log_path(self, i: int, tag: str = "") -> Path:
        return self.log_dir / f"node{i}{tag}.log"

    def start(self, i: int, tag: str = "") -> None:
        """Spawn node i; its output goes to log_path(i, tag) (appended)."""
        assert not self.alive(i), f"node{i} is running"
        log = open(self.log_path(i, tag), "ab")  # noqa: SIM115 (closed in close())
        self._logs.append(log)
        self.procs[i] = subprocess.Popen(
            self.command(self.homes[i]),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=self._preexec,
        )

    def start_all(self, wait: bool = True, timeout: float = DEFAULT_WAIT_S) -> None:
        """Start every node it was made with (not the observers added since) that is not
        running; with `wait`, until each answers RPC."""
        started = [i for i in range(self.validators) if not self.alive(i)]
        for i in started:
            self.start(i)
        if wait:
            for i in started:
                self.wait_rpc(i, timeout)

    def alive(self, i: int) -> bool:
        return i in self.procs and self.procs[i].poll() is None

    def pid(self, i: int) -> int:
        return self.procs[i].pid

    def exited(self) -> list[tuple[int, int]]:
        """(i, exit status) of every started node that is not running any more."""
        return [(i, p.returncode) for i, p in self.procs.items() if p.poll() is not None]

    def stop(self, i: int, *, kill: bool = False, timeout: float = STOP_GRACE_S) -> int:
        """SIGTERM (SIGKILL with `kill`) and wait: the exit status (0 after a clean stop;
        -9 when it had to be killed after `timeout`)."""
        p = self.procs[i]
        if p.poll() is not None:
            return p.returncode
        p.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return -9

    def kill9(self, i: int) -> int:
        return self.stop(i, kill=True)

    def stop_all(self, *, kill: bool = False, grace: float = STOP_GRACE_S) -> dict[int, int]:
        """Stop every node at once (signal all, then wait, SIGKILL after `grace`)."""
        sig = signal.SIGKILL if kill else signal.SIGTERM
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(sig)
        deadline = time.monotonic() + grace
        codes = {}
        for i, p in self.procs.items():
            try:
                codes[i] = p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                codes[i] = p.wait()
        return codes

    def close(self, *, kill: bool = False) -> dict[int, int]:
        """Stop everything (gracefully unless `kill`) and close the log files; idempotent."""
        codes = self.stop_all(kill=kill)
        for log in self._logs:
            log.close()
        self._logs.clear()
        return codes

    def __enter__(self) -> LocalNet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_text(self, i: int, tag: str = "") -> str:
        path = self.log_path(i, tag)
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self, i: int, lines: int = LOG_TAIL_LINES, tag: str = "") -> str:
        return "\n".join(self.log_text(i, tag).splitlines()[-lines:])

    def dump_logs(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of every node's log, with whether it runs: for a failure report."""
        parts = []
        for i in sorted(self.homes):
            p = self.procs.get(i)
            state = "not started" if p is None else "running" if p.poll() is None else "exited"
            if p is not None and p.returncode is not None:
                state += f" {p.returncode}"
            parts.append(f"--- node{i} ({state}) ---\n{self.log_tail(i, lines)}")
        return "\n".join(parts)

    # ------------------------------------------------------------------------------ RPC

    def post(self, i: int, body: bytes, timeout: float = 10.0) -> tuple[int, Any]:
        """Raw POST to node i: (HTTP status, parsed JSON or None)."""
        req = urllib.request.Request(
            self.rpc_url(i), data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw, status = r.read(), r.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None

    def call(self, i: int, method: str, timeout: float = 10.0, **params: Any) -> Any:
        """One JSON-RPC call; RpcError on an error answer, OSError on no usable answer."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        status, resp = self.post(i, json.dumps(body).encode(), timeout)
        if isinstance(resp, dict) and isinstance(resp.get("error"), dict):
            raise RpcError(resp["error"]["code"], resp["error"]["message"])
        if status != 200 or not isinstance(resp, dict) or "result" not in resp:
            raise ConnectionError(f"node{i} {method}: HTTP {status}, {resp!r}")
        return resp["result"]

    def batch(
        self, i: int, calls: Iterable[tuple[str, dict[str, Any]]], timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        """A JSON-RPC batch; the responses in the order of `calls`."""
        body = [
            {"jsonrpc": "2.0", "id": k, "method": m, "params": p} for k, (m, p) in enumerate(calls)
        ]
        status, resp = self.post(i, json.dumps(body).encode(), timeout)
        if status != 200 or not isinstance(resp, list):
            raise ConnectionError(f"node{i} batch: HTTP {status}, {resp!r}")
        return sorted(resp, key=lambda r: r.get("id", -1))

    def status(self, i: int, timeout: float = 10.0) -> dict[str, Any] | None:
        """Node i's `status`, or None when it does not answer."""
        try:
            return self.call(i, "status", timeout=timeout)
        except RPC_FAILURES:
            return None

    def height(self, i: int) -> int:
        return int(self.call(i, "status")["height"])

    def _check_running(self, i: int) -> None:
        """NodeExited when node i was started here and its process has ended."""
        if i in self.procs and not self.alive(i):
            raise NodeExited(i, self.procs[i].returncode, self.log_tail(i))

    def wait_rpc(self, i: int, timeout: float = DEFAULT_WAIT_S) -> None:
        """Until node i answers `status`; fails at once when its process has exited."""

        def up() -> bool:
            self._check_running(i)
            return self.status(i, timeout=2) is not None

        wait_for(up, timeout, f"node{i} RPC", self)

    def wait_height(self, i: int, h: int, timeout: float = DEFAULT_WAIT_S) -> int:
        """Until node i's height is at least h; that height. A node that was started here must
        keep running meanwhile (NodeExited)."""
        got = [0]

        def reached() -> bool:
            self._check_running(i)
            st = self.status(i, timeout=2)
            got[0] = int(st["height"]) if st else got[0]
            return got[0] >= h

        wait_for(reached, timeout, lambda: f"node{i} height {h} (at {got[0]})", self)
        return got[0]

    def wait_all(self, h: int, timeout: float = DEFAULT_WAIT_S) -> None:
        """Until every running node is at height h or above."""
        for i in sorted(self.procs):
            if self.alive(i):
                self.wait_height(i, h, timeout)


class NodeExited(RuntimeError):
    """A node's process ended while the harness waited for it; the message has its log."""

    def __init__(self, i: int, code: int | None, tail: str) -> None:
        super().__init__(f"node{i} exited with status {code}; its log ends:\n{tail}")
        self.node = i
        self.code = code


class WaitTimeout(AssertionError):
    """A wait ran out; an AssertionError so that test runners report it as a failure with
    its message (which carries the node logs)."""


def wait_for(
    cond: Callable[[], bool],
    timeout: float,
    what: str | Callable[[], str],
    net: LocalNet | None = None,
    poll: float = POLL_S,
) -> float:
    """Poll `cond` until true (the monotonic time then); WaitTimeout naming `what`, with the
    node logs of `net`, after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return time.monotonic()
        if time.monotonic() > deadline:
            label = what() if callable(what) else what
            logs = f"\n{net.dump_logs()}" if net is not None else ""
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {label}{logs}")
        time.sleep(poll)
