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
- path `http-full`: as `http`, but the mempool has room for one tx, so every call but the
  first ends in `mempool_full`: two windows, the first offers, then the same batches again
  (re-offers, answered from the retry cache), each against `http`'s admitted figure: the
  node CPU of one refused offer end to end (aiohttp, JSON, dispatch, admission, answer);
- path `reoffer-moving`: as `reoffer`, but refused at the backlog bound (max_block_txs 1)
  and another sender's tx is admitted as a peer's copy before each call of 100 re-offers
  (unmeasured: only the re-offers' loop CPU counts), as under overload, where the pending
  set changes between a client's re-offers.

`--threads 0` is admission on the event loop (no worker pool), `--threads N` N signature
threads ([workers] threads). CPU times come in clock ticks (10 ms), so use a few thousand
txs. The figures are CPU, not wall time: a busy machine changes them much less.
`--parts` instead times admission's pieces in isolation (process or loop-thread CPU, best of
7, no node): `codec.decode`, its `_check`, `decode_tx`, the worker pool's hand-off (a round
of 16 one-tx requests, and one 500-tx batch, `verify_tx` stubbed: the loop's share only),
`check_state` (checks 7-10) of fresh txs against a tx index of 200,000 entries in LevelDB,
and `Mempool.add` of a re-offer refused mempool_full.
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
from node.workers import WorkerPool  # noqa: E402
from state import codec  # noqa: E402
from state import tx as txmod  # noqa: E402
from state.chain import TX_INDEX  # noqa: E402
from state.crypto import Signer, sha256  # noqa: E402
from state.genesis_builder import ValidatorSpec, genesis_doc  # noqa: E402
from state.mempool import Mempool, MempoolLimits  # noqa: E402
from state.model import Account  # noqa: E402
from state.params import ChainParams  # noqa: E402
from state.store import Batch, LevelDBStore  # noqa: E402
from state.tx import build_tx, check_state, decode_tx  # noqa: E402
from state.txgossip import encode_batch  # noqa: E402

CHAIN = "admission-bench"
VALIDATOR = Signer(sha256(b"admission-bench-validator"))
TICK = os.sysconf("SC_CLK_TCK")

