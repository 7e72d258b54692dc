"""CPU per admitted transaction, on the event-loop thread and on the other threads.

    python bench/admission.py --threads 0 --path http --txs 3000 [--json out.json] [--profile N]

Runs one node in this process (one validator, a block every 10 minutes, so nothing but
admission runs during the measurement), admits --txs transfers from as many funded senders,
and reads each thread's CPU time from /proc/self/task/*/stat before and after:

- path `http`: JSON-RPC batches of 100 `broadcast_tx` (sync) from a separate process, four
  batches in flight (what bench/throughput.py's submitter does);
- path `rpc`: `NodeService.broadcast_tx` called directly, 100 at a time (no HTTP);
- path `gossip`: peer batches of 500 on P2P channel 2 (`Node._on_message`);
- path `reoffer`: as `rpc`, but the mempool has room for one tx: every tx is offered once
  (refused `mempool_full`, unmeasured), then the measured window offers them all again, as
  a client does with mempool_full (bench/throughput.py --retry-full).

`--threads 0` is admission on the event loop (no worker pool), `--threads N` N signature
threads ([workers] threads). CPU times come in clock ticks (10 ms), so use a few thousand
txs. The figures are CPU, not wall time: a busy machine changes them much less.
`--profile N` also runs cProfile on the loop thread over the measured window and prints its
top N functions by own time (PROFILE_SORT=cumulative in the environment: by cumulative
time); cProfile slows the loop, so that run's CPU figures are not comparable.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from node.config import NodeConfig, write_config  # noqa: E402
from node.keys import write_key  # noqa: E402
from node.runtime import Node  # noqa: E402
from state.crypto import Signer, sha256  # noqa: E402
from state.genesis_builder import ValidatorSpec, genesis_doc  # noqa: E402
from state.tx import build_tx  # noqa: E402
from state.txgossip import encode_batch  # noqa: E402

CHAIN = "admission-bench"
VALIDATOR = Signer(sha256(b"admission-bench-validator"))
TICK = os.sysconf("SC_CLK_TCK")

CLIENT = """
import asyncio, sys, aiohttp
url, path = sys.argv[1], sys.argv[2]
data, wires, i = open(path, "rb").read(), [], 0
while i < len(data):
    n = int.from_bytes(data[i:i + 4], "big"); wires.append(data[i + 4:i + 4 + n]); i += 4 + n
async def main():
    async with aiohttp.ClientSession() as s:
        async def batch(chunk):
            body = [{"jsonrpc": "2.0", "id": k, "method": "broadcast_tx",
                     "params": {"tx": w.hex(), "mode": "sync"}} for k, w in enumerate(chunk)]
            async with s.post(url, json=body) as r:
                res = await r.json()
            assert all(x["result"]["code"] == 0 for x in res), res[:1]
        chunks = [wires[j:j + 100] for j in range(0, len(wires), 100)]
        for j in range(0, len(chunks), 4):
            await asyncio.gather(*(batch(c) for c in chunks[j:j + 4]))
