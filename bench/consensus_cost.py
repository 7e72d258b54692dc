"""What consensus alone costs a node per height: an idle N-validator localnet (no txs).

A 21-validator network on one machine spends most of its CPU per height, not per tx; this
bench isolates that part and reports figures a shared machine does not bend much: node CPU
per height (process CPU, all threads, from /proc) and the bytes each node sends per height
by channel (the nodes' own counters, `huzhu_p2p_message_send_bytes` of /metrics).

    .venv/bin/python bench/consensus_cost.py --validators 21 --seconds 30 [--json out.json]

`--frames` measures instead the transport's part of it in one process: a hub P2PNode
broadcasts vote-sized payloads to `--validators` - 1 peers over 127.0.0.1 (`--burst` per loop
turn; 1 is a vote a turn) and reports the process CPU per frame delivered (sealing, writing,
reading and opening it, on both ends; best of 5).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.throughput import cpu_seconds, make_template, rounds_from_log  # noqa: E402
from node.localnet_harness import LocalNet  # noqa: E402
from p2p.node import P2PNode  # noqa: E402
from p2p.types import PeerAddr  # noqa: E402
from state.crypto import Signer  # noqa: E402

SENT = "huzhu_p2p_message_send_bytes"
COPIES = "huzhu_consensus_copies_dropped"


def sent_by_channel(url: str) -> dict[str, float]:
    """The node's bytes sent to peers so far, by channel label."""
    text = urllib.request.urlopen(url + "metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(SENT + "_total{") or line.startswith(SENT + "{"):
            labels, value = line.rsplit(" ", 1)
            channel = labels.split('channel="', 1)[1].split('"', 1)[0]
            out[channel] = float(value)
    return out


def copies_dropped(url: str) -> float:
    """Byte copies of held proposals and votes the node dropped so far (peers' re-gossip
    that carried nothing new to it)."""
    text = urllib.request.urlopen(url + "metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(COPIES + "_total ") or line.startswith(COPIES + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def height(url: str) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "status", "params": {}}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    return int(json.loads(urllib.request.urlopen(req, timeout=10).read())["result"]["height"])


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.validators
    workdir = Path(tempfile.mkdtemp(prefix="huzhu-ccost-"))
    net = LocalNet.create(workdir, n, make_template(10, 1, None))
    try:
        net.start_all(wait=False)
        net.wait_all(args.skip, 180)
        urls = [net.rpc_url(i) for i in range(n)]
        pids = [net.pid(i) for i in range(n)]
        h0, c0 = height(urls[0]), [cpu_seconds(p) or 0.0 for p in pids]
        s0 = [sent_by_channel(u) for u in urls]
        d0 = [copies_dropped(u) for u in urls]
        t0 = time.monotonic()
        time.sleep(args.seconds)
        h1, c1 = height(urls[0]), [cpu_seconds(p) or 0.0 for p in pids]
        s1 = [sent_by_channel(u) for u in urls]
        d1 = [copies_dropped(u) for u in urls]
        elapsed = time.monotonic() - t0
        heights = max(1, h1 - h0)
        cpu = [b - a for a, b in zip(c0, c1, strict=True)]
        channels = sorted({ch for s in s1 for ch in s})
        sent = {
            ch: round(
                sum(b.get(ch, 0) - a.get(ch, 0) for a, b in zip(s0, s1, strict=True)) / n / heights
            )
            for ch in channels
        }
        return {
            "validators": n,
            "seconds": round(elapsed, 1),
            "heights": h1 - h0,
            "block_interval_ms": round(elapsed * 1000 / heights),
            "node_cpu_pct": round(100 * sum(cpu) / n / elapsed, 1),
            "node_cpu_ms_per_height": round(1000 * sum(cpu) / n / heights, 1),
            "sent_bytes_per_height_per_node": sent,
            "copies_dropped_per_height_per_node": round((sum(d1) - sum(d0)) / n / heights, 1),
            "rounds": rounds_from_log(net.log_path(0), (h0 + 1, h1)),
        }
    finally:
        net.close()
        shutil.rmtree(workdir, ignore_errors=True)


async def frame_cost(peers: int, frames: int, size: int, burst: int) -> dict[str, Any]:
    """Process CPU per frame delivered, hub to `peers` peers (see the module doc)."""
    keys = [Signer(bytes([i + 1]) * 32) for i in range(peers + 1)]
    allowed = {k.public_key for k in keys}
    got = [0]

    def on_msg(_peer: bytes, _channel: int, _payload: bytes) -> None:
        got[0] += 1

    def node(k: Signer, dial: list[PeerAddr]) -> P2PNode:
        return P2PNode(k, "bench", ("127.0.0.1", 0), dial, allowed.__contains__, None, on_msg)

    hub = node(keys[0], [])
    await hub.start()
    spokes = [
        node(k, [PeerAddr(keys[0].public_key, "127.0.0.1", hub.listen_port)]) for k in keys[1:]
    ]
    for s in spokes:
        await s.start()
    try:
        while len(hub.peers()) < peers:
            await asyncio.sleep(0.05)
        payload = b"v" * size

        async def once(count: int) -> float:
            got[0] = 0
            c0 = time.process_time()
            for _ in range(0, count, burst):
                for _ in range(burst):
                    hub.broadcast(1, payload)
                await asyncio.sleep(0)
            while got[0] < count // burst * burst * peers:
                await asyncio.sleep(0.001)
            return (time.process_time() - c0) / got[0]

        await once(min(frames, 2000))  # warm-up
        runs = [await once(frames) for _ in range(5)]
    finally:
        for s in spokes:
            await s.stop()
        await hub.stop()
    return {
        "peers": peers,
        "frame_payload_bytes": size,
        "burst": burst,
        "us_per_frame_runs": [round(r * 1e6, 2) for r in runs],
        "us_per_frame_best": round(min(runs) * 1e6, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--validators", type=int, default=21)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--skip", type=int, default=3, help="measure from this height on")
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("--frames", type=int, default=0, help="transport only: frames per run")
    ap.add_argument("--size", type=int, default=150, help="--frames: payload bytes")
    ap.add_argument("--burst", type=int, default=1, help="--frames: broadcasts per loop turn")
    args = ap.parse_args()
    if args.frames:
        coro = frame_cost(args.validators - 1, args.frames, args.size, args.burst)
        result = asyncio.run(coro)
    else:
        result = run(args)
    print(json.dumps(result))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
