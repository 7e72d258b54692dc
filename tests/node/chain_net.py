"""A real chain committed the way a node commits (state.app.ChainApp), served by NodeService
over the JSON-RPC server: for node tests that need committed blocks and their indexes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from consensus.types import Block, BlockHeader
from node.client import RpcClient
from node.config import RpcConfig
from node.rpc import RpcServer
from node.service import NodeService
from state.app import ChainApp
from state.chain import Chain
from state.crypto import Signer
from state.devkeys import dev_signer, localnet_genesis
from state.genesis import Genesis, parse_genesis
from state.machine import BlockInput
from state.mempool import Mempool
from state.store import KVStore
from state.tx import Tx, build_tx

GENESIS = parse_genesis(localnet_genesis())
ALICE, BOB, CAROL = (dev_signer(f"member{i}") for i in range(3))
REGISTRAR = dev_signer("registrar")
STRANGER = dev_signer("nobody at all")  # never sends nor is named


class ChainParts:
    """The runtime's side of NodeService over a chain and the blocks a test committed (the one
    stand-in the node tests share; consensus and sockets left out)."""

    def __init__(
        self,
        chain: Chain,
        blocks: dict[int, Block] | None = None,
        mempool: Mempool | None = None,
    ) -> None:
        self.node_id = b"\x07" * 32
        self.chain = chain
        self.mempool = mempool if mempool is not None else Mempool(chain.view)
        self.genesis = chain.genesis
        self.blocks: dict[int, Block] = {} if blocks is None else blocks

    def view(self, height: int | None = None) -> Any:
        return self.chain.view(height)

    def block_at(self, height: int) -> Block | None:
        return self.blocks.get(height)

    def commit_at(self, height: int) -> Any:
        return None

    def catching_up(self) -> bool:
        return False

    def peers(self) -> list[Any]:
        return []

    def submit(self, wire: bytes) -> Any:
        return self.mempool.add(wire)


class ChainNet:
    """One chain in a store, committing blocks the way a node does (ChainApp.commit)."""

    def __init__(self, store: KVStore, genesis: Genesis = GENESIS) -> None:
        self.chain = Chain.init_genesis(store, genesis)
        self.app = ChainApp(self.chain, lambda _n, _b: [])
        self.blocks: dict[int, Block] = {}
        self.nonces: dict[bytes, int] = {}
        self.service: NodeService | None = None  # set by serve()
        self.url = ""

    def tx(self, signer: Signer, type_: str, payload: dict[str, Any]) -> Tx:
        n = self.nonces.get(signer.public_key, 0)
        self.nonces[signer.public_key] = n + 1
        return build_tx(signer, GENESIS.chain_id, type_, n, 1, payload)

    def commit(self, txs: list[Tx], evidence: Sequence[Any] = ()) -> int:
        """Commit a block of `txs` (each must succeed) and `evidence` (consensus objects)."""
        h = self.chain.height + 1
        time_ms = GENESIS.genesis_time_ms + 1000 * h
        proposer = GENESIS.validators[0].consensus_key
        wires = [t.wire for t in txs]
        ex = self.chain.execute(BlockInput(h, time_ms, proposer, wires, evidence))
        assert all(r.code == 0 for r in ex.results), ex.results
        self.app.commit(h, time_ms, proposer, wires, evidence, ex.state_root)
        header = BlockHeader(
            chain_id=GENESIS.chain_id,
            height=h,
            time_ms=time_ms,
            prev_hash=b"\x00" * 32,
            proposer=proposer,
            tx_root=b"\x01" * 32,
            state_root=ex.state_root,
            last_commit_hash=b"\x02" * 32,
            evidence_hash=b"\x03" * 32,
            validators_hash=b"\x04" * 32,
        )
        self.blocks[h] = Block(header, tuple(wires), None, tuple(evidence))
        return h


async def serve(net: ChainNet) -> AsyncIterator[RpcClient]:
    """A client of a server over `net`; `net.service` and `net.url` are set meanwhile."""
    net.service = NodeService(ChainParts(net.chain, net.blocks))
    server = RpcServer(net.service, RpcConfig(listen="127.0.0.1:0"))
    await server.start()
    net.url = server.url
    try:
        async with RpcClient(server.url) as c:
            yield c
    finally:
        await server.stop()
