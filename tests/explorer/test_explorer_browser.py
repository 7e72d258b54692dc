"""The explorer in a real headless Chromium against a real 4-validator localnet: a claim goes
from filing to payout on the open claim page as the transactions land (no reload), the search
box finds an account, a transaction and a block (by height and by hash), the verified mark
shows, and the page is usable at phone width (screenshots saved under tmp_path)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import attr_of, browser, page_weight, screenshots, text_of, wait_until
from e2e_net import Net, build, genesis_template, member, new_net, send

from node.explorer import STATIC_DIR

__all__ = ["browser"]  # the fixture, imported for pytest

pytestmark = pytest.mark.slow

POOL = {
    "id": "medical",
    "name": "Medical aid",
    "params": {
        "contribution": 100,
        "period": 1000,
        "entry_fee": 10,
        "waiting_period": 4,
        "max_claim": 5000,
        "claim_bond": 50,
        "vote_window": 8,
        "quorum": 2,
        "approve_bps": 5000,
        "juror_min_age": 4,
        "notice_period": 2,
        "fee_bps": 800,
    },
}


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    """Four validators, five members joined to the medical pool and past its waiting period."""
    n = new_net(tmp_path / "net", 4, genesis_template(members=6, pools=[POOL]))
    try:
        n.start_all()
        n.wait_height(0, 1)
        hashes = []
        for m in range(5):
            wire = build(n, m % 4, member(m), "join", {"pool": "medical"})
            r = n.call(m % 4, "broadcast_tx", tx=wire.hex(), mode="sync")
            assert r["code"] == 0, r
            hashes.append(r["hash"])
        joined = max(_wait_tx(n, h)["height"] for h in hashes)
        n.wait_height(0, joined + 5)
        yield n
    finally:
        n.close(kill=True)


def _wait_tx(net: Net, h: str) -> dict[str, Any]:
    def found(d: Any) -> Any:
        try:
            return net.call(0, "tx", hash=h)
        except Exception:
            return None

    got: dict[str, Any] = wait_until(None, found, f"tx {h}")
    return got


def _ok(r: dict[str, Any]) -> dict[str, Any]:
    assert r["code"] == 0 and r["error"] is None, r
    return r


def _mark(driver: Any) -> tuple[str, str]:
    return str(attr_of(driver, "#verify-mark", "data-state")), text_of(driver, "#verify-mark")


def _search(driver: Any, q: str) -> None:
    box = driver.find_element("id", "q")
    box.clear()
    box.send_keys(q)
    driver.find_element("css selector", "#search button").click()


def test_claim_lifecycle_and_search(net: Net, browser: Any, tmp_path: Path) -> None:
    base = net.rpc_url(0).rstrip("/") + "/explorer/"
    browser.get(base)
    wait_until(browser, lambda d: text_of(d, "#height").replace(",", "").isdigit(), "overview")
    assert "Medical aid" in text_of(browser, "main")
    wait_until(browser, lambda d: text_of(d, "#live") == "live", "live WebSocket")

    claimant = member(0)
    r = _ok(
        send(
            net, 0, claimant, "claim", {"pool": "medical", "amount": 500, "evidence": b"\x07" * 32}
        )
    )
    claim_id = r["hash"]
    browser.get(f"{base}#/claim/{claim_id}")
    wait_until(browser, lambda d: "voting" in text_of(d, "#claim-status"), "claim voting")
    assert text_of(browser, "#claim-amount") == "500"
    assert "07" * 32 in text_of(browser, "main")
    assert "in " in text_of(browser, ".countdown") and "blocks" in text_of(browser, ".countdown")
    browser.execute_script("window.__sameDocument = true;")

    # three jurors vote at once; the page shows them as they land
    for k, v in enumerate((1, 2, 3)):
        wire = build(
            net, k % 4, member(v), "vote", {"claim": bytes.fromhex(claim_id), "approve": True}
        )
        _ok(net.call(k % 4, "broadcast_tx", tx=wire.hex(), mode="sync"))
    wait_until(browser, lambda d: "for 3" in text_of(d, "#claim-votes"), "three votes shown")
    wait_until(browser, lambda d: "approved" in text_of(d, "#claim-status"), "approval shown")
    claim = net.call(0, "claim", id=claim_id)
    net.wait_height(0, claim["payable_at"])
    payout = _ok(send(net, 1, member(4), "payout", {"claim": bytes.fromhex(claim_id)}))
    wait_until(browser, lambda d: "paid" in text_of(d, "#claim-status"), "payout shown")
    wait_until(browser, lambda d: payout["hash"][:8] in text_of(d, "#claim-payout"), "payout tx")
    assert browser.execute_script("return window.__sameDocument === true;"), "page reloaded"

    # verification needs the genesis pinned once; then the mark says what was checked
    assert (STATIC_DIR / "verify.js").exists()
    wait_until(browser, lambda d: _mark(d)[0] == "unpinned", "unpinned mark")
    browser.find_element("id", "pin-genesis").click()
    wait_until(browser, lambda d: len(text_of(d, "#pinned-genesis")) == 64, "pinned hash shown")
    state, text = wait_until(
        browser, lambda d: _mark(d) if _mark(d)[0] in ("ok", "failed") else None, "verified mark"
    )
    assert state == "ok" and text.startswith("✓ Verified · claim record @ "), text
    verify_ms = attr_of(browser, "body", "data-verify-ms")
    print(f"claim verified in the browser in {verify_ms} ms")
    screenshots(browser, tmp_path, "claim")

    # search: an account, a transaction, a block by height and by hash
    addr = claimant.public_key.hex()
    _search(browser, addr)
    wait_until(browser, lambda d: text_of(d, "#account-address") == addr, "account page")
    assert claim_id[:8] in text_of(browser, "main"), "history lists the claim"
    state, text = wait_until(
        browser, lambda d: _mark(d) if _mark(d)[0] in ("ok", "failed") else None, "account verified"
    )
    assert state == "ok" and "account record" in text, text
    screenshots(browser, tmp_path, "account")
    _search(browser, payout["hash"])
    wait_until(browser, lambda d: attr_of(d, "#view", "data-route") == f"tx/{payout['hash']}", "tx")
    assert "payout" in text_of(browser, "main")
    _search(browser, claim_id)  # the filing transaction's hash is the claim's id
    wait_until(browser, lambda d: attr_of(d, "#view", "data-route") == f"claim/{claim_id}", "claim")
    _search(browser, str(r["height"]))
    wait_until(browser, lambda d: text_of(d, "h1") == f"Block {r['height']}", "block by height")
    block_hash = net.call(0, "block", height=r["height"])["hash"]
    _search(browser, "0")  # a height that has no block: an error page, so the route changes
    wait_until(
        browser,
        lambda d: attr_of(d, "#view", "data-route") == "block/0",
        "height 0",
    )
    _search(browser, block_hash.upper())
    wait_until(
        browser,
        lambda d: (
            text_of(d, "h1") == f"Block {r['height']}"
            and attr_of(d, "#view", "data-route") == f"block/{r['height']}"
        ),
        "block by hash",
    )

    # a pin of another chain's genesis: the node's answers are refused, not trusted
    browser.execute_async_script(
        """const done = arguments[arguments.length - 1];
        fetch('/', {method: 'POST', body: JSON.stringify({jsonrpc: '2.0', id: 1, method: 'genesis', params: {}})})
          .then(r => r.json()).then(b => HuzhuVerify.pinGenesis({...b.result, chain_id: 'another-chain'}))
          .then(done, done);"""
    )
    browser.get("about:blank")
    browser.get(f"{base}#/account/{addr}")
    state, text = wait_until(
        browser, lambda d: _mark(d) if _mark(d)[0] in ("ok", "failed") else None, "refusal"
    )
    assert state == "failed" and "anchor:" in text, text
    browser.execute_script("HuzhuVerify.clearPin();")

    # the claim page loaded fresh, cold cache: weight and time to first render
    browser.get("about:blank")
    browser.execute_cdp_cmd("Network.clearBrowserCache", {})
    browser.get(f"{base}#/claim/{claim_id}")
    wait_until(browser, lambda d: "paid" in text_of(d, "#claim-status"), "claim page reload")
    weight = page_weight(browser)
    print(f"claim page: {json.dumps(weight)}")
    assert weight["first_render_ms"] > 0


def test_every_page_renders_and_switches_language(net: Net, browser: Any, tmp_path: Path) -> None:
    base = net.rpc_url(0).rstrip("/") + "/explorer/"
    browser.get(base)
    wait_until(browser, lambda d: text_of(d, "#height") != "", "overview")
    # live updates cost a few reads a second, not the whole history again
    browser.execute_script(
        "performance.setResourceTimingBufferSize(100000); performance.clearResourceTimings();"
    )
    time.sleep(3)
    calls = browser.execute_script(
        "return performance.getEntriesByType('resource').filter(r => r.initiatorType === 'fetch').length;"
    )
    print(f"overview live: {calls} RPC calls in 3 s")
    assert 0 < calls < 60, calls
    pages = {
        "pool/medical": "Balance over time",
        "blocks": "Blocks",
        "block/2": "Block 2",
        "proposals": "Open proposals",
        "validators": "Validators",
        "elections": "Validator set changes",
        "evidence": "No evidence in the last",
    }
    for route, expect in pages.items():
        browser.get(f"{base}#/{route}")
        wait_until(browser, lambda d, r=route: attr_of(d, "#view", "data-route") == r, route)
        shown = text_of(browser, "main")
        assert expect in shown and not text_of(browser, "main .error"), (route, shown[:500])
    browser.get(f"{base}#/pool/medical")
    wait_until(browser, lambda d: attr_of(d, "svg.chart polyline", "points"), "balance chart")
    screenshots(browser, tmp_path, "pool")
    errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not errors, errors

    browser.get(base)
    browser.execute_script("localStorage.setItem('huzhu.lang', 'zh'); location.reload();")
    wait_until(browser, lambda d: "高度" in text_of(d, "main"), "Chinese overview")
    assert browser.find_element("css selector", "nav a").text == "概览"
    browser.find_element("id", "lang").click()
    wait_until(browser, lambda d: "Height" in text_of(d, "main"), "English after the toggle")
    with urllib.request.urlopen(base + "style.css", timeout=5) as resp:
        assert resp.status == 200
