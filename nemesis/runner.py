"""One nemesis run: namespaces, nodes, relay, workload, the schedule, then the checker.

Blocking work (stopping a process, which waits for it) runs in a thread so that the event
loop, which carries the relay's traffic, never stalls. Every object made is undone in
``finally``: paused nodes are continued, processes stopped, the relay closed, namespaces,
veths, bridge and tmpfs mounts removed (:class:`nemesis.netns.Network`).

SIGINT and SIGTERM end a run as :mod:`nemesis.ending` says.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from nemesis.chain import CHAIN_ID, CONSENSUS, PROFILES, genesis_template, signers
from nemesis.checker import Observed, Violation, check
from nemesis.collect import collect, resolve
from nemesis.ending import Interrupted, Stopper, teardown
from nemesis.leftovers import cleanup
from nemesis.netns import (
    RECORD_DIR,
    NetnsError,
    Network,
    faketime_lib,
    fill,
    tmpfs_used,
    why_unavailable,
)
from nemesis.officers import Attestor, Reporter
from nemesis.relay import Endpoint, Relay, Toxic
from nemesis.report import FaultRecord, build_report, rss
from nemesis.schedule import NEEDS, Fault, make_schedule
from nemesis.workload import (
    CALL_TIMEOUT_S,
    Client,
    History,
    Rpc,
    RpcAnswerError,
    RpcFailure,
    SenderArgs,
    Shared,
)
from node.config import Home
from node.localnet_harness import LocalNet, node_command, update_config
from node.testnet import create_testnet
from state.crypto import Signer

RPC_PORT, P2P_PORT = 26657, 27657
START_WAIT_S = 60.0
TAG_TRIES = 5  # subnets tried when another run took the one drawn
RECOVERY_WAIT_S = 30.0
FINAL_WAIT_S = 90.0
DISK_TMPFS_BYTES = 256 << 20
BATCH = 100
PROGRESS_EVERY_S = 5.0
SAMPLE_EVERY_S = 1.0
TASK_STOP_S = 10.0  # the workload's and sampler's tasks get this long to end once cancelled


class Unavailable(RuntimeError):
    """Namespaces cannot be created here; the message says why."""


@dataclass
class Options:
    validators: int = 4
    duration_s: float = 300.0
    seed: int = 0
    clients: int = 8
    profile: str = "default"
    block_time_ms: int = 300
    workdir: Path | None = None
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)

    def replay(self, json_out: str = "nemesis.json") -> str:
        extra = f" --profile {self.profile}" if self.profile != "default" else ""
        return (
            f"huzhu nemesis --validators {self.validators} --duration {self.duration_s:g} "
            f"--seed {self.seed} --clients {self.clients}{extra} --json {json_out}"
        )


class Run:
    def __init__(self, opts: Options) -> None:
        self.o = opts
        self.keys = signers(opts.clients)
        self.timing = PROFILES[opts.profile]
        self.schedule = make_schedule(opts.seed, opts.validators, opts.duration_s, self.timing)
        self.records = [FaultRecord(f) for f in self.schedule]
        self.history = History()
        self.shared = Shared()
        self.samples: list[tuple[float, int, int]] = []  # (t, node, height)
        self.last_height: dict[int, int] = {}
        self.last_seen: dict[int, int | None] = {}  # the last status answer (None: none)
        self.events: list[dict[str, Any]] = []  # unexpected exits and restarts
        self.skew: dict[int, int] = {}
        self.paused: set[int] = set()
        self.current = ""
        self.net: Network | None = None
        self.local: LocalNet | None = None
        self.relay: Relay | None = None
        self.rpcs: list[Rpc] = []
        self.disk_mounts: dict[int, Path] = {}
        self.teardown_errors: list[str] = []
        self.stopper = Stopper(opts.progress)
        self.capabilities: dict[str, str | None] = {}
        self.rss: dict[int, int | None] = {}

    # ---------------------------------------------------------------- setup

    def _template(self) -> dict[str, Any]:
        return genesis_template(self.keys, self.o.block_time_ms)

    def _command(self, home: Path) -> list[str]:
        assert self.net is not None
        i = next(k for k, h in self.local_homes.items() if h == home)
        argv = ["ip", "netns", "exec", self.net.ns(i)]
        if i in self.skew:
            lib = faketime_lib()
            offset = self.skew[i]
            argv += [
                "env",
                f"LD_PRELOAD={lib}",
                f"FAKETIME={offset:+d}s",
                "FAKETIME_DONT_FAKE_MONOTONIC=1",
            ]
        return argv + node_command(home)

    def _setup(self, root: Path) -> None:
        n = self.o.validators
        for attempt in range(TAG_TRIES):
            tag = Network.pick_tag(attempt)
            self.net = Network(n, tag, record=RECORD_DIR / f"hz{tag}.json")
            try:
                self.net.setup()
                break
            except NetnsError:
                if attempt == TAG_TRIES - 1:
                    raise
        assert self.net is not None
        net = self.net
        self.capabilities = {
            "iptables": None if net.iptables else "iptables does not work in the namespaces",
            "faketime": None if faketime_lib() else "libfaketime not installed (apt faketime)",
            "tmpfs": None,
        }
        tree = create_testnet(
            root / "net", n, template=self._template(), base_port=RPC_PORT, hostnames=True
        )
        self.local_homes = {i: node.home.resolve() for i, node in enumerate(tree.nodes)}
        ids = [node.node_id for node in tree.nodes]
        for i, home in self.local_homes.items():
            peers = [f"{ids[j]}@{net.relay_ip(j)}:{P2P_PORT}" for j in range(n) if j != i]
            update_config(
                home,
                {
                    "moniker": f"nemesis{i}",
                    "rpc": {"listen": f"{net.node_ip(i)}:{RPC_PORT}"},
                    "p2p": {"listen": f"{net.node_ip(i)}:{P2P_PORT}", "peers": peers},
                    "consensus": CONSENSUS,
                },
            )
        for f in self.schedule:
            if f.kind == "disk_full":
                for i in f.nodes:
                    data = Home(self.local_homes[i]).data
                    if i in self.disk_mounts:
                        continue
                    try:
                        net.mount_tmpfs(data, DISK_TMPFS_BYTES)
                        self.disk_mounts[i] = data
                    except RuntimeError as exc:
                        self.capabilities["tmpfs"] = f"cannot mount a tmpfs: {exc}"
        (root / "logs").mkdir(exist_ok=True)
        self.local = LocalNet(
            [self.local_homes[i] for i in range(n)], root / "logs", command=self._command
        )
        # LocalNet resolves homes itself; keep the mapping the command looks up in step
        self.local_homes = dict(self.local.homes)

    # ------------------------------------------------------------ observing

    async def _heights(self) -> dict[int, int | None]:
        async def one(i: int) -> int | None:
            try:
                st = await self.rpcs[i].call("status", timeout=2.0)
                return int(st["height"])
            except (RpcFailure, RpcAnswerError):
                return None

        hs = await asyncio.gather(*(one(i) for i in range(self.o.validators)))
        t = self.history.now()
        out: dict[int, int | None] = {}
        for i, h in enumerate(hs):
            out[i] = h
            self.last_seen[i] = h
            if h is not None:
                self.samples.append((t, i, h))
                self.last_height[i] = max(h, self.last_height.get(i, 0))
                self.shared.best_height = max(self.shared.best_height, h)
        return out

    async def _sampler(self) -> None:
        last_print = 0.0
        while True:
            hs = await self._heights()
            now = time.monotonic()
            if now - last_print >= PROGRESS_EVERY_S:
                last_print = now
                c = self.history.counts()
                heights = " ".join("-" if h is None else str(h) for h in hs.values())
                self.o.progress(
                    f"[nemesis t={self.history.now():6.1f}s] heights {heights} | "
                    f"txs ok={c.get('ok', 0)} refused={c.get('refused', 0)} "
                    f"unknown={c.get('unknown', 0)} in-flight={c.get('pending', 0)} | "
                    f"{self.current or 'no fault'}"
                )
            await asyncio.sleep(SAMPLE_EVERY_S)

    async def _wait_heights(
        self, want: Callable[[int, int], bool], nodes: list[int], limit: float
    ) -> bool:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            hs = await self._heights()
            if all(hs[i] is not None and want(i, hs[i] or 0) for i in nodes):
                return True
            await asyncio.sleep(0.5)
        return False

    # -------------------------------------------------------------- faults

    def _check_exits(self) -> None:
        """Nodes that exited without the nemesis stopping them: recorded, then restarted."""
        assert self.local is not None
        for i, code in self.local.exited():
            if i in self._stopped:
                continue
            tail = self.local.log_tail(i, 5)
            self.events.append(
                {
                    "t": self.history.now(),
                    "node": i,
                    "exit": code,
                    "log": tail,
                    "during": self.current,
                }
            )
            self.o.progress(f"[nemesis] node{i} exited by itself (status {code}); restarting it")
            self.local.start(i)

    async def _stop(self, i: int, kill: bool) -> None:
        assert self.local is not None
        self._stopped.add(i)
        await asyncio.to_thread(self.local.stop, i, kill=kill)

    def _start(self, i: int) -> None:
        assert self.local is not None
        self._stopped.discard(i)
        if not self.local.alive(i):
            self.local.start(i)

    async def _apply(self, f: Fault) -> str | None:
        """Apply `f`; the reason it was skipped, or None."""
        assert self.net is not None and self.local is not None and self.relay is not None
        need = NEEDS.get(f.kind)
        if need and self.capabilities.get(need):
            return self.capabilities[need]
        i = f.nodes[0] if f.nodes else 0
        k = f.kind
        if k.startswith("partition_"):
            for a, b in f.params["blocked"]:
                self.net.block(a, b)
        elif k == "loss":
            self.net.lose(i, f.params["probability"])
        elif k == "latency":
            self.relay.set_toxic(
                i, Toxic(latency_ms=f.params["latency_ms"], jitter_ms=f.params["jitter_ms"])
            )
        elif k == "bandwidth":
            self.relay.set_toxic(i, Toxic(bytes_per_s=f.params["bytes_per_s"]))
        elif k == "stall":
            self.relay.set_toxic(i, Toxic(stalled=True))
        elif k == "reset":
            self.relay.set_toxic(i, Toxic(reset=True))
        elif k == "pause":
            os.kill(self.local.pid(i), signal.SIGSTOP)
            self.paused.add(i)
        elif k in ("kill9", "term"):
            await self._stop(i, kill=k == "kill9")
        elif k == "clock_skew":
            await self._stop(i, kill=False)
            self.skew[i] = f.params["offset_s"]
            self._start(i)
        elif k == "disk_full":
            data = self.disk_mounts.get(i)
            if data is None:
                return self.capabilities.get("tmpfs") or "no tmpfs on this node's data directory"
            headroom = int(f.params["headroom_bytes"])
            size = (tmpfs_used(data) + headroom + 4095) // 4096 * 4096
            self.net.resize_tmpfs(data, size)
            await asyncio.to_thread(fill, data / "nemesis-filler", headroom + (1 << 20))
        elif k == "kill_all":
            for j in range(self.o.validators):
                self._stopped.add(j)
            await asyncio.to_thread(self.local.stop_all, kill=True)
        return None

    async def _heal(self, f: Fault) -> None:
        assert self.net is not None and self.local is not None and self.relay is not None
        i = f.nodes[0] if f.nodes else 0
        k = f.kind
        if k.startswith("partition_") or k == "loss":
            self.net.heal_rules()
        elif k in ("latency", "bandwidth", "stall", "reset"):
            self.relay.clear(i)
        elif k == "pause":
            os.kill(self.local.pid(i), signal.SIGCONT)
            self.paused.discard(i)
        elif k in ("kill9", "term"):
            self._start(i)
        elif k == "clock_skew":
            await self._stop(i, kill=False)
            self.skew.pop(i, None)
            self._start(i)
        elif k == "disk_full":
            data = self.disk_mounts[i]
            self.net.resize_tmpfs(data, DISK_TMPFS_BYTES)
            (data / "nemesis-filler").unlink(missing_ok=True)
        elif k == "kill_all":
            for j in range(self.o.validators):
                self._start(j)

    async def _run_fault(self, rec: FaultRecord) -> None:
        f = rec.fault
        before = dict(self.last_height)
        rec.start_t = self.history.now()
        self.current = f.describe()
        self.o.progress(f"[nemesis t={rec.start_t:6.1f}s] fault {f.describe()} for {f.length_s:g}s")
        why = await self._apply(f)
        if why:
            rec.status, rec.why = "skipped", why
            self.o.progress(f"[nemesis] fault #{f.index} {f.kind} skipped: {why}")
            self.current = ""
            return
        rec.status = "applied"
        await asyncio.sleep(f.length_s)
        await self._heal(f)
        rec.heal_t = self.history.now()
        self.current = f"healing #{f.index} {f.kind}"
        self._check_exits()
        # a node must pass the height it had before the fault (restarted ones included)
        base = {j: max(before.get(j, 0), 0) for j in range(self.o.validators)}
        base = {j: max(base[j], self._height_at_heal(j)) for j in base}
        nodes = list(range(self.o.validators))
        pending = set(nodes)
        deadline = time.monotonic() + RECOVERY_WAIT_S + 5
        while pending and time.monotonic() < deadline:
            hs = await self._heights()
            for j in list(pending):
                h = hs.get(j)
                if h is not None and h > base[j]:
                    pending.discard(j)
                    self.recoveries.append(
                        {
                            "fault": f.index,
                            "kind": f.kind,
                            "node": j,
                            "seconds": round(self.history.now() - rec.heal_t, 2),
                        }
                    )
            self._check_exits()
            if pending:
                await asyncio.sleep(0.5)
        for j in sorted(pending):
            self.recoveries.append(
                {
                    "fault": f.index,
                    "kind": f.kind,
                    "node": j,
                    "seconds": None,
                    "why": f"height stayed at {self.last_height.get(j)} (was {base[j]})",
                }
            )
            self.o.progress(
                f"[nemesis] node{j} did not advance within {RECOVERY_WAIT_S:g}s after healing #{f.index} {f.kind}"
            )
        rec.recovered_t = self.history.now()
        self.current = ""

    def _report_behind(self, top: int) -> None:
        """Each node not at `top` when the run ends: a recovery that never came."""
        for i, h in sorted(self.last_seen.items()):
            if h is None or h < top:
                why = f"at height {h}, not {top}, {FINAL_WAIT_S:g}s after the workload stopped"
                self.o.progress(f"[nemesis] node{i} {why}")
                self.recoveries.append(
                    {"fault": -1, "kind": "end of run", "node": i, "seconds": None, "why": why}
                )

    def _height_at_heal(self, j: int) -> int:
        hs = [h for t, i, h in self.samples[-4 * self.o.validators :] if i == j]
        return hs[-1] if hs else 0

    # ----------------------------------------------------------- collecting

    async def _collect(self) -> Observed:
        hs = await self._heights()
        k = self.keys
        known = [k["treasury"].public_key, k["registrar"].public_key]
        known += [m.public_key for m in [*k["members"], *k["attestors"], *k["reporters"]]]
        genesis = self._template()
        supply0 = sum(a["balance"] for a in genesis["accounts"]) + sum(
            int(p.get("balance", 0)) for p in genesis["pools"]
        )
        return await collect(self.rpcs, hs, self.history.ops, known, supply0, self.recoveries)

    def _sender_args(self, k: int, signer: Signer, rng: random.Random) -> SenderArgs:
        """What a workload sender `k` is made of (its own rng drawn from the run's seed)."""
        rnd = random.Random(rng.random())
        return k, signer, CHAIN_ID, self.rpcs, self.history, self.shared, rnd

    # ----------------------------------------------------------------- run

    async def run(self) -> dict[str, Any]:
        main = asyncio.current_task()
        assert main is not None
        self.stopper.install(main)
        why = why_unavailable()
        if why:
            raise Unavailable(why)
        old = cleanup(progress=self.o.progress)
        for line in old.left:
            self.o.progress(f"[nemesis] a previous run's leftover could not be removed: {line}")
        self.recoveries: list[dict[str, Any]] = []
        self._stopped: set[int] = set()
        root = Path(self.o.workdir or tempfile.mkdtemp(prefix=f"nemesis-{self.o.seed}-"))
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        tasks: list[asyncio.Task[None]] = []
        stop = asyncio.Event()
        violations: list[Violation] = []
        observed: Observed | None = None
        started = time.monotonic()
        try:
            await asyncio.sleep(0)  # a signal that came during the checks above stops us here
            self._setup(root)
            assert self.net is not None and self.local is not None
            net = self.net
            self.relay = Relay(
                [
                    Endpoint(i, net.node_ip(i), P2P_PORT, net.relay_ip(i))
                    for i in range(self.o.validators)
                ],
                net.identify,
                seed=self.o.seed,
            )
            await self.relay.start()
            async with aiohttp.ClientSession() as session:
                self.rpcs = [
                    Rpc(session, f"http://{net.node_ip(i)}:{RPC_PORT}/")
                    for i in range(self.o.validators)
                ]
                self.local.start_all(wait=False)
                self.o.progress(
                    f"[nemesis] {self.o.validators} nodes in namespaces hz{net.tag}n*, subnet 10.77.{net.tag}.0/24, workdir {root}"
                )
                if not await self._wait_heights(
                    lambda i, h: h >= 2, list(range(self.o.validators)), START_WAIT_S
                ):
                    raise RuntimeError(
                        f"the chain did not start within {START_WAIT_S:g}s:\n{self.local.dump_logs(10)}"
                    )
                self.history.t0 = time.monotonic()
                self.samples.clear()  # times count from the workload's start
                rng = random.Random(self.o.seed)
                members = self.keys["members"]
                for c in range(self.o.clients):
                    cl = Client(*self._sender_args(c, members[c], rng))
                    cl.peers = [m.public_key for m in members] + [self.keys["treasury"].public_key]
                    tasks.append(asyncio.create_task(cl.run(stop)))
                officers: list[Attestor | Reporter] = [
                    Attestor(*self._sender_args(self.o.clients + j, a, rng))
                    for j, a in enumerate(self.keys["attestors"])
                ]
                officers += [
                    Reporter(*self._sender_args(self.o.clients + len(officers) + j, r, rng))
                    for j, r in enumerate(self.keys["reporters"])
                ]
                tasks += [asyncio.create_task(o.run(stop)) for o in officers]
                tasks.append(asyncio.create_task(self._sampler()))
                await asyncio.sleep(self.timing.warmup_s)
                end = started + self.o.duration_s
                for rec in self.records:
                    if time.monotonic() + rec.fault.length_s + self.timing.cooldown_s > end:
                        rec.status, rec.why = "not_reached", "the run's duration was over"
                        continue
                    await self._run_fault(rec)
                    await asyncio.sleep(self.timing.gap_s)
                await asyncio.sleep(max(0.0, min(self.timing.cooldown_s, end - time.monotonic())))
                self.o.progress("[nemesis] schedule done; stopping the workload")
                stop.set()
                await asyncio.wait([t for t in tasks[:-1]], timeout=CALL_TIMEOUT_S + 5)
                self._check_exits()
                for i in range(self.o.validators):
                    self._start(i)
                top = max(self.last_height.values(), default=0) + 2
                if not await self._wait_heights(
                    lambda i, h: h >= top, list(range(self.o.validators)), FINAL_WAIT_S
                ):
                    self._report_behind(top)
                self.o.progress(
                    "[nemesis] collecting blocks, transactions and supply from every node"
                )
                observed = await self._collect()
                violations = check([op.to_json() for op in self.history.ops], observed)
                resolve(self.history.ops, observed)
                self.rss = {
                    i: rss(self.local.pid(i)) if self.local.alive(i) else None
                    for i in range(self.o.validators)
                }
        except asyncio.CancelledError:
            if self.stopper.interrupted is None:
                raise
            main.uncancel()
        finally:
            self.stopper.tearing_down = True
            stop.set()
            for t in tasks:
                t.cancel()
            if tasks:
                # bounded: a task that ignored its cancellation must not keep the teardown away
                done, _ = await asyncio.wait(tasks, timeout=TASK_STOP_S)
                for t in done:  # retrieved, so that a task's error is not logged at exit
                    if not t.cancelled():
                        t.exception()
            self.teardown_errors = teardown(self.local, self.paused, self.relay, self.net)
        if self.stopper.interrupted is not None:
            raise Interrupted(self.stopper.interrupted, self.teardown_errors)
        return self._report(observed, violations, time.monotonic() - started)

    def _report(
        self, obs: Observed | None, violations: list[Violation], elapsed: float
    ) -> dict[str, Any]:
        return build_report(self, obs, violations, elapsed)


def run_nemesis(opts: Options) -> dict[str, Any]:
    """Run to the end, or to SIGINT/SIGTERM: both tear down, then raise :class:`Interrupted`."""
    return asyncio.run(Run(opts).run())