CLIENT = """
import asyncio, sys, aiohttp
url, path, admitted = sys.argv[1], sys.argv[2], sys.argv[3] == "admitted"
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
            assert all(x["result"]["code"] == 0 or not admitted for x in res), res[:1]
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


def make_home(
    root: Path, keys: list[Signer], threads: int, max_txs: int = 0, max_block_txs: int = 0
) -> Path:
    home = root / "home"
    home.mkdir()
    params: dict[str, int] = {"block_time_ms": 600_000}
    if max_block_txs:
        params["max_block_txs"] = max_block_txs
    genesis = genesis_doc(
        chain_id=CHAIN,
        treasury=VALIDATOR.public_key,
        params=params,
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
        # the paths that admit every tx (max_txs 0 here) run without the client backlog
        # bound: with no block yet it is max_block_txs (5,000), which refused the rest
        "mempool": {"max_txs": max_txs or max(10_000, len(keys))}
        | ({} if max_txs else {"backlog_blocks": 0}),
        "workers": {"threads": threads},
    }
    write_config(home / "config.toml", NodeConfig.model_validate(cfg))
    return home


async def measure(threads: int, path: str, count: int, profile: int = 0) -> dict[str, Any]:
    moving = path == "reoffer-moving"
    movers = -(-count // 100) if moving else 0  # one peer's tx admitted per call of 100
    keys = [Signer(sha256(b"admission-bench-%d" % i)) for i in range(count + movers)]
    wires = [
        build_tx(k, CHAIN, "transfer", 0, 1, {"to": VALIDATOR.public_key, "amount": 1}).wire
        for k in keys
    ]
    wires, moved = wires[:count], wires[count:]
    root = Path(tempfile.mkdtemp(prefix="huzhu-admission-"))
    home = make_home(
        root,
        keys,
        threads,
        max_txs=1 if path in ("reoffer", "http-full") else 2 * (count + movers) if moving else 0,
        max_block_txs=1 if moving else 0,
    )
    node = Node(home)
    await node.start()
    try:
        while node.view().height < 1:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the first block's commit and the tree warm-up are done
        if path in ("reoffer", "reoffer-moving"):
            await offer_all(node, wires)  # refused mempool_full (all but the first)
        if path == "http-full":
            first = await post_all(node, root, wires, admitted=False)
            prof = cProfile.Profile() if profile else None
            again = await post_all(node, root, wires, admitted=False, prof=prof)
            if prof is not None:
                print_profile(prof, profile)
            assert len(node.mempool) == 1, f"{len(node.mempool)} admitted"
            await node.stop()
            shutil.rmtree(root, ignore_errors=True)
            return {
                "threads": threads,
                "path": path,
                "txs": count,
                "first_offer_us_per_tx": first,
                "reoffer_us_per_tx": again,
                "load_average": os.getloadavg()[0],
            }
        loop_tid = threading.get_native_id()
        prof = cProfile.Profile() if profile else None
        # the loop thread's own clock is exact; /proc's 10 ms ticks can read 0 for the ~12 ms
        # a thousand cached re-offers take
        before, loop0, t0 = thread_cpu(), time.thread_time(), time.perf_counter()
        if prof is not None:
            prof.enable()
        if path == "http":
            await run_client(node, write_blob(root, wires), admitted=True)
        elif path == "rpc":
            answers = await offer_all(node, wires)
            assert all(a["code"] == 0 for a in answers), answers[:1]
        elif path == "reoffer":
            answers = await offer_all(node, wires)
            assert sum(a["error"] == "mempool_full" for a in answers) == count - 1, answers[:2]
        elif moving:
            answers, loop = [], 0.0
            for lo in range(0, count, 100):
                if prof is not None:
                    prof.disable()
                assert node.mempool.add(moved[lo // 100], peer=True).code == 0
                if prof is not None:
                    prof.enable()
                t = time.thread_time()
                answers += await offer_all(node, wires[lo : lo + 100])
                loop += time.thread_time() - t
            assert sum(a["error"] == "mempool_full" for a in answers) == count - 1, answers[:2]
        else:
            for lo in range(0, count, 500):
                pending = node._on_message(b"\x07" * 32, 2, encode_batch(wires[lo : lo + 500]))
                if pending is not None:
                    await pending
        wall = time.perf_counter() - t0
        if not moving:
            loop = time.thread_time() - loop0
        after = thread_cpu()
        if prof is not None:
            prof.disable()
            print_profile(prof, profile)
        admitted = 1 + movers if path in ("reoffer", "reoffer-moving") else count
        assert len(node.mempool) == admitted, f"{len(node.mempool)} of {admitted} admitted"
    finally:
        await node.stop()
        shutil.rmtree(root, ignore_errors=True)
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


def print_profile(prof: cProfile.Profile, top: int) -> None:
    """The loop's top functions by own time (PROFILE_SORT=cumulative: by cumulative), on
    stderr."""
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats(
        os.environ.get("PROFILE_SORT", "tottime")
    ).print_stats(top)
    print(out.getvalue(), file=sys.stderr)


def _best(fn: Any, count: int, reps: int = 7) -> float:
    """Best of `reps` runs of fn(), in us of process CPU per item (count items a run)."""
    runs = []
    for _ in range(reps):
        t = time.process_time()
        fn()
        runs.append(time.process_time() - t)
    return round(min(runs) / count * 1e6, 2)


async def _handoff(per: int, requests: int, rounds: int = 2000) -> float:
    """Loop-thread CPU (us) of one round: `requests` requests of `per` txs submitted in one
    loop turn, then awaited; signature checks stubbed, so only the hand-off counts."""
    pool = WorkerPool(2)
    loop = asyncio.get_running_loop()
    txs: list[Any] = [None] * per
    best = float("inf")
    try:
        for _ in range(5):
            t = time.thread_time()
            for _ in range(rounds):
                fut = loop.create_future()
                left = [requests]

                def done(
                    answer: object, fut: asyncio.Future[None] = fut, left: list[int] = left
                ) -> None:
                    left[0] -= 1
                    if not left[0]:
                        fut.set_result(None)

                for _ in range(requests):
                    pool.submit(txs, done)
                await fut
            best = min(best, time.thread_time() - t)
    finally:
        pool.close()
    return round(best / rounds * 1e6, 1)


def parts(count: int) -> dict[str, Any]:
    """Admission's pieces in isolation (see the module docstring, --parts)."""
    keys = [Signer(sha256(b"admission-parts-%d" % i)) for i in range(count)]
    txs = [
        build_tx(k, CHAIN, "transfer", 0, 1, {"to": keys[0].public_key, "amount": 1}) for k in keys
    ]
    wires = [t.wire for t in txs]
    params = ChainParams(treasury=VALIDATOR.public_key)
    values = [codec.decode(w) for w in wires]
    out: dict[str, Any] = {
        "codec_decode_us": _best(lambda: [codec.decode(w) for w in wires], count),
        "codec_check_us": _best(lambda: [codec._check(v) for v in values], count),
        "decode_tx_us": _best(
            lambda: [decode_tx(w, chain_id=CHAIN, params=params) for w in wires], count
        ),
    }
    real = txmod.verify_tx
    txmod.verify_tx = lambda tx: True
    try:
        out["handoff_16_requests_us"] = asyncio.run(_handoff(1, 16))
        out["handoff_500_batch_us"] = asyncio.run(_handoff(500, 1))
    finally:
        txmod.verify_tx = real

    class View:  # the slice of the state the mempool reads: every sender funded
        chain_id = CHAIN

        def __init__(self) -> None:
            self.params = params

        def account(self, addr: bytes) -> Account:
            return Account(balance=10**9, nonce=0)

        def tx_result(self, tx_hash: bytes) -> None:
            return None

    out["check_state_fresh_us"] = _check_state_us(txs, params)
    view = View()
    mp = Mempool(lambda: view, MempoolLimits(max_txs=1))
    mp.add(wires[0])
    for w in wires[1:]:
        mp.add(w)  # refused mempool_full: the first offer
    out["reoffer_full_us"] = _best(lambda: [mp.add(w) for w in wires[1:]], count - 1)
    return out


