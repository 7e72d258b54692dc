"""Prometheus metrics of a running node (`/metrics`, the Prometheus text format).

Why a custom collector: the components keep plain integer counters (the hot path pays an
increment, and state/ and p2p/ import nothing new); this module reads them, and the state
(pools, members, claims), only when Prometheus scrapes. The few per-block observations
(block interval, execution time) go into `BlockStats`, fed once per commit by node/runtime.py.

Names follow Prometheus conventions (`huzhu_` prefix, `_total` counters, base units) and
CometBFT's metric names where it has one (`huzhu_consensus_height`, `huzhu_mempool_size`, ...).
Every label set is bounded: methods are those of node/methods.py (others count as
`unknown`), channels those of the transport, error names those of state.errors.Code, pools
at most `[metrics] max_pools` (in genesis order), claims counted up to `max_claims_counted`
per pool and status (the count saturates there).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from state import crypto
from state.model import CLAIM_STATUSES

if TYPE_CHECKING:
    from consensus.replica import Replica
    from consensus.types import Block, Commit
    from node.rpc import RpcServer
    from node.runtime import Node

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: histogram buckets (seconds) of the block interval; blocks come every ~1 s by default
INTERVAL_BUCKETS: tuple[float, ...] = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
#: histogram buckets (seconds) of a block's execution
EXEC_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Histogram:
    """A fixed-bucket histogram of plain numbers; cumulative counts are made at scrape."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.sum = 0.0

    def observe(self, v: float) -> None:
        i = 0
        while i < len(self.buckets) and v > self.buckets[i]:
            i += 1
        self.counts[i] += 1
        self.sum += v

    def family(self, name: str, doc: str) -> HistogramMetricFamily:
        acc = 0
        out: list[tuple[str, float]] = []
        for le, n in zip((*map(str, self.buckets), "+Inf"), self.counts, strict=True):
            acc += n
            out.append((le, acc))
        return HistogramMetricFamily(name, doc, buckets=out, sum_value=self.sum)


class BlockStats:
    """What the node observes once per committed block (node/runtime.py feeds it)."""

    def __init__(self) -> None:
        self.interval = Histogram(INTERVAL_BUCKETS)
        self.execution = Histogram(EXEC_BUCKETS)
        self.last_time_ms: int | None = None
        self.round = 0
        self.num_txs = 0
        self.total_txs = 0
        self.block_size = 0
        self.missing = 0
        self.byzantine = 0
        self.evidence_total = 0
        self.blocks = 0
        self.validators = 0
        self.is_validator = False
        self.missed = 0  # blocks of a set holding this node whose commit lacks its signature

    def committed(
        self,
        time_ms: int,
        round_: int,
        txs: Iterable[bytes],
        missing: int,
        byzantine: int,
        validators: int = 0,
        mine: bool | None = None,
    ) -> None:
        """One committed block: its header time, commit round, txs and absent signers;
        `mine` is whether this node signed it (None: not a validator of that block)."""
        sizes = [len(t) for t in txs]
        if self.last_time_ms is not None and time_ms >= self.last_time_ms:
            self.interval.observe((time_ms - self.last_time_ms) / 1000)
        self.last_time_ms = time_ms
        self.round = round_
        self.num_txs = len(sizes)
        self.total_txs += len(sizes)
        self.block_size = sum(sizes)
        self.missing = missing
        self.byzantine = byzantine
        self.validators = validators
        self.is_validator = mine is not None
        if mine is False:
            self.missed += 1
        self.blocks += 1


#: names of the replica's steps (consensus.actions STEP_*, consensus.core STEP_DECIDED)
STEP_NAMES: tuple[str, ...] = ("new_height", "propose", "prevote", "precommit", "decided")
#: histogram buckets (seconds) of one consensus round
ROUND_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)


