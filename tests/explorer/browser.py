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
from typing import Any, TypeVar

import pytest

# the localnet helpers of the end-to-end tests (tests/ has no packages)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))

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
