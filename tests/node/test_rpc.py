"""The JSON-RPC server against PROTOCOL.md section 6: every error case, limits at their
boundary, WebSocket subscriptions, /health."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
import pytest
from rpc_helpers import call, error_of, post, ws_call

from node.config import RpcConfig
from node.methods import METHODS, openrpc_document
from node.rpc import RpcServer
from state.crypto import Signer, sha256
from state.tx import build_tx

ADDR = "AB" * 32  # upper case on purpose: hex is accepted in either case


# --- framing -----------------------------------------------------------------------------


async def test_status_result_and_id_echoed(rpc_server: RpcServer) -> None:
    body = await call(rpc_server, "status")
    assert body["jsonrpc"] == "2.0" and body["id"] == 7
    assert body["result"]["chain_id"] == "huzhu-test" and body["result"]["height"] == 3


@pytest.mark.parametrize(
    "raw",
    [b"{", b"\xff\xfe", b'{"jsonrpc": NaN}', b"[1,", b"", b"[" * 50_000 + b"]" * 50_000],
)
async def test_parse_error(rpc_server: RpcServer, raw: bytes) -> None:
    status, body = await post(rpc_server, None, raw=raw)
    assert status == 200
    assert body["id"] is None and error_of(body)[0] == -32700


@pytest.mark.parametrize(
    "req",
    [
        {"id": 1, "method": "status"},  # no jsonrpc
        {"jsonrpc": "1.0", "id": 1, "method": "status"},
        {"jsonrpc": 2.0, "id": 1, "method": "status"},
        {"jsonrpc": "2.0", "id": 1, "method": 5},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "id": {"a": 1}, "method": "status"},
        {"jsonrpc": "2.0", "id": True, "method": "status"},
        "status",
        42,
    ],
)
async def test_invalid_request(rpc_server: RpcServer, req: Any) -> None:
    _, body = await post(rpc_server, req)
    assert error_of(body)[0] == -32600


async def test_empty_batch_is_invalid(rpc_server: RpcServer) -> None:
    _, body = await post(rpc_server, [])
    assert error_of(body)[0] == -32600


async def test_batch_at_limit_and_over(rpc_server: RpcServer) -> None:
    batch = [{"jsonrpc": "2.0", "id": i, "method": "status"} for i in range(100)]
    _, body = await post(rpc_server, batch)
    assert [a["id"] for a in body] == list(range(100))
    _, body = await post(rpc_server, batch + [{"jsonrpc": "2.0", "id": 100, "method": "status"}])
    assert isinstance(body, dict) and error_of(body)[0] == -32600


async def test_batch_mixes_results_errors_and_skips_notifications(rpc_server: RpcServer) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": "a", "method": "status"},
        {"jsonrpc": "2.0", "method": "status"},  # notification: no answer
        {"jsonrpc": "2.0", "id": "b", "method": "nope"},
        7,
    ]
    _, body = await post(rpc_server, batch)
    assert len(body) == 3
    assert body[0]["id"] == "a" and "result" in body[0]
    assert body[1]["id"] == "b" and body[1]["error"]["code"] == -32601
    assert body[2]["id"] is None and body[2]["error"]["code"] == -32600


async def test_notifications_get_no_answer(rpc_server: RpcServer, fake_node: Any) -> None:
    status, body = await post(
        rpc_server, {"jsonrpc": "2.0", "method": "account", "params": {"address": ADDR}}
    )
    assert status == 204 and body is None
    assert fake_node.calls == [("account", bytes.fromhex(ADDR))]  # but it was executed
    status, body = await post(rpc_server, [{"jsonrpc": "2.0", "method": "status"}] * 2)
    assert status == 204 and body is None


async def test_unknown_method(rpc_server: RpcServer) -> None:
    code, msg = error_of(await call(rpc_server, "transfer_all"))
    assert code == -32601 and "transfer_all" in msg


async def test_hostile_method_names_are_answered_safely(rpc_server: RpcServer) -> None:
    _, body = await post(rpc_server, None, raw=b'{"jsonrpc":"2.0","id":1,"method":"\\ud800"}')
    assert error_of(body)[0] == -32601
    code, msg = error_of(await call(rpc_server, "x" * 100_000))
    assert code == -32601 and len(msg) < 200


async def test_unserialisable_result_is_internal_error(
    rpc_server: RpcServer, fake_node: Any
) -> None:
    async def bad_candidates() -> list[Any]:
        return [b"raw bytes"]  # a node bug: bytes are not JSON

    fake_node.candidates = bad_candidates
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "candidates"},
        {"jsonrpc": "2.0", "id": 2, "method": "status"},
    ]
    _, body = await post(rpc_server, batch)
    assert body[0]["error"]["code"] == -32603 and body[1]["result"]["height"] == 3


async def test_subscribe_over_http_is_not_a_method(rpc_server: RpcServer) -> None:
    code, msg = error_of(await call(rpc_server, "subscribe", {"event": "tx"}))
    assert code == -32601 and "WebSocket" in msg


async def test_rpc_discover_over_http_and_websocket(fake_node: Any) -> None:
    """The OpenRPC document of node/methods.py (checked against the meta-schema in
    tests/node/test_methods.py), with this server's limits, on both transports."""
    server = RpcServer(fake_node, RpcConfig(listen="127.0.0.1:0", max_claims_limit=50))
    await server.start()
    try:
        doc = (await call(server, "rpc.discover"))["result"]
        assert doc == json.loads(json.dumps(openrpc_document(server.config)))
        assert {m["name"] for m in doc["methods"]} == {m.name for m in METHODS}
        claims = next(m for m in doc["methods"] if m["name"] == "claims")
        assert claims["params"][2]["schema"]["maximum"] == 50
        assert error_of(await call(server, "rpc.discover", {"x": 1}))[0] == -32602
        async with aiohttp.ClientSession() as s, s.ws_connect(server.url + "ws") as ws:
            assert (await ws_call(ws, "rpc.discover", {}, 1))["result"] == doc
    finally:
        await server.stop()


