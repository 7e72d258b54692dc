"""State-tree benchmark: cost of one block's root update into a large LevelDB-backed state.

The state machine's budget is 10,000 tx/s including the root, ~2-3 changed keys per tx, so a
5,000-tx block changes ~12,500 keys of a ~100,000-key state: `update()` of that batch must
take well under 0.4 s on one core. This prints, per batch size, the median wall and CPU
(process) time of `update()` alone (what sits on the block's critical path) and of writing its batch, the
nodes read / written / deleted, the same for a cold cache (first block after a restart) and
after `warm(root)` (the live tree walked top down, as a restarted node does), and the bytes on
disk per live key after compaction. Updates here are unversioned (replaced nodes deleted at
once): bench/history.py measures the chain's versioned tree.

    .venv/bin/python bench/tree.py [--state 100000] [--batches 1000,12500] [--rounds 5]
                                   [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from state.store import LevelDBStore  # noqa: E402
from state.tree import EMPTY_ROOT, StateTree  # noqa: E402


def _dir_size(path: str) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _changes(rnd: random.Random, n: int, state: int, fresh: list[int]) -> dict[bytes, bytes]:
    """A block's changes: ~90% overwrites of live keys (balances, nonces), ~10% new keys."""
    out: dict[bytes, bytes] = {}
    while len(out) < n:
        if rnd.random() < 0.9:
            k = b"s/a/%d" % rnd.randrange(state)
        else:
            fresh[0] += 1
            k = b"s/n/%d" % fresh[0]
        out[k] = rnd.randbytes(rnd.randrange(20, 60))
    return out


def run(state: int, batches: list[int], rounds: int, seed: int) -> dict:
    rnd = random.Random(seed)
    results: dict = {"state_keys": state, "rounds": rounds, "batches": []}
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "db")
        store = LevelDBStore(db)
        tree = StateTree(store)
        t0 = time.perf_counter()
        root = EMPTY_ROOT
        chunk = 20_000
        for lo in range(0, state, chunk):
            pairs = {
                b"s/a/%d" % i: rnd.randbytes(rnd.randrange(20, 60))
                for i in range(lo, min(state, lo + chunk))
            }
            root, batch = tree.update(root, pairs)
            store.write(batch, sync=False)
        results["build_s"] = round(time.perf_counter() - t0, 3)
        fresh = [0]
        for n in batches:
            upd, cpu, wr, reads, writes, deletes = [], [], [], [], [], []
            for _ in range(rounds):
                changes = _changes(rnd, n, state, fresh)
                c1 = time.process_time()
                t1 = time.perf_counter()
                root, batch = tree.update(root, changes)
                t2 = time.perf_counter()
                cpu.append(time.process_time() - c1)
                store.write(batch, sync=True)
                t3 = time.perf_counter()
                upd.append(t2 - t1)
                wr.append(t3 - t2)
                reads.append(tree.last_reads)
                writes.append(tree.last_writes)
                deletes.append(tree.last_deletes)
            results["batches"].append(
                {
                    "keys": n,
                    "update_s": round(statistics.median(upd), 4),
                    "update_min_s": round(min(upd), 4),
                    "update_cpu_s": round(statistics.median(cpu), 4),
                    "write_s": round(statistics.median(wr), 4),
                    "keys_per_s": round(n / statistics.median(upd)),
                    "nodes_read": round(statistics.mean(reads)),
                    "nodes_written": round(statistics.mean(writes)),
                    "nodes_deleted": round(statistics.mean(deletes)),
                }
            )
        # a restarted node: fresh process state, so every node comes from LevelDB
        store.close()
        store = LevelDBStore(db)
        tree = StateTree(store)
        changes = _changes(rnd, batches[-1], state, fresh)
        c1 = time.process_time()
        t1 = time.perf_counter()
        root, batch = tree.update(root, changes)
        results["cold"] = {
            "keys": batches[-1],
            "update_s": round(time.perf_counter() - t1, 4),
            "update_cpu_s": round(time.process_time() - c1, 4),
            "nodes_read": tree.last_reads,
        }
        store.write(batch)
        # the same restart, but the cache is filled from the root first
        store.close()
        store = LevelDBStore(db)
        tree = StateTree(store)
        c1 = time.process_time()
        warmed = tree.warm(root)
        warm_cpu = time.process_time() - c1
        changes = _changes(rnd, batches[-1], state, fresh)
        c1 = time.process_time()
        root, batch = tree.update(root, changes)
        results["warmed"] = {
            "nodes": warmed,
            "warm_cpu_s": round(warm_cpu, 4),
            "update_cpu_s": round(time.process_time() - c1, 4),
            "nodes_read": tree.last_reads,
        }
        store.write(batch)
        live = state + fresh[0]
        nodes = raw = 0
        for k, v in store.iterate(b"t/"):
            nodes += 1
            raw += len(k) + len(v)
        results["cache_entries"] = tree.cached_nodes
        store._db.compact_range()  # bench only: count live data, not not-yet-compacted garbage
        store.close()
        results["live_keys"] = live
        results["nodes"] = nodes
        results["disk_bytes_per_key"] = round(_dir_size(db) / live, 1)
        results["raw_bytes_per_key"] = round(raw / live, 1)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--state", type=int, default=100_000, help="keys in the state")
    ap.add_argument("--batches", default="1000,12500", help="comma-separated batch sizes")
    ap.add_argument("--rounds", type=int, default=5, help="updates timed per batch size")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    args = ap.parse_args()
    res = run(args.state, [int(x) for x in args.batches.split(",")], args.rounds, args.seed)
    print(f"state: {res['state_keys']} keys, built in {res['build_s']} s (LevelDB)")
    hdr = (
        f"{'batch':>7} {'update s':>9} {'min s':>7} {'cpu s':>7} {'write s':>8} {'keys/s':>8} "
        f"{'read':>6} {'written':>8} {'deleted':>8}"
    )
    print(hdr)
    for b in res["batches"]:
        print(
            f"{b['keys']:>7} {b['update_s']:>9.4f} {b['update_min_s']:>7.4f} {b['update_cpu_s']:>7.4f} "
            f"{b['write_s']:>8.4f} {b['keys_per_s']:>8} {b['nodes_read']:>6} "
            f"{b['nodes_written']:>8} {b['nodes_deleted']:>8}"
        )
    c = res["cold"]
    print(
        f"{c['keys']:>7} {c['update_s']:>9.4f} {'':>7} {c['update_cpu_s']:>7.4f} {'':>8} {'':>8} "
        f"{c['nodes_read']:>6}"
        "   (cold cache: first block after a restart)"
    )
    w = res["warmed"]
    print(
        f"{c['keys']:>7} {'':>9} {'':>7} {w['update_cpu_s']:>7.4f} {'':>8} {'':>8} "
        f"{w['nodes_read']:>6}   (after restart + warm(root): {w['nodes']} nodes in "
        f"{w['warm_cpu_s']} s CPU)"
    )
    print(
        f"live keys {res['live_keys']}, tree nodes {res['nodes']}, "
        f"node keys+values {res['raw_bytes_per_key']} bytes/key, "
        f"on disk {res['disk_bytes_per_key']} bytes/key (tree only, compacted)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
