"""The explorer's pages in a real headless Chromium in front of a lying node (issue 13: "against
a node behind a tampering proxy it shows the failure").

The account and claim pages show the verified mark while the node is honest and, once a
tampering proxy lies (a balance changed, a proof's value or a commit signature altered, or
only the plain read the page draws from changed while the proven one stays honest), the
failure naming the check, with the pinned genesis still in the footer. The start-up race the
first version of this test found is pinned too: with libsodium served late, the footer and the
mark both used to load it, twice, and one of them then waited forever; and a verification the
node never answers ends in a timeout message instead of "verifying…" forever.

The node is a real RpcServer over an in-process chain with elections (tests/node/light_chain.py);
the page is served as the node serves it, by a small server that forwards the page's JSON-RPC
(`POST /`) to tests/node/tamper_proxy.py's proxy, so every answer passes through the lie.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "node"))

from browser import (  # noqa: E402
    Backdrop,
    ForwardingPage,
    NodeBehindProxy,
    attr_of,
    browser,
    screenshots,
    text_of,
    wait_until,
)
from light_chain import ElectionStory, election_chain  # noqa: E402
from tamper_proxy import Tamper, flip_hex  # noqa: E402

from node.explorer import STATIC_DIR  # noqa: E402

__all__ = ["browser"]  # the fixture, imported for pytest

pytestmark = pytest.mark.slow

#: how late the race test serves libsodium (s): longer than the page takes to render the view,
#: so the footer's and the mark's first use of the verifier overlap
LATE_SODIUM_S = 3.0
#: the verification bound the timeout test asks for (?verify_timeout_ms=), and how long its
#: node then sits on each proved read (longer, so only the bound can end the wait)
SHORT_BOUND_MS = 2000
STALL_S = 6.0


class _Page(ForwardingPage):
    """Serves the explorer at /explorer/ as the node does (a file may be served `late`) and
    forwards `POST /` to the proxy; with `stall` set, proved reads are held for STALL_S."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, "/")
        self.late: dict[str, float] = {}  # path under /explorer/ -> seconds before serving it
        self.stall = False
        #: which plain reads (the request) are never answered within the test
        self.stall_plain: Callable[[dict[str, Any]], bool] = lambda req: False

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/explorer/{path:.*}", self._static)

    async def _static(self, request: web.Request) -> web.StreamResponse:
        rel = request.match_info["path"] or "index.html"
        path = (STATIC_DIR / rel).resolve()
        if not path.is_file() or STATIC_DIR.resolve() not in path.parents:
            raise web.HTTPNotFound()
        await asyncio.sleep(self.late.get(rel, 0.0))
        return web.FileResponse(path)

    async def hold(self, body: bytes) -> None:
        req = json.loads(body)
        proved = bool((req.get("params") or {}).get("prove"))
        if (self.stall and proved) or (not proved and self.stall_plain(req)):
            await asyncio.sleep(STALL_S)


class _Lying(NodeBehindProxy[_Page]):
    """The node over the election chain, the tampering proxy, the page server."""

    def __init__(self, bd: Backdrop, story: ElectionStory) -> None:
        super().__init__(bd, story, _Page)

    @property
    def address(self) -> str:
        return self.story.members[1].address.hex()


@pytest.fixture(scope="module")
def story() -> ElectionStory:
    return election_chain()


@pytest.fixture
def lying(story: ElectionStory) -> Iterator[_Lying]:
    bd = Backdrop()
    lv = _Lying(bd, story)
    try:
        yield lv
    finally:
        lv.close()
        bd.close()


def _verdict(driver: Any) -> tuple[str, str] | None:
    """The mark's settled state and text; None while it is still verifying."""
    state = str(attr_of(driver, "#verify-mark", "data-state"))
    return (state, text_of(driver, "#verify-mark")) if state in ("ok", "failed") else None


