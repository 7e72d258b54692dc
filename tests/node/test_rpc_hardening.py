"""Hardening of the JSON-RPC server (issue 14 item 4): what a hostile or careless client
sends is answered with its exact error, bounded in what it echoes, and costs no traceback."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest
from chain_net import ChainNet, serve
from conftest import FakeNode
from rpc_helpers import error_of, post, ws_call

from node.api import MAX_MESSAGE_CHARS, timeout_result
from node.client import RpcError
from node.config import RpcConfig
from node.rpc import RpcServer
from node.wsconn import event_message
from state.crypto import sha256
from state.devkeys import dev_signer
from state.store import MemoryStore

BAD_IDS = [b"1e999", b"-1e999", b"1.5", b"1.0", b"[1]", b"{}", b"true", b"false"]


def _req(id_raw: bytes) -> bytes:
    return b'{"jsonrpc": "2.0", "id": ' + id_raw + b', "method": "status"}'


@pytest.mark.parametrize("id_raw", BAD_IDS)
async def test_id_not_string_integer_or_null_is_invalid_request_over_http(
    rpc_server: RpcServer, id_raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    status, body = await post(rpc_server, None, raw=_req(id_raw))
    assert status == 200
    assert body["id"] is None and error_of(body)[0] == -32600
    assert "id" in error_of(body)[1]
    # in a batch, the good call is still answered
    status, answers = await post(
        rpc_server, None, raw=b"[" + _req(id_raw) + b',{"jsonrpc":"2.0","id":2,"method":"status"}]'
    )
    assert status == 200 and [a.get("id") for a in answers] == [None, 2]
    assert error_of(answers[0])[0] == -32600 and "result" in answers[1]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


@pytest.mark.parametrize("id_raw", BAD_IDS)
async def test_id_not_string_integer_or_null_is_invalid_request_over_websocket(
    rpc_server: RpcServer, id_raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with aiohttp.ClientSession() as s, s.ws_connect(rpc_server.url + "ws") as ws:
        await ws.send_bytes(_req(id_raw))
        body = await asyncio.wait_for(ws.receive_json(), 5)
        assert body["id"] is None and error_of(body)[0] == -32600
        await ws.send_str('{"jsonrpc":"2.0","id":"s","method":"status"}')  # still open
        assert (await asyncio.wait_for(ws.receive_json(), 5))["id"] == "s"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


@pytest.mark.parametrize("id_", ["x" * 300, "", -(2**70), 2**70, 0, None])
async def test_string_integer_and_null_ids_are_echoed(rpc_server: RpcServer, id_: Any) -> None:
    _, body = await post(rpc_server, {"jsonrpc": "2.0", "id": id_, "method": "status"})
    assert body["id"] == id_ and "result" in body


LONG = "p" * 1_000_000


def _short_echo(message: str) -> None:
    assert "p" * 64 + "..." in message and "p" * 65 not in message
    assert len(message) < 300


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("pool", {"id": LONG}),
        ("claims", {"pool": LONG}),
        ("proposals", {"scope": LONG}),
        ("member", {"pool": LONG, "address": "ab" * 32}),
    ],
)
async def test_node_errors_echo_only_a_short_prefix_of_what_was_sent(
    method: str, params: dict[str, Any]
) -> None:
    async for c in serve(ChainNet(MemoryStore())):
        with pytest.raises(RpcError) as err:
            await c.request(method, params)
    assert err.value.code == -32001
    _short_echo(err.value.message)


@pytest.mark.parametrize(("method", "params"), [(LONG, {}), ("status", {LONG: 1})])
async def test_server_errors_echo_only_a_short_prefix_of_what_was_sent(
    rpc_server: RpcServer, method: str, params: dict[str, Any]
) -> None:
    _, body = await post(
        rpc_server, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    )
    code, message = error_of(body)
    assert code in (-32601, -32602)
    _short_echo(message)


async def test_any_error_message_is_bounded(rpc_server: RpcServer) -> None:
    """A backstop for a node message that repeats a client string whole (the test double's
    pool does): the server sends at most MAX_MESSAGE_CHARS of it."""
    _, body = await post(
        rpc_server, {"jsonrpc": "2.0", "id": 1, "method": "pool", "params": {"id": LONG}}
    )
    code, message = error_of(body)
    assert code == -32001 and message.startswith("not found: pool 'ppp")
    assert len(message) == MAX_MESSAGE_CHARS + len("...")


async def test_unknown_subscription_id_is_echoed_short(rpc_server: RpcServer) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(rpc_server.url + "ws") as ws:
        await ws.send_json(
            {"jsonrpc": "2.0", "id": 1, "method": "unsubscribe", "params": {"subscription": LONG}}
        )
        code, message = error_of(await asyncio.wait_for(ws.receive_json(), 5))
    assert code == -32001 and len(message) < 300


# --- WebSocket send queue: every event of a full block, bounded in bytes -----------------------


def _tx_event(i: int) -> dict[str, Any]:
    """A tx event of the size a transfer's is (about 600 bytes of JSON)."""
    return {
        "hash": f"{i:064x}",
        "height": 9,
        "index": i,
        "code": 0,
        "error": None,
        "log": "",
        "type": "transfer",
        "sender": "ab" * 32,
        "nonce": i,
        "fee": 1,
        "payload": {"to": "cd" * 32, "amount": 5},
    }


