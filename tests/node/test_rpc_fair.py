"""A batch's answer is bounded in bytes, and one address cannot take the event loop from the
others (issue 14: node/rpcdispatch.py, node/rpcfair.py).

The dispatcher is driven through ``RpcServer.handle_body`` with the client address given
directly, so two "addresses" share one test loop; the loop's turns are counted by a task
that does nothing but yield."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from rpc_helpers import post

from node.config import RpcConfig
from node.jsonrpc import LIMIT_EXCEEDED
from node.methods import BY_NAME
from node.rpc import RpcServer
from node.rpcfair import (
    HEAVY_METHODS,
    LIMIT_PER_WEIGHT,
    PROVE_WEIGHT,
    AddressBudget,
    call_weight,
)

ADDR = "ab" * 32


def account_call(id_: int | None) -> dict[str, Any]:
    call: dict[str, Any] = {"jsonrpc": "2.0", "method": "account", "params": {"address": ADDR}}
    if id_ is not None:
        call["id"] = id_
    return call


async def answer_size(server: RpcServer) -> int:
    """The bytes of one `account` answer as it stands in a batch (ids 0-9: one digit)."""
    out = await server.handle_body(json.dumps(account_call(0)).encode(), None, "t")
    assert out is not None
    return len(out)


# --- the byte bound on a batch's answer -------------------------------------------------


async def big_genesis() -> dict[str, Any]:
    """A genesis document of about 7 KB, like a community's with 100 accounts."""
    return {"chain_id": "huzhu-test", "accounts": [{"address": ADDR, "balance": 1}] * 100}


@pytest.mark.parametrize("extra", [0, 1])
async def test_batch_answer_bound_at_its_boundary(fake_node: Any, extra: int) -> None:
    """Calls start while the answers so far are under max_batch_answer_bytes: a bound of
    exactly n answers lets n run, one byte more lets n + 1; every later call answers
    -32002 naming the limit and is not executed (a notification past it neither)."""
    size = await answer_size(RpcServer(fake_node, RpcConfig()))
    n = 1024 // size + 1
    bound = n * size + extra
    server = RpcServer(fake_node, RpcConfig(max_batch_answer_bytes=bound))
    fake_node.calls.clear()
    batch = [account_call(k % 10) for k in range(n + 4)] + [account_call(None), 7]
    out = await server.handle_body(json.dumps(batch).encode(), None, "10.0.0.1")
    assert out is not None
    answers = json.loads(out)
    ran = n + extra
    assert len(answers) == n + 5  # the notification is not answered
    malformed = answers.pop()  # past the bound too, but no call: its usual -32600
    assert malformed["id"] is None and malformed["error"]["code"] == -32600
    assert all("result" in a for a in answers[:ran])
    assert ran * size < bound + size  # the answers pass the bound by less than one answer
    for a in answers[ran:]:
        assert a["error"]["code"] == LIMIT_EXCEEDED, a
        assert f"max_batch_answer_bytes ({bound})" in a["error"]["message"]
        assert "not executed" in a["error"]["message"]
    assert len(fake_node.calls) == ran  # the refused calls never reached the node
    assert server.calls_over_answer_bound == n + 4 - ran


async def test_batch_answer_bound_over_http(fake_node: Any) -> None:
    """The same over the wire: HTTP 200, the calls in order, the late ones -32002."""
    fake_node.genesis = big_genesis
    server = RpcServer(fake_node, RpcConfig(listen="127.0.0.1:0", max_batch_answer_bytes=1024))
    await server.start()
    try:
        status, body = await post(
            server, [{"jsonrpc": "2.0", "id": k, "method": "genesis"} for k in range(20)]
        )
    finally:
        await server.stop()
    assert status == 200 and [a["id"] for a in body] == list(range(20))
    done = [a for a in body if "result" in a]
    assert 1 <= len(done) < 20
    assert all(a["error"]["code"] == LIMIT_EXCEEDED for a in body[len(done) :])


async def test_single_calls_are_not_bound_by_the_batch_limit(fake_node: Any) -> None:
    fake_node.genesis = big_genesis
    server = RpcServer(fake_node, RpcConfig(max_batch_answer_bytes=1024))
    out = await server.handle_body(b'{"jsonrpc":"2.0","id":1,"method":"genesis"}', None, "a")
    assert out is not None and "result" in json.loads(out) and len(out) > 1024


# --- fair shares between addresses -----------------------------------------------------


