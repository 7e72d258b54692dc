"""Account history (`txs`, PROTOCOL.md section 12) over a real chain committed by ChainApp:
what an address sent, received through `to` and was named in through `account`, newest
first, paged by the exclusive `before` cursor, from an index that survives a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from consensus.types import Block, BlockHeader
from node.client import RpcClient, RpcError
from node.config import RpcConfig
from node.methods import BY_NAME
from node.rpc import RpcServer
from node.service import NodeService
from state.app import ChainApp
from state.chain import Chain
from state.crypto import Signer
from state.devkeys import dev_signer, localnet_genesis
from state.genesis import Genesis, parse_genesis
from state.machine import BlockInput
from state.mempool import Mempool
from state.store import KVStore, LevelDBStore, MemoryStore
from state.tx import Tx, build_tx

GENESIS = parse_genesis(localnet_genesis())
ALICE, BOB, CAROL = (dev_signer(f"member{i}") for i in range(3))
REGISTRAR = dev_signer("registrar")
STRANGER = dev_signer("nobody at all")  # never sends nor is named


class _Parts:
    """The runtime's side of NodeService over a chain and the blocks this test committed."""

    def __init__(self, chain: Chain, blocks: dict[int, Block]) -> None:
        self.node_id = b"\x07" * 32
        self._chain = chain
        self.mempool = Mempool(chain.view)
        self.genesis = chain.genesis
        self.blocks = blocks

    def view(self) -> Any:
        return self._chain.view()

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


class _Net:
    """One chain in a store, committing blocks the way a node does (ChainApp.commit)."""

    def __init__(self, store: KVStore, genesis: Genesis = GENESIS) -> None:
        self.chain = Chain.init_genesis(store, genesis)
        self.app = ChainApp(self.chain, lambda _n, _b: [])
        self.blocks: dict[int, Block] = {}
        self.nonces: dict[bytes, int] = {}

    def tx(self, signer: Signer, type_: str, payload: dict[str, Any]) -> Tx:
        n = self.nonces.get(signer.public_key, 0)
        self.nonces[signer.public_key] = n + 1
        return build_tx(signer, GENESIS.chain_id, type_, n, 1, payload)

    def commit(self, txs: list[Tx]) -> int:
        h = self.chain.height + 1
        time_ms = GENESIS.genesis_time_ms + 1000 * h
        proposer = GENESIS.validators[0].consensus_key
        wires = [t.wire for t in txs]
        ex = self.chain.execute(BlockInput(h, time_ms, proposer, wires))
        assert all(r.code == 0 for r in ex.results), ex.results
        self.app.commit(h, time_ms, proposer, wires, [], ex.state_root)
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
        self.blocks[h] = Block(header, tuple(wires), None)
        return h


async def _serve(net: _Net) -> AsyncIterator[RpcClient]:
    server = RpcServer(NodeService(_Parts(net.chain, net.blocks)), RpcConfig(listen="127.0.0.1:0"))
    await server.start()
    try:
        async with RpcClient(server.url) as c:
            yield c
    finally:
        await server.stop()


def _story(net: _Net) -> dict[str, Tx]:
    """Alice sends to Bob, Bob to Carol, the registrar admits Alice, Alice joins a pool."""
    t = {
        "a_to_b": net.tx(ALICE, "transfer", {"to": BOB.public_key, "amount": 5}),
        "b_to_c": net.tx(BOB, "transfer", {"to": CAROL.public_key, "amount": 3}),
    }
    net.commit([t["a_to_b"], t["b_to_c"]])  # height 1: indexes 0, 1
    t["kyc_a"] = net.tx(REGISTRAR, "admit", {"account": ALICE.public_key})
    net.commit([t["kyc_a"]])  # height 2
    t["a_join"] = net.tx(ALICE, "join", {"pool": "medical"})
    t["a_self"] = net.tx(ALICE, "transfer", {"to": ALICE.public_key, "amount": 1})
    net.commit([t["a_join"], t["a_self"]])  # height 3
    return t


@pytest.fixture
async def story() -> AsyncIterator[tuple[RpcClient, dict[str, Tx]]]:
    net = _Net(MemoryStore())
    t = _story(net)
    async for c in _serve(net):
        yield c, t


def _hashes(items: list[dict[str, Any]]) -> list[str]:
    return [i["hash"] for i in items]


