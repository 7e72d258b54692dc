"""NodeService (node/service.py) over a real Chain, through the JSON-RPC server and the client:
every read of the table answers what its result schema in node/methods.py says."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from chain_net import ChainParts
from jsonschema import Draft7Validator
from rpc_helpers import ws_call

from node.client import RpcClient
from node.config import RpcConfig
from node.methods import BY_NAME, METHODS
from node.rpc import RpcServer
from state.tx import build_tx


def check_result(method: str, result: Any) -> None:
    Draft7Validator(BY_NAME[method].result_schema).validate(result)


class _SchemaCheckingClient(RpcClient):
    """Checks every answer against the result schema of its method."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.checked: set[str] = set()

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        result = await super().request(method, params)
        check_result(method, result)
        self.checked.add(method)
        return result


async def test_read_methods_over_a_real_chain() -> None:
    from consensus.types import Block, BlockHeader
    from node.client import RpcError
    from node.service import NodeService
    from state.chain import Chain
    from state.devkeys import dev_signer, localnet_genesis
    from state.genesis import parse_genesis
    from state.machine import BlockInput
    from state.mempool import Mempool
    from state.store import MemoryStore
    from state.txindex import index_batch

    genesis = parse_genesis(localnet_genesis())
    chain = Chain.init_genesis(MemoryStore(), genesis)
    m0, m1, m2 = (dev_signer(f"member{i}") for i in range(3))
    join = build_tx(m0, genesis.chain_id, "join", 0, 1, {"pool": "medical"})
    pay = build_tx(m1, genesis.chain_id, "transfer", 0, 1, {"to": m2.public_key, "amount": 9})
    block = BlockInput(
        height=1,
        time_ms=genesis.genesis_time_ms + 1000,
        proposer=genesis.validators[0].consensus_key,
        txs=[join.wire, pay.wire],
    )
    ex = chain.execute(block)
    chain.commit(ex, index_batch(1, ex.txs, ex.tx_hashes))
    parts = ChainParts(chain, mempool=Mempool(chain.view))
    header = BlockHeader(
        chain_id=genesis.chain_id,
        height=1,
        time_ms=block.time_ms,
        prev_hash=genesis.hash(),
        proposer=block.proposer,
        tx_root=b"\x01" * 32,
        state_root=ex.state_root,
        last_commit_hash=b"\x02" * 32,
        evidence_hash=b"\x03" * 32,
        validators_hash=b"\x04" * 32,
    )
    parts.blocks[1] = Block(header, tuple(block.txs), None)
    service = NodeService(parts)
    server = RpcServer(service, RpcConfig(listen="127.0.0.1:0"))
    await server.start()
    try:
        async with _SchemaCheckingClient(server.url) as c:
            status = await c.status()
            assert status["height"] == 1 and status["chain_id"] == genesis.chain_id
            a0 = await c.account(m0.public_key)
            assert (a0["nonce"], a0["pending_nonce"], a0["kyc"]) == (1, 1, False)
            assert a0["balance"] == 1_000_000 - 1 - 10 - 100  # fee, entry fee, contribution
            assert (await c.account(m2.public_key))["balance"] == 1_000_009
            pool = await c.pool("medical")
            assert pool["balance"] == 100 and pool["members"]["waiting"] == 1
            assert pool["params"]["contribution"] == 100
            member = await c.member("medical", m0.public_key)
            assert (member["joined_at"], member["status"]) == (1, "waiting")
            assert (member["active_from"], member["left_at"]) == (1 + 10, None)  # waiting_period
            blk = await c.block()
            assert blk["height"] == 1 and blk["txs"] == [join.hash.hex(), pay.hash.hex()]
            assert blk["state_root"] == ex.state_root.hex() == status["state_root"]
            tx = await c.tx(join.hash.hex().upper())
            assert (tx["height"], tx["index"], tx["code"], tx["type"]) == (1, 0, 0, "join")
            assert tx["payload"] == {"pool": "medical"}
            assert await c.claims("medical", status="voting", limit=1000) == []
            vals = await c.validators()
            assert vals["height"] == 2 and len(vals["validators"]) == 4
            assert (await c.validators(3))["height"] == 3  # latest + 2
            assert await c.validator_changes() == [1]  # the genesis set only
            assert len(await c.candidates()) == 4
            assert (await c.genesis())["chain_id"] == genesis.chain_id
            assert (await c.params())["min_fee"] == genesis.params.min_fee
            assert await c.proposals("chain") == []
            assert [t["hash"] for t in await c.txs(m2.public_key)] == [pay.hash.hex()]
            # a pending transaction moves pending_nonce, not nonce
            nxt = build_tx(m0, genesis.chain_id, "leave", 1, 1, {"pool": "medical"})
            assert (await c.broadcast_tx(nxt.wire))["code"] == 0
            again = await c.broadcast_tx(nxt.wire)
            assert again["error"] == "duplicate" and again["code"] == 10
            a0 = await c.account(m0.public_key)
            assert (a0["nonce"], a0["pending_nonce"]) == (1, 2)
            unknown: list[tuple[str, dict[str, Any]]] = [
                ("validators", {"height": 4}),
                ("validators", {"height": 0}),
                ("block", {"height": 2}),
                ("pool", {"id": "dental"}),
                ("member", {"pool": "medical", "address": m1.public_key.hex()}),
                ("claim", {"id": "00" * 32}),
                ("claims", {"pool": "dental"}),
                ("proposal", {"id": "00" * 32}),
                ("proposals", {"scope": "dental"}),
                ("params", {"height": 0}),
                ("tx", {"hash": "00" * 32}),
            ]
            for method, params in unknown:
                with pytest.raises(RpcError) as err:
                    await c.request(method, params)
                assert err.value.code == -32001, (method, params)
            assert (await c.net_info())["peers"] == []
            assert (await c.rpc_discover())["info"]["title"] == "huzhu"
        # every HTTP method answered as its schema says (claim's: tests/node/test_methods.py;
        # proposal's: tests/node/test_gov_rpc.py; event's: tests/node/test_attested_rpc.py)
        skip = {"claim", "proposal", "event", "events"}
        assert c.checked == {m.name for m in METHODS if not m.ws_only} - skip
        # events: the runtime reports the commit, subscribers get the block then each tx
        async with aiohttp.ClientSession() as s, s.ws_connect(server.url + "ws") as ws:
            await ws_call(ws, "subscribe", {"event": "new_block"}, 1)
            await ws_call(ws, "subscribe", {"event": "tx"}, 2)
            service.on_committed(1, parts.blocks[1])
            got = [(await asyncio.wait_for(ws.receive_json(), 5))["params"] for _ in range(3)]
        assert [g["event"] for g in got] == ["new_block", "tx", "tx"]
        assert got[0]["data"] == blk
        check_result("tx", got[1]["data"])
        assert got[1]["data"]["hash"] == join.hash.hex() and got[2]["data"]["type"] == "transfer"
    finally:
        await server.stop()