class StepClock:
    """Time the replica spends in each step and round, seen from outside: the node reads
    (height, round, step) after every call into the replica, where all changes happen."""

    def __init__(self) -> None:
        self.rounds = Histogram(ROUND_BUCKETS)
        self.step_count = [0] * len(STEP_NAMES)
        self.step_seconds = [0.0] * len(STEP_NAMES)
        self._at: tuple[int, int, int] | None = None
        self._step_t = 0.0
        self._round_t = 0.0

    def observe(self, height: int, round_: int, step: int, now_s: float) -> None:
        at = (height, round_, step)
        prev = self._at
        if prev == at:
            return
        self._at = at
        if prev is None:
            self._step_t = self._round_t = now_s
            return
        if 0 <= prev[2] < len(STEP_NAMES):
            self.step_count[prev[2]] += 1
            self.step_seconds[prev[2]] += now_s - self._step_t
        self._step_t = now_s
        if prev[:2] != at[:2]:
            self.rounds.observe(now_s - self._round_t)
            self._round_t = now_s


class GcPauses:
    """Time the cyclic collector held the event loop, by generation (gc.callbacks)."""

    def __init__(self) -> None:
        self._t0 = 0.0
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        g = min(2, max(0, int(info.get("generation", 0))))
        self.count[g] += 1
        self.seconds[g] += time.perf_counter() - self._t0

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _by_error(name: str, doc: str, counts: dict[str, int]) -> CounterMetricFamily:
    """A counter labelled by protocol error name, from the node's plain dict of counts."""
    fam = CounterMetricFamily(name, doc, labels=["error"])
    for error, n in sorted(counts.items()):
        fam.add_metric([error], n)
    return fam


