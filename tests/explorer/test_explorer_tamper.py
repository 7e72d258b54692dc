"""The explorer's pages in a real headless Chromium in front of a lying node: the account page
shows the verified mark while the node is honest, and the failure, naming the check, once a
tampering proxy changes the balance it answers (issue 13: "against a node behind a tampering
proxy it shows the failure"). The node is a real RpcServer over an in-process chain with
elections (tests/node/light_chain.py); the page is served the way the node serves it."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "node"))

from browser import attr_of, browser, screenshots, text_of, wait_until  # noqa: E402
from light_chain import election_chain  # noqa: E402
from tamper_proxy import Tamper, TamperProxy  # noqa: E402

from node.config import RpcConfig  # noqa: E402
from node.explorer import STATIC_DIR  # noqa: E402
from node.rpc import RpcServer  # noqa: E402
from node.service import NodeService  # noqa: E402

__all__ = ["browser"]  # the fixture, imported for pytest

pytestmark = pytest.mark.slow

T = TypeVar("T")


class _Loop:
    """An event loop in a thread for the node, the proxy and the page server (selenium
    blocks the test's own thread)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


class _Page:
    """Serves the explorer at /explorer/ as the node does and forwards `POST /` (the page's
    JSON-RPC) to the proxy, so every answer the page gets passes through the lie."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/explorer/", self._index)
        app.router.add_static("/explorer/", STATIC_DIR, show_index=False)
        app.router.add_post("/", self._rpc)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # a TCP site has sockets
        self.url = f"http://127.0.0.1:{port}"
        self.session = aiohttp.ClientSession()

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def _rpc(self, request: web.Request) -> web.Response:
        assert self.session is not None
        async with self.session.post(self.upstream, data=await request.read()) as resp:
            return web.Response(body=await resp.read(), content_type="application/json")

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
def lying() -> Iterator[tuple[_Page, TamperProxy, str]]:
    story = election_chain()
    bg = _Loop()
    server = RpcServer(NodeService(story.lc.parts()), RpcConfig(listen="127.0.0.1:0"))
    bg.run(server.start())
    proxy = TamperProxy(server.url)
    bg.run(proxy.__aenter__())
    page = _Page(proxy.url)
    bg.run(page.start())
    try:
        yield page, proxy, story.members[1].address.hex()
    finally:
        bg.run(page.stop())
        bg.run(proxy.__aexit__())
        bg.run(server.stop())
        bg.close()


def _mark(driver: Any) -> tuple[str, str] | None:
    state = str(attr_of(driver, "#verify-mark", "data-state"))
    return (state, text_of(driver, "#verify-mark")) if state in ("ok", "failed") else None


def _richer(method: str, params: dict[str, Any], result: Any) -> Any:
    if method == "account" and isinstance(result, dict) and "balance" in result:
        return {**result, "balance": result["balance"] + 1_000}
    return result


def test_the_account_page_shows_a_lying_node_refused(
    lying: tuple[_Page, TamperProxy, str], browser: Any, tmp_path: Path
) -> None:
    page, proxy, address = lying
    url = f"{page.url}/explorer/#/account/{address}"
    browser.get(url)
    wait_until(browser, lambda d: text_of(d, "#account-address") == address, "account page")
    browser.find_element("id", "pin-genesis").click()  # the member pins the genesis once
    wait_until(browser, lambda d: len(text_of(d, "#pinned-genesis")) == 64, "pinned")
    state, text = wait_until(browser, _mark, "honest verdict")
    assert state == "ok" and "account record" in text, text

    proxy.tamper = Tamper("richer", _richer, methods=frozenset({"account"}))
    browser.get("about:blank")
    browser.get(url)
    wait_until(browser, lambda d: text_of(d, "#account-address") == address, "account again")
    state, text = wait_until(browser, _mark, "verdict on the lie")
    assert state == "failed" and "answer:" in text and "balance" in text, text
    assert proxy.tamper.told >= 1
    screenshots(browser, tmp_path, "account-lying-node")
