"""Process management for end-to-end tests (shared by tests/e2e through conftest.py): real `huzhu start` processes on 127.0.0.1.

A `Net` is a `huzhu testnet` tree with short consensus timeouts, its node processes and a
JSON-RPC helper. Every process a test starts is killed at teardown, whatever happened, and
each node's log is kept in the tmp dir (printed on failure by `Net.dump_logs`).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from node.config import load_config, write_config
from state.crypto import Signer
from state.devkeys import dev_signer

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WAIT_S = 30.0

# short timeouts so blocks come fast and a dead proposer costs little (ms)
FAST_CONSENSUS = {
    "timeout_propose_ms": 600,
    "timeout_propose_delta_ms": 200,
    "timeout_prevote_ms": 200,
    "timeout_prevote_delta_ms": 100,
    "timeout_precommit_ms": 200,
    "timeout_precommit_delta_ms": 100,
}


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(k: int, exclude: set[int]) -> list[int]:
    """k distinct ports free right now, below the ephemeral range (see free_base_port),
    none in `exclude` (ports reserved for nodes not started yet)."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    out: list[int] = []
    while len(out) < k:
        port = rng.randrange(31000, 32700)
        if port not in out and port not in exclude and _port_free(port):
            out.append(port)
    return out


def free_base_port(n: int) -> int:
    """A base port P with P..P+n-1 (RPC) and P+1000.. (P2P) all free right now."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(200):
        base = rng.randrange(20000, 31000, 10)  # RPC and P2P ports stay below the
        # ephemeral range (32768+), where outgoing connections could take them first
        ports = [base + i for i in range(n)] + [base + 1000 + i for i in range(n)]
        if all(_port_free(p) for p in ports):
            return base
    raise RuntimeError("no free port range")


def member(i: int) -> Signer:
    return dev_signer(f"e2e-member-{i}")


TREASURY = dev_signer("e2e-treasury")
REGISTRAR = dev_signer("e2e-registrar")


def genesis_template(
    *,
    members: int = 8,
    balance: int = 1_000_000,
    params: dict[str, Any] | None = None,
    pools: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A template for `huzhu testnet --genesis-template`: fast blocks, funded dev members."""
    p = {
        "min_fee": 1,
        "max_tx_bytes": 4096,
        "max_block_txs": 5000,
        "block_time_ms": 200,
        "epoch_length": 100000,
        "max_validators": 21,
        "min_validators": 4,
        "max_votes_per_elector": 30,
        "treasury": TREASURY.public_key.hex(),
        "registrars": [REGISTRAR.public_key.hex()],
        "operators": [],
    }
    p.update(params or {})
    return {
        "chain_id": "huzhu-e2e",
        "genesis_time": "2026-11-26T00:00:00Z",
        "params": p,
        "accounts": [
            {"address": member(i).public_key.hex(), "balance": balance} for i in range(members)
        ],
        "pools": pools if pools is not None else [{"id": "medical", "name": "Medical aid"}],
    }