# --- params --------------------------------------------------------------------------------


async def test_params_as_array_is_invalid_params(rpc_server: RpcServer) -> None:
    code, _ = error_of(await call(rpc_server, "account", [ADDR]))
    assert code == -32602


@pytest.mark.parametrize(
    ("method", "params", "param"),
    [
        ("account", {}, "address"),
        ("account", {"address": "zz" * 32}, "address"),
        ("account", {"address": "ab" * 31}, "address"),
        ("account", {"address": 5}, "address"),
        ("account", {"address": ADDR, "extra": 1}, "extra"),
        ("tx", {"hash": "ab" * 33}, "hash"),
        ("claim", {"id": None}, "id"),
        ("block", {"height": "3"}, "height"),
        ("block", {"height": True}, "height"),
        ("block", {"height": 1.0}, "height"),
        ("pool", {"id": 3}, "id"),
        ("member", {"pool": "medical"}, "address"),
        ("claims", {"pool": "medical", "status": "open"}, "status"),
        ("claims", {"pool": "medical", "limit": 0}, "limit"),
        ("claims", {"pool": "medical", "limit": 1001}, "limit"),
        ("claims", {"pool": "medical", "limit": "5"}, "limit"),
        ("broadcast_tx", {}, "tx"),
        ("broadcast_tx", {"tx": "abc"}, "tx"),  # odd length
        ("broadcast_tx", {"tx": "0xab"}, "tx"),
        ("broadcast_tx", {"tx": "ab cd"}, "tx"),
        ("broadcast_tx", {"tx": "abcd", "mode": "later"}, "mode"),
        ("validators", {"height": [1]}, "height"),
        ("status", {"verbose": True}, "verbose"),
        ("net_info", {}, "peer"),  # the node itself raised InvalidParams
    ],
)
async def test_invalid_params_name_the_parameter(
    rpc_server: RpcServer, method: str, params: dict[str, Any], param: str
) -> None:
    code, msg = error_of(await call(rpc_server, method, params))
    assert code == -32602
    assert f"{param}:" in msg


async def test_hex_in_either_case(rpc_server: RpcServer, fake_node: Any) -> None:
    body = await call(rpc_server, "account", {"address": ADDR})
    assert body["result"]["address"] == ADDR.lower()


