"""A simulated node: the real Replica over the real ChainApp, Chain and a MemoryStore.

Nothing here is a model of consensus or of the state machine: the node is exactly what
`huzhu start` runs, minus asyncio and sockets. What the simulator owns is the node's
*lifecycle*: a crash throws away every object in memory and keeps only the store's
contents (`MemoryStore.snapshot()`: everything written with put/write survives); a restart
rebuilds Chain, ChainApp and Replica from that store, exactly as a process restart would.

The only state kept across a crash outside the store is the node's transaction generator
(the "clients" sending to it) and its Byzantine filter; neither is part of the node.
"""

from __future__ import annotations

from consensus.params import ConsensusParams
from consensus.replica import Replica
from sim.byzantine import Behaviour
from sim.txgen import TxGenerator
from state.app import ChainApp
from state.chain import Chain
from state.crypto import Signer
from state.genesis import Genesis
from state.store import MemoryStore


class SimNode:
    """One node instance of a run (a twin is a second SimNode with the same signer)."""

    def __init__(
        self,
        index: int,
        signer: Signer,
        genesis: Genesis,
        params: ConsensusParams,
        txgen: TxGenerator,
        behaviour: Behaviour,
        *,
        honest: bool,
    ) -> None:
        self.index = index
        self.signer = signer
        self.key: bytes = signer.public_key
        self.genesis = genesis
        self.params = params
        self.txgen = txgen
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

    def boot(self) -> Replica:
        """(Re)build the node from its store and return the fresh replica."""
        chain = Chain(self.store)
        app = ChainApp(chain, self.txgen.source(chain.view))
        self.chain, self.app = chain, app
        self.replica = Replica(self.genesis.chain_id, self.store, app, self.signer, self.params)
        self.up = True
        return self.replica

    def crash(self, now_ms: int) -> None:
        """Lose everything in memory; keep only what reached the store."""
        self.crashed_at_ms = now_ms
        self.up = False
        self.incarnation += 1
        self.crashes += 1
        self.replica = None
        self.app = None
        self.chain = None
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
