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
from collections import Counter
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
    """An attacker with several addresses, each under its per-address limit, can fill the
    shared slots (max_connections - reserved_connections) but not the reserved ones: honest
    RPC from an address holding few connections still answers, /health answers 200, the
    chain commits, and a further connection of the attacker's gets a clear 503 at once."""
    url = node.rpc_url(0)
    before = node.height(0)
    addresses = 3  # each under its per-address limit, together over the total
    per = TOTAL // addresses + 1
    assert per <= PER_ADDRESS and per >= DEFAULTS.reserved_per_address
    shared = TOTAL - DEFAULTS.reserved_connections
    opened = await asyncio.gather(
        *(open_ws(url, attacker_addr(10 + k % addresses)) for k in range(addresses * per))
    )
    held = [o for o in opened if isinstance(o, tuple)]
    try:
        assert len(held) == shared
        assert sorted(o for o in opened if not isinstance(o, tuple)) == [503] * (
            addresses * per - shared
        )
        t0 = time.monotonic()
        assert await open_ws(url, attacker_addr(10)) == 503
        assert time.monotonic() - t0 < 5
        code, body = await honest_call(url, "status")
        assert code == 200, (code, body)  # a reserved slot
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
    # the chain keeps committing: wait for the next block rather than assume one landed while
    # the probe ran (on a loaded machine the probe can be shorter than a block)
    deadline = time.monotonic() + 20
    while body["result"]["height"] <= before and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        code, body = await honest_call(url, "status")
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


async def _slow_body(host: str, port: int, source: str) -> tuple[int, float]:
    """Complete headers announcing 1,000 bytes, then the body a byte a second: (HTTP status
    of the answer, seconds it took; 0 when the connection closed without one)."""
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    try:
        writer.write(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n"
        )
        for _ in range(1000):
            try:
                line = await asyncio.wait_for(reader.readline(), timeout=1.0)
            except TimeoutError:
                writer.write(b" ")
                continue
            if not line:
                return 0, time.monotonic() - t0
            return int(line.split()[1]), time.monotonic() - t0
        return -1, time.monotonic() - t0
    except (ConnectionError, OSError):
        return 0, time.monotonic() - t0
    finally:
        writer.close()


@pytest.mark.slow
async def test_slowly_sent_bodies_get_408(node: LocalNet) -> None:
    """150 requests from one address trickle their bodies a byte a second: 128 get HTTP 408
    after read_timeout_ms, 22 are refused with 503 at once; honest RPC goes on."""
    n = PER_ADDRESS + 22
    read_timeout_s = DEFAULTS.read_timeout_ms / 1000
    host, port = "127.0.0.1", node.rpc_port(0)
    async with Watch(node) as watch:
        results = await asyncio.gather(
            *(_slow_body(host, port, attacker_addr(7)) for _ in range(n))
        )
    statuses = sorted(s for s, _ in results)
    assert statuses == [408] * PER_ADDRESS + [503] * (n - PER_ADDRESS), Counter(statuses)
    held = [t for s, t in results if s == 408]
    assert max(held) < read_timeout_s + SLACK_S, max(held)
    print(f"slow bodies: 408 after {min(held):.1f}-{max(held):.1f} s")
    watch.assert_healthy("slow bodies")
    assert_no_traceback(node)


async def test_subscriptions_per_websocket_are_bounded(node: LocalNet) -> None:
    """max_ws_subscriptions subscriptions are granted on one WebSocket; the next is a
    JSON-RPC error, and the connection stays usable."""
    got = await open_ws(node.rpc_url(0), "127.0.0.1")
    assert isinstance(got, tuple)
    session, ws = got
    try:
        limit = DEFAULTS.max_ws_subscriptions
        for k in range(limit + 1):
            await ws.send_json(
                {"jsonrpc": "2.0", "id": k, "method": "subscribe", "params": {"event": "tx"}}
            )
            answer = await ws.receive_json(timeout=10)
            if k < limit:
                assert "result" in answer, answer
            else:
                assert _error_code(answer) == -32002 and str(limit) in answer["error"]["message"]
        await ws.send_json({"jsonrpc": "2.0", "id": "s", "method": "status"})
        assert "height" in (await ws.receive_json(timeout=10))["result"]
    finally:
        await session.close()


# ---------------------------------------------------------------- malformed and oversized


