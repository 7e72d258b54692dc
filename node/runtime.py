"""The asyncio driver of a node: Replica + P2P + mempool + RPC in one event loop.

Shape (DESIGN.md principle 1): the consensus `Replica` is sans-I/O. This module feeds it
network messages and timer firings with the wall clock in milliseconds and carries out the
actions it returns. Everything runs on one event loop thread, so no component needs locks:

- ONE timer (`asyncio.TimerHandle`) is re-armed after every call into the replica at
  `replica.next_deadline()`; a periodic tick (`on_tick`) drives block sync and re-gossip.
- Peer messages arrive through `P2PNode.on_message`; channel 2 (tx batches) goes to the
  mempool, every other channel to the replica. Provable garbage from a peer raises
  ProtocolViolation (the transport bans it) or comes back as a Penalize action; an exception
  of our own is recorded in `Vitals` (shown by `status`, logged once per distinct error) and
  never reaches the loop nor stalls the timer.
- A store write that fails (a full disk) is fatal: the node logs one line, stops, and `run`
  exits with EXIT_FATAL (node/vitals.py says why), instead of living on stalled.
- `Committed` updates the mempool, resolves `broadcast_tx` commit waiters, emits RPC events
  and logs one line per block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from consensus.actions import Broadcast, Committed, EvidenceFound, Penalize, SendTo
from consensus.messages import TXS
from consensus.replica import Replica
from consensus.types import Block, Commit
from node.admission import Admission, GossipIntake
from node.config import Home, NodeConfig, load_config, split_host_port
from node.keys import load_key
from node.logs import kv
from node.metrics import MetricsServer, NodeMetrics
from node.pacing import EXEC_SHARE_OF_PROPOSE as EXEC_SHARE_OF_PROPOSE
from node.pacing import MIN_PROPOSE_TXS as MIN_PROPOSE_TXS
from node.pacing import PACE_EWMA_ALPHA as PACE_EWMA_ALPHA
from node.pacing import PACE_MIN_SAMPLE_TXS as PACE_MIN_SAMPLE_TXS
from node.pacing import PROPOSAL_OVERHEAD_BYTES as PROPOSAL_OVERHEAD_BYTES
from node.pacing import BlockSizer, PacedApp, block_tx_budget, polka_ms
from node.rpc import RpcServer
from node.service import NodeService, rfc3339
from node.vitals import EXIT_FATAL, GcClock, GuardedStore, StoreFailed, Vitals
from node.vitals import GC_GEN0_THRESHOLD as GC_GEN0_THRESHOLD
from node.workers import PoolClosed, WorkerPool
from p2p.gossip import TxGossip
from p2p.node import P2PNode
from p2p.types import PeerInfo, ProtocolViolation
from state.chain import Chain, StateView
from state.crypto import Signer, sha256
from state.errors import Code
from state.genesis import Genesis, load_genesis
from state.machine import Execution
from state.mempool import Mempool
from state.store import LevelDBStore
from state.tx import CheckResult, Tx
from state.txgossip import GossipLimits, TxGossipPolicy

log = logging.getLogger("huzhu.node")

TICK_INTERVAL_S = 0.1  # on_tick cadence (block-sync requests, re-gossip); not a deadline
GOSSIP_INTERVAL_S = 0.05  # tx batches leave at most this long after admission...
#: ...unless fewer than `[p2p] gossip_min_batch_txs` own txs wait for a peer and the oldest
#: arrived less than `gossip_max_hold_ms` ago: a batch costs each receiver a frame and an
#: admission request whatever its size (state/txgossip.py, "Small batches wait")
# tree nodes warmed per turn of the loop after a start: 500 random reads, ~5-15 ms (a 100,000-
# account state has ~190,000 live nodes: bench/history.py), so the loop stays responsive
WARM_CHUNK_NODES = 500
# between blocks, one [state] prune_idle_step this often: 500 stale nodes take ~7 ms on a quiet
# machine, so a backlogged node prunes up to ~25,000 a second with the loop mostly free (a
# 1,000-tx block retires ~6,200), and a caught-up one pays two seeks every 20 ms
PRUNE_IDLE_INTERVAL_S = 0.02
# ... and once a step found less than its share to do (caught up), the next one waits this
# long: 50 wake-ups a second of an idle node were 4.5 % of an idle 21-validator node's GIL
# samples, and a backlog still starts to shrink within this delay of a block
PRUNE_CAUGHT_UP_INTERVAL_S = 0.2
# a replica step that raised is retried (its deadline is still due) no sooner than this: a
# deterministic failure would otherwise spin the loop at 100 % CPU
FAILED_STEP_RETRY_MS = 100


def now_ms() -> int:
    """The wall clock in ms: block times come from it, so it is real time, not monotonic."""
    return time.time_ns() // 1_000_000


def height_times(a: Committed, now: int) -> dict[str, int | str]:
    """The committed height's pacing in the log line ("-" unknown): `late_ms`, how long after
    round 0 was due this node started it (a busy loop fires the timer late); `decided_ms`,
    from the block's time to this node's decision; `commit_ms`, from the decision to now
    (the commit's write and the step around it). The next height is due `block_time_ms`
    after the block's time, so a late start or a late decision stretches the interval."""
    t = a.timing
    if t is None:
        return {"late_ms": "-", "decided_ms": "-", "commit_ms": "-"}
    late = "-" if t.scheduled_ms is None or t.started_ms is None else t.started_ms - t.scheduled_ms
    decided = "-" if t.decided_ms is None else t.decided_ms - a.block.header.time_ms
    wrote = "-" if t.decided_ms is None else now - t.decided_ms
    return {"late_ms": late, "decided_ms": decided, "commit_ms": wrote}


class Node:
    """One running node. `await start()`, then `await stop()`; `run()` wraps both."""

    def __init__(self, home: Path, config: NodeConfig | None = None) -> None:
        self.home = Home(Path(home))
        self.config = config or load_config(self.home.root)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: int | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self._gossip_task: asyncio.Task[None] | None = None
        self._warm_task: asyncio.Task[None] | None = None
        self._prune_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._started = False
        self._allowed: frozenset[bytes] = frozenset()
        self._validator_ids: frozenset[bytes] = frozenset()  # the tx gossip's mesh
        self._last_block: Block | None = None  # the latest committed block, decoded
        self._gc = GcClock()
        self.store: LevelDBStore | None = None
        self.vitals = Vitals(skew_warn_ms=1)  # replaced in start(), from the consensus params
        #: set when the node stopped itself because it cannot go on (vitals.fatal says why)
        self.failed = asyncio.Event()
        self._halted = False
        self._retry_at_ms = 0  # after a failed step, the timer waits until then (no hot loop)
        self.p2p: P2PNode | None = None
        self.rpc: RpcServer | None = None
        self.metrics: NodeMetrics | None = None
        self.metrics_server: MetricsServer | None = None
        #: transactions refused at admission, by error name (clients' and peers')
        self.refusals: dict[str, int] = {}
        #: the peers' gossiped copies among them: a copy refused mempool_full means the
        #: validators' mempools hold different txs (blocks then carry txs others lack)
        self.peer_refusals: dict[str, int] = {}
        #: how many txs our next proposal may hold (node/pacing.py)
        self.sizer = BlockSizer(
            self.config.consensus.timeout_propose_ms, self.config.mempool.propose_max_txs
        )
        self._pool: WorkerPool | None = None
        self.replica: Replica
        self.chain: Chain
        self.gossip: TxGossip
        self._genesis: Genesis
        self._mempool: Mempool
        self._admission: Admission
        self._intake: GossipIntake

    # ---------------------------------------------------------------- NodeParts

    @property
    def genesis(self) -> Genesis:
        return self._genesis

    @property
    def mempool(self) -> Mempool:
        return self._mempool

    def view(self, height: int | None = None) -> StateView:
        """The latest state, or the state after a retained height (state.chain.Chain.view:
        raises Pruned / NotCommitted)."""
        return self.chain.view(height)

    def block_at(self, height: int) -> Block | None:
        # `status` asks for the tip on every call: serve it without decoding a whole block
        last = self._last_block
        if last is not None and last.header.height == height:
            return last
        bc = self.replica.block(height)
        return None if bc is None else bc[0]

    def commit_at(self, height: int) -> Commit | None:
        bc = self.replica.block(height)
        return None if bc is None else bc[1]

    def catching_up(self) -> bool:
        return bool(self.replica.catching_up)

    def peers(self) -> list[PeerInfo]:
        return self.p2p.peers() if self.p2p is not None else []

    def submit(self, wire: bytes) -> CheckResult | Awaitable[CheckResult]:
        """Admission of a client's transaction; admitted ones are gossiped to peers.

        With worker threads ([workers] threads != 0) the answer is an awaitable, to await
        at once: the signature is checked on the pool and the tx keeps its place in line
        (node/admission.py); inline, the answer itself."""
        admission = self._admission
        if admission.pool.inline:
            return self._submitted(admission.admit_now([wire])[0])
        return self._submit_later(admission.admit([wire], wait=False))

    async def _submit_later(self, pending: Awaitable[list[CheckResult]]) -> CheckResult:
        return self._submitted((await pending)[0])

    def submit_many(
        self, wires: Sequence[bytes]
    ) -> list[CheckResult] | Awaitable[list[CheckResult]]:
        """`submit` of a client's several txs (one JSON-RPC batch's) as one admission request:
        each judged in order as if submitted alone, for one line entry and one hand-off."""
        admission = self._admission
        if admission.pool.inline:
            return [self._submitted(res) for res in admission.admit_now(wires)]
        return self._submit_many_later(admission.admit(wires, wait=False))

    async def _submit_many_later(self, pending: Awaitable[list[CheckResult]]) -> list[CheckResult]:
        return [self._submitted(res) for res in await pending]

    def _submitted(self, res: CheckResult) -> CheckResult:
        self._count_refusal(res)
        if res.code is Code.OK:
            assert res.tx is not None
            if not self._mempool.withheld(res.tx.hash):  # else once its gap fills
                self.gossip.add(res.tx.hash, res.tx.wire)
        return res

    def _promoted_txs(self) -> list[tuple[bytes, bytes]]:
        """Clients' txs held back behind a nonce gap that became executable: gossiped now."""
        return [(t.hash, t.wire) for t in self._mempool.take_promoted()]

    def _count_refusal(self, res: CheckResult) -> None:
        """Refusals by error name (clients' and peers'), for the metrics."""
        name = res.error  # the code's name, from CheckResult's table (None: admitted)
        if name is not None:
            self.refusals[name] = self.refusals.get(name, 0) + 1

    def _count_peer_refusal(self, res: CheckResult) -> None:
        """A peer's gossiped copy: counted with every refusal, and apart (metrics)."""
        self._count_refusal(res)
        name = res.error
        if name is not None:
            self.peer_refusals[name] = self.peer_refusals.get(name, 0) + 1

    # ---------------------------------------------------------------- start / stop

    async def start(self) -> None:
        """Open the store, build every part, then listen (P2P, RPC) and enter consensus.

        The node key is always handed to the replica as its signer: the replica signs only at
        heights whose validator set holds the key, so a candidate elected later starts
        validating without a restart, and an observer never signs."""
        cfg = self.config
        self._genesis = load_genesis(self.home.genesis)
        self.key: Signer = load_key(self.home.node_key)
        self.node_id = self.key.public_key
        self.home.data.mkdir(parents=True, exist_ok=True)
        self.store = LevelDBStore(str(self.home.data), options=cfg.store.options())
        self._guarded = GuardedStore(self.store)
        self.chain = Chain.init_genesis(
            self._guarded,
            self._genesis,
            state_history=cfg.state.state_history,
            prune_per_block=cfg.state.prune_per_block,
        )
        self._mempool = Mempool(self.chain.view, cfg.mempool.limits())
        self._pool = cfg.workers.pool()
        self._admission = Admission(self._mempool, self._pool, self._genesis.chain_id)
        self._executions: dict[int, Execution] = {}
        self._mempool_updates: dict[int, tuple[list[Tx], list[Tx]]] = {}
        self.p2p_limits = cfg.p2p.to_limits()
        self.app = PacedApp(
            self.chain,
            self._reap,
            max_block_bytes=block_tx_budget(self.p2p_limits.max_payload, self.chain.params),
            verified=self._mempool.is_verified,
            known=self._mempool.known,
            on_commit=self._on_execution,
            on_valid=self._mempool.mark_verified,
        )
        consensus_params = cfg.consensus.to_params(self.chain.params)
        self.vitals = Vitals(skew_warn_ms=max(1, consensus_params.max_clock_drift_ms // 2))
        self.replica = Replica(
            self._genesis.chain_id,
            self._guarded,
            self.app,
            self.key,
            consensus_params,
        )
        self.service = NodeService(self)
        self._refresh_allowed()
        host, port = split_host_port(cfg.p2p.listen)
        self.p2p = P2PNode(
            self.key,
            self._genesis.chain_id,
            (host, port),
            cfg.p2p.peer_addresses(),
            is_allowed=self._is_allowed,
            limits=self.p2p_limits,
            on_message=self._on_message,
            on_peer=self._on_peer,
        )
        policy = TxGossipPolicy(
            GossipLimits.of(self.p2p_limits),
            relay_delay_ms=cfg.p2p.gossip_relay_delay_ms,
            relay_fanout=cfg.p2p.gossip_relay_fanout,
            self_id=self.node_id,
            mesh=self._in_mesh,
            min_batch_txs=cfg.p2p.gossip_min_batch_txs,
            max_hold_ms=cfg.p2p.gossip_max_hold_ms,
        )
        self.gossip = TxGossip(self.p2p, policy, TXS, ready=self._promoted_txs)
        self._intake = GossipIntake(self._admission, policy, self._count_peer_refusal, self.vitals)
        self.rpc = RpcServer(self.service, cfg.rpc)
        if cfg.metrics.enabled:
            self.metrics = NodeMetrics(self, cfg.metrics.max_pools, cfg.metrics.max_claims_counted)
            self.app.on_exec = self.metrics.stats.execution.observe
            self.metrics_server = self.metrics.attach(self.rpc, cfg.metrics.listen)
        await self.p2p.start()
        await self.rpc.start()
        if self.metrics_server is not None:
            await self.metrics_server.start(*split_host_port(cfg.metrics.listen))
        self._started = True
        self._gc.install()
        if self.metrics is not None:
            self.metrics.gc.install()
        self._step("replica start", lambda: self.replica.start(now_ms()))
        self._tick_task = asyncio.create_task(self._ticker(), name="huzhu-tick")
        self._gossip_task = asyncio.create_task(
            self.gossip.run(GOSSIP_INTERVAL_S), name="huzhu-gossip"
        )
        self._warm_task = asyncio.create_task(self._warm_tree(), name="huzhu-warm")
        if cfg.state.prune_idle_step > 0:
            self._prune_task = asyncio.create_task(self._prune_idle(), name="huzhu-prune")
        v = self.chain.view()
        log.info(
            "node started %s",
            kv(
                chain=self._genesis.chain_id,
                node_id=self.node_id.hex()[:16],
                height=v.height,
                rpc=cfg.rpc.listen,
                p2p=cfg.p2p.listen,
                validator=self.replica.is_validator,
                loop=type(asyncio.get_running_loop()).__module__.split(".")[0],
                verify_threads=self._pool.threads,
            ),
        )

    async def stop(self) -> None:
        """Stop taking input, then close everything; the store is closed last."""
        if self._stopping:
            return
        self._stopping = True
        self._gc.uninstall()
        if self.metrics is not None:
            self.metrics.gc.uninstall()
        if self._timer is not None:
            self._timer.cancel()
        for task in (self._tick_task, self._gossip_task, self._warm_task, self._prune_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for part, name in ((self.metrics_server, "metrics"), (self.rpc, "rpc"), (self.p2p, "p2p")):
            if part is None:
                continue
            try:
                await part.stop()
            except Exception:
                log.exception("stopping %s failed", name)
        if self._pool is not None:
            self._pool.close()
        if self.store is not None:
            self.store.close()
            self.store = None
        log.info("node stopped")

    async def _warm_tree(self) -> None:
        """Fill the state tree's cache from the latest root after a (re)start, a chunk at a
        time between the loop's other work: start-up does not wait for it, and the first
        blocks update warm instead of reading their paths one by one (bench/history.py)."""
        t0 = time.perf_counter()
        nodes = 0
        for count in self.chain.warming(chunk=WARM_CHUNK_NODES):
            nodes = count
            await asyncio.sleep(0)
        log.info("state tree warmed %s", kv(nodes=nodes, s=round(time.perf_counter() - t0, 3)))

    async def _prune_idle(self) -> None:
        """Prune old state between blocks, a bounded step at a time: a commit prunes only its
        own bounded share ([state] prune_per_block, which bounds its delay), and this keeps
        the backlog from growing when blocks retire more nodes than that."""
        step = self.config.state.prune_idle_step
        pause = PRUNE_IDLE_INTERVAL_S
        while True:
            await asyncio.sleep(pause)
            try:
                done = self.chain.prune_step(step)
                pause = PRUNE_IDLE_INTERVAL_S if done >= step else PRUNE_CAUGHT_UP_INTERVAL_S
            except StoreFailed as exc:
                self.vitals.store_failed(exc.__cause__ or exc)
                self._halt()
                return
            except Exception:
                log.exception("pruning old state failed; retrying later")
                await asyncio.sleep(10)

    # ---------------------------------------------------------------- replica plumbing

    def _arm_timer(self) -> None:
        """Keep exactly one timer, at the replica's earliest deadline."""
        if self._stopping or self._halted:
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
        delay = max(0.0, (max(at, self._retry_at_ms) - now_ms()) / 1000)
        self._timer = loop.call_later(delay, self._on_timer)

    def _step(self, where: str, call: Callable[[], list[Any]]) -> None:
        """Run one replica step and carry out its actions. An exception is recorded in
        `vitals` (status shows it) and the timer stays armed, or consensus would stall for
        good; a failed store write stops the node (`_halt`)."""
        if self._halted:
            return
        try:
            actions = call()
        except ProtocolViolation:  # a peer's provable garbage: the transport bans it
            raise
        except Exception as exc:
            fatal = self.vitals.step_failed(where, exc, now_ms())
            if fatal or self._guarded.failure is not None:
                self._halt()
                return
            self._retry_at_ms = now_ms() + FAILED_STEP_RETRY_MS
            actions = []
        if self.metrics is not None:
            self.metrics.after_step(self.replica)
        self._dispatch(actions)

    def _halt(self) -> None:
        """The node can no longer make progress safely: say so in one line, take no more
        input, and let `failed` wake whoever runs the node (`_serve` exits EXIT_FATAL)."""
        if self._halted:
            return
        self._halted = True
        failure = self._guarded.failure
        if self.vitals.fatal is None and failure is not None:
            self.vitals.store_failed(failure)
        reason = self.vitals.fatal.reason if self.vitals.fatal is not None else "unknown"
        log.critical("node cannot continue: %s; stopping (exit status %d)", reason, EXIT_FATAL)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.failed.set()

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._step("replica timeout", lambda: self.replica.on_timeout(now_ms()))

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_INTERVAL_S)
            self._step("replica tick", lambda: self.replica.on_tick(now_ms()))

    def _dispatch(self, actions: list[Any]) -> None:
        """Carry out the replica's actions in order, then re-arm the timer.

        One failing action (a bug of ours) is logged and the rest still run: a lost
        broadcast is recovered by re-gossip, a stalled timer would never be."""
        if self._stopping or self._halted:
            return
        try:
            for a in actions:
                try:
                    self._act(a)
                except Exception as exc:
                    self.vitals.step_failed(f"action {type(a).__name__}", exc, now_ms())
        finally:
            self._arm_timer()

    def _act(self, a: Any) -> None:
        p2p = self.p2p
        # the replica acts only once start() has made the p2p node (AttributeError before)
        assert p2p is not None, "replica action before start()"
        if isinstance(a, Broadcast):
            p2p.broadcast(a.channel, a.payload)
        elif isinstance(a, SendTo):
            p2p.send(a.peer_id, a.channel, a.payload)
        elif isinstance(a, Committed):
            self._on_committed(a)
        elif isinstance(a, Penalize):
            p2p.penalize(a.peer_id, a.reason)
        elif isinstance(a, EvidenceFound):
            ev = a.evidence
            if self.metrics is not None:
                self.metrics.stats.evidence_total += 1
            log.warning(
                "double signing %s",
                kv(validator=ev.validator.hex()[:16], height=ev.height, round=ev.round),
            )
        # ScheduleTimeout: nothing to do, next_deadline() covers every pending timeout

    def _reap(self, max_txs: int, max_bytes: int) -> list[bytes]:
        """Candidates for our proposal, at most `max_bytes` of them and as many as the
        validators can execute before their propose timeout (`BlockSizer`, from this node's
        execution speed and the recent heights' timings, within the chain's `max_txs` and
        the operator's `[mempool] propose_max_txs`): an oversized block misses the timeout,
        wastes the round and grows the backlog that makes the next block larger still."""
        return self._mempool.reap(self.sizer.cap(self.app.seconds_per_tx, max_txs), max_bytes)

    def _on_execution(self, ex: Execution) -> None:
        """ChainApp's commit hook, run as the state commits: update the mempool now and keep
        the results for the Committed action that follows.

        The replica starts the next round from a timeout, so the Committed action comes
        first today; updating here keeps the mempool right whatever that order. A mempool
        still holding the committed txs at the next reap would offer them again; execution
        drops them (stale nonces) together with every later tx of their senders."""
        self._executions[ex.height] = ex
        self._mempool_updates[ex.height] = self._mempool.update(ex.txs, ex.tx_hashes)
        self.gossip.remove(ex.tx_hashes)
        # governance may have changed max_block_txs: the next proposal's byte budget follows
        self.app.max_block_bytes = block_tx_budget(self.p2p_limits.max_payload, self.chain.params)

    def _on_committed(self, a: Committed) -> None:
        block = a.block
        height = a.height
        self._last_block = block
        self.sizer.observe(
            len(block.txs),
            a.timing,
            proposed=block.header.proposer == self.node_id,
            seconds_per_tx=self.app.seconds_per_tx,
        )
        ex = self._executions.pop(height, None)
        self._executions.clear()  # only the block being committed is ever pending
        update = self._mempool_updates.pop(height, None)
        self._mempool_updates.clear()
        if update is None:  # committed without the hook (not expected): same update here
            update = self._mempool.update(block.txs)
            self.gossip.remove([sha256(w) for w in block.txs])
        included, dropped = update
        if dropped:
            self.gossip.remove([t.hash for t in dropped])
        results = ex.results if ex is not None and list(ex.txs) == list(block.txs) else None
        decoded = {t.hash: t for t in included}
        self.service.on_committed(
            height,
            block,
            a.commit,
            decoded,
            results,
            hashes=ex.tx_hashes if ex is not None and results is not None else None,
        )
        self.service.on_dropped(dropped)
        self._refresh_allowed()
        if self.metrics is not None:
            self._count_block(block, a.commit)
        self.vitals.committed(block.header.time_ms, block.header.proposer == self.node_id, now_ms())
        log.info(
            "committed %s",
            kv(
                height=height,
                txs=len(block.txs),
                round=getattr(a.commit, "round", "?"),
                polka_ms=polka_ms(a),
                **height_times(a, now_ms()),
                time=rfc3339(block.header.time_ms),
                hash=block.hash.hex()[:12],
                mempool=len(self._mempool),
                mine=len(included),
                gc_ms=self._gc.take_ms(),
            ),
        )

    def _count_block(self, block: Block, commit: Commit) -> None:
        assert self.metrics is not None
        validators = self.chain.validators(block.header.height)
        self.metrics.count_block(block, commit, [v.consensus_key for v in validators])

    # ---------------------------------------------------------------- peers

    def _refresh_allowed(self) -> None:
        """Genesis validators, registered candidates and configured observers may connect.

        Re-read after every block (a `register_candidate` may add a key): the candidate list
        is bounded by `operators`, so this is a short prefix scan, and the transport asks
        `is_allowed` on every handshake without touching the store."""
        view = self.chain.view()
        keys = {v.consensus_key for v in self._genesis.validators}
        keys.update(c.consensus_key for c in view.candidates())
        keys.update(self.config.p2p.observer_ids())
        self._allowed = frozenset(keys)
        self._validator_ids = frozenset(
            v.consensus_key for v in self.chain.validators(view.height + 1)
        )

    def _in_mesh(self, peer_id: bytes) -> bool:
        """Tx gossip does not relay a validator's txs: validators dial each other in a full
        mesh, so they already reached every other one (state/txgossip.py, the mesh)."""
        return peer_id in self._validator_ids

    def _is_allowed(self, node_id: bytes) -> bool:
        return node_id in self._allowed

    def _on_peer(self, peer_id: bytes, up: bool) -> None:
        if self._stopping or self._halted:
            return
        log.info("peer %s %s", "up" if up else "down", peer_id.hex()[:16])
        if not up:
            self.gossip.peer_down(peer_id)
        self._step("peer change", lambda: self.replica.on_peer(peer_id, up, now_ms()))

    def _on_message(self, peer_id: bytes, channel: int, payload: bytes) -> Awaitable[None] | None:
        """A peer's message. Provable garbage raises ProtocolViolation (the transport bans
        the peer); an exception of ours is logged and the message dropped, never banning an
        honest peer for our bug and never reaching the event loop.

        With worker threads, a tx batch, a proposal or a synced block whose txs this node
        has not verified yet returns an awaitable (the transport awaits it before reading
        that peer's next frame: back-pressure) that checks their signatures on the pool."""
        if self._stopping or self._halted:
            return None
        if channel != TXS:
            if self.replica.is_held(channel, payload):
                return None  # a peer's re-gossip of a message the replica holds: no work
            try:
                pending = self._admission.preverify(channel, payload, self.chain.params)
            except Exception as exc:  # the replica checks the signatures itself
                self.vitals.step_failed("signature pre-check", exc, now_ms())
                pending = None
            if pending is not None:
                return self._step_after(pending, peer_id, channel, payload)
            self._step(
                f"message on channel {channel}",
                lambda: self.replica.on_message(peer_id, channel, payload, now_ms()),
            )
            return None
        try:
            return self._intake.receive(peer_id, payload)
        except ProtocolViolation:
            raise
        except Exception as exc:
            self.vitals.step_failed("tx batch", exc, now_ms())
        return None

    async def _step_after(
        self, pending: Awaitable[None], peer_id: bytes, channel: int, payload: bytes
    ) -> None:
        try:
            await pending
        except PoolClosed:
            return
        except Exception as exc:  # the replica checks them itself, as without a pool
            self.vitals.step_failed("signature pre-check", exc, now_ms())
        if self._stopping or self._halted:
            return
        self._step(
            f"message on channel {channel}",
            lambda: self.replica.on_message(peer_id, channel, payload, now_ms()),
        )
