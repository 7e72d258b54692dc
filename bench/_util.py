"""What the in-process state benchmarks (bench/governance.py, bench/parametric.py) share: a
chain with one bench validator on a throwaway LevelDB whose blocks are executed, committed and
timed, nonces kept per signer, and the `--json`/size-argument command line.

bench/common.py keeps what every benchmark shares (keys, the table); this is the harness of
the ones that drive `state.chain.Chain` directly, with no node process.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.common import bench_signer
from state.chain import BlockInput, Chain
from state.crypto import Signer
from state.genesis import Genesis
from state.genesis_builder import ValidatorSpec
from state.store import LevelDBStore
from state.tx import Tx, build_tx


def bench_validator(domain: bytes) -> ValidatorSpec:
    """The one validator of an in-process bench chain (never dialed: no node runs)."""
    keys = bench_signer(domain, 2**32 - 2), bench_signer(domain, 2**32 - 3)
    return ValidatorSpec("bench", keys[0].public_key, keys[1].public_key, "127.0.0.1:1")


class TimedChain:
    """`genesis` on a LevelDB store in `directory`; each :meth:`block` is executed and
    committed in this process and timed, wall and CPU (CPU is steadier on a shared machine).

    Signatures are not checked (`verified` answers yes): the mempool checked them before a
    block is built, so they are not the block's cost. Each block starts after `gc.collect()`,
    so that a collection owed by the setup's garbage does not land in it."""

    def __init__(self, genesis: Genesis, directory: str) -> None:
        self.chain_id = genesis.chain_id
        self.store = LevelDBStore(directory)
        self.chain = Chain.init_genesis(self.store, genesis)
        self.height = 0
        self.cpu_ms = 0.0  # CPU milliseconds of the blocks so far
        self._nonces: dict[bytes, int] = {}

    def tx(self, s: Signer, type_: str, payload: Mapping[str, Any]) -> Tx:
        """A transaction by `s` with its next nonce (fee 1)."""
        n = self._nonces.get(s.public_key, 0)
        self._nonces[s.public_key] = n + 1
        return build_tx(s, self.chain_id, type_, n, 1, dict(payload))

    def block(self, txs: list[Tx]) -> float:
        """Execute and commit the next block, every transaction of which must succeed; its
        wall-clock milliseconds (its CPU ones are added to `cpu_ms`)."""
        self.height += 1
        gc.collect()
        p = time.process_time()
        a = time.perf_counter()
        ex = self.chain.execute(
            BlockInput(self.height, self.height * 1000, b"\x00" * 32, [t.wire for t in txs], []),
            verified=lambda h: True,
        )
        self.chain.commit(ex)
        ms = (time.perf_counter() - a) * 1000
        self.cpu_ms += (time.process_time() - p) * 1000
        assert all(r.code == 0 for r in ex.results), {(r.error, r.log) for r in ex.results}
        return ms

    def blocks(self, txs: list[Tx], per_block: int) -> float:
        """`txs` in blocks of `per_block`: the milliseconds of them all."""
        return sum(self.block(txs[s : s + per_block]) for s in range(0, len(txs), per_block))

    def close(self) -> None:
        self.store.close()


def bench_main(
    doc: str, run: Callable[..., dict[str, Any]], argv: list[str] | None, **sizes: int
) -> int:
    """The command line of an in-process bench: `--json OUT` (required) and one integer option
    per entry of `sizes` (`block_txs` is `--block-txs`, its value the default); runs
    `run(**sizes)`, writes the figures to OUT and prints them."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--json", required=True, help="write the figures here")
    for name, default in sizes.items():
        ap.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
    args = vars(ap.parse_args(argv))
    out = run(**{name: args[name] for name in sizes})
    Path(args["json"]).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0