async def _subscribed(ws: aiohttp.ClientWebSocketResponse) -> str:
    answer = await ws_call(ws, "subscribe", {"event": "tx"}, 1)
    sub: str = answer["result"]
    return sub


async def _drain(ws: aiohttp.ClientWebSocketResponse, n: int) -> tuple[list[Any], int | None]:
    """Up to `n` notifications, and the close code if the server closed first."""
    got: list[Any] = []
    while len(got) < n:
        msg = await asyncio.wait_for(ws.receive(), 10)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return got, ws.close_code
        got.append(msg.json()["params"]["data"])
    return got, None


async def test_tx_subscriber_gets_every_event_of_a_block_of_5000_transactions(
    rpc_server: RpcServer, fake_node: Any
) -> None:
    """The default max_block_txs is 5000; the old queue of 1,024 messages dropped the
    subscriber of any block with more than about 1,023 transactions."""
    async with aiohttp.ClientSession() as s, s.ws_connect(rpc_server.url + "ws") as ws:
        await _subscribed(ws)
        for i in range(5000):  # one block's events: emitted synchronously, as the node does
            fake_node.emit("tx", _tx_event(i))
        got, closed = await _drain(ws, 5000)
    assert closed is None
    assert [e["index"] for e in got] == list(range(5000))


@pytest.mark.parametrize("spare", [0, -1])
async def test_send_queue_bytes_at_its_boundary(fake_node: Any, spare: int) -> None:
    """Events that fill ws_send_queue_bytes exactly are all delivered; one byte less of room
    and the subscriber is told by close code 1013, without blocking the node."""
    n = 200
    events = [_tx_event(100 + i) for i in range(n)]  # all of one size: 3-digit numbers
    one = len(event_message("1", "tx", events[0]))
    assert all(len(event_message("1", "tx", e)) == one for e in events)
    cfg = RpcConfig(listen="127.0.0.1:0", ws_send_queue_bytes=n * one + spare)
    server = RpcServer(fake_node, cfg)
    await server.start()
    try:
        async with aiohttp.ClientSession() as s, s.ws_connect(server.url + "ws") as ws:
            assert await _subscribed(ws) == "1"
            for e in events:
                fake_node.emit("tx", e)
            got, closed = await _drain(ws, n)
        if spare == 0:
            assert closed is None and len(got) == n
        else:
            assert closed == 1013 and len(got) < n
    finally:
        await server.stop()


