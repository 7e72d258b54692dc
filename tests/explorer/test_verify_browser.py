"""The in-browser verifier (node/explorer/static/verify.js) in a real headless chromium.

It must refuse exactly what node/light.py refuses: every case of
tests/vectors/light_client.json gets its expected verdict with the same check name and
message, the Ed25519 edge vectors get libsodium's verdicts, and against a real RPC server
(over tests/node/light_chain.py's chain, whose validator set changes four times) it accepts
the honest answer and, through tests/node/tamper_proxy.py, refuses a lie by name.

The browser loads the pages from a small front server run here, which serves node/explorer/
and tests/vectors/ and forwards POST /rpc to the node or the proxy (same origin, so the page
needs no CORS). Servers run on an event loop in a thread of their own: selenium's calls block.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "node"))

from browser import Backdrop, ForwardingPage, NodeBehindProxy  # noqa: E402
from light_chain import POOL, election_chain  # noqa: E402
from tamper_proxy import HONEST, Tamper, flip_hex  # noqa: E402

from node.client import RpcClient  # noqa: E402
from node.light import VerifyError  # noqa: E402
from state.genesis import parse_genesis  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
EXPLORER = ROOT / "node" / "explorer"
VECTORS = ROOT / "tests" / "vectors"
#: how long a page may take to run all vectors or one verified read (chromium under load)
PAGE_TIMEOUT_S = 120

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
if not (Path(CHROMIUM).exists() and shutil.which(CHROMEDRIVER)):
    pytest.skip(
        "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )


class Front(ForwardingPage):
    """Serves /explorer/ and /vectors/ and forwards POST /rpc to `upstream`."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, "/rpc")

    def routes(self, app: web.Application) -> None:
        app.router.add_static("/explorer/", EXPLORER)
        app.router.add_static("/vectors/", VECTORS)


Live = NodeBehindProxy[Front]


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    bd = Backdrop()
    lv = Live(bd, election_chain(), Front)
    try:
        yield lv
    finally:
        lv.close()
        bd.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(arg)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    drv = webdriver.Chrome(options=opts, service=service)
    drv.set_script_timeout(PAGE_TIMEOUT_S)
    try:
        yield drv
    finally:
        drv.quit()


def _run_page(browser: Any, url: str) -> list[dict[str, Any]]:
    browser.get(url)
    done: list[dict[str, Any]] = browser.execute_async_script(
        """const [limit, cb] = arguments;
        const t0 = Date.now();
        (function wait() {
          if (window.__done) cb(window.__verdicts);
          else if (Date.now() - t0 > limit) cb(null);
          else setTimeout(wait, 100);
        })();""",
        (PAGE_TIMEOUT_S - 5) * 1000,
    )
    assert done is not None, browser.find_element("id", "status").text
    return done


def test_every_light_client_vector_gets_node_light_verdict(live: Live, browser: Any) -> None:
    doc = json.loads((VECTORS / "light_client.json").read_text())
    got = _run_page(
        browser,
        f"{live.page.url}/explorer/static/verify-test.html?light=/vectors/light_client.json",
    )
    assert [v["name"] for v in got] == [c["name"] for c in doc["cases"]]
    for case, v in zip(doc["cases"], got, strict=True):
        want = case["expect"]
        assert v["agree"], (case["name"], v)
        if not want["valid"]:
            assert v["message"] == want["message"], case["name"]
    assert browser.find_element("id", "status").text.endswith(", 0 differ")


def test_ed25519_edge_vectors_get_libsodium_verdicts(live: Live, browser: Any) -> None:
    doc = json.loads((VECTORS / "ed25519_edge.json").read_text())
    got = _run_page(
        browser,
        f"{live.page.url}/explorer/static/verify-test.html?edge=/vectors/ed25519_edge.json",
    )
    assert len(got) == len(doc["cases"])
    assert {v["got"] for v in got} == {"accept", "reject"}  # both verdicts are exercised
    for case, v in zip(doc["cases"], got, strict=True):
        assert v["got"] == ("accept" if case["valid"] else "reject"), case["name"]


