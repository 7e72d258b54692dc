"""One nemesis run: namespaces, nodes, relay, workload, the schedule, then the checker.

Blocking work (stopping a process, which waits for it) runs in a thread so that the event
loop, which carries the relay's traffic, never stalls. Every object made is undone in
``finally``: paused nodes are continued, processes stopped, the relay closed, namespaces,
veths, bridge and tmpfs mounts removed (:class:`nemesis.netns.Network`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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

from nemesis.checker import NodeView, Observed, Violation, check, summarize
from nemesis.netns import NetnsError, Network, faketime_lib, fill, tmpfs_used, why_unavailable
from nemesis.relay import Endpoint, Relay, Toxic
from nemesis.schedule import NEEDS, Fault, Timing, make_schedule
from nemesis.workload import (
    CALL_TIMEOUT_S,
    POOL,
    Client,
    History,
    Rpc,
    RpcAnswerError,
    RpcFailure,
    Shared,
)
from node.config import Home
from node.localnet_harness import LocalNet, node_command, update_config
from node.testnet import create_testnet
from state.devkeys import dev_signer
from state.genesis_builder import genesis_doc

CHAIN_ID = "huzhu-nemesis"
RPC_PORT, P2P_PORT = 26657, 27657
START_WAIT_S = 60.0
TAG_TRIES = 5  # subnets tried when another run took the one drawn
RECOVERY_WAIT_S = 30.0
FINAL_WAIT_S = 90.0
DISK_TMPFS_BYTES = 256 << 20
BATCH = 100
PROGRESS_EVERY_S = 5.0
SAMPLE_EVERY_S = 1.0
MEMBER_BALANCE = 1_000_000
CONSENSUS = {
    "timeout_propose_ms": 1000,
    "timeout_propose_delta_ms": 300,
    "timeout_prevote_ms": 300,
    "timeout_prevote_delta_ms": 150,
    "timeout_precommit_ms": 300,
    "timeout_precommit_delta_ms": 150,
}
POOL_DOC = {
    "id": POOL,
    "name": "Nemesis mutual aid",
    "params": {
        "contribution": 100,
        "period": 10000,
        "entry_fee": 10,
        "waiting_period": 4,
        "max_claim": 5000,
        "claim_bond": 50,
        "vote_window": 8,
        "quorum": 2,
        "approve_bps": 5000,
        "juror_min_age": 3,
        "notice_period": 1,
        "fee_bps": 800,
    },
}
PROFILES = {
    "default": Timing(),
    "short": Timing(warmup_s=5.0, fault_min_s=2.0, fault_max_s=3.0, gap_s=2.0, cooldown_s=4.0),
}


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


@dataclass
class FaultRecord:
    fault: Fault
    status: str = "pending"  # applied / skipped / not_reached
    why: str = ""
    start_t: float | None = None
    heal_t: float | None = None
    recovered_t: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.fault.to_json(),
            "status": self.status,
            "why": self.why,
            "start_t": self.start_t,
            "heal_t": self.heal_t,
            "recovered_t": self.recovered_t,
        }


def signers(clients: int) -> dict[str, Any]:
    """The run's development keys: treasury, registrar, one member per client."""
    return {
        "treasury": dev_signer("nemesis-treasury"),
        "registrar": dev_signer("nemesis-registrar"),
        "members": [dev_signer(f"nemesis-member-{k}") for k in range(clients)],
    }


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
        self.capabilities: dict[str, str | None] = {}
        self.rss: dict[int, int | None] = {}

    # ---------------------------------------------------------------- setup

    def _template(self) -> dict[str, Any]:
        k = self.keys
        return genesis_doc(
            chain_id=CHAIN_ID,
            treasury=k["treasury"].public_key,
            registrars=[k["registrar"].public_key],
            params={"block_time_ms": self.o.block_time_ms, "epoch_length": 100000},
            validators=None,
            accounts=[(m.public_key, MEMBER_BALANCE) for m in k["members"]],
            pools=[POOL_DOC],
        )

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
            self.net = Network(n, Network.pick_tag(attempt))
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
        """Blocks 1..min height, lookups of every acknowledged or unknown call, and the supply,
        from every node."""
        n = self.o.validators
        hs = await self._heights()
        top = min(h for h in hs.values() if h is not None)
        hashes = sorted(
            {
                op.hash
                for op in self.history.ops
                if op.outcome in ("ok", "unknown") or op.type == "payout"
            }
        )
        views = []
        for i in range(n):
            v = NodeView(i, height=hs[i])
            rpc = self.rpcs[i]
            for lo in range(1, top + 1, BATCH):
                calls = [("block", {"height": h}) for h in range(lo, min(top, lo + BATCH - 1) + 1)]
                answers = await rpc.batch(calls, 60.0)
                for height, b in zip(range(lo, lo + len(calls)), answers, strict=True):
                    if isinstance(b, dict):
                        v.blocks[height] = b
            for lo in range(0, len(hashes), BATCH):
                chunk = hashes[lo : lo + BATCH]
                res = await rpc.batch([("tx", {"hash": h}) for h in chunk], 60.0)
                for h, r in zip(chunk, res, strict=True):
                    v.txs[h] = r if isinstance(r, dict) else None
            v.supply, v.supply_detail = await self._supply(rpc)
            views.append(v)
        genesis = self._template()
        supply0 = sum(a["balance"] for a in genesis["accounts"]) + sum(
            int(p.get("balance", 0)) for p in genesis["pools"]
        )
        return Observed(supply0, views, self.recoveries)

    async def _supply(self, rpc: Rpc) -> tuple[int | None, dict[str, int]]:
        """Accounts + pool + escrowed bonds + open proposals' deposits, read in one batch
        between two equal heights (so no block changed them in between); (None, {}) when
        the chain would not hold still for five tries."""
        k = self.keys
        addrs = [k["treasury"].public_key, k["registrar"].public_key] + [
            m.public_key for m in k["members"]
        ]
        genesis = await rpc.call("genesis")
        addrs_hex = sorted(
            {a.hex() for a in addrs}
            | set(genesis["params"].get("operators", []))
            | {a["address"] for a in genesis["accounts"]}
        )
        calls: list[tuple[str, dict[str, Any]]] = [("status", {})]
        calls += [("account", {"address": a}) for a in addrs_hex]
        calls += [
            ("pool", {"id": POOL}),
            ("claims", {"pool": POOL, "status": "voting", "limit": 1000}),
            ("claims", {"pool": POOL, "status": "approved", "limit": 1000}),
        ]
        calls += [("proposals", {"scope": POOL, "status": "voting", "limit": 1000}), ("status", {})]
        for _ in range(5):
            res = await rpc.batch(calls, 30.0)
            failed = [
                f"{c[0]}: {r}" for c, r in zip(calls, res, strict=True) if isinstance(r, Exception)
            ]
            if failed:
                return None, {"unreadable": len(failed)}
            if res[0]["height"] != res[-1]["height"]:
                continue
            accounts = sum(int(r["balance"]) for r in res[1 : 1 + len(addrs_hex)])
            pool, voting, approved, props = res[1 + len(addrs_hex) : -1]
            bond = int(pool["params"]["claim_bond"])
            bonds = sum(_bond_of(c, bond) for c in [*voting, *approved])
            # a proposal's JSON has no deposit field: it escrowed its gov_deposit at opening
            deposits = sum(int(p.get("deposit", p["gov"]["gov_deposit"])) for p in props)
            detail = {
                "height": int(res[0]["height"]),
                "accounts": accounts,
                "pool": int(pool["balance"]),
                "bonds": bonds,
                "deposits": deposits,
            }
            return detail["accounts"] + detail["pool"] + bonds + deposits, detail
        return None, {}

    def _resolve(self, obs: Observed) -> None:
        """An unknown call's outcome, from node 0's lookup (the checker has made sure every
        node agrees): where it was committed, or that it never was."""
        view = obs.nodes[0]
        for op in self.history.ops:
            if op.outcome == "unknown":
                r = view.txs.get(op.hash)
                if r is None or r.get("height") is None:
                    op.resolved = "absent"
                else:
                    op.resolved = f"committed at {r['height']}:{r['index']} code {r.get('code')}"

    # ----------------------------------------------------------------- run

    async def run(self) -> dict[str, Any]:
        why = why_unavailable()
        if why:
            raise Unavailable(why)
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
                    cl = Client(
                        c,
                        members[c],
                        CHAIN_ID,
                        self.rpcs,
                        self.history,
                        self.shared,
                        random.Random(rng.random()),
                    )
                    cl.peers = [m.public_key for m in members] + [self.keys["treasury"].public_key]
                    tasks.append(asyncio.create_task(cl.run(stop)))
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
                self._resolve(observed)
                self.rss = {
                    i: _rss(self.local.pid(i)) if self.local.alive(i) else None
                    for i in range(self.o.validators)
                }
        finally:
            stop.set()
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(BaseException):
                    await t
            self._teardown()
        return self._report(observed, violations, time.monotonic() - started)

    def _teardown(self) -> None:
        if self.local is not None:
            for i in list(self.paused):
                with contextlib.suppress(OSError, KeyError):
                    os.kill(self.local.pid(i), signal.SIGCONT)
            self.paused.clear()
            self.local.close()
        if self.relay is not None:
            # the loop may be closing: the relay's sockets die with the process anyway
            for s in self.relay.servers:
                s.close()
            for link in list(self.relay.links):
                link.cancel()
                link.close()
        if self.net is not None:
            self.teardown_errors = self.net.teardown()

    def _report(
        self, obs: Observed | None, violations: list[Violation], elapsed: float
    ) -> dict[str, Any]:
        kinds: dict[str, dict[str, int]] = {}
        for r in self.records:
            kinds.setdefault(r.fault.kind, {}).setdefault(r.status, 0)
            kinds[r.fault.kind][r.status] += 1
        rec_s = [r["seconds"] for r in self.recoveries if r.get("seconds") is not None]
        ops = self.history.ops
        latencies = [
            (op.done_t, round(op.done_t - op.invoke_t, 3))
            for op in ops
            if op.outcome == "ok" and op.done_t is not None
        ]
        return {
            "seed": self.o.seed,
            "validators": self.o.validators,
            "duration_s": self.o.duration_s,
            "profile": self.o.profile,
            "clients": self.o.clients,
            "elapsed_s": round(elapsed, 1),
            "replay": self.o.replay(),
            "workdir": str(self.root),
            "tag": self.net.tag if self.net is not None else None,
            "capabilities": self.capabilities,
            "faults": [r.to_json() for r in self.records],
            "faults_by_kind": kinds,
            "calls": self.history.counts(),
            "calls_by_type": _by_type(ops),
            "unknown_resolved": {
                "committed": sum(1 for op in ops if op.resolved.startswith("committed")),
                "absent": sum(1 for op in ops if op.resolved == "absent"),
            },
            "txs_checked": sum(1 for op in ops if op.outcome in ("ok", "unknown")),
            "blocks_checked": max((len(v.blocks) for v in obs.nodes), default=0) if obs else 0,
            "supply": {str(v.node): v.supply_detail for v in obs.nodes} if obs else {},
            "genesis_supply": obs.genesis_supply if obs else None,
            "longest_recovery_s": max(rec_s, default=None),
            "recoveries": self.recoveries,
            "node_exits": self.events,
            "rss_bytes": self.rss,
            "violations": summarize(violations),
            "violation_count": len(violations),
            "checked": obs is not None,
            "teardown_errors": self.teardown_errors,
            "samples": self.samples,
            "latencies": latencies,
            "history": [op.to_json() for op in ops],
        }


def _bond_of(claim: dict[str, Any], default: int) -> int:
    """The bond a claim escrowed: its recorded terms (version 2), else the pool's."""
    terms = claim.get("terms") or {}
    return int(terms.get("claim_bond", default))


def _by_type(ops: list[Any]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for op in ops:
        d = out.setdefault(op.type, {})
        d[op.outcome] = d.get(op.outcome, 0) + 1
    return out


def _rss(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


def run_nemesis(opts: Options) -> dict[str, Any]:
    """Run to the end (SIGTERM and SIGINT included: both tear down, then re-raise)."""

    def on_term(signum: int, frame: object) -> None:
        # asyncio.run's SIGINT handler cancels the run, whose finally tears everything down
        signal.raise_signal(signal.SIGINT)

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        return asyncio.run(Run(opts).run())
    finally:
        signal.signal(signal.SIGTERM, old)


def write_report(report: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