class Net:
    """A generated testnet and its node processes."""

    def __init__(
        self, root: Path, n: int, template: dict[str, Any], config: dict[str, Any] | None = None
    ) -> None:
        self.root = root
        self.n = n
        self.base = free_base_port(n)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.extra: dict[int, tuple[Path, int]] = {}
        self._logs: dict[int, Any] = {}
        tpl = root / "template.json"
        tpl.write_text(json.dumps(template))
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "node.cli",
                "testnet",
                "--validators",
                str(n),
                "--out",
                str(root / "net"),
                "--genesis-template",
                str(tpl),
                "--base-port",
                str(self.base),
            ],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr.decode()
        for i in range(n):
            self.configure(i, config or {})

    def home(self, i: int) -> Path:
        return self.extra.get(i, (self.root / "net" / f"node{i}", 0))[0]

    def add_node(self, i: int, home: Path, rpc_port: int) -> None:
        """Manage one more node home (index i >= n) with its own RPC port."""
        self.extra[i] = (home, rpc_port)

    def configure(self, i: int, overrides: dict[str, Any]) -> None:
        """Rewrite node i's config.toml: fast consensus timeouts plus `overrides` per section."""
        cfg = load_config(self.home(i))
        sections: dict[str, Any] = {"consensus": dict(FAST_CONSENSUS)}
        for key, value in overrides.items():
            if isinstance(value, dict):
                sections.setdefault(key, {}).update(value)
            else:
                sections[key] = value
        update: dict[str, Any] = {}
        for key, value in sections.items():
            if isinstance(value, dict):
                update[key] = getattr(cfg, key).model_copy(update=value)
            else:
                update[key] = value
        write_config(self.home(i) / "config.toml", cfg.model_copy(update=update))

    def add_outside_node(self, i: int) -> bytes:
        """Create (not start) node i >= n: a fresh node key, the chain's genesis, its own free
        ports, dialing every validator. Returns its node id (not allowed unless listed)."""
        from node.keys import generate_key, load_public_key

        home = self.root / f"extra{i}"
        home.mkdir()
        shutil.copy(self.home(0) / "genesis.json", home / "genesis.json")
        generate_key(home / "node_key.json")
        cfg = load_config(self.home(0))
        peers = [
            f"{load_public_key(self.home(k) / 'node_key.json').hex()}@127.0.0.1:{self.p2p_port(k)}"
            for k in range(self.n)
        ]
        reserved = {self.base + k for k in range(self.n)}
        reserved |= {self.p2p_port(k) for k in range(self.n)}
        reserved |= {port for _, port in self.extra.values()}
        rpc_port, p2p_port = _free_ports(2, reserved)
        cfg = cfg.model_copy(
            update={
                "rpc": cfg.rpc.model_copy(update={"listen": f"127.0.0.1:{rpc_port}"}),
                "p2p": cfg.p2p.model_copy(
                    update={"listen": f"127.0.0.1:{p2p_port}", "peers": peers}
                ),
            }
        )
        write_config(home / "config.toml", cfg)
        self.add_node(i, home, rpc_port)
        return load_public_key(home / "node_key.json")

    def allow_observer(self, node_id: bytes) -> None:
        """List `node_id` in every validator's `p2p.observers` (takes effect at next start)."""
        for k in range(self.n):
            cfg = load_config(self.home(k))
            p2p = cfg.p2p.model_copy(update={"observers": [*cfg.p2p.observers, node_id.hex()]})
            write_config(self.home(k) / "config.toml", cfg.model_copy(update={"p2p": p2p}))

    def rpc_url(self, i: int) -> str:
        port = self.extra[i][1] if i in self.extra else self.base + i
        return f"http://127.0.0.1:{port}/"

    def p2p_port(self, i: int) -> int:
        return self.base + 1000 + i

    # ------------------------------------------------------------ processes

    def start(self, i: int) -> None:
        assert i not in self.procs or self.procs[i].poll() is not None, f"node{i} running"
        logf = open(self.root / f"node{i}.log", "ab")  # noqa: SIM115 (closed at teardown)
        self._logs[i] = logf
        self.procs[i] = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "start", "--home", str(self.home(i))],
            cwd=ROOT,
            stdout=logf,
            stderr=subprocess.STDOUT,
        )

    def start_all(self) -> None:
        for i in range(self.n):
            self.start(i)
        for i in range(self.n):
            self.wait_rpc(i)

    def kill9(self, i: int) -> None:
        p = self.procs[i]
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)

    def stop(self, i: int, timeout: float = 20.0) -> int:
        """SIGTERM and wait: the node's exit status (0 after a clean shutdown)."""
        p = self.procs[i]
        p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return -9

    def alive(self, i: int) -> bool:
        return i in self.procs and self.procs[i].poll() is None

    def cleanup(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        for f in self._logs.values():
            f.close()

    def log_text(self, i: int) -> str:
        path = self.root / f"node{i}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def dump_logs(self, tail: int = 40) -> str:
        parts = []
        for i in sorted(set(range(self.n)) | set(self.extra)):
            lines = self.log_text(i).splitlines()[-tail:]
            parts.append(f"--- node{i} ---\n" + "\n".join(lines))
        return "\n".join(parts)

    # ------------------------------------------------------------ RPC

    def post(self, i: int, body: bytes, timeout: float = 10.0) -> tuple[int, Any]:
        """Raw POST: (HTTP status, parsed JSON or None)."""
        req = urllib.request.Request(
            self.rpc_url(i), data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            raw = e.read()
            status = e.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None

    def call(self, i: int, method: str, timeout: float = 10.0, **params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        status, resp = self.post(i, body.encode(), timeout=timeout)
        assert status == 200, (status, resp)
        if "error" in resp:
            raise RpcError(resp["error"]["code"], resp["error"]["message"])
        return resp["result"]

    def height(self, i: int) -> int:
        return int(self.call(i, "status")["height"])

    def wait_rpc(self, i: int, timeout: float = DEFAULT_WAIT_S) -> None:
        def up() -> bool:
            try:
                self.call(i, "status", timeout=2)
                return True
            except (OSError, AssertionError, RpcError):
                assert self.alive(i), f"node{i} exited:\n{self.log_text(i)[-3000:]}"
                return False

        wait_for(up, timeout, f"node{i} RPC", self)

    def wait_height(self, i: int, h: int, timeout: float = DEFAULT_WAIT_S) -> int:
        got = [0]

        def reached() -> bool:
            try:
                got[0] = self.height(i)
            except (OSError, AssertionError, RpcError):
                return False
            return got[0] >= h

        wait_for(reached, timeout, f"node{i} height {h} (at {got[0]})", self)
        return got[0]


def wait_for(cond: Callable[[], bool], timeout: float, what: str, net: Net | None = None) -> None:
    """Poll `cond` until true; fail with `what` (and the node logs) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return
        if time.monotonic() > deadline:
            logs = net.dump_logs() if net is not None else ""
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{logs}")
        time.sleep(0.1)


def build(net: Net, i: int, signer: Signer, type: str, payload: dict[str, Any], **kw: Any) -> bytes:
    """Signed wire bytes; nonce defaults to the node's `pending_nonce`, fee to 1."""
    from state.tx import build_tx

    nonce = kw.get("nonce")
    if nonce is None:
        nonce = net.call(i, "account", address=signer.public_key.hex())["pending_nonce"]
    chain = kw.get("chain_id", "huzhu-e2e")
    return build_tx(signer, chain, type, nonce, kw.get("fee", 1), payload).wire


def send(
    net: Net,
    i: int,
    signer: Signer,
    type: str,
    payload: dict[str, Any],
    mode: str = "commit",
    **kw: Any,
) -> dict[str, Any]:
    """Build, sign and broadcast through node i's JSON-RPC; the broadcast_tx result."""
    wire = build(net, i, signer, type, payload, **kw)
    return net.call(i, "broadcast_tx", timeout=40, tx=wire.hex(), mode=mode)


class Load:
    """Background transfers (sync mode) from `senders` through `nodes`, until `stop()`.

    Each sender always talks to the same node and counts its nonces locally, so it never
    races gossip; `acked` holds the hashes of every admitted transaction (what a client was
    told "accepted"), so a test can check that none of them is lost."""

    def __init__(self, net: Net, nodes: list[int], senders: list[int]) -> None:
        import threading

        self.net = net
        self.nodes = nodes
        self.senders = senders
        self.acked: list[str] = []
        self.refused: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        from state.tx import build_tx

        route = {s: self.nodes[k % len(self.nodes)] for k, s in enumerate(self.senders)}
        nonce = {
            s: self.net.call(route[s], "account", address=member(s).public_key.hex())[
                "pending_nonce"
            ]
            for s in self.senders
        }
        while not self._stop.is_set():
            for s in self.senders:
                to = TREASURY.public_key
                wire = build_tx(
                    member(s), "huzhu-e2e", "transfer", nonce[s], 1, {"to": to, "amount": 1}
                )
                try:
                    r = self.net.call(route[s], "broadcast_tx", tx=wire.wire.hex(), mode="sync")
                except (OSError, AssertionError, RpcError):
                    continue
                if r["code"] == 0:
                    self.acked.append(r["hash"])
                    nonce[s] += 1
                else:
                    self.refused[r["error"]] = self.refused.get(r["error"], 0) + 1
            time.sleep(0.01)
