"""Red-team probes of the JSON-RPC server (issue 14, items 4 and 5) against a real node.

Connection-holding attacks (idle WebSockets, headers sent a byte a second, idle keep-alive
connections) come from one attacker address each, the "one client" of issue 14: the
per-address limit (``[rpc] max_connections_per_address``, default 128) must hold it to that
many connections, exactly, while honest calls from another address and ``GET /health``
keep answering, the chain keeps committing and the node's memory stays bounded; the header
and keep-alive timeouts must then free what it holds. Malformed and oversized requests at
the limits must get their JSON-RPC error and leave the node unaffected (no traceback logged).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from node.config import RpcConfig
from node.localnet_harness import LocalNet

from .conftest import Watch, attacker_addr, health, honest_call

DEFAULTS = RpcConfig()
PER_ADDRESS = DEFAULTS.max_connections_per_address
TOTAL = DEFAULTS.max_connections
HEADER_TIMEOUT_S = DEFAULTS.header_timeout_ms / 1000
KEEPALIVE_S = DEFAULTS.keepalive_timeout_ms / 1000
MAX_BODY = DEFAULTS.max_body_bytes
MAX_BATCH = DEFAULTS.max_batch
#: what the server may take beyond a timeout before we call the connection still held (s)
SLACK_S = 5.0


def assert_no_traceback(net: LocalNet) -> None:
    text = net.log_text(0)
    assert "Traceback" not in text, net.log_tail(0, 60)


async def open_ws(url: str, source: str) -> tuple[aiohttp.ClientSession, Any] | int:
    """A WebSocket from `source`: (session, ws), or the HTTP status that refused it."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0), limit=0))
    try:
        ws = await session.ws_connect(url + "ws", timeout=aiohttp.ClientWSTimeout(ws_close=5))
        return session, ws
    except aiohttp.WSServerHandshakeError as exc:
        await session.close()
        return exc.status
    except (aiohttp.ClientError, OSError):
        await session.close()
        return -1


async def test_300_idle_websockets_from_one_address(node: LocalNet) -> None:
    """Exactly max_connections_per_address of them are accepted, the rest refused with 503;
    honest RPC, /health, block production and memory are unaffected while they idle."""
    url = node.rpc_url(0)
    async with Watch(node) as watch:
        opened = await asyncio.gather(*(open_ws(url, attacker_addr(0)) for _ in range(300)))
        held = [o for o in opened if isinstance(o, tuple)]
        refused = [o for o in opened if not isinstance(o, tuple)]
        try:
            assert len(held) == PER_ADDRESS
            assert refused == [503] * (300 - PER_ADDRESS)
            # the attacker's own address still gets /health (beyond the limits), others RPC
            assert await health(url, attacker_addr(0)) == 200
            # an honest WebSocket still opens and answers
            got = await open_ws(url, "127.0.0.1")
            assert isinstance(got, tuple)
            session, ws = got
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "status"}))
            answer = await ws.receive_json(timeout=10)
            assert answer["id"] == 7 and "height" in answer["result"]
            await session.close()
            await asyncio.sleep(4)  # let the held sockets idle while the watch samples
            # every held WebSocket is still open (idle, below ws_idle_timeout_ms)
            assert all(not ws.closed for _, ws in held)
        finally:
            await asyncio.gather(*(s.close() for s, _ in held))
    watch.assert_healthy("300 idle WebSockets")
    assert_no_traceback(node)


async def test_websockets_from_many_addresses_leave_health_answering(node: LocalNet) -> None:
    """An attacker with several addresses can fill max_connections (the limit in total):
    honest RPC then gets a clear 503 at once (never a hang), /health still 200, the chain
    commits, and RPC answers again as soon as the attacker lets go."""
    url = node.rpc_url(0)
    before = node.height(0)
    addresses = 3  # each under its per-address limit, together over the total
    per = TOTAL // addresses + 1
    assert per <= PER_ADDRESS
    opened = await asyncio.gather(
        *(open_ws(url, attacker_addr(10 + k % addresses)) for k in range(addresses * per))
    )
    held = [o for o in opened if isinstance(o, tuple)]
    try:
        assert len(held) == TOTAL
        assert sorted(o for o in opened if not isinstance(o, tuple)) == [503] * (
            addresses * per - TOTAL
        )
        t0 = time.monotonic()
        code, body = await honest_call(url, "status")
        assert code == 503 and time.monotonic() - t0 < 5, (code, body)
        assert await health(url) == 200
    finally:
        await asyncio.gather(*(s.close() for s, _ in held))
    deadline = time.monotonic() + 10
    while True:
        code, body = await honest_call(url, "status")
        if code == 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert code == 200, body
    assert body["result"]["height"] > before
    assert_no_traceback(node)