asyncio.run(main())
"""


def thread_cpu() -> dict[int, float]:
    """CPU seconds of each thread of this process."""
    out: dict[int, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def make_home(root: Path, keys: list[Signer], threads: int, max_txs: int = 0) -> Path:
    home = root / "home"
    home.mkdir()
    genesis = genesis_doc(
        chain_id=CHAIN,
        treasury=VALIDATOR.public_key,
        params={"block_time_ms": 600_000},
        validators=[
            ValidatorSpec("v0", VALIDATOR.public_key, VALIDATOR.public_key, p2p="127.0.0.1:1")
        ],
        accounts=[(k.public_key, 1000) for k in keys],
        pools=[{"id": "medical", "name": "Medical"}],
    )
    (home / "genesis.json").write_text(json.dumps(genesis))
    write_key(home / "node_key.json", VALIDATOR)
    cfg = {
        "rpc": {"listen": "127.0.0.1:0"},
        "p2p": {"listen": "127.0.0.1:0"},
        "mempool": {"max_txs": max_txs or max(10_000, len(keys))},
        "workers": {"threads": threads},
    }
    write_config(home / "config.toml", NodeConfig.model_validate(cfg))
    return home


async def measure(threads: int, path: str, count: int, profile: int = 0) -> dict[str, Any]:
    keys = [Signer(sha256(b"admission-bench-%d" % i)) for i in range(count)]
    wires = [
        build_tx(k, CHAIN, "transfer", 0, 1, {"to": VALIDATOR.public_key, "amount": 1}).wire
        for k in keys
    ]
    root = Path(tempfile.mkdtemp(prefix="huzhu-admission-"))
    node = Node(make_home(root, keys, threads, max_txs=1 if path == "reoffer" else 0))
    await node.start()
    try:
        while node.view().height < 1:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the first block's commit and the tree warm-up are done
        if path == "reoffer":
            await offer_all(node, wires)  # refused mempool_full (all but the first)
        loop_tid = threading.get_native_id()
        prof = cProfile.Profile() if profile else None
        before, t0 = thread_cpu(), time.perf_counter()
        if prof is not None:
            prof.enable()
        if path == "http":
            assert node.rpc is not None
            blob = root / "wires.bin"
            blob.write_bytes(b"".join(len(w).to_bytes(4, "big") + w for w in wires))
            client = subprocess.Popen([sys.executable, "-c", CLIENT, node.rpc.url, str(blob)])
            while client.poll() is None:
                await asyncio.sleep(0.01)
            assert client.returncode == 0, "the RPC client failed"
        elif path == "rpc":
            answers = await offer_all(node, wires)
            assert all(a["code"] == 0 for a in answers), answers[:1]
        elif path == "reoffer":
            answers = await offer_all(node, wires)
            assert sum(a["error"] == "mempool_full" for a in answers) == count - 1, answers[:2]
        else:
            for lo in range(0, count, 500):
                pending = node._on_message(b"\x07" * 32, 2, encode_batch(wires[lo : lo + 500]))
                if pending is not None:
                    await pending
        wall = time.perf_counter() - t0
        after = thread_cpu()
        if prof is not None:
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats(
                os.environ.get("PROFILE_SORT", "tottime")
            ).print_stats(profile)
            print(out.getvalue(), file=sys.stderr)
        admitted = 1 if path == "reoffer" else count
        assert len(node.mempool) == admitted, f"{len(node.mempool)} of {admitted} admitted"
    finally:
        await node.stop()
        shutil.rmtree(root, ignore_errors=True)
    loop = after.get(loop_tid, 0.0) - before.get(loop_tid, 0.0)
    other = sum(cpu - before.get(tid, 0.0) for tid, cpu in after.items() if tid != loop_tid)
    return {
        "threads": threads,
        "path": path,
        "txs": count,
        "loop_us_per_tx": round(loop / count * 1e6, 1),
        "other_us_per_tx": round(other / count * 1e6, 1),
        "total_us_per_tx": round((loop + other) / count * 1e6, 1),
        "wall_us_per_tx": round(wall / count * 1e6, 1),
        "load_average": os.getloadavg()[0],
    }


async def offer_all(node: Node, wires: list[bytes]) -> list[dict[str, Any]]:
    """`broadcast_tx` (sync) of every wire, 100 calls at a time; the answers in order."""
    out: list[dict[str, Any]] = []
    for lo in range(0, len(wires), 100):
        out += await asyncio.gather(
            *(node.service.broadcast_tx(w, "sync") for w in wires[lo : lo + 100])
        )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=0, help="[workers] threads (0: inline)")
    p.add_argument("--path", choices=("http", "rpc", "gossip", "reoffer"), default="http")
    p.add_argument("--txs", type=int, default=3000)
    p.add_argument("--json", dest="json_out", default=None)
    p.add_argument("--profile", type=int, default=0, help="print the loop's top N functions")
    args = p.parse_args(argv)
    result = asyncio.run(measure(args.threads, args.path, args.txs, args.profile))
    print(json.dumps(result))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
