"""CPU of two per-transaction paths of a node outside execution and admission, in isolation.

    python bench/node_path.py [--txs 1000] [--frames 20000] [--repeat 5]
    python bench/node_path.py --handoff [--jobs 600] [--repeat 5] [--sizes 1,4,8,16]

- commit: `NodeService.on_committed` for a block of --txs transfers, with one event listener
  that wants no event (the RPC server without WebSocket subscribers) and no commit waiter.
- p2p: two P2PNodes over 127.0.0.1 (real handshake, ChaCha20-Poly1305 frames); one sends
  --frames frames of 200 bytes (a vote's size) to the other; CPU of the process (both ends)
  per frame until the last one arrives.
- vote behind gossip: wall time until a vote queued after --batches tx batches reaches a peer
  that spends --admit-ms on each batch (how long consensus waits behind transaction gossip).

- handoff (only this with --handoff): process CPU (all threads) per signature-check job of
  k real transfers through a 2-thread `WorkerPool`, handed to a thread (`inline_max_txs` 0)
  against checked on the loop (`inline_max_txs` k), while the loop also runs a fixed amount
  of other Python work (20 short steps a job, as a validator's loop has between requests):
  what node/workers.py's small-flush rule saves per job.

Figures are the median of --repeat runs, in microseconds of process CPU. Run it from two
checkouts back to back to compare them (each run imports the code of its own checkout).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consensus.types import Block, BlockHeader  # noqa: E402
from node.service import NodeService  # noqa: E402
from node.workers import WorkerPool  # noqa: E402
from p2p.node import P2PNode  # noqa: E402
from p2p.types import P2PLimits, PeerAddr  # noqa: E402
from state.crypto import Signer, sha256  # noqa: E402
from state.errors import Code  # noqa: E402
from state.model import TxResult  # noqa: E402
from state.tx import build_tx  # noqa: E402

CHAIN = "huzhu-bench"


class _Parts:
    """The runtime's side of the service, as little as on_committed needs."""

    node_id = b"\x07" * 32

    def view(self, height: int | None = None) -> Any:
        return None  # on_committed takes a view; with results given it reads nothing

    def commit_at(self, height: int) -> Any:
        return None


def commit_path(n: int, repeat: int) -> float:
    signers = [Signer(sha256(b"s%d" % i)) for i in range(n)]
    txs = [
        build_tx(s, CHAIN, "transfer", 0, 1, {"to": signers[0].public_key, "amount": 1})
        for s in signers
    ]
    header = BlockHeader(CHAIN, 5, 1, *(bytes(32),) * 7)
    block = Block(header, tuple(t.wire for t in txs), None, ())
    decoded = {t.hash: t for t in txs}
    results = [TxResult(Code.OK, "") for _ in txs]
    service = NodeService(_Parts())  # type: ignore[arg-type]  # a stand-in of NodeParts
    try:
        service.subscribe_events(lambda k, d: None, wants=lambda k: False)  # type: ignore[call-arg]  # absent before the change
    except TypeError:
        service.subscribe_events(lambda k, d: None)
    hashes = [t.hash for t in txs]
    runs = []
    for _ in range(repeat):
        t0 = time.process_time()
        try:
            service.on_committed(5, block, None, decoded, results, hashes)  # type: ignore[call-arg]  # absent before the change
        except TypeError:
            service.on_committed(5, block, None, decoded, results)
        runs.append((time.process_time() - t0) / n * 1e6)
    return statistics.median(runs)


async def _p2p_once(frames: int) -> float:
    lim = P2PLimits(send_queue_len=frames + 10, send_queue_bytes=64 * 1024 * 1024)
    a_key, b_key = Signer(sha256(b"a")), Signer(sha256(b"b"))
    got = 0
    done = asyncio.Event()

    def on_message(_p: bytes, _c: int, _m: bytes) -> None:
        nonlocal got
        got += 1
        if got == frames:
            done.set()

    allowed = {a_key.public_key, b_key.public_key}
    b = P2PNode(b_key, CHAIN, ("127.0.0.1", 0), [], allowed.__contains__, lim, on_message)
    await b.start()
    a = P2PNode(
        a_key,
        CHAIN,
        ("127.0.0.1", 0),
        [PeerAddr(b_key.public_key, "127.0.0.1", b.listen_port)],
        allowed.__contains__,
        lim,
    )
    await a.start()
    while not a.connected(b_key.public_key):
        await asyncio.sleep(0.01)
    payload = bytes(200)
    t0 = time.process_time()
    for i in range(frames):
        a.send(b_key.public_key, 1, payload)
        if i % 100 == 99:
            await asyncio.sleep(0)  # a node sends between other work, not all at once
    await asyncio.wait_for(done.wait(), 120)
    cpu = time.process_time() - t0
    await a.stop()
    await b.stop()
    return cpu / frames * 1e6