async def _slow_headers(host: str, port: int, source: str) -> tuple[str, float]:
    """Send a request head one byte a second, never finishing it: ("closed", t) when the
    server hangs up after t s, ("503", t) when refused at once, ("open", t) at our limit."""
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    head = b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    try:
        for i in range(len(head)):
            writer.write(head[i : i + 1])
            try:
                data = await asyncio.wait_for(reader.read(1024), timeout=1.0)
            except TimeoutError:
                continue
            elapsed = time.monotonic() - t0
            return ("503" if data.startswith(b"HTTP/1.1 503") else "closed", elapsed)
        return "open", time.monotonic() - t0
    except (ConnectionError, OSError):
        return "closed", time.monotonic() - t0
    finally:
        writer.close()


@pytest.mark.slow
async def test_slowly_sent_headers_are_cut_off(node: LocalNet) -> None:
    """150 connections from one address each send a request head a byte a second: 128 are
    held until the header timeout closes them, 22 are refused with 503; meanwhile honest
    calls answer and blocks commit."""
    n = PER_ADDRESS + 22
    host, port = "127.0.0.1", node.rpc_port(0)
    async with Watch(node) as watch:
        results = await asyncio.gather(
            *(_slow_headers(host, port, attacker_addr(3)) for _ in range(n))
        )
    kinds = [k for k, _ in results]
    assert kinds.count("503") == n - PER_ADDRESS, kinds
    closed = [t for k, t in results if k == "closed"]
    assert len(closed) == PER_ADDRESS, kinds
    assert max(closed) < HEADER_TIMEOUT_S + SLACK_S, max(closed)
    print(f"slow headers: held {min(closed):.1f}-{max(closed):.1f} s before the server closed")
    watch.assert_healthy("slow headers")
    assert_no_traceback(node)


async def _idle_keepalive(host: str, port: int, source: str) -> tuple[int, float]:
    """One request with keep-alive, then idle: (HTTP status, seconds until the server closed
    the connection after answering; 0 for a refusal)."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    try:
        body = b'{"jsonrpc":"2.0","id":1,"method":"status"}'
        writer.write(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        status_line = await asyncio.wait_for(reader.readline(), 10)
        status = int(status_line.split()[1])
        headers = {}
        while (line := await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b""):
            k, _, v = line.decode().partition(":")
            headers[k.strip().lower()] = v.strip()
        await reader.readexactly(int(headers.get("content-length", "0")))
        if status != 200:
            return status, 0.0
        t0 = time.monotonic()
        rest = await asyncio.wait_for(reader.read(1), KEEPALIVE_S + 2 * SLACK_S)
        assert rest == b"", rest  # nothing more, then EOF: the server hung up
        return status, time.monotonic() - t0
    finally:
        writer.close()


@pytest.mark.slow
async def test_256_idle_keepalive_connections(node: LocalNet) -> None:
    """256 keep-alive connections from one address, each idle after one request: 128 served
    and held until the keep-alive timeout closes them, 128 refused with 503."""
    host, port = "127.0.0.1", node.rpc_port(0)
    async with Watch(node) as watch:
        results = await asyncio.gather(
            *(_idle_keepalive(host, port, attacker_addr(4)) for _ in range(256))
        )
    statuses = sorted(s for s, _ in results)
    assert statuses == [200] * PER_ADDRESS + [503] * (256 - PER_ADDRESS)
    held = [t for s, t in results if s == 200]
    assert max(held) < KEEPALIVE_S + SLACK_S
    print(f"idle keep-alive: closed by the server after {min(held):.1f}-{max(held):.1f} s")
    watch.assert_healthy("256 idle keep-alive connections")
    assert_no_traceback(node)
