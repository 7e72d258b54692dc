"""The asyncio driver of a node: Replica + P2P + mempool + RPC in one event loop.

Shape (DESIGN.md principle 1): the consensus `Replica` is sans-I/O. This module feeds it
network messages and timer firings with the wall clock in milliseconds and carries out the
actions it returns. Everything runs on one event loop thread, so no component needs locks:

- ONE timer (`asyncio.TimerHandle`) is re-armed after every call into the replica at
  `replica.next_deadline()`; a periodic tick (`on_tick`) drives block sync and re-gossip.
- Peer messages arrive through `P2PNode.on_message`; channel 2 (tx batches) goes to the
  mempool, every other channel to the replica. An exception raised while handling bad peer
  bytes is caught at this edge, logged, and the peer penalised: it never reaches the loop.
- `Committed` updates the mempool, resolves `broadcast_tx` commit waiters, emits RPC events
  and logs one line per block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from node.config import Home, NodeConfig, load_config
from node.logs import kv, setup_logging
from node.mempool import Mempool, MempoolLimits
from node.service import NodeService, rfc3339
from state.crypto import Signer, sha256
from state.errors import Code
from state.genesis import load_genesis
from state.store import LevelDBStore
from state.tx import CheckResult

log = logging.getLogger("huzhu.node")

CH_CONSENSUS = 1
CH_TXS = 2
CH_EVIDENCE = 3
CH_SYNC = 4

TICK_INTERVAL_S = 0.25  # on_tick cadence (block-sync requests, re-gossip); not a deadline


def now_ms() -> int:
    """The wall clock in ms: block times come from it, so it is real time, not monotonic."""
    return time.time_ns() // 1_000_000


class Node:
    """One running node. `await start()`, then `await stop()`; `run()` wraps both."""

    def __init__(self, home: Path, config: NodeConfig | None = None) -> None:
        self.home = Home(Path(home))
        self.config = config or load_config(self.home.root)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: int | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._started = False
        self._allowed: frozenset[bytes] = frozenset()
        self.store: Any = None
        self.p2p: Any = None
        self.rpc: Any = None
        self.replica: Any = None

    # ---------------------------------------------------------------- NodeParts

    @property
    def genesis(self) -> Any:
        return self._genesis

    @property
    def mempool(self) -> Mempool:
        return self._mempool

    def view(self) -> Any:
        return self.chain.view()

    def block_at(self, height: int) -> Any | None:
        return self.replica.block_at(height)

    def commit_at(self, height: int) -> Any | None:
        return self.replica.commit_at(height)

    def catching_up(self) -> bool:
        return bool(self.replica.catching_up)

    def peers(self) -> list[Any]:
        return self.p2p.peers() if self.p2p is not None else []

    def submit(self, wire: bytes) -> CheckResult:
        """Admission of a client's transaction; admitted ones are gossiped to peers."""
        res = self._mempool.add(wire)
        if res.code is Code.OK:
            assert res.tx is not None
            self.gossip.add(res.tx.wire)
        return res

    # ---------------------------------------------------------------- start / stop

    async def start(self) -> None:
        from consensus.replica import Replica, ReplicaParams
        from p2p.gossip import TxGossip
        from p2p.node import P2PNode, PeerAddr
        from state.app import ChainApp
        from state.chain import Chain

        from node.keys import load_key
        from node.rpc import RpcServer

        cfg = self.config
        self._genesis = load_genesis(self.home.genesis)
        self.key: Signer = load_key(self.home.node_key)
        self.node_id = self.key.public_key
        self.home.data.mkdir(parents=True, exist_ok=True)
        self.store = LevelDBStore(str(self.home.data))
        self.chain = Chain.init_genesis(self.store, self._genesis)
        self._mempool = Mempool(
            self.chain.view,
            MempoolLimits(
                max_txs=cfg.mempool.max_txs,
                max_bytes=cfg.mempool.max_bytes,
                verified_cache=cfg.mempool.verified_cache,
            ),
        )
        self.app = ChainApp(self.chain, self._mempool.reap, verified=self._mempool.is_verified)
        c = cfg.consensus
        self.replica = Replica(
            self._genesis.chain_id,
            self.store,
            self.app,
            self.key,
            ReplicaParams(
                timeout_propose_ms=c.timeout_propose_ms,
                timeout_propose_delta_ms=c.timeout_propose_delta_ms,
                timeout_prevote_ms=c.timeout_prevote_ms,
                timeout_prevote_delta_ms=c.timeout_prevote_delta_ms,
                timeout_precommit_ms=c.timeout_precommit_ms,
                timeout_precommit_delta_ms=c.timeout_precommit_delta_ms,
                block_time_ms=self.chain.params.block_time_ms,
            ),
        )
        self.service = NodeService(self)
        self._refresh_allowed()
        host, port = _split(cfg.p2p.listen)
        self.p2p = P2PNode(
            self.key,
            self._genesis.chain_id,
            (host, port),
            [PeerAddr(p.node_id, p.host, p.port) for p in cfg.p2p.peer_addresses()],
            is_allowed=self._is_allowed,
            limits=cfg.p2p,
            on_message=self._on_message,
            on_peer=self._on_peer,
        )
        self.gossip = TxGossip(self.p2p, CH_TXS)
        self.service.subscribe_events  # noqa: B018 (the server registers its listener)
        self.rpc = RpcServer(self.service, cfg.rpc)
        await self.p2p.start()
        await self.rpc.start()
        self._started = True
        self._dispatch(self.replica.start(now_ms()))
        self._tick_task = asyncio.create_task(self._ticker(), name="huzhu-tick")
        v = self.chain.view()
        log.info(
            "node started %s",
            kv(
                chain=self._genesis.chain_id,
                node_id=self.node_id.hex()[:16],
                height=v.height,
                rpc=cfg.rpc.listen,
                p2p=cfg.p2p.listen,
            ),
        )

    async def stop(self) -> None:
        """Stop taking input, then close everything; the store is closed last."""
        if self._stopping:
            return
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
        for part, name in ((self.rpc, "rpc"), (self.p2p, "p2p")):
            if part is None:
                continue
            try:
                await part.stop()
            except Exception:
                log.exception("stopping %s failed", name)
        if self.store is not None:
            self.store.close()
            self.store = None
        log.info("node stopped")

    # ---------------------------------------------------------------- replica plumbing

    def _arm_timer(self) -> None:
        """Keep exactly one timer, at the replica's earliest deadline."""
        if self._stopping:
            return
        at = self.replica.next_deadline()
        if at == self._timer_at and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = at
        if at is None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, (at - now_ms()) / 1000)
        self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._dispatch(self.replica.on_timeout(now_ms()))

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_INTERVAL_S)
            try:
                self._dispatch(self.replica.on_tick(now_ms()))
            except Exception:
                log.exception("tick failed")

    def _dispatch(self, actions: list[Any]) -> None:
        """Carry out the replica's actions in order, then re-arm the timer."""
        if self._stopping:
            return
        for a in actions:
            kind = type(a).__name__
            if kind == "Broadcast":
                self.p2p.broadcast(a.channel, a.payload)
            elif kind == "SendTo":
                self.p2p.send(a.peer_id, a.channel, a.payload)
            elif kind == "Committed":
                self._on_committed(a)
            elif kind == "Penalize":
                self.p2p.penalize(a.peer_id, a.reason)
            elif kind == "EvidenceFound":
                log.warning("evidence of double signing found %s", getattr(a, "evidence", ""))
            elif kind == "ScheduleTimeout":
                pass  # next_deadline() covers every scheduled timeout
        self._arm_timer()

    def _on_committed(self, a: Any) -> None:
        block = a.block
        height = a.height
        included = self._mempool.update(block.txs)
        self.service.on_committed(height, block)
        if height % max(1, self.chain.params.epoch_length) == 0 or self._candidates_changed(block):
            self._refresh_allowed()
        log.info(
            "committed %s",
            kv(
                height=height,
                txs=len(block.txs),
                round=getattr(a.commit, "round", "?"),
                time=rfc3339(block.header.time_ms),
                hash=block.hash.hex()[:12],
                mempool=len(self._mempool),
                mine=len(included),
            ),
        )

    # ---------------------------------------------------------------- peers

    def _candidates_changed(self, block: Any) -> bool:
        """Cheap test: a register_candidate tx in the block may add an allowed peer key."""
        return any(b"register_candidate" in w for w in block.txs)

    def _refresh_allowed(self) -> None:
        """Genesis validators, registered candidates and configured observers may connect."""
        keys = {v.consensus_key for v in self._genesis.validators}
        keys.update(c.consensus_key for c in self.chain.view().candidates())
        keys.update(self.config.p2p.observer_ids())
        self._allowed = frozenset(keys)

    def _is_allowed(self, node_id: bytes) -> bool:
        return node_id in self._allowed

    def _on_peer(self, peer_id: bytes, up: bool) -> None:
        if self._stopping:
            return
        log.info("peer %s %s", "up" if up else "down", peer_id.hex()[:16])
        if up:
            self.gossip.on_peer_up(peer_id)
        else:
            self.gossip.on_peer_down(peer_id)
        self._dispatch(self.replica.on_peer(peer_id, up, now_ms()))

    def _on_message(self, peer_id: bytes, channel: int, payload: bytes) -> None:
        if self._stopping:
            return
        try:
            if channel == CH_TXS:
                self._on_tx_batch(peer_id, payload)
            else:
                self._dispatch(self.replica.on_message(peer_id, channel, payload, now_ms()))
        except Exception:
            log.exception("message on channel %d from %s failed", channel, peer_id.hex()[:16])
            self.p2p.penalize(peer_id, "message handling failed")

    def _on_tx_batch(self, peer_id: bytes, payload: bytes) -> None:
        wires = self.gossip.decode_batch(peer_id, payload)
        if wires is None:
            self.p2p.penalize(peer_id, "garbage tx batch")
            return
        for wire in wires:
            res = self._mempool.add(wire)
            if res.code is Code.OK:
                assert res.tx is not None
                self.gossip.add(res.tx.wire, source=peer_id)
            elif res.code in (Code.MALFORMED, Code.BAD_SIGNATURE, Code.TOO_LARGE):
                # an honest peer only gossips what it admitted: these cannot be races
                self.p2p.penalize(peer_id, f"gossiped tx {res.error}")
                return


def _split(listen: str) -> tuple[str, int]:
    from node.config import split_host_port

    return split_host_port(listen)


async def _serve(home: Path) -> int:
    cfg = load_config(home)
    setup_logging(cfg.log_level)
    node = Node(home, cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await node.start()
    except Exception:
        log.exception("node failed to start")
        await node.stop()
        return 1
    await stop.wait()
    log.info("signal received, shutting down")
    await node.stop()
    return 0


def run(home: Path) -> int:
    """Run a node in the foreground until SIGINT/SIGTERM; exit status 0 after a clean stop."""
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - uvloop is optional
        return asyncio.run(_serve(Path(home)))
    if sys.version_info >= (3, 12):  # pragma: no cover
        return uvloop.run(_serve(Path(home)))
    uvloop.install()
    return asyncio.run(_serve(Path(home)))


_ = sha256  # re-exported helpers used by tests
