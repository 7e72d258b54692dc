"""The explorer's static route on the RPC port: served by default, gone when disabled."""

from __future__ import annotations

import aiohttp
from conftest import FakeNode

from node.config import RpcConfig
from node.explorer import STATIC_DIR
from node.rpc import RpcServer


async def _get(url: str, *, redirects: bool = True) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession() as s,
        s.get(url, allow_redirects=redirects) as r,
    ):
        return r.status, r.headers.get("content-type", ""), await r.text()


async def test_explorer_served_from_the_package(fake_node: FakeNode) -> None:
    server = RpcServer(fake_node, RpcConfig(listen="127.0.0.1:0"))
    await server.start()
    try:
        base = server.url.rstrip("/")
        status, ctype, body = await _get(f"{base}/explorer/")
        assert status == 200 and ctype.startswith("text/html")
        assert body == (STATIC_DIR / "index.html").read_text()
        status, _, _ = await _get(f"{base}/explorer", redirects=False)
        assert status == 301
        status, ctype, body = await _get(f"{base}/explorer/app.js")
        assert status == 200 and "javascript" in ctype and "hashchange" in body
        # no directory listing, no way out of the static directory
        assert (await _get(f"{base}/explorer/../../pyproject.toml"))[0] in (403, 404)
        assert (await _get(f"{base}/explorer/nope.js"))[0] == 404
        # the JSON-RPC endpoint is untouched
        status, _, _ = await _get(f"{base}/health")
        assert status == 200
    finally:
        await server.stop()


async def test_explorer_disabled_by_config(fake_node: FakeNode) -> None:
    server = RpcServer(fake_node, RpcConfig(listen="127.0.0.1:0", explorer=False))
    await server.start()
    try:
        base = server.url.rstrip("/")
        assert (await _get(f"{base}/explorer/"))[0] == 404
        assert (await _get(f"{base}/explorer/app.js"))[0] == 404
    finally:
        await server.stop()
