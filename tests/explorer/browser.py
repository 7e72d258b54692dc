"""A real headless Chromium for the explorer tests (Debian's chromium + chromium-driver).

Never downloads a browser: without /usr/bin/chromium and /usr/bin/chromedriver (``.ci/run``
installs them with apt) or without selenium, the tests using `browser` skip saying which is
missing.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiohttp
import pytest
from aiohttp import web

# the localnet helpers of the end-to-end tests and the node tests' chain and proxy (tests/ has
# no packages)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "node"))

from light_chain import ElectionStory  # noqa: E402
from tamper_proxy import TamperProxy  # noqa: E402

from node.config import RpcConfig  # noqa: E402
from node.rpc import RpcServer  # noqa: E402
from node.service import NodeService  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DESKTOP = (1280, 900)
PHONE = (390, 844)
#: longest wait for something to appear on the page (s)
WAIT_S = 30.0


def _missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists() and shutil.which(Path(path).name) is None:
            return f"{path} missing (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (pip install -e .[test])"
    return None


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium driven by selenium at desktop size; quit at teardown."""
    why = _missing()
    if why:
        pytest.skip(f"no headless browser: {why}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        "--lang=en-US",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console errors, for tests
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver: Any, cond: Callable[[Any], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll `cond(driver)` until truthy (its value); fail naming `what` and the page text."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = cond(driver)
        except Exception:  # an element replaced by a re-render mid-read: poll again
            got = None
        if got:
            return got
        if time.monotonic() > deadline:
            text = driver.find_element("tag name", "body").text[:2000]
            raise AssertionError(f"timed out waiting for {what}; page shows:\n{text}")
        time.sleep(0.1)


def text_of(driver: Any, css: str) -> str:
    """The visible text of the first element matching `css`, '' when there is none (read in
    one script call, so a re-render between finding and reading cannot make it stale)."""
    got = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : '';", css
    )
    return str(got)


def attr_of(driver: Any, css: str, name: str) -> str | None:
    """An attribute of the first element matching `css` (None without it), in one call."""
    got = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;",
        css,
        name,
    )
    return None if got is None else str(got)


def screenshots(driver: Any, out: Path, name: str) -> list[Path]:
    """Desktop and phone width screenshots of the current page under `out`; the paths."""
    paths = []
    for label, (w, h) in (("desktop", DESKTOP), ("phone", PHONE)):
        driver.set_window_size(w, h)
        driver.execute_script("window.scrollTo(0, 0);")
        time.sleep(0.3)
        path = out / f"{name}-{label}.png"
        driver.save_screenshot(str(path))
        paths.append(path)
        print(f"screenshot: {path}")
    driver.set_window_size(*DESKTOP)
    return paths


def page_weight(driver: Any) -> dict[str, float]:
    """KB transferred for the page and its resources (Resource Timing; rpc_kb: the JSON-RPC
    answers among them), and ms from navigation start to the first render of the view (the
    page's `huzhu:first-render` mark). Clear the cache first for a cold load."""
    got: dict[str, float] = driver.execute_script(
        """
        const nav = performance.getEntriesByType('navigation')[0];
        const res = performance.getEntriesByType('resource');
        const bytes = (nav ? nav.transferSize : 0) + res.reduce((a, r) => a + r.transferSize, 0);
        const rpc = res.filter(r => r.initiatorType === 'fetch').reduce((a, r) => a + r.transferSize, 0);
        const mark = performance.getEntriesByName('huzhu:first-render')[0];
        const paint = performance.getEntriesByName('first-contentful-paint')[0];
        return {kb: bytes / 1024, rpc_kb: rpc / 1024, first_render_ms: mark ? mark.startTime : -1,
                first_paint_ms: paint ? paint.startTime : -1, resources: res.length + 1};
        """
    )
    return got


T = TypeVar("T")


class Backdrop:
    """An event loop in a thread for in-process servers (a node, a proxy, a page server):
    selenium blocks the test's own thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


class ForwardingPage:
    """A page server on 127.0.0.1: serves what `routes` adds and forwards the page's JSON-RPC
    (POST `rpc_path`) to `upstream`, so the page and its node share an origin (no CORS)."""

    def __init__(self, upstream: str, rpc_path: str) -> None:
        self.upstream = upstream
        self.rpc_path = rpc_path
        self.runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None
        self.url = ""

    def routes(self, app: web.Application) -> None:
        """The files this server serves (each test's own)."""

    async def hold(self, body: bytes) -> None:
        """Runs before a request is forwarded: a test that delays answers overrides it."""

    async def start(self) -> None:
        app = web.Application()
        self.routes(app)
        app.router.add_post(self.rpc_path, self._rpc)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # a TCP site has sockets
        self.url = f"http://127.0.0.1:{port}"
        self.session = aiohttp.ClientSession()

    async def _rpc(self, request: web.Request) -> web.Response:
        assert self.session is not None
        body = await request.read()
        await self.hold(body)
        async with self.session.post(self.upstream, data=body) as resp:
            return web.Response(body=await resp.read(), content_type="application/json")

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.runner is not None:
            await self.runner.cleanup()


P = TypeVar("P", bound=ForwardingPage)


class NodeBehindProxy(Generic[P]):
    """A real RpcServer over an election story's chain, tests/node/tamper_proxy.py's proxy in
    front of it and a page server in front of that: every answer the page reads can be a lie."""

    def __init__(self, bd: Backdrop, story: ElectionStory, page: Callable[[str], P]) -> None:
        self.bd = bd
        self.story = story
        self.server = RpcServer(NodeService(story.lc.parts()), RpcConfig(listen="127.0.0.1:0"))
        bd.run(self.server.start())
        self.proxy = TamperProxy(self.server.url)
        bd.run(self.proxy.__aenter__())
        self.page = page(self.proxy.url)
        bd.run(self.page.start())

    def close(self) -> None:
        self.bd.run(self.page.stop())
        self.bd.run(self.proxy.__aexit__())
        self.bd.run(self.server.stop())