def _open(driver: Any, url: str, ready_css: str, what: str) -> None:
    """Load `url` afresh and wait for the view and the footer both to be drawn."""
    driver.get("about:blank")
    driver.get(url)
    wait_until(driver, lambda d: text_of(d, ready_css), what)
    wait_until(driver, lambda d: text_of(d, "#pin"), "footer drawn")


def _pin(driver: Any) -> str:
    """The member pins the serving node's genesis once (the button in the footer); its hash."""
    wait_until(driver, lambda d: attr_of(d, "#pin-genesis", "id"), "pin button")
    driver.find_element("id", "pin-genesis").click()
    wait_until(driver, lambda d: len(text_of(d, "#pinned-genesis")) == 64, "pinned")
    return text_of(driver, "#pinned-genesis")


def _richer(method: str, params: dict[str, Any], result: Any) -> Any:
    if method == "account" and isinstance(result, dict) and "balance" in result:
        result["balance"] += 1_000
    return result


def _richer_unproved(method: str, params: dict[str, Any], result: Any) -> Any:
    """The lie a verifier never sees: only the plain reads the page draws from are changed."""
    return result if params.get("prove") else _richer(method, params, result)


def _signature_flipped(method: str, params: dict[str, Any], result: Any) -> Any:
    if params.get("prove") and isinstance(result, dict) and result.get("commit"):
        sig = result["commit"]["signatures"][0]
        sig["signature"] = flip_hex(sig["signature"])
    return result


def _value_flipped(method: str, params: dict[str, Any], result: Any) -> Any:
    if params.get("prove") and isinstance(result, dict) and result.get("proof"):
        result["proof"]["value"] = flip_hex(result["proof"]["value"])
    return result


def test_the_account_page_shows_a_lying_node_refused(
    lying: _Lying, browser: Any, tmp_path: Path
) -> None:
    url = f"{lying.page.url}/explorer/#/account/{lying.address}"
    _open(browser, url, "#account-address", "account page")
    assert text_of(browser, "#account-address") == lying.address
    pinned = _pin(browser)
    state, text = wait_until(browser, _verdict, "honest verdict")
    assert state == "ok" and "account record" in text, text
    screenshots(browser, tmp_path, "account-honest-node")

    for tamper, want in [
        (
            Tamper("richer", _richer, methods=frozenset({"account"})),
            "answer: account field 'balance'",
        ),
        (Tamper("signature", _signature_flipped), "commit: bad signature by "),
        (
            Tamper("unproved", _richer_unproved, methods=frozenset({"account"})),
            f"shown: the node's answer at height {lying.story.lc.chain.height} differs from "
            "its proven one in balance",
        ),
    ]:
        lying.proxy.tamper = tamper
        _open(browser, url, "#account-address", f"account page, {tamper.name}")
        state, text = wait_until(browser, _verdict, f"verdict on the lie ({tamper.name})")
        assert state == "failed" and f"Verification failed: {want}" in text, text
        assert tamper.told >= 1
        # nothing the node says replaces the trust anchor
        assert text_of(browser, "#pinned-genesis") == pinned
        screenshots(browser, tmp_path, f"account-lying-node-{tamper.name}")


def test_the_claim_page_shows_a_lying_node_refused(
    lying: _Lying, browser: Any, tmp_path: Path
) -> None:
    url = f"{lying.page.url}/explorer/#/claim/{lying.story.claim.hex()}"
    _open(browser, url, "#claim-amount", "claim page")
    pinned = _pin(browser)
    state, text = wait_until(browser, _verdict, "honest verdict")
    assert state == "ok" and "claim record" in text, text

    lying.proxy.tamper = Tamper("value", _value_flipped, methods=frozenset({"claim"}))
    _open(browser, url, "#claim-amount", "claim page, lying")
    state, text = wait_until(browser, _verdict, "verdict on the lie")
    assert state == "failed" and "Verification failed: proof: value does not match" in text, text
    assert text_of(browser, "#pinned-genesis") == pinned
    screenshots(browser, tmp_path, "claim-lying-node")


