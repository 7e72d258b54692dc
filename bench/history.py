"""State history: disk bytes per block, the commit delay pruning adds, a restart's first block.

    python bench/history.py [--accounts 20000] [--blocks 120] [--block-txs 1000]
                            [--history 40] [--json OUT]

Executes and commits `--blocks` blocks of `--block-txs` transactions (1,000 per block: one
block a second at 1,000 tx/s; 90 % transfers, 10 % pool joins) into a LevelDB store, once
with `state_history = 0` (every version kept) and once with `--history` (small, so pruning is
in its steady state after a few dozen blocks). Per run it reports:

* ``bytes_per_block``: growth of the compacted store per block over the second half of the
  run (LevelDB compacted at both ends, so garbage not yet compacted is not counted);
* ``history_bytes_per_block`` (history 0 minus history N): what one more kept version costs,
  so a node keeping H heights holds about H times that for its history; the figure for the
  default 10,000 is extrapolated that way (the per-block stale set does not depend on H);
* the prune work and time per commit (`Chain._prune`, timed around the call: wall time, and
  this thread's CPU time, which a loaded machine's descheduling does not inflate), max and p99;
  after each block the run calls `Chain.prune_step(--idle)` up to 20 times, as a node does
  between blocks (node/runtime.py, every 20 ms), and reports the backlog left at the end.

Then the worst case of pruning: the store kept with history 0 is reopened with history 1, so
every commit finds a backlog far larger than its budget (`prune_per_block`) and does the
whole budget; the max time of that prune is the worst delay pruning adds to a commit. And a
restart: the first block after reopening, with a cold tree cache and after
`Chain.warming` (what node/runtime.py runs in the background at start).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from state.chain import (  # noqa: E402
    DEFAULT_PRUNE_IDLE_STEP,
    DEFAULT_PRUNE_PER_BLOCK,
    BlockInput,
    Chain,
)
from state.crypto import Signer  # noqa: E402
from state.genesis import parse_genesis  # noqa: E402
from state.genesis_builder import ValidatorSpec, genesis_doc  # noqa: E402
from state.store import Batch, LevelDBStore  # noqa: E402
from state.tx import Tx, build_tx  # noqa: E402

CHAIN_ID = "huzhu-bench-history"


def _signer(i: int) -> Signer:
    return Signer(hashlib.sha256(b"huzhu-bench-history/" + str(i).encode()).digest())


def _dir_size(path: str) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


PREFIXES = (b"t/", b"~t/", b"s/", b"x/", b"r/", b"m/")


def _raw_by_prefix(store: LevelDBStore) -> dict[str, int]:
    """Key + value bytes per key family (before LevelDB's compression): where the disk goes."""
    return {p.decode(): sum(len(k) + len(v) for k, v in store.iterate(p)) for p in PREFIXES}


def _compacted_size(store: LevelDBStore, path: str) -> int:
    store._db.compact_range()  # type: ignore[attr-defined]  # bench only: plyvel's own call
    return _dir_size(path)


class _Plan:
    """Deterministic blocks: each sender at most once per block, nonces tracked."""

    def __init__(self, accounts: int) -> None:
        self.signers = [_signer(i) for i in range(accounts)]
        self.nonces = [0] * accounts
        self.next_joiner = 0
        self.cursor = 0

    def genesis(self) -> Any:
        return parse_genesis(
            genesis_doc(
                chain_id=CHAIN_ID,
                treasury=_signer(-1).public_key,
                params={"max_block_txs": 100_000, "epoch_length": 10**6},
                validators=[
                    ValidatorSpec("b", _signer(-2).public_key, _signer(-3).public_key, "h:1")
                ],
                accounts=[(s.public_key, 10**9) for s in self.signers],
                pools=[{"id": "bench", "name": "Bench pool", "params": {"period": 10**6}}],
            )
        )

    def block(self, n: int) -> list[Tx]:
        out: list[Tx] = []
        accounts = len(self.signers)
        used: set[int] = set()
        for k in range(n):
            if k % 10 == 0 and self.next_joiner < accounts:
                i = self.next_joiner
                self.next_joiner += 1
                out.append(self._tx(i, "join", {"pool": "bench"}))
                used.add(i)
                continue
            while True:
                self.cursor += 1
                i = (self.cursor * 7919) % accounts
                if i not in used:
                    break
            used.add(i)
            j = (self.cursor * 104729) % accounts
            out.append(self._tx(i, "transfer", {"to": self.signers[j].public_key, "amount": 3}))
        return out

    def _tx(self, i: int, type_: str, payload: dict[str, Any]) -> Tx:
        t = build_tx(self.signers[i], CHAIN_ID, type_, self.nonces[i], 1, payload)
        self.nonces[i] += 1
        return t


class _TimedChain(Chain):
    """A Chain whose commits record how long their share of pruning took."""

    prune_s: list[float]
    prune_cpu_s: list[float]
    prune_ops: list[int]

    def _prune(self, height: int) -> Batch:
        t = time.perf_counter()
        c = time.thread_time()
        batch = super()._prune(height)
        self.prune_cpu_s.append(time.thread_time() - c)
        self.prune_s.append(time.perf_counter() - t)
        self.prune_ops.append(len(batch))
        return batch


def _open(store: LevelDBStore, history: int, budget: int) -> _TimedChain:
    chain = _TimedChain(store, state_history=history, prune_per_block=budget)
    chain.prune_s, chain.prune_cpu_s, chain.prune_ops = [], [], []
    return chain


# prune_step calls between two blocks: the node makes one per 20 ms while idle, ~30 in a 1 s
# block interval of which execution takes ~0.4 s; 20 leaves a margin
IDLE_STEPS = 20


def _run_blocks(
    chain: Chain, plan: _Plan, blocks: int, block_txs: int, idle: int = 0
) -> list[float]:
    """Execute + commit `blocks` blocks (timed), each followed by up to IDLE_STEPS
    prune_step(idle) calls as a node makes between blocks (untimed: not on a commit)."""
    times = []
    for _ in range(blocks):
        h = chain.height + 1
        wires = [t.wire for t in plan.block(block_txs)]
        t0 = time.perf_counter()
        ex = chain.execute(BlockInput(h, h * 1000, b"\x00" * 32, wires, []), verified=_yes)
        chain.commit(ex)
        times.append(time.perf_counter() - t0)
        assert all(r.code == 0 for r in ex.results), {r.error for r in ex.results}
        for _ in range(IDLE_STEPS if idle else 0):
            if chain.prune_step(idle) < idle:
                break
    return times


def _yes(tx_hash: bytes) -> bool:
    return True


def _ms(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {"max_ms": 0.0, "p99_ms": 0.0, "median_ms": 0.0}
    s = sorted(xs)
    return {
        "max_ms": round(s[-1] * 1000, 2),
        "p99_ms": round(s[min(len(s) - 1, int(len(s) * 0.99))] * 1000, 2),
        "median_ms": round(statistics.median(s) * 1000, 2),
    }


def run_history(
    tmp: str, accounts: int, blocks: int, block_txs: int, history: int, budget: int, idle: int
) -> dict[str, Any]:
    """One run: `blocks` blocks with `history`; disk growth per block over the second half."""
    path = f"{tmp}/h{history}"
    plan = _Plan(accounts)
    store = LevelDBStore(path)
    Chain.init_genesis(store, plan.genesis())
    chain = _open(store, history, budget)
    half = blocks // 2
    block_s = _run_blocks(chain, plan, half, block_txs, idle)
    size_mid = _compacted_size(store, path)
    raw_mid = _raw_by_prefix(store)
    chain.prune_s.clear()
    chain.prune_cpu_s.clear()
    chain.prune_ops.clear()
    block_s = _run_blocks(chain, plan, blocks - half, block_txs, idle)
    size_end = _compacted_size(store, path)
    raw_end = _raw_by_prefix(store)
    out = {
        "history": history,
        "blocks": blocks,
        "bytes_per_block": round((size_end - size_mid) / (blocks - half)),
        "disk_bytes_end": size_end,
        "raw_bytes_per_block": {
            p: round((raw_end[p] - raw_mid[p]) / (blocks - half)) for p in raw_end
        },
        "stale_backlog_end": chain.tree.stale_backlog(chain.oldest_retained),
        "oldest_retained": chain.oldest_retained,
        "block": _ms(block_s),
        "prune": _ms(chain.prune_s),
        "prune_thread_cpu": _ms(chain.prune_cpu_s),
        "prune_ops_max": max(chain.prune_ops, default=0),
        "prune_ops_median": statistics.median(chain.prune_ops) if chain.prune_ops else 0,
        "tps": round(block_txs * len(block_s) / sum(block_s), 1),
    }
    store.close()
    return out


def run_worst_and_restart(
    tmp: str, accounts: int, block_txs: int, budget: int, blocks: int
) -> dict[str, Any]:
    """The history-0 store reopened with history 1: a backlog larger than every budget."""
    path = f"{tmp}/h0"
    plan = _Plan(accounts)
    store = LevelDBStore(path)
    chain = _open(store, 0, budget)
    # replay the plan's state (nonces, joiners) to where the history-0 run ended
    for _ in range(chain.height):
        plan.block(block_txs)
    out: dict[str, Any] = {}
    # restart, cold: the first block reads its tree paths from LevelDB
    store.close()
    store = LevelDBStore(path)
    chain = _open(store, 1, budget)
    h = chain.height + 1
    wires = [t.wire for t in plan.block(block_txs)]
    t0 = time.perf_counter()
    ex = chain.execute(BlockInput(h, h * 1000, b"\x00" * 32, wires, []), verified=_yes)
    out["first_block_cold_execute_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    out["first_block_cold_tree_reads"] = chain.tree.last_reads
    # restart again, warmed as the node does at start, then the same block
    store.close()
    store = LevelDBStore(path)
    chain = _open(store, 1, budget)
    t0 = time.perf_counter()
    out["warm_nodes"] = max(chain.warming())
    out["warm_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    ex = chain.execute(BlockInput(h, h * 1000, b"\x00" * 32, wires, []), verified=_yes)
    out["first_block_warm_execute_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    out["first_block_warm_tree_reads"] = chain.tree.last_reads
    chain.commit(ex)
    out["backlog_at_reopen"] = chain.tree.stale_backlog()
    _run_blocks(chain, plan, blocks, block_txs)
    out["worst"] = {
        "budget": budget,
        "prune": _ms(chain.prune_s),
        "prune_thread_cpu": _ms(chain.prune_cpu_s),
        "prune_ops_max": max(chain.prune_ops),
        "backlog_left": chain.tree.stale_backlog(chain.oldest_retained),
    }
    store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=20_000)
    ap.add_argument("--blocks", type=int, default=120)
    ap.add_argument("--block-txs", type=int, default=1000)
    ap.add_argument("--history", type=int, default=40)
    ap.add_argument("--budget", type=int, default=DEFAULT_PRUNE_PER_BLOCK)
    ap.add_argument("--idle", type=int, default=DEFAULT_PRUNE_IDLE_STEP, help="prune_idle_step")
    ap.add_argument("--worst-blocks", type=int, default=10)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    if args.blocks < 2 * args.history:
        ap.error("--blocks must be at least twice --history (steady state in the second half)")
    res: dict[str, Any] = {"accounts": args.accounts, "block_txs": args.block_txs}
    with tempfile.TemporaryDirectory(prefix="huzhu-history-") as tmp:
        a = (args.accounts, args.blocks, args.block_txs)
        kept = run_history(tmp, *a, args.history, args.budget, args.idle)
        every = run_history(tmp, *a, 0, args.budget, args.idle)
        res["history_n"] = kept
        res["history_0"] = every
        per_version = every["bytes_per_block"] - kept["bytes_per_block"]
        res["history_bytes_per_block"] = per_version
        res["extrapolated_history_10000_bytes"] = per_version * 10_000
        res.update(
            run_worst_and_restart(
                tmp, args.accounts, args.block_txs, args.budget, args.worst_blocks
            )
        )
    print(json.dumps(res, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
