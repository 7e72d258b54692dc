"""CPU of the JSON-RPC path of ``broadcast_tx`` alone: the node behind it is a stub.

    python bench/rpc_path.py [--path body|http] [--batches 300] [--batch 100] [--repeat 5]
        [--no-handoff]

An in-process ``RpcServer`` over a stub node whose ``broadcast_tx`` hashes the wire, waits
one turn of the loop (what the real admission's hand-off to its worker threads costs the
call: a future resolved by a callback; ``--no-handoff`` answers at once) and answers admitted.
The bodies are what bench/throughput.py's submitter sends: batches of 100 ``broadcast_tx``
(mode ``sync``) of pre-signed ~215-byte transfers, four batches in flight; ``--batch N``
sends N calls a batch instead (its open loop polls every 5 ms, so at R tx/s its batches hold
about R / 200 calls: 5 at 1,000 tx/s, where the per-request cost dominates).

- path ``body``: ``RpcServer.handle_body`` called directly (parse, checks, fairness,
  dispatch, answers; no HTTP);
- path ``http``: the same bodies POSTed from a separate process (aiohttp client) to the
  server's port: aiohttp's request and response handling on top.

Prints, per repeat, the CPU time of this process per call (``time.process_time``: every
thread of the server; the HTTP client runs in its own process and is not counted), and the
median. CPU, not wall time: a shared machine moves it much less. Real admission on the same
path is bench/admission.py ``--path http``.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import bench_signer, report  # noqa: E402
from node.config import RpcConfig  # noqa: E402
from node.methods import METHODS  # noqa: E402
from node.rpc import RpcServer  # noqa: E402
from state.crypto import sha256  # noqa: E402
from state.tx import build_tx  # noqa: E402

BATCH = 100
IN_FLIGHT = 4
SOURCE = "127.0.0.1"

CLIENT = """
import asyncio, sys, aiohttp
url, path, in_flight = sys.argv[1], sys.argv[2], int(sys.argv[3])
data, bodies, i = open(path, "rb").read(), [], 0
while i < len(data):
    n = int.from_bytes(data[i:i + 4], "big"); bodies.append(data[i + 4:i + 4 + n]); i += 4 + n
async def main():
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession() as s:
        async def post(body):
            async with s.post(url, data=body, headers=headers) as r:
                assert r.status == 200, r.status
                await r.read()
        for j in range(0, len(bodies), in_flight):
            await asyncio.gather(*(post(b) for b in bodies[j:j + in_flight]))
asyncio.run(main())
"""


class StubNode:
    """A NodeAPI whose broadcast_tx admits everything; every read is a stub (never called)."""

    def __init__(self, handoff: bool) -> None:
        self.handoff = handoff
        self.calls = 0
        for m in METHODS:
            if m.name in ("broadcast_tx", "subscribe", "unsubscribe", "rpc.discover"):
                continue
            setattr(self, m.py_name, _stub(m.py_name, [p.name for p in m.params]))

    def subscribe_events(
        self, listener: Any, wants: Callable[[str], bool] | None = None
    ) -> Callable[[], None]:
        return lambda: None

    async def broadcast_tx(self, wire: bytes, mode: str, timeout: float = 30.0) -> dict[str, Any]:
        self.calls += 1
        tx_hash = sha256(wire)
        if self.handoff:  # the worker pool's answer arrives by a callback in a later turn
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(fut.set_result, None)
            await fut
        return {"hash": tx_hash.hex(), "code": 0, "error": None, "log": ""}

    async def broadcast_txs(self, wires: list[bytes]) -> list[dict[str, Any]]:
        """A batch's sync calls as one request (node.service.NodeService.broadcast_txs):
        one hand-off for all of them, as admission's one line entry."""
        self.calls += len(wires)
        hashes = [sha256(wire) for wire in wires]
        if self.handoff:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(fut.set_result, None)
            await fut
        return [{"hash": h.hex(), "code": 0, "error": None, "log": ""} for h in hashes]


