"""The worker pool in a running node: clients' and peers' txs checked off the loop, the
pool's bound seen by a client as mempool_full, and `huzhu start` stopping promptly."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path

import pytest

import state.tx as txmod
from node.cli import main
from node.config import NodeConfig, WorkersConfig, load_config, write_config
from node.keys import write_key
from node.localnet_harness import free_base_port
from node.runtime import Node
from node.workers import WorkerPool
from state.crypto import Signer, sha256
from state.genesis_builder import ValidatorSpec, genesis_doc
from state.tx import Tx, build_tx
from state.txgossip import encode_batch

CHAIN = "workers-test"
VAL = Signer(sha256(b"workers-test-validator"))
ALICE = Signer(sha256(b"workers-test-alice"))


def make_home(root: Path, workers: dict[str, int]) -> Path:
    home = root / "home"
    home.mkdir()
    genesis = genesis_doc(
        chain_id=CHAIN,
        treasury=ALICE.public_key,
        params={"block_time_ms": 50},
        validators=[ValidatorSpec("v0", VAL.public_key, VAL.public_key, p2p="127.0.0.1:1")],
        accounts=[(ALICE.public_key, 10_000)],
        pools=[{"id": "medical", "name": "Medical"}],
    )
    (home / "genesis.json").write_text(json.dumps(genesis))
    write_key(home / "node_key.json", VAL)
    cfg = NodeConfig.model_validate(
        {
            "rpc": {"listen": "127.0.0.1:0"},
            "p2p": {"listen": "127.0.0.1:0"},
            "workers": workers,
        }
    )
    write_config(home / "config.toml", cfg)
    return home


def transfer(nonce: int) -> bytes:
    return build_tx(ALICE, CHAIN, "transfer", nonce, 1, {"to": VAL.public_key, "amount": 5}).wire


async def running(tmp_path: Path, **workers: int) -> AsyncIterator[Node]:
    node = Node(make_home(tmp_path, workers))
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


async def test_client_txs_are_checked_on_the_pool_and_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    where: list[int] = []
    real = txmod.verify_tx

    def spy(tx: Tx) -> bool:
        where.append(threading.get_ident())
        return real(tx)

    monkeypatch.setattr(txmod, "verify_tx", spy)
    # inline_max_txs 0: 5 txs would be a small flush, checked on the loop (test_workers.py)
    async for node in running(tmp_path, threads=2, inline_max_txs=0):
        answers = await asyncio.gather(
            *(node.service.broadcast_tx(transfer(n), "sync") for n in range(5))
        )
        assert [a["code"] for a in answers] == [0] * 5
        assert where and threading.get_ident() not in where  # none on the loop thread
        r = await node.service.broadcast_tx(transfer(5), "commit", timeout=20)
        assert r["code"] == 0 and r["height"] >= 1
        assert node.refusals == {}


async def test_a_full_pool_checks_a_client_on_the_loop_and_holds_a_peer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    entered = threading.Event()
    real = txmod.verify_tx

    def held(tx: Tx) -> bool:
        if threading.current_thread() is not threading.main_thread():
            entered.set()
            gate.wait(10)
        return real(tx)

    async def until(cond: Callable[[], bool]) -> None:
        """Wait on the condition, not a fixed sleep: a loaded machine may take longer."""
        for _ in range(2000):
            if cond():
                return
            await asyncio.sleep(0.005)
        raise AssertionError("condition not met in 10 s")

    def inline_checks_reached(pool: WorkerPool, n: int) -> bool:
        return pool.checked_inline == n

    monkeypatch.setattr(txmod, "verify_tx", held)
    try:
        async for node in running(tmp_path, threads=1, max_queue_txs=1, inline_max_txs=0):
            first = asyncio.ensure_future(node.service.broadcast_tx(transfer(0), "sync"))
            await until(entered.is_set)  # the only thread holds the first tx
            # the queue is full: the client's tx is checked on the loop, never refused
            # mempool_full ahead of its signature check; its answer waits for the first's
            second = asyncio.ensure_future(node.service.broadcast_tx(transfer(1), "sync"))
            pool = node._pool
            assert pool is not None
            await until(partial(inline_checks_reached, pool, 1))
            assert not second.done()
            # a peer's batch is not refused: its reader waits for room (back-pressure)
            peer_batch = node._on_message(b"\x07" * 32, 2, encode_batch([transfer(1)]))
            assert peer_batch is not None
            waiting = asyncio.ensure_future(peer_batch)
            await asyncio.sleep(0.05)
            assert not waiting.done()
            gate.set()
            assert (await first)["code"] == 0
            assert (await second)["code"] == 0
            await waiting
            # pending, or already committed by this one-validator chain (never refused)
            h = sha256(transfer(1))
            if h not in node.mempool:
                assert (await node.service.tx(h))["code"] == 0
    finally:
        gate.set()


@pytest.mark.slow
def test_huzhu_start_with_workers_stops_promptly_on_sigterm(tmp_path: Path) -> None:
    from node.client import RpcError, RpcUnavailable, SyncRpcClient

    base = free_base_port(1)
    out_dir = tmp_path / "n"
    argv = ["testnet", "--validators", "1", "--out", str(out_dir), "--base-port", str(base)]
    assert main(argv) == 0
    home = out_dir / "node0"
    cfg = load_config(home)
    write_config(
        home / "config.toml",
        cfg.model_copy(update={"workers": WorkersConfig(threads=2, inline_max_txs=0)}),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "node.cli", "start", "--home", str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL),
    )
    try:
        url = f"http://127.0.0.1:{base}/"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[0].decode()
            try:
                if SyncRpcClient(url, timeout=1).status()["height"] >= 1:
                    break
            except (RpcError, RpcUnavailable):
                pass
            assert time.monotonic() < deadline, "node did not start"
            time.sleep(0.1)
        key = Signer(sha256(b"no funds"))
        chain = json.loads((home / "genesis.json").read_text())["chain_id"]
        client = SyncRpcClient(url, timeout=5)
        for n in range(50):  # keep the pool busy: each is checked, then refused for funds
            payload = {"to": key.public_key, "amount": 1}
            client.broadcast_tx(build_tx(key, chain, "transfer", n, 1, payload).wire, mode="async")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=15)[0].decode()
        took = time.monotonic() - t0
        assert proc.returncode == 0, out
        assert "node stopped" in out and "verify_threads=2" in out
        assert took < 10, f"stopping took {took:.1f} s"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_workers_section_round_trips(tmp_path: Path) -> None:
    home = make_home(tmp_path, {"threads": 3, "max_queue_txs": 9, "batch_txs": 4})
    w = load_config(home).workers
    assert (w.threads, w.max_queue_txs, w.batch_txs) == (3, 9, 4)
    text = (home / "config.toml").read_text()
    assert "[workers]" in text and "max_queue_txs = 9" in text
