"""State-machine throughput: execute + commit of full blocks on a LevelDB state, one core.

    python bench/state.py --json OUT [--accounts 100000] [--blocks N] [--block-txs 5000]

Builds a genesis of `--accounts` funded accounts in a LevelDB store (temp dir), joins a share
of them to a pool (untimed warm-up), pre-signs `--blocks` blocks of `--block-txs`
transactions (70 % transfers, 20 % pool `pay`, 10 % `join` by new members), then times
`Chain.execute` + `Chain.commit` of each block with signature checks excluded
(`verified=lambda h: True`: the mempool verified them at admission). `exec_tps` counts
transactions executed and committed per second, state root and synced batch included.

`--path node` (the default) is the node's own path: `ChainApp.prepare` + `ChainApp.commit`
(state/app.py) with `known(wire)` answering from a dict of the pre-decoded transactions, as
the mempool does (sha256 of the wire, a dict lookup, a bytes compare), so execution decodes
nothing, and the commit adds the account-history index (state/txindex.py) and the block-key
hashes. `--path decode` is the bench's older path, kept for comparison with earlier figures:
`Chain.execute` decoding every transaction + `Chain.commit`, no account-history index.
`exec_thread_cpu_tps` divides by the CPU time of the executing thread alone
(`time.thread_time`): on a shared machine it moves least, and it leaves out LevelDB's
background compaction thread (which `exec_cpu_tps`, the whole process, counts).
`--gc node` (the default) sets the garbage collector's thresholds as a node does
(node/vitals.py `tune_gc`); `--gc default` keeps CPython's. `gc_s` is the executing thread's
time in collections during the timed blocks.
`verify_tps` is pynacl Ed25519 verifications per second in the same run, for comparison.
`--profile` prints the hottest functions (cProfile) of the timed part. `--breakdown` adds
`breakdown_us_per_tx`: the executing thread's CPU per transaction in the rules
(`BlockExecutor.run`), the tree update, the records' encoding, the synced write, the rest of
the commit (x/ and r/ records, the prune's merge), the record cache's refresh and the
account-history index, and the store reads per transaction (record-cache misses) with their
cost each. `--cold` reopens the
chain from the store before the timed blocks (a restarted node: tree cache refilled by
Chain.warming as node/runtime.py does at start, record cache empty), instead of the long-running node's warm caches. `--history N` is
the chain's state_history (default 10,000: no version is old enough to prune in a short run,
so the cost is the stale index; 1 prunes at every commit, the steady state's cost).
`--store KEY=VALUE` (repeatable) sets a LevelDB option (state/store.py LevelDBOptions, e.g.
`--store compression=snappy --store write_buffer_size=4194304`) for an A/B of the store;
`process_us_per_tx` is the whole process's CPU per tx (LevelDB's flush and compaction threads
included), `write_us_per_tx` the executing thread's CPU in the synced block writes alone.
`other_threads_us_per_tx` (and `other_threads_ms`, each thread) is the CPU of the process's
other threads in the timed window, from /proc/self/task/*/schedstat: LevelDB's background
thread, flushing memtables and compacting what the blocks wrote; `leveldb_compaction` is
LevelDB's own count for the window (`leveldb.stats`: seconds, MB read and written by flushes
and compactions) and `leveldb_levels_mb` each level's size at its end. `--settle` compacts the
store (LevelDB's manual compaction) and waits for its background thread to go idle before the
timed blocks, so that the window's background CPU is not the set-up's
compaction debt (bench/README.md, exec11: it is not; it is the blocks' own writes).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import json
import os
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from state.app import ChainApp  # noqa: E402
from state.chain import DEFAULT_STATE_HISTORY, BlockInput, Chain  # noqa: E402
from state.crypto import Signer, sha256  # noqa: E402
from state.genesis import parse_genesis  # noqa: E402
from state.genesis_builder import ValidatorSpec, genesis_doc  # noqa: E402
from state.store import Batch, LevelDBOptions, LevelDBStore  # noqa: E402
from state.tx import Tx, build_tx, verify_tx  # noqa: E402

CHAIN_ID = "huzhu-bench"
BALANCE = 10_000_000
PATHS = ("node", "decode")
GC_MODES = ("node", "default")


def thread_cpu_ns() -> dict[int, int]:
    """CPU nanoseconds of each live thread of this process (Linux `/proc/self/task/*/schedstat`,
    whose first field is the thread's run time): the background threads' share of a window is
    the difference of two readings. Empty where /proc is absent."""
    out: dict[int, int] = {}
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat", "rb") as f:
                out[tid] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # the thread ended between the listing and the read
    return out


def _quiesce(idle_ms: float = 1.0, step_s: float = 0.1, limit_s: float = 30.0) -> None:
    """Wait until the other threads (LevelDB's background one) stay idle for a `step_s`
    (under `idle_ms` of CPU), at most `limit_s`: the compactions LevelDB schedules by itself
    after a manual one (which pushes L0 down, not every level) have run by then."""
    me = threading.get_native_id()
    end = time.monotonic() + limit_s
    before = sum(ns for t, ns in thread_cpu_ns().items() if t != me)
    while time.monotonic() < end:
        time.sleep(step_s)
        now = sum(ns for t, ns in thread_cpu_ns().items() if t != me)
        if now - before < idle_ms * 1e6:
            return
        before = now


def _leveldb_stats(store: LevelDBStore) -> dict[str, Any]:
    """LevelDB's `leveldb.stats` summed over levels: compaction seconds (wall, flushes of the
    memtable included), MB read and written by compactions, and each level's size."""
    raw = store._db.get_property(b"leveldb.stats")  # type: ignore[attr-defined]
    out: dict[str, Any] = {"s": 0.0, "read_mb": 0.0, "write_mb": 0.0, "levels_mb": []}
    for line in (raw or b"").decode().splitlines():
        f = line.split()
        if len(f) == 6 and f[0].isdigit():
            out["levels_mb"].append(float(f[2]))
            out["s"] += float(f[3])
            out["read_mb"] += float(f[4])
            out["write_mb"] += float(f[5])
    return out


class GcTimer:
    """Thread CPU time spent in the cyclic garbage collector while `on`."""

    def __init__(self) -> None:
        self.on = False
        self.total = 0.0
        self.count = 0
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if not self.on:
            return
        if phase == "start":
            self._t0 = time.thread_time()
        else:
            self.total += time.thread_time() - self._t0
            self.count += 1


class Breakdown:
    """Thread CPU of the parts of the timed blocks (`--breakdown`): the methods doing them are
    wrapped while the bench runs and counted while `on`. Each wrapped call adds two clock
    reads (~1 us: once a block for most parts, once a read for `store_get`), so the parts
    run slightly above `exec_us_per_tx`; they say where it goes, not a second figure."""

    def __init__(self) -> None:
        self.on = False
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._saved: list[tuple[Any, str, Any]] = []

    def install(self) -> None:
        from state import chain as chain_mod
        from state import machine, tree, txindex

        parts = (
            ("rules", machine.BlockExecutor, "run"),
            ("finish", machine.BlockExecutor, "finish"),  # record encoding + the tree
            ("tree", tree.StateTree, "update"),
            ("commit", Chain, "commit"),  # the synced write and the record cache's refresh
            ("refresh", chain_mod._Committed, "refresh"),
            ("history_index", txindex, "index_batch"),
            ("store_get", LevelDBStore, "get"),  # record-cache misses (and the prune's reads)
        )
        for name, owner, attr in parts:
            fn = getattr(owner, attr)
            self._saved.append((owner, attr, fn))
            setattr(owner, attr, self._timed(name, fn))

    def uninstall(self) -> None:
        for owner, attr, fn in reversed(self._saved):
            setattr(owner, attr, fn)
        self._saved.clear()

    def _timed(self, name: str, fn: Any) -> Any:
        def timed(*args: Any, **kw: Any) -> Any:
            if not self.on:
                return fn(*args, **kw)
            t = time.thread_time()
            try:
                return fn(*args, **kw)
            finally:
                self.cpu[name] = self.cpu.get(name, 0.0) + time.thread_time() - t
                self.calls[name] = self.calls.get(name, 0) + 1

        return timed

    def report(self, txs: int, write_us_per_tx: float) -> dict[str, float]:
        """Thread µs per transaction of each part, nested parts taken out of their callers."""
        us = {k: v / txs * 1e6 for k, v in self.cpu.items()}
        get = us.get
        out = {
            "rules": get("rules", 0.0),
            "tree": get("tree", 0.0),
            "encode": get("finish", 0.0) - get("tree", 0.0),
            "write": write_us_per_tx,
            "commit_records": get("commit", 0.0) - write_us_per_tx - get("refresh", 0.0),
            "refresh": get("refresh", 0.0),
            "history_index": get("history_index", 0.0),
            "store_reads_per_tx": self.calls.get("store_get", 0) / txs,
            "store_read_us": get("store_get", 0.0) * txs / max(1, self.calls.get("store_get", 0)),
        }
        return {k: round(v, 3) for k, v in out.items()}


def signer(i: int) -> Signer:
    return Signer(hashlib.sha256(b"huzhu-bench/" + str(i).encode()).digest())


def make_genesis(signers: list[Signer]) -> Any:
    return parse_genesis(
        genesis_doc(
            chain_id=CHAIN_ID,
            treasury=signer(-1).public_key,
            params={"max_block_txs": 100_000, "epoch_length": 10**6},
            validators=[
                ValidatorSpec("bench", signer(-2).public_key, signer(-3).public_key, "127.0.0.1:1")
            ],
            accounts=[(s.public_key, BALANCE) for s in signers],
            pools=[{"id": "bench", "name": "Bench pool", "params": {"period": 10**6}}],
        )
    )


def run(
    accounts: int,
    blocks: int,
    block_txs: int,
    profile: bool,
    cold: bool = False,
    history: int = DEFAULT_STATE_HISTORY,
    path: str = "node",
    gc_mode: str = "node",
    store_options: LevelDBOptions | None = None,
    breakdown: bool = False,
    settle: bool = False,
) -> dict[str, Any]:
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, not {path!r}")
    if gc_mode not in GC_MODES:
        raise ValueError(f"gc must be one of {GC_MODES}, not {gc_mode!r}")
    saved_gc = gc.get_threshold()
    if gc_mode == "node":
        from node.vitals import tune_gc

        tune_gc()
    gct = GcTimer()
    gc.callbacks.append(gct)
    parts = Breakdown() if breakdown else None
    if parts is not None:
        parts.install()
    try:
        return _run(
            accounts,
            blocks,
            block_txs,
            profile,
            cold,
            history,
            path,
            gc_mode,
            gct,
            store_options or LevelDBOptions(),
            parts,
            settle,
        )
    finally:
        if parts is not None:
            parts.uninstall()
        gc.callbacks.remove(gct)
        gc.set_threshold(*saved_gc)


def _run(
    accounts: int,
    blocks: int,
    block_txs: int,
    profile: bool,
    cold: bool,
    history: int,
    path: str,
    gc_mode: str,
    gct: GcTimer,
    store_options: LevelDBOptions,
    parts: Breakdown | None = None,
    settle: bool = False,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    signers = [signer(i) for i in range(accounts)]
    genesis = make_genesis(signers)
    out: dict[str, Any] = {
        "accounts": accounts,
        "blocks": blocks,
        "block_txs": block_txs,
        "cold": cold,
        "state_history": history,
        "path": path,
        "gc": gc_mode,
        "store": store_options.plyvel_kwargs(),
        "settle": settle,
    }
    with tempfile.TemporaryDirectory(prefix="huzhu-bench-") as tmp:
        store = LevelDBStore(tmp, options=store_options)
        # the synced batch write of each commit: its own thread CPU, wall time and size
        writes = [0.0, 0.0, 0]  # thread s, wall s, ops
        store_write = store.write

        def timed_write(batch: Batch, sync: bool = True) -> None:
            t, w = time.thread_time(), time.perf_counter()
            store_write(batch, sync)
            writes[0] += time.thread_time() - t
            writes[1] += time.perf_counter() - w
            writes[2] += len(batch.ops)

        store.write = timed_write  # type: ignore[method-assign]
        chain = Chain.init_genesis(store, genesis, state_history=history)
        out["genesis_s"] = round(time.perf_counter() - t0, 3)
        nonces = [0] * accounts
        members = accounts // 5  # accounts [0, members) join during warm-up
        height = 0

        cpu = [0.0, 0.0]
        # the mempool's decoded transactions, by hash (what the node's `known` answers from)
        pending: dict[bytes, Tx] = {}

        def known(wire: bytes) -> Tx | None:
            tx = pending.get(sha256(wire))
            return tx if tx is not None and tx.wire == wire else None

        def commit_block(txs: list[Tx]) -> tuple[float, float]:
            nonlocal height
            height += 1
            wires = [t.wire for t in txs]
            proposer = b"\x00" * 32
            if path == "node":
                for t in txs:
                    pending[t.hash] = t
                app = ChainApp(chain, lambda n, b: wires, verified=lambda h: True, known=known)
            p0 = time.process_time()
            t0 = time.thread_time()
            a = time.perf_counter()
            if path == "node":
                included, root = app.prepare(height, height * 1000, proposer, [])
                assert len(included) == len(wires), "the proposer dropped transactions"
                b_ = time.perf_counter()
                ex = app.commit(height, height * 1000, proposer, included, [], root)
                assert app.executions == 1, "commit re-executed"
            else:
                ex = chain.execute(
                    BlockInput(height, height * 1000, proposer, wires, []),
                    verified=lambda h: True,
                )
                b_ = time.perf_counter()
                chain.commit(ex)
            c = time.perf_counter()
            cpu[0] += time.process_time() - p0
            cpu[1] += time.thread_time() - t0
            if path == "node":
                for t in txs:
                    del pending[t.hash]
            assert all(r.code == 0 for r in ex.results), {r.error for r in ex.results}
            return b_ - a, c - b_

        def tx(i: int, type_: str, payload: dict[str, Any]) -> Tx:
            t = build_tx(signers[i], CHAIN_ID, type_, nonces[i], 1, payload)
            nonces[i] += 1
            return t

        t1 = time.perf_counter()
        for start in range(0, members, block_txs):
            commit_block(
                [
                    tx(i, "join", {"pool": "bench"})
                    for i in range(start, min(members, start + block_txs))
                ]
            )
        out["warmup_s"] = round(time.perf_counter() - t1, 3)

        # pre-sign the timed blocks: each sender at most once per block
        t2 = time.perf_counter()
        next_joiner = members
        cursor = 0
        planned: list[list[Tx]] = []
        for _ in range(blocks):
            txs: list[Tx] = []
            for k in range(block_txs):
                kind = k % 10
                if kind == 0 and next_joiner < accounts:
                    txs.append(tx(next_joiner, "join", {"pool": "bench"}))
                    next_joiner += 1
                elif kind in (1, 2):
                    i = (cursor * 7919) % members
                    cursor += 1
                    txs.append(tx(i, "pay", {"pool": "bench", "amount": 100}))
                else:
                    i = members + (cursor * 104729) % (accounts - members)
                    cursor += 1
                    j = (cursor * 15485863) % accounts
                    txs.append(tx(i, "transfer", {"to": signers[j].public_key, "amount": 3}))
            planned.append(txs)
        out["sign_s"] = round(time.perf_counter() - t2, 3)

        if cold:
            t4 = time.perf_counter()
            chain = Chain(store, state_history=history)
            out["warm_nodes"] = max(chain.warming())
            out["reopen_s"] = round(time.perf_counter() - t4, 3)
        if settle:
            # pay the set-up's compaction debt now, so the timed window's background CPU is
            # what the timed blocks' own writes cost (a bench artifact otherwise)
            t5 = time.perf_counter()
            store._db.compact_range()
            _quiesce()
            out["settle_s"] = round(time.perf_counter() - t5, 3)
        prof = cProfile.Profile() if profile else None
        exec_s = commit_s = 0.0
        me = threading.get_native_id()
        threads0 = thread_cpu_ns()
        stats0 = _leveldb_stats(store)
        cpu[0] = cpu[1] = 0.0
        writes[:] = [0.0, 0.0, 0]
        per_block = []
        gct.on = True
        if parts is not None:
            parts.on = True
        if prof:
            prof.enable()
        for txs in planned:
            e, c = commit_block(txs)
            exec_s += e
            commit_s += c
            per_block.append(round(e + c, 4))
        threads1 = thread_cpu_ns()
        stats1 = _leveldb_stats(store)
        if prof:
            prof.disable()
        gct.on = False
        if parts is not None:
            parts.on = False
        out["gc_s"] = round(gct.total, 3)
        out["gc_collections"] = gct.count
        total = sum(len(b) for b in planned)
        out["timed_txs"] = total
        out["execute_s"] = round(exec_s, 3)
        out["commit_s"] = round(commit_s, 3)
        out["block_s"] = per_block
        out["exec_tps"] = round(total / (exec_s + commit_s), 1)
        # CPU seconds of this process only: steadier than wall time on a shared machine
        out["exec_cpu_s"] = round(cpu[0], 3)
        out["exec_cpu_tps"] = round(total / cpu[0], 1)
        out["exec_thread_cpu_s"] = round(cpu[1], 3)
        out["exec_thread_cpu_tps"] = round(total / cpu[1], 1)
        out["exec_us_per_tx"] = round(cpu[1] / total * 1e6, 2)
        out["process_us_per_tx"] = round(cpu[0] / total * 1e6, 2)
        out["write_us_per_tx"] = round(writes[0] / total * 1e6, 2)
        # the other threads' CPU in the timed window (LevelDB's background flush/compaction)
        others = {
            t: ns - threads0.get(t, 0)
            for t, ns in threads1.items()
            if t != me and ns > threads0.get(t, 0)
        }
        out["other_threads_us_per_tx"] = round(sum(others.values()) / 1e3 / total, 2)
        out["other_threads_ms"] = [round(v / 1e6, 1) for v in sorted(others.values(), reverse=True)]
        out["leveldb_compaction"] = {
            k: round(stats1.get(k, 0.0) - stats0.get(k, 0.0), 3)
            for k in ("s", "read_mb", "write_mb")
        }
        out["leveldb_levels_mb"] = stats1.get("levels_mb", [])
        out["write_wall_s"] = round(writes[1], 3)
        out["write_ops_per_block"] = round(writes[2] / blocks)
        if parts is not None:
            out["breakdown_us_per_tx"] = parts.report(total, writes[0] / total * 1e6)

        out["state_root"] = chain.state_root.hex()
        store.close()

    # signature verification, same run, one core
    sample = [t for b in planned for t in b][:2000]
    t3 = time.perf_counter()
    p3 = time.process_time()
    for t in sample:
        assert verify_tx(t)
    out["verify_tps"] = round(len(sample) / (time.perf_counter() - t3), 1)
    out["verify_cpu_tps"] = round(len(sample) / (time.process_time() - p3), 1)
    out["ratio"] = round(out["exec_tps"] / out["verify_tps"], 3)
    out["cpu_ratio"] = round(out["exec_thread_cpu_tps"] / out["verify_cpu_tps"], 3)
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return out


def _store_options(pairs: list[str]) -> LevelDBOptions:
    """LevelDBOptions with the `--store KEY=VALUE` overrides (ints, or compression's name)."""
    kw: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in LevelDBOptions.__dataclass_fields__:
            raise ValueError(f"{pair!r}: not KEY=VALUE with a LevelDBOptions field")
        kw[key] = value if key == "compression" else int(value)
    return LevelDBOptions(**kw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", required=True, help="write the figures here")
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--block-txs", type=int, default=5000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument(
        "--breakdown", action="store_true", help="thread CPU per tx of each part (see above)"
    )
    ap.add_argument(
        "--settle",
        action="store_true",
        help="compact the store before the timed blocks (the set-up's compaction left out)",
    )
    ap.add_argument("--cold", action="store_true", help="reopen the chain before timing")
    ap.add_argument("--history", type=int, default=DEFAULT_STATE_HISTORY, help="state_history")
    ap.add_argument("--path", choices=PATHS, default="node", help="what is timed (see above)")
    ap.add_argument("--gc", choices=GC_MODES, default="node", help="collector thresholds")
    ap.add_argument(
        "--store",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a LevelDB option (state/store.py LevelDBOptions), e.g. write_buffer_size=16777216",
    )
    args = ap.parse_args(argv)
    try:
        store_options = _store_options(args.store)
    except (ValueError, TypeError) as exc:
        ap.error(f"--store: {exc}")
    if args.accounts < 20:
        ap.error("--accounts must be at least 20")
    res = run(
        args.accounts,
        args.blocks,
        args.block_txs,
        args.profile,
        args.cold,
        args.history,
        args.path,
        args.gc,
        store_options,
        args.breakdown,
        args.settle,
    )
    Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    rows = [
        ("accounts", res["accounts"]),
        ("timed blocks x txs", f"{res['blocks']} x {res['block_txs']}"),
        ("path, gc", f"{res['path']}, {res['gc']}"),
        ("store", " ".join(f"{k}={v}" for k, v in res["store"].items())[:60]),
        ("execute (s)", res["execute_s"]),
        ("commit (s)", res["commit_s"]),
        ("exec_tps (execute+commit)", res["exec_tps"]),
        ("exec_cpu_tps (CPU time)", res["exec_cpu_tps"]),
        ("exec_thread_cpu_tps", res["exec_thread_cpu_tps"]),
        ("exec us/tx (thread CPU)", res["exec_us_per_tx"]),
        ("process us/tx (all threads)", res["process_us_per_tx"]),
        ("other threads us/tx", res["other_threads_us_per_tx"]),
        ("write us/tx (thread CPU)", res["write_us_per_tx"]),
        ("write ops per block", res["write_ops_per_block"]),
        ("gc (s, thread CPU)", res["gc_s"]),
        ("verify_tps (Ed25519, 1 core)", res["verify_tps"]),
        ("verify_cpu_tps (CPU time)", res["verify_cpu_tps"]),
        ("ratio exec/verify (wall)", res["ratio"]),
        ("ratio (thread CPU / CPU)", res["cpu_ratio"]),
    ]
    for name, value in rows:
        print(f"{name:<30} {value:>14}")
    for name, value in res.get("breakdown_us_per_tx", {}).items():
        print(f"  {name:<28} {value:>14}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