class Turns:
    """Counts turns of the event loop while running (a task that only yields)."""

    def __init__(self) -> None:
        self.count = 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0)
            self.count += 1

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def test_one_address_is_spread_over_turns_and_others_pass(fake_node: Any) -> None:
    """With 4 of weight per turn, a batch of 100 calls from one address takes at least 25
    turns of the loop; a call from another address meanwhile is answered at once, before
    that batch is half done, and the batch's answers are complete and in order."""
    server = RpcServer(fake_node, RpcConfig(max_call_weight_per_address=4))
    batch = json.dumps([account_call(k) for k in range(100)]).encode()
    fake_node.calls.clear()
    turns = Turns()
    heavy = asyncio.create_task(server.handle_body(batch, None, "10.0.0.1"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    t0 = turns.count
    other = await server.handle_body(b'{"jsonrpc":"2.0","id":"x","method":"status"}', None, "b")
    assert other is not None and json.loads(other)["result"]["height"] == 3
    assert turns.count - t0 <= 3 and not heavy.done()
    assert len(fake_node.calls) < 50
    out = await heavy
    await turns.stop()
    assert out is not None
    assert [a["id"] for a in json.loads(out)] == list(range(100))
    assert turns.count >= 25
    assert server.calls_deferred > 0
    assert server._dispatcher.budget.addresses == 0  # nothing left behind per address


async def test_the_default_budget_leaves_the_bench_room(fake_node: Any) -> None:
    """bench/throughput.py: 8 batches x batch_concurrency broadcast_tx from one address
    start in the same turn under the default budget (none waits)."""
    cfg = RpcConfig()
    assert cfg.max_call_weight_per_address >= 8 * cfg.batch_concurrency
    budget = AddressBudget(cfg.max_call_weight_per_address)
    for _ in range(8 * cfg.batch_concurrency):
        await budget.take("127.0.0.1", call_weight("broadcast_tx", {"tx": b"", "mode": "sync"}))
    assert budget.deferred == 0


async def test_budget_waiters_run_in_order_and_a_cancelled_one_does_not_block() -> None:
    budget = AddressBudget(2)
    order: list[int] = []

    async def call(k: int, weight: int) -> None:
        await budget.take("a", weight)
        order.append(k)

    tasks = [asyncio.create_task(call(k, 1)) for k in range(6)]
    tasks.insert(3, asyncio.create_task(call(99, 2)))  # waits among them
    await asyncio.sleep(0)
    tasks[3].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert order == [0, 1, 2, 3, 4, 5]
    for _ in range(3):
        await asyncio.sleep(0)
    assert budget.addresses == 0
    with pytest.raises(ValueError):
        AddressBudget(0)


async def test_a_call_heavier_than_the_budget_still_runs() -> None:
    budget = AddressBudget(4)
    await budget.take("a", 1000)
    await budget.take("a", 1000)  # waits for the next turn, then runs alone in it
    assert budget.deferred == 1


def test_call_weights() -> None:
    assert set(HEAVY_METHODS) <= set(BY_NAME)  # no weight for a method that does not exist
    assert call_weight("status", {}) == 1
    assert call_weight("genesis", {}) == HEAVY_METHODS["genesis"] > 1
    assert call_weight("txs", {"limit": 1000}) == 1 + 1000 // LIMIT_PER_WEIGHT
    assert call_weight("claims", {"limit": 99}) == 1
    assert call_weight("account", {"prove": True}) == 1 + PROVE_WEIGHT
    assert call_weight("account", {"prove": False}) == 1


# --- slots kept for addresses with few connections --------------------------------------


async def _ws_from(server: RpcServer, source: str) -> tuple[aiohttp.ClientSession, Any] | int:
    """A WebSocket from `source` (a loopback address): (session, ws) or the refusal's status."""
    conn = aiohttp.TCPConnector(local_addr=(source, 0), limit=0)
    session = aiohttp.ClientSession(connector=conn)
    try:
        return session, await session.ws_connect(server.url + "ws")
    except aiohttp.WSServerHandshakeError as exc:
        await session.close()
        return exc.status


async def test_reserved_slots_go_to_addresses_with_few_connections(fake_node: Any) -> None:
    """max_connections 6 with 2 reserved for addresses holding fewer than 1: an address that
    has filled the 4 shared slots gets no more, yet two newcomers still get in; then the
    total limit holds for everyone."""
    cfg = RpcConfig(
        listen="127.0.0.1:0",
        max_connections=6,
        reserved_connections=2,
        reserved_per_address=1,
    )
    server = RpcServer(fake_node, cfg)
    await server.start()
    held: list[tuple[aiohttp.ClientSession, Any]] = []
    try:
        for _ in range(4):
            got = await _ws_from(server, "127.0.0.2")
            assert isinstance(got, tuple)
            held.append(got)
        assert await _ws_from(server, "127.0.0.2") == 503  # holds 4: no reserved slot
        for source in ("127.0.0.3", "127.0.0.4"):
            got = await _ws_from(server, source)
            assert isinstance(got, tuple), source
            held.append(got)
        assert server.open_connections() == 6
        assert await _ws_from(server, "127.0.0.5") == 503  # the total limit
    finally:
        for session, ws in held:
            await ws.close()
            await session.close()
        await server.stop()


async def test_try_take_starts_a_call_only_when_its_turn_has_room() -> None:
    """The dispatcher's no-coroutine path: True while the turn has room; False once it is
    full, and then take() queues the call for the next turn (counted once)."""
    budget = AddressBudget(3)
    assert budget.try_take("a", 2) and budget.try_take("a", 1)
    assert not budget.try_take("a", 1)
    assert budget.try_take("b", 3)  # another address has its own turn
    assert budget.deferred == 0
    await budget.take("a", 1)  # the next turn
    assert budget.deferred == 1
    assert budget.try_take("a", 2) and not budget.try_take("a", 1)
