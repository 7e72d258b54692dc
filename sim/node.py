"""A simulated node: the real Replica over the real ChainApp, Chain, Mempool and tx-gossip
policy, on a MemoryStore.

Nothing here is a model of consensus, of the state machine or of the mempool: the node is
what `huzhu start` runs, minus asyncio and sockets. Its proposals are reaped from its
mempool, the mempool is rechecked after every committed block, and what it admits is
gossiped through `TxGossipPolicy` over the simulated network (the world carries the
batches). What the simulator owns is the node's *lifecycle*: a crash throws away every
object in memory (the mempool and gossip state included) and keeps only the store's
contents (`MemoryStore.snapshot()`: everything written with put/write survives); a restart
rebuilds Chain, Mempool, ChainApp and Replica from that store, exactly as a process restart
would.

The only state kept across a crash outside the store is the node's clients (sim/clients.py),
its Byzantine filter and its counters; none is part of the node.
"""

from __future__ import annotations

from collections import Counter

from consensus.params import ConsensusParams
from consensus.replica import Replica
from sim.byzantine import Behaviour
from sim.clients import Clients
from state.app import ChainApp
from state.chain import Chain
from state.crypto import Signer
from state.genesis import Genesis
from state.machine import Execution
from state.mempool import Mempool, MempoolLimits
from state.store import MemoryStore
from state.tx import CheckResult
from state.txgossip import GossipLimits, PeerFault, Send, TxGossipPolicy

#: small bounds, so that seeded runs reach them (the node's defaults are far larger)
MEMPOOL_LIMITS = MempoolLimits(
    max_txs=200,
    max_bytes=256 * 1024,
    verified_cache=1_000,
    max_future_txs=8,
    max_future_per_sender=1,
    committed_cache=1_000,
)
GOSSIP_LIMITS = GossipLimits(batch_txs=8, batch_bytes=16 * 1024, pending_txs=100, seen_per_peer=500)
#: a peer's tx is relayed only this long after it arrived (the node's default is 1.5 s)
RELAY_DELAY_MS = 1_000


class SimNode:
    """One node instance of a run (a twin is a second SimNode with the same signer)."""

    def __init__(
        self,
        index: int,
        signer: Signer,
        genesis: Genesis,
        params: ConsensusParams,
        clients: Clients,
        behaviour: Behaviour,
        *,
        honest: bool,
    ) -> None:
        self.index = index
        self.signer = signer
        self.key: bytes = signer.public_key
        self.genesis = genesis
        self.params = params
        self.clients = clients
        self.behaviour = behaviour
        self.honest = honest
        self.store = MemoryStore()
        Chain.init_genesis(self.store, genesis)
        self.incarnation = 0
        self.up = False
        self.crashes = 0
        self.crashed_at_ms = -1
        self.chain: Chain | None = None
        self.app: ChainApp | None = None
        self.replica: Replica | None = None
        self.mempool: Mempool | None = None
        self.gossip: TxGossipPolicy | None = None
        #: what the node's mempool and gossip did, over all its incarnations (the run record)
        self.counts: Counter[str] = Counter()

    def boot(self) -> Replica:
        """(Re)build the node from its store and return the fresh replica."""
        chain = Chain(self.store)
        mempool = Mempool(chain.view, MEMPOOL_LIMITS)
        app = ChainApp(
            chain,
            self._reap,
            verified=mempool.is_verified,
            known=mempool.known,
            on_commit=self._on_execution,
        )
        self.chain, self.app, self.mempool = chain, app, mempool
        self.gossip = TxGossipPolicy(GOSSIP_LIMITS, relay_delay_ms=RELAY_DELAY_MS)
        self.replica = Replica(self.genesis.chain_id, self.store, app, self.signer, self.params)
        self.up = True
        return self.replica

    # --- the mempool and tx gossip, as node/runtime.py wires them --------------------------

    def _reap(self, max_txs: int, max_bytes: int) -> list[bytes]:
        """The proposer's candidates, from the mempool (nonce order per sender)."""
        assert self.mempool is not None
        wires = self.mempool.reap(max_txs, max_bytes)
        self.counts["reaped"] += len(wires)
        return wires

    def _on_execution(self, ex: Execution) -> None:
        """After each committed block: recheck the mempool, stop gossiping what left it."""
        assert self.mempool is not None and self.gossip is not None
        included, dropped = self.mempool.update(ex.txs)
        self.gossip.remove(ex.tx_hashes)
        self.gossip.remove([t.hash for t in dropped])
        self.counts["included"] += len(included)
        self.counts["evicted"] += len(dropped)

    def submit(self, wire: bytes, now_ms: int) -> CheckResult:
        """A client's transaction: admission, then gossip when admitted."""
        assert self.mempool is not None and self.gossip is not None
        res = self.mempool.add(wire)
        self.counts["submitted"] += 1
        self.counts[f"client_{res.code.name.lower()}"] += 1
        if res.ok:
            assert res.tx is not None
            if not self.mempool.withheld(res.tx.hash):  # else once its gap fills
                self.gossip.add(res.tx.hash, res.tx.wire, now_ms)
        return res

    def offer_client_txs(self, now_ms: int) -> None:
        """Once per new committed height, the clients submit their transactions."""
        assert self.chain is not None and self.mempool is not None
        height = self.chain.height
        if height <= self.clients.offered_height:
            return
        self.clients.offered_height = height
        for wire in self.clients.offer(self.chain.view(), self.mempool.pending_nonce):
            self.submit(wire, now_ms)

    def receive_txs(self, peer: bytes, payload: bytes, now_ms: int) -> bool:
        """A peer's tx batch; False when it was garbage (a real node bans the peer)."""
        assert self.mempool is not None and self.gossip is not None
        try:
            results = self.gossip.receive(peer, payload, self.mempool.add, now_ms)
        except PeerFault:
            return False
        for res in results:
            self.counts[f"gossip_{res.code.name.lower()}"] += 1
        return True

    def flush_gossip(self, peers: list[bytes], now_ms: int, send: Send) -> None:
        assert self.gossip is not None and self.mempool is not None
        for tx in self.mempool.take_promoted():  # withheld clients' txs whose gap filled
            self.gossip.add(tx.hash, tx.wire, now_ms)
        before = self.gossip.txs_sent
        self.counts["gossip_batches"] += self.gossip.flush(peers, now_ms, send)
        self.counts["gossip_txs_sent"] += self.gossip.txs_sent - before

    def crash(self, now_ms: int) -> None:
        """Lose everything in memory; keep only what reached the store."""
        self.crashed_at_ms = now_ms
        self.up = False
        self.incarnation += 1
        self.crashes += 1
        if self.mempool is not None:
            self.counts["lost_in_crash"] += len(self.mempool)
        self.replica = None
        self.app = None
        self.chain = None
        self.mempool = None
        self.gossip = None
        self.store = self.store.snapshot()

    @property
    def live(self) -> Replica:
        """The running replica; only asked of a node that is up (our own bug otherwise)."""
        assert self.replica is not None, f"node {self.index} is down"
        return self.replica

    @property
    def height(self) -> int:
        return self.chain.height if self.chain is not None else -1

    def state_root(self) -> bytes:
        assert self.chain is not None
        return self.chain.state_root