class NodeCollector(Collector):
    """Reads a running `Node` at scrape time (never between scrapes)."""

    def __init__(
        self,
        node: Node,
        stats: BlockStats,
        gcp: GcPauses,
        steps: StepClock,
        max_pools: int,
        max_claims: int,
    ) -> None:
        self.node = node
        self.steps = steps
        self.stats = stats
        self.gcp = gcp
        self.max_pools = max_pools
        self.max_claims = max_claims

    def collect(self) -> Iterator[Metric]:
        yield from self._consensus()
        yield from self._mempool()
        yield from self._p2p()
        yield from self._rpc()
        yield from self._runtime()
        yield from self._pools()

    def _consensus(self) -> Iterator[Metric]:
        s = self.stats
        yield _gauge("huzhu_consensus_height", "Height of the latest committed block.",
                     self.node.chain.view().height)  # fmt: skip
        yield _gauge("huzhu_consensus_rounds", "Round at which the latest block committed "
                     "(0: first round).", s.round)  # fmt: skip
        yield s.interval.family(
            "huzhu_consensus_block_interval_seconds",
            "Time between consecutive blocks (header times).",
        )
        yield _gauge("huzhu_consensus_missing_validators", "Validators whose signature is "
                     "absent from the latest block's commit.", s.missing)  # fmt: skip
        yield _gauge("huzhu_consensus_validators", "Validators of the latest block.",
                     s.validators)  # fmt: skip
        yield _gauge("huzhu_consensus_validator", "1 when this node is a validator of the "
                     "latest block.", 1 if s.is_validator else 0)  # fmt: skip
        yield CounterMetricFamily("huzhu_consensus_validator_missed_blocks", "Blocks whose "
                                  "commit lacks this validator's signature.", value=s.missed)  # fmt: skip
        yield _gauge("huzhu_consensus_byzantine_validators", "Validators with double-signing "
                     "evidence in the latest block.", s.byzantine)  # fmt: skip
        yield CounterMetricFamily("huzhu_consensus_evidence", "Double-signing evidence seen "
                                  "by this node.", value=s.evidence_total)  # fmt: skip
        yield CounterMetricFamily("huzhu_consensus_copies_dropped", "Proposals and votes "
                                  "dropped undecoded: byte copies of ones this node holds "
                                  "(peers' re-gossip).", value=self.node.replica.copies_dropped)  # fmt: skip
        yield _gauge("huzhu_consensus_num_txs", "Transactions in the latest block.", s.num_txs)
        yield _gauge("huzhu_consensus_total_txs", "Transactions committed since this node "
                     "started.", s.total_txs)  # fmt: skip
        yield _gauge("huzhu_consensus_block_size_bytes", "Transaction bytes of the latest "
                     "block.", s.block_size)  # fmt: skip
        yield _gauge("huzhu_consensus_fast_syncing", "1 while the node catches up on blocks.",
                     1 if self.node.catching_up() else 0)  # fmt: skip
        yield self.steps.rounds.family(
            "huzhu_consensus_round_duration_seconds",
            "Time from the start of a round to the next round or height.",
        )
        steps = SummaryMetricFamily("huzhu_consensus_step_duration_seconds", "Time spent in "
                                    "each consensus step.", labels=["step"])  # fmt: skip
        for i, name in enumerate(STEP_NAMES):
            steps.add_metric([name], self.steps.step_count[i], self.steps.step_seconds[i])
        yield steps
        yield s.execution.family(
            "huzhu_state_block_processing_seconds",
            "Time to execute a block's transactions (proposing or judging it).",
        )

    def _mempool(self) -> Iterator[Metric]:
        mp = self.node.mempool
        yield _gauge("huzhu_mempool_size", "Transactions in the mempool.", len(mp))
        yield _gauge("huzhu_mempool_size_bytes", "Bytes of the mempool's transactions.",
                     mp.size_bytes)  # fmt: skip
        yield _gauge("huzhu_mempool_max_txs", "The mempool's capacity in transactions.",
                     mp.limits.max_txs)  # fmt: skip
        yield _gauge(
            "huzhu_mempool_backlog_cap_txs",
            "The pending transactions check 11 allows now: max_txs, or less by backlog_blocks.",
            mp.backlog_cap(self.node.chain.params),
        )
        yield _by_error(
            "huzhu_mempool_refused_txs",
            "Transactions the mempool refused, by error name (PROTOCOL.md error names).",
            self.node.refusals,
        )
        yield CounterMetricFamily(
            "huzhu_mempool_retry_evicted_txs",
            "Transactions refused mempool_full and dropped from the retry cache to keep "
            "[mempool] retry_cache: a client's re-offer of one is decoded and checked again.",
            value=mp.retry_evicted,
        )
        yield _by_error(
            "huzhu_mempool_peer_refused_txs",
            "Peers' gossiped copies among the refused transactions, by error name: "
            "mempool_full here means the validators' mempools hold different transactions.",
            self.node.peer_refusals,
        )

    def _p2p(self) -> Iterator[Metric]:
        yield _gauge("huzhu_p2p_peers", "Connected peers.", len(self.node.peers()))
        p2p = self.node.p2p
        sent = CounterMetricFamily("huzhu_p2p_message_send_bytes", "Bytes sent to peers by "
                                   "channel (before encryption).", labels=["channel"])  # fmt: skip
        recv = CounterMetricFamily("huzhu_p2p_message_receive_bytes", "Bytes received from "
                                   "peers by channel (after decryption).", labels=["channel"])  # fmt: skip
        if p2p is not None:
            for ch, n in sorted(p2p.sent_bytes.items()):
                sent.add_metric([str(ch)], n)
            for ch, n in sorted(p2p.recv_bytes.items()):
                recv.add_metric([str(ch)], n)
        yield sent
        yield recv

    def _rpc(self) -> Iterator[Metric]:
        rpc = self.node.rpc
        reqs = CounterMetricFamily("huzhu_rpc_requests", "JSON-RPC calls answered, by method "
                                   "and outcome.", labels=["method", "outcome"])  # fmt: skip
        lat = SummaryMetricFamily("huzhu_rpc_request_duration_seconds", "Time to answer a "
                                  "JSON-RPC call, by method.", labels=["method"])  # fmt: skip
        ws = dropped = deferred = cut = 0
        if rpc is not None:
            for method, st in sorted(rpc.method_stats.items()):
                reqs.add_metric([method, "ok"], st.ok)
                reqs.add_metric([method, "error"], st.errors)
                lat.add_metric([method], st.ok + st.errors, st.seconds)
            ws = rpc.websocket_count
            dropped = rpc.dropped_subscribers
            deferred = rpc.calls_deferred
            cut = rpc.calls_over_answer_bound
        yield reqs
        yield lat
        yield _gauge("huzhu_rpc_websocket_connections", "Open WebSocket connections.", ws)
        yield CounterMetricFamily("huzhu_rpc_websocket_dropped_subscribers", "WebSocket "
                                  "subscribers dropped for a full send queue.", value=dropped)  # fmt: skip
        yield CounterMetricFamily("huzhu_rpc_calls_deferred", "JSON-RPC calls that waited "
                                  "for a later turn of the loop: their address had used its "
                                  "share of the turn.", value=deferred)  # fmt: skip
        yield CounterMetricFamily("huzhu_rpc_batch_calls_over_answer_bound", "Batch calls "
                                  "answered -32002 unexecuted: the batch's answer had reached "
                                  "max_batch_answer_bytes.", value=cut)  # fmt: skip

    def _runtime(self) -> Iterator[Metric]:
        yield CounterMetricFamily("huzhu_crypto_signature_checks", "Ed25519 signature "
                                  "verifications.", value=crypto.verify_count())  # fmt: skip
        gcp = self.gcp
        fam = SummaryMetricFamily("huzhu_gc_pause_seconds", "Time the garbage collector held "
                                  "the event loop, by generation.", labels=["generation"])  # fmt: skip
        for g in range(3):
            fam.add_metric([str(g)], gcp.count[g], gcp.seconds[g])
        yield fam

    def _pools(self) -> Iterator[Metric]:
        view = self.node.chain.view()
        bal = GaugeMetricFamily("huzhu_pool_balance", "Pool balance (base units).",
                                labels=["pool"])  # fmt: skip
        liab = GaugeMetricFamily("huzhu_pool_liabilities", "Approved, unpaid claims of a pool "
                                 "(base units).", labels=["pool"])  # fmt: skip
        members = GaugeMetricFamily("huzhu_pool_members", "Pool members by status.",
                                    labels=["pool", "status"])  # fmt: skip
        claims = GaugeMetricFamily("huzhu_pool_claims", "Pool claims by status (counted up to "
                                   "[metrics] max_claims_counted).", labels=["pool", "status"])  # fmt: skip
        for gp in self.node.genesis.pools[: self.max_pools]:
            pool = view.pool(gp.id)
            if pool is None:
                continue
            bal.add_metric([pool.id], pool.balance)
            liab.add_metric([pool.id], pool.liabilities)
            for status, n in view.pool_member_counts(pool.id).items():
                members.add_metric([pool.id, status], n)
            for status in CLAIM_STATUSES:
                n = len(view.claims(pool.id, status, limit=self.max_claims))
                claims.add_metric([pool.id, status], n)
        yield bal
        yield liab
        yield members
        yield claims


