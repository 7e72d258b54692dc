"""bench/throughput.py --chaff: the overload's ceiling when its excess costs only JSON-RPC
round trips. Its calls must be refused at check 2 by the node's own decoding (else they cost
a signature or a state read and the ceiling means nothing), be as long as the workload's, and
be sent at the rate asked, never more."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import throughput  # noqa: E402
from state.errors import Code  # noqa: E402
from state.params import ChainParams  # noqa: E402
from state.tx import TxError, build_tx, decode_tx  # noqa: E402

#: the chain's default params (the bench's genesis changes only pacing and block size)
PARAMS = ChainParams(treasury=b"\x01" * 32)


def _transfer(nonce: int = 0) -> bytes:
    to = throughput.sender_signer(1).public_key
    signer = throughput.sender_signer(0)
    args = {"to": to, "amount": 1}
    return build_tx(signer, throughput.CHAIN_ID, "transfer", nonce, 1, args).wire


def _code_of(hexed: str) -> int:
    """The admission code checks 1-5 give these bytes (0: they pass)."""
    try:
        decode_tx(bytes.fromhex(hexed), chain_id=throughput.CHAIN_ID, params=PARAMS)
    except TxError as exc:
        return int(exc.code)
    return 0


def test_chaff_calls_are_the_workloads_size_and_refused_malformed_by_the_nodes_decoding() -> None:
    wire = _transfer()
    call = throughput.encode_call(19, wire)
    assert _code_of(json.loads(call)["params"]["tx"]) == 0  # the call it copies passes
    calls = json.loads(throughput.chaff_body(call))
    assert len(calls) == throughput.RPC_BATCH
    assert len({c["id"] for c in calls}) == throughput.RPC_BATCH  # answers map back by id
    for c in calls:
        assert c["method"] == "broadcast_tx" and c["params"]["mode"] == "sync"
        assert len(c["params"]["tx"]) == 2 * len(wire)
        assert _code_of(c["params"]["tx"]) == Code.MALFORMED


@pytest.mark.asyncio
async def test_chaff_is_sent_at_its_rate_to_every_node_and_its_answers_counted() -> None:
    """Each request is answered with the codes the node's decoding gives its calls."""
    got: list[int] = []

    async def answer(request: web.Request) -> web.Response:
        calls = json.loads(await request.read())
        got.append(request.url.port or 0)
        out = [
            {"jsonrpc": "2.0", "id": c["id"], "result": {"code": _code_of(c["params"]["tx"])}}
            for c in calls
        ]
        return web.json_response(out)

    runners, urls = [], []
    for _ in range(2):
        app = web.Application(client_max_size=1 << 24)
        app.router.add_post("/", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        urls.append(f"http://127.0.0.1:{runner.addresses[0][1]}/")
    into: dict[str, Any] = {"calls": 0, "codes": {}}
    body = throughput.chaff_body(throughput.encode_call(19, _transfer()))
    rate, seconds = 2_000.0, 0.5
    t0 = time.time()
    try:
        await asyncio.wait_for(
            throughput._chaff(urls, body, rate, t0 + seconds, t0, into), timeout=30
        )
    finally:
        for runner in runners:
            await runner.cleanup()
    batches = len(got)
    assert into["calls"] == batches * throughput.RPC_BATCH
    assert 0 < into["calls"] <= rate * seconds  # open loop: never ahead of its schedule
    assert into["codes"] == {str(int(Code.MALFORMED)): into["calls"]}
    assert len(set(got)) == 2  # the nodes in turn


def test_chaff_replaces_the_overloaded_phase_with_the_closed_loop_plus_the_excess(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[Any, Any]] = []

    def grab(args: Any) -> dict[str, Any]:
        seen.append((args.rate, getattr(args, "chaff_rate", 0.0)))
        return {"committed_tps": 1.0}

    monkeypatch.setattr(throughput, "run", grab)
    monkeypatch.setattr(throughput, "print_table", lambda r: None)
    for argv in (
        ["--overload", "2", "--chaff"],
        ["--overload", "3", "--chaff"],
        ["--overload", "2"],
    ):
        args = throughput.parser().parse_args([*argv, "--json", "-"])
        throughput.overloaded_phase(args, 1000.0)
    # (F - 1) x capacity of refusals on the saturating closed loop; without --chaff, the
    # open loop at F x capacity, as before
    assert seen == [(None, 1000.0), (None, 2000.0), (2000.0, 0.0)]