def test_a_late_verifier_still_draws_the_footer_and_settles_the_mark(
    lying: _Lying, browser: Any
) -> None:
    """libsodium served late: the footer and the mark ask for it at once. Both must settle, on
    one copy of the library (two copies was the start-up race: the second one's start-up throws
    and whoever waited on it waited forever)."""
    lying.page.late["vendor/crypto/libsodium.js"] = LATE_SODIUM_S
    url = f"{lying.page.url}/explorer/#/account/{lying.address}"
    _open(browser, url, "#account-address", "account page")
    wait_until(browser, lambda d: attr_of(d, "#verify-mark", "data-state") == "unpinned", "mark")
    assert attr_of(browser, "#pin-genesis", "id"), text_of(browser, "#pin")
    assert text_of(browser, "#lang") == "中文"
    _pin(browser)
    state, text = wait_until(browser, _verdict, "verdict")
    assert state == "ok", text
    loads = browser.execute_script(
        "return document.querySelectorAll('script[src*=\"vendor/crypto/libsodium\"]').length"
    )
    assert loads == 2, f"libsodium.js and its wrappers once each, not {loads} scripts"
    errors = [e for e in browser.get_log("browser") if e["source"] == "javascript"]
    assert not errors, errors


def test_a_verification_the_node_never_answers_ends_in_a_timeout(
    lying: _Lying, browser: Any
) -> None:
    """The proved reads are held past the page's bound: the mark says what it was waiting for."""
    _open(browser, f"{lying.page.url}/explorer/", "#pin", "overview")
    pinned = _pin(browser)
    lying.page.stall = True
    url = f"{lying.page.url}/explorer/?verify_timeout_ms={SHORT_BOUND_MS}#/account/{lying.address}"
    _open(browser, url, "#account-address", "account page, node stalling")
    state, text = wait_until(browser, _verdict, "timeout verdict", timeout=STALL_S * 3)
    assert state == "failed", text
    assert "no verdict within 2 s (still checking the node's answers)" in text, text
    assert text_of(browser, "#pinned-genesis") == pinned


def test_a_page_read_the_node_never_answers_ends_in_an_error(lying: _Lying, browser: Any) -> None:
    """The view's own read held past ?rpc_timeout_ms=: an error naming the read, not "Loading…"."""
    lying.page.stall_plain = lambda req: req.get("method") == "account"
    browser.get(f"{lying.page.url}/explorer/?rpc_timeout_ms=1000#/account/{lying.address}")
    wait_until(
        browser,
        lambda d: "account: no answer within 1 s" in text_of(d, "#view .error"),
        "the view's timeout",
        timeout=STALL_S * 3,
    )
    wait_until(browser, lambda d: attr_of(d, "#pin-genesis", "id"), "footer drawn")


@pytest.mark.parametrize(
    ("asked", "bound"),
    [("999", 30_000), ("1000", 1_000), ("600000", 600_000), ("600001", 30_000), ("2.5", 30_000)],
)
def test_the_bounds_a_page_may_ask_for(lying: _Lying, browser: Any, asked: str, bound: int) -> None:
    """?verify_timeout_ms= and ?rpc_timeout_ms= are honoured from 1 s to 10 min; anything else
    keeps the default."""
    page = f"{lying.page.url}/explorer/?verify_timeout_ms={asked}&rpc_timeout_ms={asked}#/blocks"
    browser.get(page)
    got = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "Promise.all([import('./verifyui.js'), import('./rpc.js')]).then(([v, r]) =>"
        " done([v.verifyTimeoutMs(), v.VERIFY_TIMEOUT_MS, r.rpcTimeoutMs(), r.RPC_TIMEOUT_MS]));"
    )
    assert got == [bound, 30_000, bound, 30_000]