async def _post(url: str, body: bytes, **headers: str) -> tuple[int, Any]:
    """A raw POST from 127.0.0.1: (HTTP status, parsed JSON or the raw bytes)."""
    conn = aiohttp.TCPConnector(local_addr=("127.0.0.1", 0), force_close=True)
    async with aiohttp.ClientSession(connector=conn) as s:
        async with s.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as r:
            raw = await r.read()
    try:
        return r.status, json.loads(raw)
    except ValueError:
        return r.status, raw


def _status_call_of_size(size: int) -> bytes:
    """A valid `status` call padded with JSON whitespace to exactly `size` bytes."""
    core = b'{"jsonrpc":"2.0","id":1,"method":"status"'
    return core + b" " * (size - len(core) - 1) + b"}"


def _error_code(resp: Any) -> int:
    assert isinstance(resp, dict) and isinstance(resp.get("error"), dict), resp
    msg = resp["error"]["message"]
    assert isinstance(msg, str) and 0 < len(msg) <= 600, len(msg)
    return int(resp["error"]["code"])


async def test_body_at_and_over_the_size_limit(node: LocalNet) -> None:
    """max_body_bytes is served; one byte more is HTTP 413 with a -32600 error object,
    whether the length is announced or the body is streamed without one."""
    url = node.rpc_url(0)
    status, resp = await _post(url, _status_call_of_size(MAX_BODY))
    assert status == 200 and "height" in resp["result"], (status, resp)
    status, resp = await _post(url, _status_call_of_size(MAX_BODY + 1))
    assert status == 413 and _error_code(resp) == -32600

    async def chunks() -> Any:  # no Content-Length: the server must count as it reads
        body = _status_call_of_size(MAX_BODY + 1)
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    status, resp = await _post(url, chunks())  # type: ignore[arg-type]  # aiohttp streams an async generator
    assert status == 413 and _error_code(resp) == -32600
    assert_no_traceback(node)


async def test_batch_at_and_over_max_batch(node: LocalNet) -> None:
    url = node.rpc_url(0)
    calls = [{"jsonrpc": "2.0", "id": k, "method": "status"} for k in range(MAX_BATCH + 1)]
    status, resp = await _post(url, json.dumps(calls[:MAX_BATCH]).encode())
    assert status == 200 and sorted(r["id"] for r in resp) == list(range(MAX_BATCH))
    assert all("height" in r["result"] for r in resp)
    status, resp = await _post(url, json.dumps(calls).encode())
    assert status == 200 and _error_code(resp) == -32600 and resp["id"] is None
    assert str(MAX_BATCH) in resp["error"]["message"]
    assert_no_traceback(node)


# (body, expected code): each is answered with HTTP 200 and a JSON-RPC error object
MALFORMED: list[tuple[str, bytes, int]] = [
    ("nested arrays", b"[" * 200_000 + b"]" * 200_000, -32700),
    ("nested objects", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, -32700),
    (
        "nested params",
        b'{"jsonrpc":"2.0","id":1,"method":"status","params":{"p":'
        + b"[" * 50_000
        + b"]" * 50_000
        + b"}}",
        -32700,
    ),
    ("id 1e999", b'{"jsonrpc":"2.0","id":1e999,"method":"status"}', -32600),
    ("id -1e999", b'{"jsonrpc":"2.0","id":-1e999,"method":"status"}', -32600),
    ("id 1.5", b'{"jsonrpc":"2.0","id":1.5,"method":"status"}', -32600),
    ("id true", b'{"jsonrpc":"2.0","id":true,"method":"status"}', -32600),
    ("id object", b'{"jsonrpc":"2.0","id":{},"method":"status"}', -32600),
    ("id NaN", b'{"jsonrpc":"2.0","id":NaN,"method":"status"}', -32700),
    ("id Infinity", b'{"jsonrpc":"2.0","id":Infinity,"method":"status"}', -32700),
    ("id of 5000 digits", b'{"jsonrpc":"2.0","id":' + b"9" * 5000 + b',"method":"status"}', -32700),
    (
        "height 1e999",
        b'{"jsonrpc":"2.0","id":1,"method":"block","params":{"height":1e999}}',
        -32602,
    ),
    ("invalid UTF-8", b'{"jsonrpc":"2.0","id":1,"method":"\xff\xfe"}', -32700),
    ("not JSON", b"\x00" * 1000, -32700),
    ("batch of 1e999 ids", b'[{"jsonrpc":"2.0","id":1e999,"method":"status"}]', -32600),
]


