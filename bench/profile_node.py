"""Where one validator's CPU goes under load: bench/throughput.py's workload with py-spy on a node.

    python bench/profile_node.py --validators 4 --rate 1000 --seconds 30 [--node 1] [--json out.json]
        [--retry-full] [--batch-wait-ms MS] [--inflight N]

An overloaded run as bench/throughput.py --overload's open loop makes it: `--rate` 2x the
saturating figure, `--retry-full --batch-wait-ms 20 --inflight 32` (refusals offered again,
requests of ~100 txs, enough of them in flight to send that rate); compare its areas per
committed tx against `--rate 0` (saturating).

Runs bench/throughput.py (imported, the same network set-up, workload and accounting) at a fixed
open-loop rate and, over exactly its measured window, samples one node process with py-spy
(`pip install py-spy` into .venv: a dev tool, not a dependency of the node). py-spy reads the
process from outside, so the node runs its normal code at its normal speed; only samples where
the node was running (not waiting in the event loop's poll) are counted.

It prints the node's CPU per committed transaction (from /proc, as throughput.py measures it),
the share of samples per area of the code (p2p, tx gossip, consensus, state exec, admission,
rpc, service/ws, metrics, logging, other) and the top functions by own and by cumulative time.
Garbage collection runs inside whatever frame allocated, so samples cannot show it: its time
comes from the node's own per-block `gc_ms` log field (node/vitals.py GcClock) instead.

Node 0 also answers the bench's block poller; the default profiles node 1, a plain validator.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import throughput  # noqa: E402

#: areas, first match wins: a sample is charged to the first area any frame of its stack
#: belongs to, so signature checks under admission count as admission and execution under
#: consensus counts as state exec
AREAS: list[tuple[str, Callable[[str, str], bool]]] = [
    ("metrics", lambda fn, f: f.endswith("node/metrics.py")),
    (
        "admission",
        lambda fn, f: (
            f.endswith(("state/mempool.py", "node/workers.py"))
            or (f.endswith("node/runtime.py") and fn in ("submit", "_admit"))
        ),
    ),
    ("tx gossip", lambda fn, f: f.endswith(("state/txgossip.py", "p2p/gossip.py"))),
    (
        "state exec",
        lambda fn, f: (
            f.endswith(("state/machine.py", "state/app.py", "node/pacing.py"))
            or "/state/tree" in f
            or (f.endswith("state/chain.py") and fn not in ("view",))
        ),
    ),
    ("service/ws", lambda fn, f: f.endswith(("node/service.py", "node/wsconn.py"))),
    (
        "rpc",
        lambda fn, f: (
            f.endswith(("node/rpc.py", "node/jsonrpc.py", "node/listener.py")) or "/aiohttp/" in f
        ),
    ),
    ("consensus", lambda fn, f: "/consensus/" in f),
    ("p2p", lambda fn, f: "/p2p/" in f),
    ("logging", lambda fn, f: f.endswith(("node/logs.py", "logging/__init__.py"))),
]
AREA_NAMES = [a for a, _ in AREAS] + ["other"]
_FRAME = re.compile(r"^(?P<fn>.*) \((?P<file>.*?)(?::\d+)?\)$")


def parse_frame(text: str) -> tuple[str, str]:
    """`func (path:line)` as py-spy writes it -> (func, path)."""
    m = _FRAME.match(text.strip())
    return (m["fn"], m["file"]) if m else (text.strip(), "")


def short(fn: str, path: str) -> str:
    """`file.py:func` with the repository's (or site-packages') prefix cut off."""
    for marker in ("site-packages/", str(ROOT) + "/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{fn}"


def area_of(stack: Sequence[tuple[str, str]]) -> str:
    # py-spy gives paths relative to the node's working directory (the repository)
    rooted = [(fn, f if f.startswith("/") else "/" + f) for fn, f in stack]
    for name, test in AREAS:
        if any(test(fn, f) for fn, f in rooted):
            return name
    return "other"


def analyse(raw: str) -> dict[str, Any]:
    """py-spy's raw output (one `frame;frame;... count` line per distinct stack, root first)
    -> sample counts per area, per function own (leaf) and cumulative (anywhere in stack)."""
    areas: Counter[str] = Counter()
    own: Counter[str] = Counter()
    cum: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        # py-spy puts the thread name first ("process 123:..." / "thread (0x..)"): not a frame
        frames = [parse_frame(f) for f in stack_text.split(";") if "(" in f]
        frames = [f for f in frames if f[1]]
        if not frames:
            continue
        total += count
        areas[area_of(frames)] += count
        own[short(*frames[-1])] += count
        for name in {short(*f) for f in frames}:
            cum[name] += count
    return {"samples": total, "areas": dict(areas), "own": own, "cum": cum}


def gc_ms_in_log(text: str, heights: tuple[int, int]) -> tuple[int, int]:
    """Sum of the `gc_ms=` fields of `committed` lines for heights in [lo, hi]; (ms, blocks)."""
    total = blocks = 0
    lo, hi = heights
    for m in re.finditer(r"committed height=(\d+) .*?gc_ms=(\d+)", text):
        if lo <= int(m[1]) <= hi:
            total += int(m[2])
            blocks += 1
    return total, blocks


class Sampler:
    """Starts py-spy on one node for the measured window: bench/throughput.py calls its
    `observe` right after starting the submitter, whose load starts 1 s later; the window
    begins after the warm-up."""

    def __init__(self, node: int, out: Path, rate_hz: int, seconds: float, warmup: float):
        self.node, self.out, self.rate_hz = node, out, rate_hz
        self.seconds, self.warmup = seconds, warmup
        self.pid: int | None = None
        self.thread: threading.Thread | None = None
        self.heights: list[int] = []
        self.error: str | None = None
        self.spy = True
        self.gil = False

    def install(self) -> None:
        run_inner = throughput._run
        observe = throughput.observe

        async def _run(args: argparse.Namespace, net: Any, senders: int, claimants: int) -> Any:
            self.pid = net.pid(self.node)
            self.net = net
            return await run_inner(args, net, senders, claimants)

        async def observe_hooked(*a: Any, **kw: Any) -> int:
            self.thread = threading.Thread(target=self._record, args=(time.time() + 1.0,))
            self.thread.start()
            return await observe(*a, **kw)

        throughput._run = _run
        throughput.observe = observe_hooked

    def _height(self) -> int:
        try:
            return int(self.net.height(self.node))
        except Exception:
            return -1

    def _record(self, start_at: float) -> None:
        spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
        time.sleep(max(0.0, start_at + self.warmup - time.time()))
        self.heights.append(self._height())
        if not self.spy:
            time.sleep(self.seconds)
            self.heights.append(self._height())
            return
        cmd = [
            spy,
            "record",
            "--pid",
            str(self.pid),
            "--duration",
            str(int(self.seconds)),
            "--rate",
            str(self.rate_hz),
            "--format",
            "raw",
            "--function",
            "--nonblocking",
            *(["--gil"] if self.gil else []),
            "--output",
            str(self.out),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.seconds + 60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.error = f"py-spy failed: {exc}"
            return
        if proc.returncode != 0:
            self.error = f"py-spy exited {proc.returncode}: {proc.stderr.strip()[-500:]}"
        self.heights.append(self._height())


def print_report(result: dict[str, Any], prof: dict[str, Any], top: int) -> None:
    n = result["validators"]
    per_node = result["node_cpu_us_per_tx"] / n if result["node_cpu_us_per_tx"] else None
    print()
    print(
        f"committed {result['committed_tps']} tx/s, p99 {result['p99_ms']} ms, "
        f"node CPU {result['node_cpu_pct']} %, "
        f"{per_node:.0f} us per committed tx per node"
        if per_node
        else "no committed transactions in the window"
    )
    total = prof["samples"] or 1
    print(f"\nnode {prof['node']}: {prof['samples']} samples at {prof['rate_hz']} Hz")
    print("\n| area | share of samples | us per committed tx |")
    print("| --- | --- | --- |")
    for name in AREA_NAMES:
        share = prof["areas"].get(name, 0) / total
        us = f"{share * per_node:.0f}" if per_node else "-"
        print(f"| {name} | {share:.1%} | {us} |")
    gc_ms, gc_blocks = prof["gc_ms"], prof["gc_blocks"]
    if gc_blocks and result["committed_tps"]:
        txs = result["committed_tps"] * result["seconds"]
        print(
            f"| (gc, from the log, inside the above) | {gc_ms} ms over {gc_blocks} blocks | "
            f"{gc_ms * 1000 / txs:.0f} |"
        )
    for title, key in (("own", "own"), ("cumulative", "cum")):
        print(f"\ntop {top} by {title} time:\n")
        print("| function | share |")
        print("| --- | --- |")
        for name, count in prof[key].most_common(top):
            print(f"| {name} | {count / total:.1%} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--rate", type=float, default=1000, help="open-loop tx/s (0: saturating)")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--warmup", type=float, default=5)
    p.add_argument("--node", type=int, default=1, help="which node to sample")
    p.add_argument("--sample-hz", type=int, default=200)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--raw", default=None, help="keep py-spy's raw samples here")
    p.add_argument("--json", dest="json_out", default=None)
    p.add_argument("--node-log", default=None, help="copy the sampled node's log here")
    p.add_argument("--no-spy", action="store_true", help="only the CPU figure, no sampling")
    p.add_argument(
        "--retry-full",
        action="store_true",
        help="offer mempool_full refusals again (bench/throughput.py --retry-full)",
    )
    p.add_argument(
        "--batch-wait-ms",
        type=float,
        default=None,
        help="open loop: wait for this many ms of txs before a request (throughput.py's)",
    )
    p.add_argument(
        "--inflight",
        type=int,
        default=None,
        help="RPC requests in flight per node (throughput.py's --inflight; --overload's open "
        "loop uses 32 to send 2x)",
    )
    p.add_argument(
        "--gil",
        action="store_true",
        help="only samples of the thread holding the GIL: where the Python CPU goes, without "
        "idle threads that py-spy cannot tell from busy ones",
    )
    args = p.parse_args(argv)
    if args.node >= args.validators:
        p.error("--node must be below --validators")
    raw_path = Path(args.raw or f"/tmp/huzhu-profile-{time.time_ns()}.txt")
    sampler = Sampler(args.node, raw_path, args.sample_hz, args.seconds, args.warmup)
    sampler.spy = not args.no_spy
    sampler.gil = args.gil
    sampler.install()
    logs: dict[str, str] = {}
    close = throughput.LocalNet.close

    def close_keeping_log(net: Any, **kw: Any) -> Any:
        out = close(net, **kw)
        try:
            logs["text"] = net.log_text(args.node)
        except OSError:
            pass
        return out

    # read the node's log before the bench removes its directory
    setattr(throughput.LocalNet, "close", close_keeping_log)  # noqa: B010
    # the throughput bench's own defaults, so an option it gains never breaks this run
    tp = throughput.parser().parse_args(["--json", "-"])
    tp.validators, tp.seconds, tp.warmup = args.validators, args.seconds, args.warmup
    tp.rate, tp.max_rate, tp.json_out = args.rate or None, args.rate or tp.max_rate, None
    tp.retry_full = args.retry_full
    tp.inflight = args.inflight
    if args.batch_wait_ms is not None:
        tp.batch_wait_ms = args.batch_wait_ms
    result = throughput.run(tp)
    result.pop("timeline", None)
    if sampler.thread is not None:
        sampler.thread.join()
    prof: dict[str, Any] = {"node": args.node, "rate_hz": args.sample_hz, "samples": 0}
    prof.update(areas={}, own=Counter(), cum=Counter(), gc_ms=0, gc_blocks=0)
    if sampler.error:
        print(sampler.error, file=sys.stderr)
    elif not args.no_spy and raw_path.exists():
        prof.update(analyse(raw_path.read_text()))
        if not args.raw:
            raw_path.unlink()
    if len(sampler.heights) == 2 and "text" in logs:
        lo, hi = sampler.heights
        prof["gc_ms"], prof["gc_blocks"] = gc_ms_in_log(logs["text"], (lo, hi))
    if args.node_log and "text" in logs:
        Path(args.node_log).write_text(logs["text"])
    print_report(result, prof, args.top)
    if args.json_out:
        out = {**result, "profile": {**prof, "own": prof["own"].most_common(args.top)}}
        out["profile"]["cum"] = prof["cum"].most_common(args.top)
        Path(args.json_out).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