# --- idle and slow clients: timeouts, a per-address limit, /health outside the limits ----------


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (bounded wait)."""
    return await asyncio.wait_for(reader.read(), 10)


async def _wait_until(cond: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


async def _started(fake_node: Any, **cfg: Any) -> RpcServer:
    server = RpcServer(fake_node, RpcConfig(listen="127.0.0.1:0", **cfg))
    await server.start()
    return server


async def test_slowly_sent_headers_are_cut_at_the_header_timeout(fake_node: Any) -> None:
    server = await _started(fake_node, header_timeout_ms=300, keepalive_timeout_ms=60_000)
    try:
        loop = asyncio.get_running_loop()
        # read the clock before connecting: the server's timer starts when it accepts, which
        # on a loaded machine can come before open_connection returns to us
        opened = loop.time()
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\n")  # never finished
        rest = await _closed_by_server(reader)
        assert rest == b"" and loop.time() - opened >= 0.3
        writer.close()
        # a client that sends its request at once is answered, and may go on using the socket
        async with aiohttp.ClientSession() as s:
            for _ in range(2):
                async with s.get(server.url + "health") as r:
                    assert r.status == 200
    finally:
        await server.stop()


async def test_idle_keepalive_connection_is_closed(fake_node: Any) -> None:
    server = await _started(fake_node, keepalive_timeout_ms=300)
    try:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answered = loop.time()
        got = await _closed_by_server(reader)  # the answer, then the close when idle
        assert got.startswith(b"HTTP/1.1 200")
        assert loop.time() - answered >= 0.3
        writer.close()
    finally:
        await server.stop()


async def test_idle_websocket_without_subscriptions_is_closed(fake_node: Any) -> None:
    server = await _started(fake_node, ws_idle_timeout_ms=300)
    try:
        async with aiohttp.ClientSession() as s:
            idle = await s.ws_connect(server.url + "ws")
            listening = await s.ws_connect(server.url + "ws")
            await _subscribed(listening)
            msg = await asyncio.wait_for(idle.receive(), 10)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert idle.close_code == 1000
            # a subscriber waits for events as long as it likes
            fake_node.emit("tx", _tx_event(1))
            got = await asyncio.wait_for(listening.receive_json(), 10)
            assert got["params"]["data"]["index"] == 1
            await listening.close()
    finally:
        await server.stop()


async def _raw_get(
    host: str, port: int, path: str, source: str = "127.0.0.1"
) -> tuple[int, asyncio.StreamWriter]:
    """Open a connection from `source`, send one GET; the status line's code and the socket."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status = await asyncio.wait_for(reader.readline(), 10)
    return int(status.split()[1]), writer


async def test_per_address_limit_and_health_outside_it(fake_node: Any) -> None:
    server = await _started(fake_node, max_connections_per_address=3, max_connections=10)
    held: list[asyncio.StreamWriter] = []
    try:
        for _ in range(3):  # at the limit: served (keep-alive: the connections stay open)
            code, w = await _raw_get(server.host, server.port, "/health")
            assert code == 200
            held.append(w)
        code, w = await _raw_get(server.host, server.port, "/")
        assert code == 503  # one more from the same address
        w.close()
        code, w = await _raw_get(server.host, server.port, "/health")
        assert code == 200  # /health is answered beyond the limit
        w.close()
        # another address is not held back by this one's connections
        code, w = await _raw_get(server.host, server.port, "/health", source="127.0.0.2")
        assert code == 200
        held.append(w)
        # one of the address's connections closes: room again
        held.pop(0).close()
        await _wait_until(lambda: server.open_connections(source="127.0.0.1") < 3)
        async with aiohttp.ClientSession() as s:
            async with s.post(
                server.url, json={"jsonrpc": "2.0", "id": 1, "method": "status"}
            ) as r:
                assert r.status == 200
    finally:
        for w in held:
            w.close()
        await server.stop()


async def test_health_answers_beyond_the_connection_limit(fake_node: Any) -> None:
    server = await _started(fake_node, max_connections=2)
    held: list[asyncio.StreamWriter] = []
    try:
        for source in ("127.0.0.1", "127.0.0.2"):
            code, w = await _raw_get(server.host, server.port, "/health", source=source)
            held.append(w)
        code, w = await _raw_get(server.host, server.port, "/", source="127.0.0.3")
        assert code == 503
        w.close()
        code, w = await _raw_get(server.host, server.port, "/health", source="127.0.0.3")
        assert code == 200
        w.close()
    finally:
        for w in held:
            w.close()
        await server.stop()


# --- batches: calls run concurrently within a bound, and the batch's wait is bounded ------------