async def test_claims_limit_boundary_and_default(rpc_server: RpcServer, fake_node: Any) -> None:
    assert (await call(rpc_server, "claims", {"pool": "medical", "limit": 1000}))["result"] == []
    await call(rpc_server, "claims", {"pool": "medical"})
    assert fake_node.calls[-2:] == [
        ("claims", ("medical", None, 1000)),
        ("claims", ("medical", None, 100)),
    ]


async def test_not_found_and_height_ranges(rpc_server: RpcServer) -> None:
    assert error_of(await call(rpc_server, "pool", {"id": "dental"}))[0] == -32001
    assert error_of(await call(rpc_server, "tx", {"hash": "00" * 32}))[0] == -32001
    assert error_of(await call(rpc_server, "block", {"height": 4}))[0] == -32001
    assert (await call(rpc_server, "block", {}))["result"]["height"] == 3
    # validators: 1 to latest + 2 (latest is 3)
    assert (await call(rpc_server, "validators", {"height": 5}))["result"]["height"] == 5
    assert error_of(await call(rpc_server, "validators", {"height": 6}))[0] == -32001
    assert error_of(await call(rpc_server, "validators", {"height": 0}))[0] == -32001
    assert (await call(rpc_server, "validators"))["result"]["height"] == 4
    assert (await call(rpc_server, "validators", {"height": None}))["result"]["height"] == 4


async def test_node_bug_is_internal_error_not_a_500(rpc_server: RpcServer) -> None:
    code, msg = error_of(await call(rpc_server, "claim", {"id": "01" * 32}))
    assert code == -32603 and "boom" not in msg


# --- broadcast_tx --------------------------------------------------------------------------


def _wire(nonce: int = 0, chain_id: str = "huzhu-test") -> bytes:
    signer = Signer(sha256(b"alice"))
    payload = {"to": b"\x02" * 32, "amount": 5}
    return build_tx(signer, chain_id, "transfer", nonce, 2, payload).wire


async def test_broadcast_modes(rpc_server: RpcServer, fake_node: Any) -> None:
    wire = _wire()
    body = await call(rpc_server, "broadcast_tx", {"tx": wire.hex().upper()})
    assert body["result"] == {"hash": sha256(wire).hex(), "code": 0, "error": None, "log": ""}
    assert fake_node.calls[-1] == ("broadcast_tx", ("sync", 30.0))  # default mode and timeout
    refused = await call(rpc_server, "broadcast_tx", {"tx": _wire(1, "other").hex()})
    assert refused["result"]["code"] == 3 and refused["result"]["error"] == "wrong_chain"
    assert "height" not in refused["result"]
    committed = await call(rpc_server, "broadcast_tx", {"tx": _wire(2).hex(), "mode": "commit"})
    assert committed["result"]["height"] == 4 and committed["result"]["code"] == 0


async def test_commit_timeout_is_configurable(fake_node: Any) -> None:
    fake_node.commit_delay = None
    server = RpcServer(fake_node, RpcConfig(listen="127.0.0.1:0", commit_timeout_ms=50))
    await server.start()
    try:
        body = await call(server, "broadcast_tx", {"tx": _wire().hex(), "mode": "commit"})
    finally:
        await server.stop()
    assert body["result"]["code"] == -1 and body["result"]["error"] == "timeout"
    assert fake_node.calls[-1] == ("broadcast_tx", ("commit", 0.05))


# --- limits -------------------------------------------------------------------------------


async def test_body_size_limit(rpc_server: RpcServer) -> None:
    limit = rpc_server.config.max_body_bytes
    head = b'{"jsonrpc":"2.0","id":1,"method":"status"}'
    at_limit = head + b" " * (limit - len(head))  # whitespace is valid JSON padding
    status, body = await post(rpc_server, None, raw=at_limit)
    assert status == 200 and body["result"]["height"] == 3
    status, _ = await post(rpc_server, None, raw=at_limit + b" ")
    assert status == 413


