"""node/client.py against the real RPC server (over the fake node of conftest.py)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from node.client import RpcClient, RpcError, RpcUnavailable, SyncRpcClient
from node.rpc import RpcServer
from state.crypto import Signer, sha256
from state.tx import decode_tx

ALICE = Signer(sha256(b"client alice"))
BOB = Signer(sha256(b"client bob"))


async def test_calls_and_errors(rpc_server: RpcServer) -> None:
    async with RpcClient(rpc_server.url) as c:
        assert (await c.status())["height"] == 3
        assert (await c.block())["height"] == 3
        assert (await c.block(2))["height"] == 2
        assert (await c.account(BOB.public_key))["address"] == BOB.public_key.hex()
        assert await c.claims("medical", limit=5) == []
        with pytest.raises(RpcError) as err:
            await c.pool("dental")
        assert err.value.code == -32001
        with pytest.raises(RpcError) as err:
            await c.claims("medical", limit=1001)
        assert err.value.code == -32602 and "limit" in err.value.message


async def test_batch_returns_results_and_errors_in_order(rpc_server: RpcServer) -> None:
    async with RpcClient(rpc_server.url) as c:
        out = await c.batch([("status", {}), ("pool", {"id": "x"}), ("block", {"height": 1})])
    assert out[0]["height"] == 3
    assert isinstance(out[1], RpcError) and out[1].code == -32001
    assert out[2]["height"] == 1


async def test_build_and_send_defaults_fee_and_nonce(rpc_server: RpcServer, fake_node: Any) -> None:
    async with RpcClient(rpc_server.url) as c:
        first = await c.build_and_send(
            ALICE, "transfer", {"to": BOB.public_key.hex().upper(), "amount": 5}
        )
        second = await c.build_and_send(ALICE, "join", {"pool": "medical"}, mode="async")
        third = await c.build_and_send(ALICE, "leave", {"pool": "medical"}, fee=9, nonce=40)
    assert first["code"] == 0 and second["code"] == 0 and third["code"] == 0
    txs = [
        decode_tx(w, chain_id=fake_node.chain_id, params=fake_node.chain_params)
        for w in fake_node.received
    ]
    assert [(t.type, t.nonce, t.fee) for t in txs] == [
        ("transfer", 0, 2),  # fee: the genesis min_fee (2), nonce: pending_nonce
        ("join", 1, 2),
        ("leave", 40, 9),
    ]
    assert txs[0].sender == ALICE.public_key
    assert txs[0].payload == {"to": BOB.public_key, "amount": 5}
    assert first["hash"] == sha256(fake_node.received[0]).hex()


async def test_build_and_send_checks_the_payload_first(
    rpc_server: RpcServer, fake_node: Any
) -> None:
    async with RpcClient(rpc_server.url) as c:
        with pytest.raises(ValueError, match="amount"):
            await c.build_and_send(ALICE, "transfer", {"to": BOB.public_key, "amount": 0})
    assert fake_node.received == []


async def test_subscribe_iterator(rpc_server: RpcServer, fake_node: Any) -> None:
    async with RpcClient(rpc_server.url) as c:
        events = c.subscribe("new_block")
        first = asyncio.ensure_future(events.__anext__())
        while not any(conn.subs for conn in rpc_server._conns):
            await asyncio.sleep(0.01)
        fake_node.emit("new_block", {"height": 4})
        assert await asyncio.wait_for(first, 5) == {"height": 4}
        await events.aclose()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_unreachable_node() -> None:
    async with RpcClient(f"http://127.0.0.1:{_closed_port()}", timeout=5) as c:
        with pytest.raises(RpcUnavailable):
            await c.status()


async def test_sync_wrapper(rpc_server: RpcServer) -> None:
    client = SyncRpcClient(rpc_server.url)
    status = await asyncio.to_thread(client.status)
    assert status["chain_id"] == "huzhu-test"
    with pytest.raises(RpcError):
        await asyncio.to_thread(client.tx, "00" * 32)
    with pytest.raises(AttributeError):
        client.subscribe  # noqa: B018 (async only)


async def test_url_without_scheme_or_slash(rpc_server: RpcServer) -> None:
    """`--rpc 127.0.0.1:26657` works as well as `http://127.0.0.1:26657/`."""
    bare = rpc_server.url.removeprefix("http://").rstrip("/")
    async with RpcClient(bare) as c:
        assert (await c.status())["height"] == 3
    async with RpcClient(f"  http://{bare}  ") as c:
        assert (await c.status())["height"] == 3