def _stub(name: str, params: list[str]) -> Callable[..., Any]:
    def read(**kwargs: Any) -> Any:
        raise RuntimeError(f"{name} is not part of this bench")

    read.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY) for p in params]
    )
    return read


def make_bodies(batches: int, per: int = BATCH) -> list[bytes]:
    """`batches` bodies of `per` broadcast_tx calls, each a distinct pre-signed transfer."""
    to = bench_signer(b"rpc-path-bench", 2**32 - 1).public_key
    bodies = []
    for b in range(batches):
        calls = []
        for k in range(per):
            s = bench_signer(b"rpc-path-bench", b * per + k)
            wire = build_tx(s, "rpc-path-bench", "transfer", 0, 1, {"to": to, "amount": 1}).wire
            calls.append(
                {
                    "jsonrpc": "2.0",
                    "id": k,
                    "method": "broadcast_tx",
                    "params": {"tx": wire.hex(), "mode": "sync"},
                }
            )
        bodies.append(json.dumps(calls).encode())
    return bodies


def _check(out: str | None, per: int) -> None:
    answers = json.loads(out or "[]")
    assert len(answers) == per and all(a["result"]["code"] == 0 for a in answers), answers[:1]


async def run_body(server: RpcServer, bodies: list[bytes], per: int) -> float:
    """CPU seconds of answering every body, IN_FLIGHT at a time, through handle_body."""
    _check(await server.handle_body(bodies[0], None, SOURCE), per)  # warm-up, checked
    t0 = time.process_time()
    for j in range(0, len(bodies), IN_FLIGHT):
        await asyncio.gather(
            *(server.handle_body(b, None, SOURCE) for b in bodies[j : j + IN_FLIGHT])
        )
    return time.process_time() - t0


async def run_http(server: RpcServer, bodies: list[bytes], blob: Path) -> float:
    """CPU seconds of this process while a client process POSTs every body."""
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, server.url, str(blob), str(IN_FLIGHT)],
        stdin=subprocess.DEVNULL,
    )
    t0 = time.process_time()
    while client.poll() is None:
        await asyncio.sleep(0.005)
    cpu = time.process_time() - t0
    assert client.returncode == 0, "the HTTP client failed"
    return cpu


async def measure(
    path: str, batches: int, repeat: int, handoff: bool, per: int = BATCH
) -> dict[str, Any]:
    bodies = make_bodies(batches, per)
    node = StubNode(handoff)
    server = RpcServer(node, RpcConfig(listen="127.0.0.1:0"))
    await server.start()
    runs: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="huzhu-rpc-path-") as tmp:
            blob = Path(tmp) / "bodies.bin"
            blob.write_bytes(b"".join(len(b).to_bytes(4, "big") + b for b in bodies))
            for _ in range(repeat):
                before = node.calls
                if path == "http":
                    cpu = await run_http(server, bodies, blob)
                else:
                    cpu = await run_body(server, bodies, per)
                    before += per  # the warm-up's calls are not timed
                calls = node.calls - before
                assert calls == batches * per, f"{calls} calls of {batches * per}"
                runs.append(cpu / calls * 1e6)
    finally:
        await server.stop()
    return {
        "path": path,
        "handoff": handoff,
        "calls_per_batch": per,
        "calls_per_run": batches * per,
        "body_bytes": len(bodies[0]),
        "us_per_call": [round(r, 2) for r in runs],
        "median_us_per_call": round(statistics.median(runs), 2),
        "load_average": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--path", choices=("body", "http"), default="body")
    p.add_argument("--batches", type=int, default=300, help="batches per run")
    p.add_argument(
        "--batch",
        type=int,
        default=BATCH,
        help="calls per batch (bench/throughput.py's open loop sends ~rate/200 per batch)",
    )
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--no-handoff", dest="handoff", action="store_false")
    p.add_argument("--json", dest="json_out", default=None)
    args = p.parse_args(argv)
    return report(
        asyncio.run(measure(args.path, args.batches, args.repeat, args.handoff, args.batch)),
        args.json_out,
    )


if __name__ == "__main__":
    sys.exit(main())
