"""Section 10 at scale (issue 11's figures): the end of block that opens a parametric event in
a pool of `--members` members, collecting it, its escrow return, and attested claims, on a
LevelDB state, one core.

    python bench/parametric.py --json OUT [--members 100000] [--block-txs 10000] [--claims 2000]

Members [0, M) join pool "rain" (three weather stations, quorum 3, trigger ">= 200",
collect_window 10) and the first `--claims` of them pool "med" (claim_mode "attested", one
hospital), untimed; those file a claim each, untimed. Then, timed (`Chain.execute` +
`Chain.commit`, signatures excluded as the mempool checked them; `gc.collect()` before each):

- `empty_block_ms`: an empty block, for reference;
- `event_block_ms`: the block of the three reports whose end settles the round and opens an
  event for M eligible members (the goal: under 100 ms at 100,000 members);
- `collect_tps`: `collect` transactions executed and committed per second, in blocks of
  `--block-txs` (as many blocks as it takes for every member to collect, capped by the window);
- `return_block_ms`: the empty block at collect_until whose start returns the escrow left;
- `attest_block_ms`, `attest_tps`: one block of `--claims` attestations by the hospital (its
  end approves them all).

The `_cpu_` figures count this process's CPU time instead of wall time (steadier on a shared
machine, as in bench/state.py).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import TimedChain, bench_main, bench_validator  # noqa: E402
from bench.common import bench_signer  # noqa: E402
from state.crypto import Signer  # noqa: E402
from state.genesis import parse_genesis  # noqa: E402
from state.genesis_builder import genesis_doc  # noqa: E402
from state.tx import Tx  # noqa: E402

CHAIN_ID = "huzhu-bench-parametric"
DOMAIN = b"huzhu-bench-parametric"
BALANCE = 10_000_000
WINDOW = 10  # collect_window: the shortest the range allows, so the return is reached
TRIGGER = {"feed": "rainfall_mm", "op": ">=", "threshold": 200, "payout": 50}


def signer(i: int) -> Signer:
    return bench_signer(DOMAIN, i)


def run(members: int, block_txs: int, claims: int) -> dict[str, Any]:
    if members < 20 or not 0 < claims <= members:
        raise SystemExit("--members must be at least 20 and --claims in 1..members")
    t0 = time.perf_counter()
    signers = [signer(i) for i in range(members)]
    stations = [signer(2**31 + k) for k in range(3)]
    hospital = signer(2**31 + 3)
    common = {"period": 10**6, "waiting_period": 0, "juror_min_age": 0, "notice_period": 0}
    genesis = parse_genesis(
        genesis_doc(
            chain_id=CHAIN_ID,
            treasury=signer(2**32 - 1).public_key,
            params={"max_block_txs": 100_000, "epoch_length": 10**6},
            validators=[bench_validator(DOMAIN)],
            accounts=[(s.public_key, BALANCE) for s in (*signers, *stations, hospital)],
            pools=[
                {
                    "id": "rain",
                    "name": "Rainfall",
                    "params": {
                        **common,
                        "attestors": [s.public_key.hex() for s in stations],
                        "attest_quorum": 3,
                        "trigger": TRIGGER,
                        "collect_window": WINDOW,
                    },
                },
                {
                    "id": "med",
                    "name": "Medical",
                    "params": {
                        **common,
                        "claim_mode": "attested",
                        "attestors": [hospital.public_key.hex()],
                        "max_claim": 100,
                        "vote_window": 1000,
                    },
                },
            ],
        )
    )
    out: dict[str, Any] = {"members": members, "block_txs": block_txs, "claims": claims}

    with tempfile.TemporaryDirectory(prefix="huzhu-bench-parametric-") as tmp:
        c = TimedChain(genesis, tmp)
        tx, block = c.tx, c.block

        def cpu_since(mark: float) -> float:
            return c.cpu_ms - mark

        def blocks(txs: list[Tx]) -> float:
            return c.blocks(txs, block_txs)

        blocks([tx(s, "join", {"pool": "rain"}) for s in signers])
        blocks([tx(s, "join", {"pool": "med"}) for s in signers[:claims]])
        filed = [
            tx(s, "claim", {"pool": "med", "amount": 100, "evidence": b"\x01" * 32})
            for s in signers[:claims]
        ]
        blocks(filed)
        out["setup_s"] = round(time.perf_counter() - t0, 1)

        out["empty_block_ms"] = round(block([]), 2)
        mark = c.cpu_ms
        reports = [
            tx(s, "report", {"pool": "rain", "round": 0, "value": v})
            for s, v in zip(stations, (180, 220, 250), strict=True)
        ]
        out["event_block_ms"] = round(block(reports), 2)
        out["event_block_cpu_ms"] = round(cpu_since(mark), 2)
        ev = c.chain.view().event("rain", 0)
        assert ev is not None and ev.eligible == members, ev
        out["event"] = ev.to_json()

        # as many collect blocks as the window allows (the last block at collect_until)
        collectors = signers[: min(members, block_txs * (ev.collect_until - c.height))]
        collects = [tx(s, "collect", {"pool": "rain", "round": 0}) for s in collectors]
        mark = c.cpu_ms
        collect_ms = blocks(collects)
        out["collects"] = len(collects)
        out["collect_tps"] = round(len(collects) / (collect_ms / 1000), 1)
        out["collect_cpu_tps"] = round(len(collects) / (cpu_since(mark) / 1000), 1)
        while c.height < ev.collect_until - 1:
            block([])
        out["return_block_ms"] = round(block([]), 2)
        ev = c.chain.view().event("rain", 0)
        assert ev is not None and ev.escrow == 0

        attests = [
            tx(hospital, "attest", {"claim": t.hash, "approve": True, "report": b"\x02" * 32})
            for t in filed
        ]
        mark = c.cpu_ms
        ms = block(attests)
        out["attest_block_ms"] = round(ms, 2)
        out["attest_tps"] = round(len(attests) / (ms / 1000), 1)
        out["attest_cpu_tps"] = round(len(attests) / (cpu_since(mark) / 1000), 1)
        assert c.chain.view().claim(filed[0].hash).status == "approved"
        out["total_s"] = round(time.perf_counter() - t0, 1)
        c.close()
    return out


def main(argv: list[str] | None = None) -> int:
    return bench_main(__doc__ or "", run, argv, members=100_000, block_txs=10_000, claims=2_000)


if __name__ == "__main__":
    raise SystemExit(main())