#: committed transactions in the tx index `_check_state_us` reads (a few minutes of blocks)
INDEX_ENTRIES = 200_000


def _check_state_us(txs: list[Any], params: ChainParams) -> float:
    """Checks 7-10 (`check_state`) of fresh txs (nonce = the account's) against a view whose
    tx index is a real LevelDB of INDEX_ENTRIES committed txs: what one admission costs in
    the state reads, the tx index read included where check 8 makes it."""
    root = Path(tempfile.mkdtemp(prefix="huzhu-admission-index-"))
    store = LevelDBStore(str(root))
    try:
        batch = Batch()
        for i in range(INDEX_ENTRIES):
            batch.ops[TX_INDEX + sha256(b"committed-%d" % i)] = b"\x00" * 12
        store.write(batch, sync=False)
        accounts = {t.sender: Account(balance=10**9, nonce=0) for t in txs}

        class IndexedView:  # StateView's admission slice, its tx index on LevelDB
            chain_id = CHAIN

            def __init__(self) -> None:
                self.params = params

            def account(self, addr: bytes) -> Account:
                return accounts[addr]

            def tx_result(self, tx_hash: bytes) -> bytes | None:
                return store.get(TX_INDEX + tx_hash)

        view = IndexedView()
        return _best(lambda: [check_state(view, t) for t in txs], len(txs))
    finally:
        store.close()
        shutil.rmtree(root, ignore_errors=True)


def write_blob(root: Path, wires: list[bytes]) -> Path:
    """The wires for CLIENT's process, length-prefixed in one file."""
    blob = root / "wires.bin"
    blob.write_bytes(b"".join(len(w).to_bytes(4, "big") + w for w in wires))
    return blob


async def run_client(node: Node, blob: Path, admitted: bool) -> None:
    """Run CLIENT against the node's RPC over `blob`'s wires until it exits; with
    `admitted` it fails unless every call was admitted."""
    assert node.rpc is not None
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, node.rpc.url, str(blob), "admitted" if admitted else "-"]
    )
    while client.poll() is None:
        await asyncio.sleep(0.01)
    assert client.returncode == 0, "the RPC client failed"


async def post_all(
    node: Node, root: Path, wires: list[bytes], admitted: bool, prof: cProfile.Profile | None = None
) -> dict[str, float]:
    """POST every wire from a client process (CLIENT: batches of 100, four in flight); the
    node's CPU per call over it, loop thread and other threads (/proc ticks for the others,
    so use a few thousand txs)."""
    blob = write_blob(root, wires)
    before, loop0 = thread_cpu(), time.thread_time()
    if prof is not None:
        prof.enable()
    await run_client(node, blob, admitted)
    if prof is not None:
        prof.disable()
    loop = time.thread_time() - loop0
    after = thread_cpu()
    me = threading.get_native_id()
    other = sum(cpu - before.get(tid, 0.0) for tid, cpu in after.items() if tid != me)
    n = len(wires)
    return {
        "loop": round(loop / n * 1e6, 1),
        "other": round(other / n * 1e6, 1),
        "total": round((loop + other) / n * 1e6, 1),
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
    p.add_argument(
        "--path",
        choices=("http", "http-full", "rpc", "gossip", "reoffer", "reoffer-moving"),
        default="http",
    )
    p.add_argument("--txs", type=int, default=3000)
    p.add_argument("--json", dest="json_out", default=None)
    p.add_argument("--profile", type=int, default=0, help="print the loop's top N functions")
    p.add_argument("--parts", action="store_true", help="time admission's pieces alone")
    args = p.parse_args(argv)
    if args.parts:
        result = parts(args.txs)
    else:
        result = asyncio.run(measure(args.threads, args.path, args.txs, args.profile))
    print(json.dumps(result))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