async def test_body_size_limit_without_content_length(rpc_server: RpcServer) -> None:
    async def chunks() -> Any:
        for _ in range(17):
            yield b" " * 65536  # 17 * 64 KiB > 1 MiB, streamed (chunked encoding)

    async with aiohttp.ClientSession() as s:
        async with s.post(rpc_server.url, data=chunks()) as r:
            assert r.status == 413


async def test_connection_limit(fake_node: Any) -> None:
    server = RpcServer(fake_node, RpcConfig(listen="127.0.0.1:0", max_connections=2))
    await server.start()
    try:
        async with aiohttp.ClientSession() as s:
            ws1 = await s.ws_connect(server.url + "ws")
            ws2 = await s.ws_connect(server.url + "ws")
            status = {"jsonrpc": "2.0", "id": 1, "method": "status"}
            async with aiohttp.ClientSession() as s2:
                async with s2.post(server.url, json=status) as r:
                    assert r.status == 503
                async with s2.get(server.url + "health") as r:
                    assert r.status == 200  # /health is answered beyond the limit
            await ws1.close()
            async with asyncio.timeout(10):  # the server sees the close
                while server.open_connections() >= 2:
                    await asyncio.sleep(0.01)
            async with aiohttp.ClientSession() as s3:
                async with s3.post(server.url, json=status) as r:
                    assert r.status == 200
            await ws2.close()
    finally:
        await server.stop()


async def test_port_in_use_is_an_error_not_a_half_started_server(
    rpc_server: RpcServer, fake_node: Any
) -> None:
    other = RpcServer(fake_node, RpcConfig(listen=f"127.0.0.1:{rpc_server.port}"))
    with pytest.raises(OSError):
        await other.start()
    assert len(fake_node.listeners) == 1  # only the running server's