async def _vote_behind_gossip(batches: int, admit_ms: float) -> float:
    """Seconds from queueing a vote behind `batches` tx batches (100 kB each) until the peer
    has it, when the peer spends `admit_ms` admitting each batch (a 500-tx batch's signature
    checks take ~25 ms of a free core)."""
    lim = P2PLimits()
    a_key, b_key = Signer(sha256(b"a")), Signer(sha256(b"b"))
    arrived = asyncio.Event()
    at: list[float] = []

    def on_message(_p: bytes, channel: int, _m: bytes) -> None:
        if channel == 1:
            at.append(time.perf_counter())  # when the replica would have it
            arrived.set()
        else:
            end = time.perf_counter() + admit_ms / 1000
            while time.perf_counter() < end:
                pass

    allowed = {a_key.public_key, b_key.public_key}
    b = P2PNode(b_key, CHAIN, ("127.0.0.1", 0), [], allowed.__contains__, lim, on_message)
    await b.start()
    peer = PeerAddr(b_key.public_key, "127.0.0.1", b.listen_port)
    a = P2PNode(a_key, CHAIN, ("127.0.0.1", 0), [peer], allowed.__contains__, lim)
    await a.start()
    while not a.connected(b_key.public_key):
        await asyncio.sleep(0.01)
    for _ in range(batches):
        a.send(b_key.public_key, 2, bytes(100_000))
    t0 = time.perf_counter()
    a.send(b_key.public_key, 1, bytes(200))
    await asyncio.wait_for(arrived.wait(), 120)
    took = at[0] - t0
    await a.stop()
    await b.stop()
    return took


def p2p_path(frames: int, repeat: int, uvloop: bool = False) -> float:
    if uvloop:
        import uvloop as uv

        return statistics.median(uv.run(_p2p_once(frames)) for _ in range(repeat))
    return statistics.median(asyncio.run(_p2p_once(frames)) for _ in range(repeat))


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process
    return r.ru_utime + r.ru_stime


async def _handoff_once(per: int, jobs: int, inline_max: int) -> float:
    """Process CPU (us) per job of `per` txs, the loop busy with other work meanwhile."""
    signers = [Signer(sha256(b"h%d" % i)) for i in range(per)]
    txs = [
        build_tx(s, CHAIN, "transfer", 0, 1, {"to": signers[0].public_key, "amount": 1})
        for s in signers
    ]
    pool = WorkerPool(2, inline_max_txs=inline_max)

    async def other_work() -> None:  # a fixed amount: 20 short steps a job
        for _ in range(20 * jobs):
            sum(range(2_000))
            await asyncio.sleep(0)

    async def checks() -> None:
        for _ in range(jobs):
            assert await pool.verify(txs, wait=False) == [True] * per
            await asyncio.sleep(0.001)

    try:
        t = _cpu()
        await asyncio.gather(other_work(), checks())
        return (_cpu() - t) / jobs * 1e6
    finally:
        pool.close()


def handoff(jobs: int, repeat: int, sizes: list[int]) -> None:
    print("k txs a job | handed to a thread | checked on the loop | saved per job (per tx)")
    for per in sizes:
        thread, here = [], []
        for _ in range(repeat):  # alternating, so both sides see the same machine
            thread.append(asyncio.run(_handoff_once(per, jobs, 0)))
            here.append(asyncio.run(_handoff_once(per, jobs, per)))
        a, b = statistics.median(thread), statistics.median(here)
        print(f"{per:11d} | {a:15.0f} us | {b:16.0f} us | {a - b:.0f} us ({(a - b) / per:.0f})")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--txs", type=int, default=1000)
    p.add_argument("--frames", type=int, default=20000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--admit-ms", type=float, default=25.0)
    p.add_argument("--uvloop", action="store_true", help="the p2p figure on uvloop's loop")
    p.add_argument("--handoff", action="store_true", help="only the worker hand-off figure")
    p.add_argument("--jobs", type=int, default=600, help="jobs per --handoff run")
    p.add_argument(
        "--sizes",
        default="1,4,8,16",
        help="--handoff: the job sizes k (txs a job), comma-separated",
    )
    args = p.parse_args()
    print(f"checkout {ROOT}")
    if args.handoff:
        handoff(args.jobs, args.repeat, [int(k) for k in args.sizes.split(",")])
        return 0
    print(f"commit path: {commit_path(args.txs, args.repeat):.3f} us per tx")
    us = p2p_path(args.frames, args.repeat, args.uvloop)
    loop = "uvloop" if args.uvloop else "asyncio"
    print(f"p2p ({loop}): {us:.2f} us per 200-byte frame (both ends)")
    vote = asyncio.run(_vote_behind_gossip(args.batches, args.admit_ms))
    print(
        f"a vote queued behind {args.batches} tx batches of 100 kB, each admitted in "
        f"{args.admit_ms} ms: delivered after {vote * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
