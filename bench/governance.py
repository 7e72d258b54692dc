"""Governance at scale (issue 10's figures): the block of 8 `propose` and the end-of-block
tally and enactment of 8 proposals, with `--members` members, on a LevelDB state, one core.

    python bench/governance.py --json OUT [--members 100000] [--block-txs 10000]

Accounts [0, 0.6 M) join pool "a" and [0.4 M, M) pool "b" (M = --members distinct accounts,
0.2 M of them in both, so the chain-scope electorate counts each once); untimed. Then, timed
(`Chain.execute` + `Chain.commit`, signatures excluded as the mempool checked them):

- `propose_block_ms`: one block of 8 `propose` (2 per pool, 4 chain scope);
- `tally_block_ms`: the empty block whose end tallies the 8 (all pass, after M / 10 members
  cast 8 ballots each, untimed);
- `enact_block_ms`: the empty block whose end enacts the 8;
- `empty_block_ms`: an empty block with nothing due, for reference.

Each timed block starts after `gc.collect()`, so that no collection owed by the setup lands
in it. Run it on base code to compare: the figures are those of the `state/` it imports.

Goal (issue 10): under 100 ms each at 100,000 members.
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
from state.crypto import Signer, sha256  # noqa: E402
from state.genesis import parse_genesis  # noqa: E402
from state.genesis_builder import genesis_doc  # noqa: E402
from state.tx import Tx  # noqa: E402

CHAIN_ID = "huzhu-bench-gov"
DOMAIN = b"huzhu-bench-gov"
BALANCE = 10_000_000
VOTING = 10  # gov_voting_period, and gov_timelock: the shortest the range allows
GOV = {"gov_voting_period": VOTING, "gov_timelock": VOTING, "gov_quorum_bps": 1000}
TEXT = sha256(b"bench proposal")


def signer(i: int) -> Signer:
    return bench_signer(DOMAIN, i)


def run(members: int, block_txs: int) -> dict[str, Any]:
    if members < 20:
        raise SystemExit("--members must be at least 20")
    t0 = time.perf_counter()
    signers = [signer(i) for i in range(members)]
    pool_params = {"period": 10**6, "waiting_period": 0, **GOV}
    genesis = parse_genesis(
        genesis_doc(
            chain_id=CHAIN_ID,
            treasury=signer(2**32 - 1).public_key,
            params={"max_block_txs": 100_000, "epoch_length": 10**6, **GOV},
            validators=[bench_validator(DOMAIN)],
            accounts=[(s.public_key, BALANCE) for s in signers],
            pools=[{"id": p, "name": p, "params": pool_params} for p in ("a", "b")],
        )
    )
    a_end, b_start = members * 6 // 10, members * 4 // 10
    voters = range(b_start, b_start + members // 10)  # in both pools
    out: dict[str, Any] = {"members": members, "pool_a": a_end, "pool_b": members - b_start}

    with tempfile.TemporaryDirectory(prefix="huzhu-bench-gov-") as tmp:
        c = TimedChain(genesis, tmp)

        def tx(i: int, type_: str, payload: dict[str, Any]) -> Tx:
            return c.tx(signers[i], type_, payload)

        def block(txs: list[Tx]) -> float:
            return round(c.block(txs), 2)

        joins = [tx(i, "join", {"pool": "a"}) for i in range(a_end)]
        joins += [tx(i, "join", {"pool": "b"}) for i in range(b_start, members)]
        c.blocks(joins, block_txs)
        out["setup_s"] = round(time.perf_counter() - t0, 1)

        def propose(i: int, scope: str, changes: dict[str, Any]) -> Tx:
            return tx(i, "propose", {"scope": scope, "changes": changes, "title": "bench",
                                     "text_hash": TEXT})  # fmt: skip

        props = [
            propose(0, "a", {"max_claim": 7000}),
            propose(1, "a", {"max_claim": 6000}),
            propose(members - 1, "b", {"max_claim": 8000}),
            propose(members - 2, "b", {"max_claim": 9000}),
        ] + [propose(2 + k, "chain", {"registrars": [signers[k].public_key]}) for k in range(4)]
        out["empty_block_ms"] = block([])
        out["propose_block_ms"] = block(props)
        opened = c.height
        view = c.chain.view()
        out["electorates"] = [view.proposal(p.hash).electorate for p in props]
        ballots = [
            tx(v, "ballot", {"proposal": p.hash, "choice": "yes"}) for v in voters for p in props
        ]
        c.blocks(ballots, block_txs)
        assert c.height < opened + VOTING - 1, "ballots must fit in the voting period"
        while c.height < opened + VOTING - 2:
            block([])
        out["tally_block_ms"] = block([])  # its end tallies: closes_at = opened + VOTING
        statuses = {c.chain.view().proposal(p.hash).status for p in props}
        assert statuses == {"passed"}, statuses
        enact_at = c.height + 1 + VOTING
        while c.height < enact_at - 2:
            block([])
        out["enact_block_ms"] = block([])
        statuses = {c.chain.view().proposal(p.hash).status for p in props}
        assert statuses == {"enacted"}, statuses
        out["total_s"] = round(time.perf_counter() - t0, 1)
        c.close()
    return out


def main(argv: list[str] | None = None) -> int:
    return bench_main(__doc__ or "", run, argv, members=100_000, block_txs=10_000)


if __name__ == "__main__":
    raise SystemExit(main())
