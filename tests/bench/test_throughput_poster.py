"""The submitter's keep-alive HTTP client (bench/throughput.py `Poster`): the body a node
answers, whatever the status, over reused connections; an answer it cannot read whole is an
error (the submitter counts its calls as transport errors), never a wrong body."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.throughput import Poster, _response_head  # noqa: E402


async def _server(
    handler: Any, keepalive_timeout: float = 75.0
) -> tuple[web.AppRunner, str, list[Any]]:
    peers: list[Any] = []

    async def wrapped(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return await handler(request)

    app = web.Application(client_max_size=1 << 24)
    app.router.add_post("/", wrapped)
    runner = web.AppRunner(app, keepalive_timeout=keepalive_timeout)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/", peers


@pytest.mark.asyncio
async def test_bodies_come_back_whole_over_one_kept_connection() -> None:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        assert request.headers["Content-Type"] == "application/json"
        return web.Response(body=b"[" + body + b"]", content_type="application/json")

    runner, url, peers = await _server(echo)
    poster = Poster(url)
    try:
        for size in (0, 1, 70_000, 3):  # past the stream reader's 64 KiB buffer limit too
            body = b"x" * size
            assert await poster.post(body) == b"[" + body + b"]"
        assert len(set(peers)) == 1  # one connection, reused
    finally:
        poster.close()
        await runner.cleanup()


@pytest.mark.asyncio
async def test_concurrent_posts_each_get_their_own_answer() -> None:
    async def slow_echo(request: web.Request) -> web.Response:
        body = await request.read()
        await asyncio.sleep(0.01 * (int(body) % 3))
        return web.Response(body=body)

    runner, url, _ = await _server(slow_echo)
    poster = Poster(url, limit=4)
    try:
        got = await asyncio.gather(*(poster.post(b"%d" % k) for k in range(20)))
        assert got == [b"%d" % k for k in range(20)]
    finally:
        poster.close()
        await runner.cleanup()


@pytest.mark.asyncio
async def test_an_error_status_answers_its_body_and_a_close_is_honoured() -> None:
    async def refuse(request: web.Request) -> web.Response:
        await request.read()
        resp = web.Response(status=413, body=b'{"error":1}')
        resp.force_close()
        return resp

    runner, url, peers = await _server(refuse)
    poster = Poster(url)
    try:
        assert await poster.post(b"[]") == b'{"error":1}'
        assert await poster.post(b"[]") == b'{"error":1}'
        assert len(set(peers)) == 2  # the server closed the first: a new one
    finally:
        poster.close()
        await runner.cleanup()


@pytest.mark.asyncio
async def test_a_connection_idle_past_the_servers_keep_alive_is_not_reused() -> None:
    """The node closes an idle connection after its keep-alive timeout; a request written
    on it read EOF (IncompleteReadError), failing every call it carried."""

    async def empty(request: web.Request) -> web.Response:
        return web.Response(body=b"[]")

    runner, url, peers = await _server(empty, keepalive_timeout=0.05)
    poster = Poster(url, max_idle_s=0.04)
    try:
        assert await poster.post(b"[]") == b"[]"
        await asyncio.sleep(0.3)  # the server has closed it by now
        assert await poster.post(b"[]") == b"[]"
        assert len(set(peers)) == 2
    finally:
        poster.close()
        await runner.cleanup()


@pytest.mark.asyncio
async def test_a_server_gone_is_an_error() -> None:
    runner, url, _ = await _server(lambda r: web.Response(body=b"[]"))
    await runner.cleanup()
    poster = Poster(url)
    with pytest.raises(OSError):
        await poster.post(b"[]")


@pytest.mark.parametrize(
    ("head", "want"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", (12, True)),
        (b"HTTP/1.1 200 OK\r\ncontent-length:  7\r\nConnection: close\r\n\r\n", (7, False)),
        (b"HTTP/1.1 204 No Content\r\n\r\n", (0, True)),
    ],
)
def test_response_heads_it_reads(head: bytes, want: tuple[int, bool]) -> None:
    assert _response_head(head) == want


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n",
        b"garbage\r\n\r\n",
    ],
)
def test_response_heads_it_cannot_read_are_errors(head: bytes) -> None:
    with pytest.raises(ValueError):
        _response_head(head)


def test_errors_are_counted_once_per_call_by_why() -> None:
    """errors_by_kind: an error answer counts its call, a whole-request error (no id) every
    call of the request, and only calls no answer accounts for count as left out."""
    from bench.throughput import note_rpc_errors

    kinds: dict[str, int] = {}
    ok = {"id": 1, "result": {"code": 0}}
    note_rpc_errors([ok, {"id": 2, "error": {"code": -32603, "message": "x"}}], 3, kinds)
    assert kinds == {"rpc -32603: x": 1, "rpc: no answer for the call": 1}
    kinds = {}
    note_rpc_errors({"id": None, "error": {"code": -32600, "message": "bad"}}, 5, kinds)
    assert kinds == {"rpc -32600: bad": 5}