async def test_sent_received_and_named_newest_first(
    story: tuple[RpcClient, dict[str, Tx]],
) -> None:
    c, t = story
    alice = await c.txs(ALICE.public_key)
    Draft7Validator(BY_NAME["txs"].result_schema).validate(alice)
    # sent (transfer, join, self-transfer once), named via `account` (admit)
    assert _hashes(alice) == [t[k].hash.hex() for k in ("a_self", "a_join", "kyc_a", "a_to_b")]
    assert [(i["height"], i["index"]) for i in alice] == [(3, 1), (3, 0), (2, 0), (1, 0)]
    # each item is what `tx` answers for it
    assert alice[2] == await c.tx(t["kyc_a"].hash)
    assert alice[2]["sender"] == REGISTRAR.public_key.hex()
    # Bob: received via `to` (older) and sent (newer, same block)
    assert _hashes(await c.txs(BOB.public_key)) == [t["b_to_c"].hash.hex(), t["a_to_b"].hash.hex()]
    assert _hashes(await c.txs(CAROL.public_key)) == [t["b_to_c"].hash.hex()]
    assert _hashes(await c.txs(REGISTRAR.public_key)) == [t["kyc_a"].hash.hex()]
    assert await c.txs(STRANGER.public_key) == []


async def test_cursor_is_exclusive(story: tuple[RpcClient, dict[str, Tx]]) -> None:
    c, t = story
    older = await c.txs(ALICE.public_key, before={"height": 3, "index": 1})
    assert _hashes(older) == [t[k].hash.hex() for k in ("a_join", "kyc_a", "a_to_b")]
    assert _hashes(await c.txs(ALICE.public_key, before=(3, 0))) == [
        t["kyc_a"].hash.hex(),
        t["a_to_b"].hash.hex(),
    ]
    # a cursor between entries, past the chain, and at the very start
    assert _hashes(await c.txs(ALICE.public_key, before=(2, 7), limit=1)) == [t["kyc_a"].hash.hex()]
    assert len(await c.txs(ALICE.public_key, before=(10**15, 2**32 - 1))) == 4
    assert await c.txs(ALICE.public_key, before=(1, 0)) == []
    assert await c.txs(ALICE.public_key, before=(0, 0)) == []


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": True}, "limit"),
        ({"before": [3, 0]}, "before"),
        ({"before": {"height": 3}}, "before"),
        ({"before": {"height": 3, "index": 0, "x": 1}}, "before"),
        ({"before": {"height": -1, "index": 0}}, "before"),
        ({"before": {"height": 3, "index": 2**32}}, "before"),
        ({"before": {"height": 2**53, "index": 0}}, "before"),
        ({"before": {"height": "3", "index": 0}}, "before"),
        ({"before": {"height": 3, "index": 1.0}}, "before"),
        ({"before": "3:0"}, "before"),
        ({"address": "ab" * 31}, "address"),
    ],
)
async def test_bad_params_name_the_field(
    story: tuple[RpcClient, dict[str, Tx]], params: dict[str, Any], named: str
) -> None:
    c, _ = story
    with pytest.raises(RpcError) as err:
        await c.request("txs", {"address": ALICE.public_key.hex(), **params})
    assert err.value.code == -32602
    assert f"invalid params: {named}:" in err.value.message


async def test_full_history_paged_and_limits_at_their_boundaries(tmp_path: Path) -> None:
    """1,002 transactions naming Bob over 4 blocks (plus other traffic): limit 1000 answers
    1000, paging with any page size walks the whole history exactly once, in order; the
    index is in the store, so a reopened chain answers the same."""
    store = LevelDBStore(str(tmp_path / "db"))
    net = _Net(store)
    expected: list[str] = []  # oldest first
    for block in range(4):
        txs: list[Tx] = []
        for i in range(251 if block < 3 else 249):
            if i % 50 == 7:  # someone else's traffic between Bob's
                txs.append(net.tx(CAROL, "transfer", {"to": ALICE.public_key, "amount": 1}))
            sender = ALICE if i % 3 else BOB
            to = BOB if sender is ALICE else CAROL
            txs.append(net.tx(sender, "transfer", {"to": to.public_key, "amount": 1}))
            expected.append(txs[-1].hash.hex())
        net.commit(txs)
    expected.reverse()
    assert len(expected) == 1002
    async for c in _serve(net):
        assert _hashes(await c.txs(BOB.public_key, limit=1000)) == expected[:1000]
        assert _hashes(await c.txs(BOB.public_key)) == expected[:100]  # the default
        assert _hashes(await c.txs(BOB.public_key, limit=1)) == expected[:1]
        for page_size in (1000, 333, 7):
            got: list[str] = []
            before: dict[str, int] | None = None
            while True:
                page = await c.txs(BOB.public_key, limit=page_size, before=before)
                if not page:
                    break
                got += _hashes(page)
                before = {"height": page[-1]["height"], "index": page[-1]["index"]}
            assert got == expected, page_size
    store.close()

    reopened = LevelDBStore(str(tmp_path / "db"))
    try:
        net2 = _Net(reopened)
        assert net2.chain.height == 4
        net2.blocks = net.blocks
        async for c in _serve(net2):
            assert _hashes(await c.txs(BOB.public_key, limit=1000)) == expected[:1000]
            assert _hashes(await c.txs(BOB.public_key, before=(1, 3))) == expected[-3:]
    finally:
        reopened.close()