async def test_health(rpc_server: RpcServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(rpc_server.url + "health") as r:
            assert r.status == 200


# --- WebSocket ---------------------------------------------------------------------------


async def test_websocket_methods_subscribe_unsubscribe(
    rpc_server: RpcServer, fake_node: Any
) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(rpc_server.url + "ws") as ws:
            assert (await ws_call(ws, "status", {}, 1))["result"]["height"] == 3
            sub_block = (await ws_call(ws, "subscribe", {"event": "new_block"}, 2))["result"]
            sub_tx = (await ws_call(ws, "subscribe", {"event": "tx"}, 3))["result"]
            assert sub_block != sub_tx
            bad = await ws_call(ws, "subscribe", {"event": "blocks"}, 4)
            assert bad["error"]["code"] == -32602 and "event:" in bad["error"]["message"]

            fake_node.emit("new_block", {"height": 4})
            fake_node.emit("tx", {"hash": "aa" * 32})
            first = await asyncio.wait_for(ws.receive_json(), 5)
            second = await asyncio.wait_for(ws.receive_json(), 5)
            assert first == {
                "jsonrpc": "2.0",
                "method": "event",
                "params": {"subscription": sub_block, "event": "new_block", "data": {"height": 4}},
            }
            assert second["params"]["subscription"] == sub_tx
            assert second["params"]["data"] == {"hash": "aa" * 32}

            assert (await ws_call(ws, "unsubscribe", {"subscription": sub_block}, 5))["result"]
            again = await ws_call(ws, "unsubscribe", {"subscription": sub_block}, 6)
            assert again["error"]["code"] == -32001
            fake_node.emit("new_block", {"height": 5})
            fake_node.emit("tx", {"hash": "bb" * 32})
            msg = await asyncio.wait_for(ws.receive_json(), 5)
            assert msg["params"]["event"] == "tx"  # the new_block event was not sent

            await ws.send_str("{not json")
            assert (await asyncio.wait_for(ws.receive_json(), 5))["error"]["code"] == -32700


async def test_websocket_subscription_limit(fake_node: Any) -> None:
    server = RpcServer(fake_node, RpcConfig(listen="127.0.0.1:0", max_ws_subscriptions=2))
    await server.start()
    try:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(server.url + "ws") as ws:
                for i in range(2):
                    assert "result" in await ws_call(ws, "subscribe", {"event": "tx"}, i)
                over = await ws_call(ws, "subscribe", {"event": "tx"}, 9)
                assert over["error"]["code"] == -32002
    finally:
        await server.stop()


async def test_slow_subscriber_is_dropped_without_blocking(fake_node: Any) -> None:
    server = RpcServer(fake_node, RpcConfig(listen="127.0.0.1:0", ws_send_queue=4))
    await server.start()
    try:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(server.url + "ws") as ws:
                await ws_call(ws, "subscribe", {"event": "new_block"}, 1)
                big = {"blob": "x" * 200_000}
                for _ in range(200):  # synchronous: emitting never waits for the socket
                    fake_node.emit("new_block", big)
                closed = None
                while closed is None:
                    msg = await asyncio.wait_for(ws.receive(), 5)
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        closed = ws.close_code
                assert closed == 1013
            # the server goes on serving others
            assert (await call(server, "status"))["result"]["height"] == 3
    finally:
        await server.stop()
    assert fake_node.listeners == []  # stop() unregistered the listener


async def test_websocket_calls_do_not_wait_for_a_commit(
    rpc_server: RpcServer, fake_node: Any
) -> None:
    fake_node.commit_delay = 0.3
    async with aiohttp.ClientSession() as s, s.ws_connect(rpc_server.url + "ws") as ws:
        commit = {"tx": _wire().hex(), "mode": "commit"}
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx", "params": commit})
        await ws.send_json({"jsonrpc": "2.0", "id": 2, "method": "status"})
        first = await asyncio.wait_for(ws.receive_json(), 5)
        second = await asyncio.wait_for(ws.receive_json(), 5)
    assert (first["id"], second["id"]) == (2, 1)
    assert second["result"]["height"] == 4


async def test_slow_body_gets_408(fake_node: Any) -> None:
    server = RpcServer(fake_node, RpcConfig(listen="127.0.0.1:0", read_timeout_ms=100))
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        head = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        assert b" 408 " in head
    finally:
        await server.stop()


async def test_stop_closes_websockets_with_going_away(fake_node: Any) -> None:
    server = RpcServer(fake_node, RpcConfig(listen="127.0.0.1:0"))
    await server.start()
    async with aiohttp.ClientSession() as s, s.ws_connect(server.url + "ws") as ws:
        await ws_call(ws, "subscribe", {"event": "tx"}, 1)
        stopping = asyncio.ensure_future(server.stop())
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1001
        await asyncio.wait_for(stopping, 5)
    assert fake_node.listeners == []


async def test_websocket_message_over_the_body_limit_closes_1009(rpc_server: RpcServer) -> None:
    limit = rpc_server.config.max_body_bytes
    async with aiohttp.ClientSession() as s, s.ws_connect(rpc_server.url + "ws") as ws:
        await ws.send_str(" " * (limit + 1))
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1009


async def test_a_client_still_writing_an_oversized_message_reads_its_1009(
    rpc_server: RpcServer,
) -> None:
    """The node refuses a message over max_body_bytes as soon as its frame header says so,
    while the client is still writing it. Closing the socket then (unread bytes: a TCP reset)
    failed the client's write and lost the close frame (it saw 1006); the node lingers
    instead, dropping what arrives, so the write completes and the 1009 is read."""
    limit = rpc_server.config.max_body_bytes
    reader, writer = await asyncio.open_connection("127.0.0.1", rpc_server.port)
    try:
        writer.write(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + base64.b64encode(b"0123456789abcdef") + b"\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b" 101 " in head.split(b"\r\n")[0], head
        # a masked binary frame of limit + 1 bytes (64-bit length), then its first bytes
        writer.write(b"\x82\xff" + (limit + 1).to_bytes(8, "big") + b"\0\0\0\0")
        for _ in range(8):  # 512 KiB more, each part after the node has read the header
            await asyncio.sleep(0.05)
            writer.write(b"\0" * 65536)
            await writer.drain()  # ConnectionResetError when the node reset the connection
        frame = await asyncio.wait_for(reader.readexactly(4), 5)
        assert frame[0] == 0x88 and int.from_bytes(frame[2:4], "big") == 1009, frame
    finally:
        writer.close()
