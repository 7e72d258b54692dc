"""End-to-end throughput of a real N-validator huzhu network on this machine.

    python bench/throughput.py --validators 4 --seconds 60 --json out.json [--rate R] [--plot p.png]

Starts a fresh localnet (real `huzhu start` processes, 127.0.0.1, LevelDB), funds many senders
in genesis, pre-signs a realistic mix (transfers, pool payments, claim votes) BEFORE the
measured window, submits it from a separate process through JSON-RPC batches to all
validators (open loop at --rate tx/s, or saturating when absent), and measures over --seconds
after a warm-up: committed tx/s, submission-to-commit latency (p50/p95/p99), block interval,
refused and lost transactions, peak RSS per node. It also measures Ed25519 verifications per
second on one core and prints E = committed_tps * N / (verify_per_core * cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from state.crypto import Signer, sha256, verify  # noqa: E402
from state.devkeys import dev_signer  # noqa: E402
from state.tx import build_tx  # noqa: E402

CHAIN_ID = "huzhu-bench"
POOL = "medical"
RPC_BATCH = 100


# ---------------------------------------------------------------------------- network setup


def sender_signer(i: int) -> Signer:
    """Deterministic bench keys: reproducible runs, never used outside a throwaway net."""
    return Signer(sha256(b"huzhu-bench-sender/" + i.to_bytes(4, "big")))


def make_template(senders: int, claimants: int) -> dict[str, Any]:
    treasury, registrar = dev_signer("treasury"), dev_signer("registrar")
    accounts = [
        {"address": sender_signer(i).public_key.hex(), "balance": 10**9}
        for i in range(senders + claimants)
    ]
    return {
        "chain_id": CHAIN_ID,
        "genesis_time": "2026-11-26T00:00:00Z",
        "params": {
            "treasury": treasury.public_key.hex(),
            "registrars": [registrar.public_key.hex()],
            "operators": [],
        },
        "validators": [],
        "accounts": accounts,
        "pools": [
            {
                "id": POOL,
                "name": "Medical mutual aid",
                # short observation periods so the warm-up makes voters and open claims fast;
                # a long vote window keeps the claims open through the measured window
                "params": {
                    "waiting_period": 1,
                    "juror_min_age": 1,
                    "vote_window": 1_000_000,
                    "contribution": 100,
                    "period": 1_000_000,
                },
            }
        ],
    }


@dataclass
class Net:
    """The node processes of one bench run."""

    home: Path
    rpc: list[str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def start_net(n: int, base_port: int, template: dict[str, Any], workdir: Path) -> Net:
    tpl = workdir / "template.json"
    tpl.write_text(json.dumps(template))
    out = workdir / "net"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "node.cli",
            "testnet",
            "--validators",
            str(n),
            "--out",
            str(out),
            "--genesis-template",
            str(tpl),
            "--base-port",
            str(base_port),
        ],
        check=True,
        cwd=ROOT,
    )
    net = Net(home=out, rpc=[f"http://127.0.0.1:{base_port + i}" for i in range(n)])
    for i in range(n):
        log = open(out / f"node{i}.log", "wb")  # noqa: SIM115 - lives as long as the process
        net.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "node.cli", "start", "--home", str(out / f"node{i}")],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        )
    return net


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM: the high-water mark of the process's resident set."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# ------------------------------------------------------------------------------- RPC helpers


async def rpc(session: aiohttp.ClientSession, url: str, method: str, **params: Any) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    async with session.post(url, json=body) as resp:
        data = await resp.json()
    if "error" in data:
        raise RuntimeError(f"{method}: {data['error']}")
    return data["result"]


async def rpc_batch(
    session: aiohttp.ClientSession, url: str, calls: list[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    async with session.post(url, json=body) as resp:
        data = await resp.json()
    data.sort(key=lambda r: r["id"])
    return data


async def wait_height(session: aiohttp.ClientSession, urls: list[str], h: int, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            heights = [(await rpc(session, u, "status"))["height"] for u in urls]
            if min(heights) >= h:
                return
        except (aiohttp.ClientError, RuntimeError, OSError):
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError(f"nodes did not reach height {h} in {timeout:.0f}s")


async def submit_commit(session: aiohttp.ClientSession, url: str, wires: list[bytes]) -> None:
    """Send setup transactions and wait for their inclusion (warm-up only)."""
    for i in range(0, len(wires), RPC_BATCH):
        chunk = wires[i : i + RPC_BATCH]
        res = await rpc_batch(
            session, url, [("broadcast_tx", {"tx": w.hex(), "mode": "sync"}) for w in chunk]
        )
        bad = [r for r in res if r.get("result", {}).get("code") != 0]
        if bad:
            raise RuntimeError(f"setup transaction refused: {bad[0]}")


# ------------------------------------------------------------------------- workload building


def build_workload(
    senders: int, claim_ids: list[bytes], count: int, voter_count: int
) -> list[tuple[int, bytes]]:
    """Pre-sign `count` txs as (sender index, wire): ~55% transfers, 25% pays, 20% votes.

    Sender i's nonces run consecutively; the submitter sends sender i's txs to node i % N, so
    every sender's order is preserved at its entry node. Voters (senders < voter_count) were
    made members in the warm-up; each votes at most once per claim.
    """
    nonces = [1] * voter_count + [0] * (senders - voter_count)  # voters spent nonce 0 on join
    votes_cast = [0] * senders
    out: list[tuple[int, bytes]] = []
    keys = [sender_signer(i) for i in range(senders)]
    for k in range(count):
        i = k % senders
        kind = k % 20
        signer = keys[i]
        if kind < 4 and i < voter_count and votes_cast[i] < len(claim_ids):
            claim = claim_ids[votes_cast[i]]
            votes_cast[i] += 1
            tx = build_tx(signer, CHAIN_ID, "vote", nonces[i], 1, {"claim": claim, "approve": True})
        elif kind < 9 and i < voter_count:
            tx = build_tx(signer, CHAIN_ID, "pay", nonces[i], 1, {"pool": POOL, "amount": 100})
        else:
            to = keys[(i + 1) % senders].public_key
            tx = build_tx(signer, CHAIN_ID, "transfer", nonces[i], 1, {"to": to, "amount": 1})
        nonces[i] += 1
        out.append((i, tx.wire))
    return out


# ---------------------------------------------------------------------------- the submitter


def submitter_main(
    urls: list[str],
    work: list[tuple[int, bytes]],
    rate: float | None,
    seconds: float,
    start_at: float,
    out_q: mp.Queue,
) -> None:
    """Separate process: open-loop (or saturating) submission; reports per-tx outcomes."""
    asyncio.run(_submit(urls, work, rate, seconds, start_at, out_q))


async def _submit(
    urls: list[str],
    work: list[tuple[int, bytes]],
    rate: float | None,
    seconds: float,
    start_at: float,
    out_q: mp.Queue,
) -> None:
    n = len(urls)
    queues: list[list[bytes]] = [[] for _ in range(n)]
    for i, wire in work:
        queues[i % n].append(wire)
    sent: list[tuple[str, float, int]] = []  # hash, submit time, code
    conn = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=conn) as session:
        while time.time() < start_at:
            await asyncio.sleep(0.01)
        t0 = time.time()
        end = t0 + seconds
        pos = [0] * n
        inflight: set[asyncio.Task[None]] = set()

        async def send(node: int, wires: list[bytes]) -> None:
            ts = time.time()
            calls = [("broadcast_tx", {"tx": w.hex(), "mode": "sync"}) for w in wires]
            try:
                res = await rpc_batch(session, urls[node], calls)
                codes = [r.get("result", {}).get("code", -2) for r in res]
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
                codes = [-3] * len(wires)
            for w, c in zip(wires, codes, strict=False):
                sent.append((sha256(w).hex(), ts, c))

        node = 0
        while time.time() < end and any(pos[i] < len(queues[i]) for i in range(n)):
            if rate is None:
                # saturating: keep a bounded number of batches in flight per node
                if len(inflight) >= 4 * n:
                    await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                take = RPC_BATCH
            else:
                due = int((time.time() - t0) * rate) - sum(pos)
                if due <= 0:
                    await asyncio.sleep(0.005)
                    continue
                take = min(RPC_BATCH, due)
            node = (node + 1) % n
            q = queues[node]
            if pos[node] >= len(q):
                continue
            chunk = q[pos[node] : pos[node] + take]
            pos[node] += len(chunk)
            task = asyncio.create_task(send(node, chunk))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        if inflight:
            await asyncio.wait(inflight)
    out_q.put(sent)


# -------------------------------------------------------------------------------- observing


async def observe(
    session: aiohttp.ClientSession,
    url: str,
    until: float,
    seen: dict[str, float],
    blocks: list[tuple[int, float, int, str]],
    start_height: int,
) -> int:
    """Poll blocks until `until`; records first-seen commit time per tx hash."""
    h = start_height
    while time.time() < until:
        try:
            top = (await rpc(session, url, "status"))["height"]
        except (aiohttp.ClientError, RuntimeError, OSError):
            await asyncio.sleep(0.1)
            continue
        while h < top:
            h += 1
            b = await rpc(session, url, "block", height=h)
            now = time.time()
            for txh in b["txs"]:
                seen.setdefault(txh, now)
            blocks.append((h, now, len(b["txs"]), b["time"]))
        await asyncio.sleep(0.05)
    return h


# ----------------------------------------------------------------------------- measurements


def verify_per_core(seconds: float = 2.0) -> float:
    s = Signer(sha256(b"bench-verify"))
    msg = b"x" * 200
    sig = s.sign(msg)
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(200):
            verify(s.public_key, msg, sig)
        n += 200
    return n / (time.perf_counter() - t0)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[k]


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.validators
    senders = args.senders
    claimants = 20
    workdir = Path(tempfile.mkdtemp(prefix="huzhu-bench-"))
    template = make_template(senders, claimants)
    print(f"[setup] {n} validators, {senders} senders, workdir {workdir}", flush=True)
    net = start_net(n, args.base_port, template, workdir)
    try:
        return asyncio.run(_run(args, net, senders, claimants))
    finally:
        net.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


async def _run(args: argparse.Namespace, net: Net, senders: int, claimants: int) -> dict[str, Any]:
    n = args.validators
    voter_count = senders // 2
    async with aiohttp.ClientSession() as session:
        await wait_height(session, net.rpc, 1, 120)
        print("[setup] chain is live; joining voters and filing claims", flush=True)
        joins = [
            build_tx(sender_signer(i), CHAIN_ID, "join", 0, 1, {"pool": POOL}).wire
            for i in range(voter_count)
        ]
        claimers = [sender_signer(senders + j) for j in range(claimants)]
        claim_joins = [build_tx(c, CHAIN_ID, "join", 0, 1, {"pool": POOL}).wire for c in claimers]
        for k in range(n):
            await submit_commit(session, net.rpc[k], joins[k::n] + claim_joins[k::n])
        h0 = (await rpc(session, net.rpc[0], "status"))["height"]
        await wait_height(session, net.rpc, h0 + 3, 120)  # past the waiting period
        claims = [
            build_tx(
                c,
                CHAIN_ID,
                "claim",
                1,
                1,
                {"pool": POOL, "amount": 100, "evidence": sha256(bytes([j]))},
            )
            for j, c in enumerate(claimers)
        ]
        await submit_commit(session, net.rpc[0], [c.wire for c in claims])
        h1 = (await rpc(session, net.rpc[0], "status"))["height"]
        await wait_height(session, net.rpc, h1 + 2, 120)
        claim_ids = [c.hash for c in claims]

        total = int((args.rate or args.max_rate) * (args.seconds + args.warmup) * 1.1)
        print(f"[setup] pre-signing {total} transactions", flush=True)
        t = time.perf_counter()
        work = build_workload(senders, claim_ids, total, voter_count)
        print(f"[setup] signed in {time.perf_counter() - t:.1f}s", flush=True)

        start_height = (await rpc(session, net.rpc[0], "status"))["height"]
        start_at = time.time() + 1.0
        q: mp.Queue = mp.Queue()
        proc = mp.Process(
            target=submitter_main,
            args=(net.rpc, work, args.rate, args.warmup + args.seconds, start_at, q),
        )
        proc.start()
        seen: dict[str, float] = {}
        blocks: list[tuple[int, float, int, str]] = []
        t_end = start_at + args.warmup + args.seconds
        last_h = await observe(session, net.rpc[0], t_end + args.drain, seen, blocks, start_height)
        sent: list[tuple[str, float, int]] = q.get(timeout=60)
        proc.join(timeout=30)
        rss = [peak_rss_mb(p.pid) for p in net.procs]

    w0, w1 = start_at + args.warmup, t_end
    accepted = {h: ts for h, ts, c in sent if c == 0}
    refused = sum(1 for _, _, c in sent if c != 0)
    in_window = [h for h, t in seen.items() if w0 <= t < w1]
    lat = [(seen[h] - accepted[h]) * 1000 for h in accepted if h in seen and w0 <= seen[h] < w1]
    lost = sum(1 for h in accepted if h not in seen)
    win_blocks = [b for b in blocks if w0 <= b[1] < w1]
    intervals = [(b2[1] - b1[1]) * 1000 for b1, b2 in zip(win_blocks, win_blocks[1:], strict=False)]
    vpc = verify_per_core()
    cores = os.cpu_count() or 1
    committed_tps = len(in_window) / args.seconds
    result = {
        "validators": n,
        "seconds": args.seconds,
        "rate": args.rate,
        "submitted": len(sent),
        "accepted": len(accepted),
        "refused": refused,
        "committed_tps": round(committed_tps, 1),
        "p50_ms": round(pct(lat, 50), 1),
        "p95_ms": round(pct(lat, 95), 1),
        "p99_ms": round(pct(lat, 99), 1),
        "lost": lost,
        "blocks": len(win_blocks),
        "block_interval_ms": round(statistics.mean(intervals), 1) if intervals else None,
        "last_height": last_h,
        "peak_rss_mb": [round(r, 1) if r else None for r in rss],
        "verify_per_core": round(vpc),
        "cores": cores,
        "efficiency": round(committed_tps * n / (vpc * cores), 4),
        "timeline": _timeline(seen, accepted, start_at, t_end + args.drain),
    }
    return result


def _timeline(
    seen: dict[str, float], accepted: dict[str, float], t0: float, t1: float
) -> list[dict[str, float]]:
    """Per-second committed count and latency percentiles, for the plot."""
    buckets: dict[int, list[float]] = {}
    for h, t in seen.items():
        if h in accepted and t0 <= t < t1:
            buckets.setdefault(int(t - t0), []).append((t - accepted[h]) * 1000)
    return [
        {"t": s, "committed": len(v), "p50_ms": pct(v, 50), "p99_ms": pct(v, 99)}
        for s, v in sorted(buckets.items())
    ]


def print_table(r: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"huzhu throughput, {r['validators']} validators, {r['seconds']}s window")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k in (
        "committed_tps",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "block_interval_ms",
        "accepted",
        "refused",
        "lost",
        "verify_per_core",
        "cores",
        "efficiency",
    ):
        t.add_row(k, str(r[k]))
    t.add_row("peak_rss_mb", ", ".join(str(x) for x in r["peak_rss_mb"]))
    Console().print(t)


def plot(r: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tl = r["timeline"]
    xs = [p["t"] for p in tl]
    fig, (a1, a2) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    a1.plot(xs, [p["committed"] for p in tl], label="committed tx/s")
    a1.set_ylabel("tx/s")
    a1.legend()
    a2.plot(xs, [p["p50_ms"] for p in tl], label="p50 latency")
    a2.plot(xs, [p["p99_ms"] for p in tl], label="p99 latency")
    a2.set_ylabel("ms")
    a2.set_xlabel("seconds since load start")
    a2.legend()
    fig.suptitle(f"huzhu, {r['validators']} validators: {r['committed_tps']} tx/s committed")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--rate", type=float, default=None, help="open-loop tx/s (default: saturate)")
    p.add_argument(
        "--max-rate",
        type=float,
        default=3000,
        help="when saturating: pre-sign enough for this many tx/s",
    )
    p.add_argument("--warmup", type=float, default=5)
    p.add_argument("--drain", type=float, default=15)
    p.add_argument("--senders", type=int, default=2000)
    p.add_argument("--base-port", type=int, default=36657)
    p.add_argument("--json", dest="json_out", required=True)
    p.add_argument("--plot", default=None)
    p.add_argument("--keep", action="store_true", help="keep the node directory and logs")
    args = p.parse_args(argv)
    result = run(args)
    Path(args.json_out).write_text(json.dumps(result, indent=2))
    print_table(result)
    if args.plot:
        plot(result, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