@pytest.mark.parametrize(
    ("body", "code"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
async def test_malformed_request_gets_a_clear_error(node: LocalNet, body: bytes, code: int) -> None:
    status, resp = await _post(node.rpc_url(0), body)
    assert status == 200, (status, resp)
    if isinstance(resp, list):
        (resp,) = resp
    assert _error_code(resp) == code, resp
    assert resp["id"] in (None, 1)
    assert_no_traceback(node)


async def test_client_text_is_echoed_only_as_a_prefix(node: LocalNet) -> None:
    """An unknown pool id of half a MiB is -32001 with a short message, not an echo."""
    status, resp = await _post(
        node.rpc_url(0),
        json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "pool", "params": {"id": "x" * 500_000}}
        ).encode(),
    )
    assert status == 200 and _error_code(resp) in (-32001, -32602), resp


async def test_malformed_over_websocket_is_answered(node: LocalNet) -> None:
    """Over /ws the same bodies get the same errors on a connection that stays usable, and a
    message over max_body_bytes closes it with 1009 (message too big)."""
    url = node.rpc_url(0)
    got = await open_ws(url, "127.0.0.1")
    assert isinstance(got, tuple)
    session, ws = got
    try:
        for _, body, code in MALFORMED:
            await ws.send_bytes(body)
            resp = await ws.receive_json(timeout=10)
            if isinstance(resp, list):
                (resp,) = resp
            assert _error_code(resp) == code, (body[:60], resp)
        await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "status"}))
        assert "height" in (await ws.receive_json(timeout=10))["result"]
        await ws.send_bytes(_status_call_of_size(MAX_BODY + 1))
        msg = await ws.receive(timeout=10)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
        assert ws.close_code == 1009, ws.close_code
    finally:
        await session.close()
    before = node.height(0)
    node.wait_height(0, before + 2)
    assert_no_traceback(node)


async def _pipeline_unread(host: str, port: int, source: str, body: bytes, n: int) -> Any:
    """Send `n` requests back to back on one keep-alive connection and read none of the
    answers: the node must hold back (TCP back-pressure), not buffer every answer."""
    reader, writer = await asyncio.open_connection(
        host, port, local_addr=(source, 0), limit=64 * 1024
    )
    request = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    writer.write(request * n)
    return reader, writer


@pytest.mark.slow
async def test_pipelined_requests_whose_answers_are_never_read(node: LocalNet) -> None:
    """A client that pipelines large-answer requests (a batch of max_batch `genesis` calls,
    a small body with a big answer) on max_connections_per_address connections and never
    reads: honest RPC goes on, blocks commit and the node's memory stays bounded. Before
    node/rpcfair.py this held the event loop (no block in 8 s, /health unanswered, RSS
    ~310 MiB): the batch's answer is now bounded (max_batch_answer_bytes, the late calls
    -32002) and the address's calls spread over turns of the loop."""
    body = json.dumps(
        [{"jsonrpc": "2.0", "id": k, "method": "genesis"} for k in range(MAX_BATCH)]
    ).encode()
    one = await _post(node.rpc_url(0), body)
    answer_bytes = len(json.dumps(one[1]))
    answered = sum("result" in a for a in one[1])
    assert 0 < answered < MAX_BATCH  # the answer's byte bound cut the batch
    assert all(a["error"]["code"] == -32002 for a in one[1][answered:])
    host, port = "127.0.0.1", node.rpc_port(0)
    async with Watch(node) as watch:
        conns = await asyncio.gather(
            *(_pipeline_unread(host, port, attacker_addr(8), body, 20) for _ in range(PER_ADDRESS))
        )
        await asyncio.sleep(8)
        for _, w in conns:
            w.close()
    print(
        f"pipelined unread: {PER_ADDRESS} connections x 20 requests of {len(body)} bytes, "
        f"each answer {answer_bytes} bytes ({answered} calls answered, the rest -32002; "
        f"{20 * PER_ADDRESS * answer_bytes / 2**20:.0f} MiB if all were buffered)"
    )
    watch.assert_healthy("pipelined, unread")
    assert_no_traceback(node)