class _GatedNode(FakeNode):
    """Commit-mode broadcasts wait for `gate`; `inflight`/`peak` count those waiting; a tx
    lookup of HANG never answers."""

    HANG = b"\xee" * 32

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.inflight = 0
        self.peak = 0
        self.timeouts: list[float] = []

    async def broadcast_tx(self, wire: bytes, mode: str, timeout: float = 30.0) -> dict[str, Any]:
        self.timeouts.append(timeout)
        self.inflight += 1
        self.peak = max(self.peak, self.inflight)
        try:
            async with asyncio.timeout(timeout):
                await self.gate.wait()
        except TimeoutError:
            return timeout_result(sha256(wire))
        finally:
            self.inflight -= 1
        return {"hash": sha256(wire).hex(), "code": 0, "error": None, "log": "", "height": 4}

    async def tx(self, hash: bytes) -> dict[str, Any]:
        if hash == self.HANG:
            await asyncio.Event().wait()
        return await super().tx(hash)


def _commit_call(i: int) -> dict[str, Any]:
    wire = bytes([i]) * 40
    params = {"tx": wire.hex(), "mode": "commit"}
    return {"jsonrpc": "2.0", "id": i, "method": "broadcast_tx", "params": params}


async def test_batch_calls_run_concurrently_up_to_the_bound() -> None:
    node = _GatedNode()
    server = await _started(node, batch_concurrency=4)
    try:
        batch = [_commit_call(i) for i in range(10)] + [
            {"jsonrpc": "2.0", "id": 99, "method": "status"}
        ]
        sent = asyncio.create_task(post(server, batch))
        await _wait_until(lambda: node.inflight == 4)
        node.gate.set()
        status, answers = await sent
        assert status == 200
        assert [a["id"] for a in answers] == [*range(10), 99]  # in the batch's order
        assert all(a["result"]["height"] == 4 for a in answers[:10])
        assert node.peak == 4  # never more than the bound at once
    finally:
        await server.stop()


async def test_batch_total_wait_is_bounded() -> None:
    node = _GatedNode()  # the gate never opens: commits never land
    server = await _started(node, batch_timeout_ms=300, commit_timeout_ms=600_000)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        hang = {"jsonrpc": "2.0", "id": "h", "method": "tx", "params": {"hash": "ee" * 32}}
        status, answers = await post(server, [_commit_call(1), _commit_call(2), hang])
        took = loop.time() - started
        assert status == 200
        # commit waits end with the timeout answer (outcome unknown) within the batch's time
        assert [a["result"]["error"] for a in answers[:2]] == ["timeout", "timeout"]
        assert all(t <= 0.3 for t in node.timeouts)
        # a call that still runs at the deadline is answered -32603, naming the limit
        code, message = error_of(answers[2])
        assert code == -32603 and "batch_timeout_ms" in message
        assert 0.3 <= took < 60  # bounded by batch_timeout_ms, not the 600 s commit timeout
        # a single call (no batch) keeps the configured commit timeout
        single = asyncio.create_task(post(server, _commit_call(3)))
        await _wait_until(lambda: len(node.timeouts) == 3)
        assert node.timeouts[-1] == 600.0
        node.gate.set()
        assert (await single)[1]["result"]["height"] == 4
    finally:
        await server.stop()


async def test_real_node_block_of_1500_transactions_reaches_a_tx_subscriber_whole() -> None:
    """NodeService emits one event per transaction of a committed block, synchronously: a
    block well past the old 1,024-message queue reaches the subscriber whole, in order."""
    net = ChainNet(MemoryStore())
    members = [dev_signer(f"member{i}") for i in range(10)]
    txs = [
        net.tx(members[i % 10], "transfer", {"to": members[(i + 1) % 10].public_key, "amount": 1})
        for i in range(1500)
    ]
    async for _ in serve(net):
        assert net.service is not None
        async with aiohttp.ClientSession() as s, s.ws_connect(net.url + "ws") as ws:
            await _subscribed(ws)
            h = net.commit(txs)
            net.service.on_committed(h, net.blocks[h])
            got, closed = await _drain(ws, 1500)
    assert closed is None
    assert [e["hash"] for e in got] == [t.hash.hex() for t in txs]