def _verified_read(browser: Any, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """window.HuzhuVerify.verifiedRead in the page: {ok, ms, answer, verified} or {ok: false, error}."""
    result: dict[str, Any] = browser.execute_async_script(
        """const [method, params, cb] = arguments;
        const t0 = performance.now();
        window.HuzhuVerify.verifiedRead("/rpc", method, params).then(
          (r) => cb({ok: true, ms: performance.now() - t0, answer: r.answer, verified: r.verified}),
          (e) => cb({ok: false, error: String(e.message)}));""",
        method,
        params,
    )
    return result


async def _python_verified(
    live: Live, method: str, params: dict[str, Any], url: str | None = None
) -> tuple[Any, dict[str, Any]]:
    async with RpcClient(url or live.server.url) as c:
        return await c.verified_request(method, params, genesis=live.story.lc.doc)


def _pin(browser: Any, doc: dict[str, Any]) -> str:
    pinned: str = browser.execute_async_script(
        "const [doc, cb] = arguments; window.HuzhuVerify.pinGenesis(doc).then(cb, (e) => cb('ERR ' + e.message));",
        doc,
    )
    return pinned


def _open_verifier(live: Live, browser: Any) -> float:
    """Load the page and libsodium; returns how long libsodium took to load and start (ms)."""
    browser.get(f"{live.page.url}/explorer/static/verify-test.html")
    ms: float = browser.execute_async_script(
        """const cb = arguments[0];
        (async () => {
          while (!window.HuzhuVerify) await new Promise((r) => setTimeout(r, 20));
          const t0 = performance.now();
          await window.HuzhuVerify.ready();
          cb(performance.now() - t0);
        })();"""
    )
    return ms


def test_live_node_honest_answer_verified_and_lies_refused(live: Live, browser: Any) -> None:
    sodium_ms = _open_verifier(live, browser)
    browser.execute_script("window.HuzhuVerify.clearPin()")
    live.proxy.tamper = HONEST
    addr = live.story.members[1].address.hex()
    unpinned = _verified_read(browser, "account", {"address": addr})
    assert not unpinned["ok"] and unpinned["error"].startswith("anchor: no genesis pinned")

    pin = _pin(browser, live.story.lc.doc)
    # the pin is the chain's own genesis hash (state/genesis.py Genesis.hash, block 1's prev_hash)
    assert pin == parse_genesis(live.story.lc.doc).hash().hex()
    assert (
        browser.execute_async_script(
            "const cb = arguments[0]; window.HuzhuVerify.pinnedGenesisHash().then(cb);"
        )
        == pin
    )
    # the pin survives a reload: it is kept in localStorage
    _open_verifier(live, browser)
    assert (
        browser.execute_script("return window.HuzhuVerify.pinnedGenesis().chain_id")
        == "huzhu-light"
    )

    honest = _verified_read(browser, "account", {"address": addr})
    assert honest["ok"], honest
    v = honest["verified"]
    assert v["kind"] == "account" and v["present"] is True
    # the same verdict node/client.py (node/light.py) reaches over the same node
    py_answer, py_summary = live.bd.run(_python_verified(live, "account", {"address": addr}))
    assert v == py_summary and honest["answer"] == py_answer
    assert v["validator_changes_followed"] >= len(live.story.changes) >= 4
    assert v["unverified_fields"] == ["pending_nonce"]
    assert honest["answer"]["address"] == addr
    times = sorted(_verified_read(browser, "account", {"address": addr})["ms"] for _ in range(7))
    print(
        f"\nin-browser verified account read from genesis: first {honest['ms']:.0f} ms, "
        f"median of 7 {times[3]:.0f} ms (min {times[0]:.0f}); "
        f"{v['validator_changes_followed']} set changes, {v['headers_checked']} headers; "
        f"libsodium load and start {sodium_ms:.0f} ms"
    )

    def richer(method: str, params: dict[str, Any], result: Any) -> Any:
        if method == "account" and params.get("prove"):
            result["balance"] += 1000
        return result

    def value_flipped(method: str, params: dict[str, Any], result: Any) -> Any:
        if method == "account" and params.get("prove"):
            result["proof"]["value"] = flip_hex(result["proof"]["value"])
        return result

    def signature_flipped(method: str, params: dict[str, Any], result: Any) -> Any:
        if method == "account" and params.get("prove"):
            sig = result["commit"]["signatures"][0]
            sig["signature"] = flip_hex(sig["signature"])
        return result

    def change_hidden(method: str, params: dict[str, Any], result: Any) -> Any:
        return result[1:] if method == "validator_changes" and result else result

    def other_genesis(method: str, params: dict[str, Any], result: Any) -> Any:
        return dict(result, chain_id="huzhu-evil") if method == "genesis" else result

    try:
        for tamper, want in [
            (Tamper("balance", rewrite=richer), "answer: account field 'balance' does not match"),
            (Tamper("value", rewrite=value_flipped), "proof: value does not match state_root"),
            (Tamper("signature", rewrite=signature_flipped), "commit: bad signature by "),
            (Tamper("hidden", rewrite=change_hidden), "validators: hash at height "),
            (Tamper("genesis", rewrite=other_genesis), "anchor: the node's genesis "),
        ]:
            live.proxy.tamper = tamper
            lie = _verified_read(browser, "account", {"address": addr})
            assert not lie["ok"], tamper.name
            assert lie["error"].startswith(want), (tamper.name, lie["error"])
            assert tamper.told >= 1
            if not want.startswith("anchor:"):  # the Python client never asks the node's genesis
                # node/light.py, through the same proxy, refuses it with the same message
                with pytest.raises(VerifyError) as refused:
                    live.bd.run(
                        _python_verified(live, "account", {"address": addr}, live.proxy.url)
                    )
                assert str(refused.value) == lie["error"]
    finally:
        live.proxy.tamper = HONEST
    # and the honest node is believed again: nothing of the refused answers stuck
    assert _verified_read(browser, "account", {"address": addr})["ok"]


def test_live_claim_and_validators_verified(live: Live, browser: Any) -> None:
    _open_verifier(live, browser)
    assert _pin(browser, live.story.lc.doc)
    claim = _verified_read(browser, "claim", {"id": live.story.claim.hex()})
    assert claim["ok"], claim
    assert claim["verified"]["present"] is True and claim["answer"]["id"] == live.story.claim.hex()
    py_claim = live.bd.run(_python_verified(live, "claim", {"id": live.story.claim.hex()}))
    assert claim["verified"] == py_claim[1]
    vals = _verified_read(browser, "validators", {})
    assert vals["ok"], vals
    assert vals["verified"]["unverified_fields"][:2] == ["name", "operator"]


def test_every_read_kind_reports_what_node_light_reports(live: Live, browser: Any) -> None:
    """Same answer and same summary (fields verified, derived, unverified) as node/client.py."""
    _open_verifier(live, browser)
    assert _pin(browser, live.story.lc.doc)
    s = live.story
    reads: list[tuple[str, dict[str, Any]]] = [
        ("account", {"address": s.members[0].address.hex()}),
        ("account", {"address": "00" * 32}),  # absent: reads as zeros
        ("pool", {"id": POOL}),
        ("pool", {"id": "no-such-pool"}),
        ("member", {"pool": POOL, "address": s.members[0].address.hex()}),
        ("claim", {"id": s.claim.hex()}),
        ("proposal", {"id": s.proposal.hex()}),
        ("params", {}),
        ("validators", {"height": 12}),
    ]
    for method, params in reads:
        got = _verified_read(browser, method, params)
        try:
            want: tuple[Any, dict[str, Any]] | str = live.bd.run(
                _python_verified(live, method, params)
            )
        except Exception as exc:  # a read Python refuses (absent pool: not found)
            want = str(exc)
        if isinstance(want, str):
            assert not got["ok"], (method, params, got)
            continue
        assert got["ok"], (method, params, got)
        assert (got["answer"], got["verified"]) == want, (method, params)


def _mutated(doc: dict[str, Any], name: str, change: Any) -> dict[str, Any]:
    """A copy of the vector case `name` with `change(case)` applied."""
    case = json.loads(json.dumps(next(c for c in doc["cases"] if c["name"] == name)))
    change(case)
    return dict(case)


def _set(path: list[Any], value: Any) -> Any:
    def change(case: dict[str, Any]) -> None:
        obj = case
        for p in path[:-1]:
            obj = obj[p]
        obj[path[-1]] = value

    return change


def test_limits_and_malformed_answers_refused_as_node_light_does(live: Live, browser: Any) -> None:
    """Each limit at its boundary and each malformed part: the browser's verdict and message
    are node/light.py's (run through tests/node/vectors_runner.py)."""
    from vectors_runner import run_case

    doc = json.loads((VECTORS / "light_client.json").read_text())
    acct = "account present"
    sigs = next(c for c in doc["cases"] if c["name"] == acct)["read"]["answer"]["commit"]
    one_sig = sigs["signatures"][0]
    level = ["00" * 32] * 15
    cases = [
        # MAX_SIGNATURES = 10000: at the limit the list is read (and a repeat refused) ...
        _mutated(doc, acct, _set(["read", "answer", "commit", "signatures"], [one_sig] * 10_000)),
        # ... one more is refused before any is checked
        _mutated(doc, acct, _set(["read", "answer", "commit", "signatures"], [one_sig] * 10_001)),
        # proofs: at most 64 levels of 15 siblings
        _mutated(doc, acct, _set(["read", "answer", "proof", "siblings"], [level] * 65)),
        _mutated(doc, acct, _set(["read", "answer", "proof", "siblings"], [level[:14]])),
        _mutated(doc, acct, _set(["read", "answer", "header", "prev_hash"], "zz" * 32)),
        _mutated(doc, acct, _set(["read", "answer", "header", "height"], -1)),
        _mutated(doc, acct, _set(["read", "answer", "commit", "round"], "0")),
        _mutated(doc, acct, lambda c: c["read"]["answer"].pop("balance")),
        _mutated(doc, acct, lambda c: c["read"]["answer"]["proof"].pop("leaf")),
        _mutated(doc, acct, _set(["read", "kind"], "evidence")),
    ]
    genesis_zero = json.loads(json.dumps(doc))
    genesis_zero["genesis"]["validators"][0]["power"] = 0
    for case in cases:
        case["expect"] = {}
    docs = [doc] * len(cases) + [genesis_zero]
    cases.append(_mutated(doc, acct, lambda c: None))
    _open_verifier(live, browser)
    got = browser.execute_async_script(
        """const [docs, cases, cb] = arguments;
        (async () => {
          const out = [];
          for (let i = 0; i < cases.length; i++)
            out.push(await window.HuzhuVerify.verifyCase(docs[i], cases[i]));
          return out;
        })().then(cb, (e) => cb(String(e)));""",
        docs,
        cases,
    )
    assert isinstance(got, list), got
    for d, case, verdict in zip(docs, cases, got, strict=True):
        try:
            run_case(d, case)
            want: dict[str, Any] = {"valid": True}
        except VerifyError as exc:
            want = {"valid": False, "message": str(exc)}
        assert not want["valid"], case["read"]
        assert verdict == {**want, "check": want["message"].split(":")[0]}
    # the boundary itself: 10,000 signatures are read (the repeat is what is refused), 10,001 not
    assert got[0]["message"].endswith("signs twice")
    assert got[1]["message"] == "commit: signatures must be a list of at most 10000"