class NodeMetrics:
    """The registry of one node and its `/metrics` handler (its own registry, so several
    nodes in one process, as in tests, do not mix)."""

    def __init__(self, node: Node, max_pools: int, max_claims: int) -> None:
        self.node_id = node.node_id
        self.stats = BlockStats()
        self.gc = GcPauses()
        self.steps = StepClock()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(
            NodeCollector(node, self.stats, self.gc, self.steps, max_pools, max_claims)
        )

    def attach(self, rpc: RpcServer, listen: str) -> MetricsServer | None:
        """Serve `/metrics` on the RPC port, or return the separate server to start."""
        if listen:
            return MetricsServer(self.handle)
        rpc.metrics_handler = self.handle
        return None

    def after_step(self, replica: Replica) -> None:
        """After every call into the replica: where step and round changes happen."""
        core = replica.core
        self.steps.observe(replica.consensus_height, core.round, core.step, time.perf_counter())

    def count_block(self, block: Block, commit: Commit, validators: Sequence[bytes]) -> None:
        """One committed block: who of its validator set (consensus keys) did not sign it."""
        signed = {v for v, _ in commit.signatures}
        mine = self.node_id in validators
        self.stats.committed(
            block.header.time_ms,
            commit.round,
            block.txs,
            sum(1 for v in validators if v not in signed),
            len({ev.validator for ev in block.evidence}),
            validators=len(validators),
            mine=(self.node_id in signed) if mine else None,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def handle(self, request: web.Request) -> web.Response:
        return web.Response(body=self.render(), headers={"Content-Type": CONTENT_TYPE})


class MetricsServer:
    """`/metrics` on its own port ([metrics] listen), for operators who keep it off the RPC
    port (a scraper on another network than the clients)."""

    def __init__(self, handler: Callable[[web.Request], Any]) -> None:
        self._handler = handler
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            raise
        server = site._server  # aiohttp keeps the bound socket there; port 0 needs it
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
