"""A Byzantine proposer cannot make a replica hold blocks for many rounds ahead."""

from __future__ import annotations

import dataclasses

from cons_helpers import CHAIN, CounterApp
from test_core import BY_KEY, CTX, GENESIS, MEMBERS, PARAMS, VS, proposal

from consensus.core import Core
from consensus.messages import HEADER_BYTES, block_bytes
from consensus.types import Block, BlockHeader, commit_hash, evidence_hash, tx_root
from state.store import MemoryStore

TX = 10_000
SIZE = HEADER_BYTES + TX  # block_bytes of each block below


def big_block(round_: int) -> Block:
    txs = (bytes([round_ % 256]) * TX,)
    proposer = VS.proposer(round_)
    header = BlockHeader(
        chain_id=CHAIN,
        height=1,
        time_ms=100,
        prev_hash=GENESIS,
        proposer=proposer,
        tx_root=tx_root(txs),
        state_root=CounterApp.root(1, 1),
        last_commit_hash=commit_hash(None),
        evidence_hash=evidence_hash([]),
        validators_hash=VS.hash(),
    )
    return Block(header, txs, None, ())


def test_blocks_for_future_rounds_bounded_in_bytes() -> None:
    params = dataclasses.replace(PARAMS, max_future_block_bytes=3 * SIZE)
    me = next(iter(BY_KEY.values()))
    core = Core(CHAIN, CounterApp(MemoryStore(), lambda h: MEMBERS), me, params)
    core.start_height(CTX, 0, 0)
    assert core.round == 0 and block_bytes(big_block(1)) == SIZE
    for r in range(1, 7):
        core.on_proposal(proposal(BY_KEY[VS.proposer(r)], big_block(r), r), 10)
    # exactly three fit the bound (3 * SIZE); the fourth and later are not kept
    assert sorted(p.round for p in core.proposals.values()) == [1, 2, 3]
    assert len(core.blocks) == 3
    # the current round is not limited by it
    core.on_proposal(proposal(BY_KEY[VS.proposer(0)], big_block(0), 0), 10)
    assert len(core.blocks) == 4 and 0 in core.proposals


def test_the_bound_is_a_consensus_config_key() -> None:
    from node.config import parse_config
    from state.params import ChainParams

    chain = ChainParams(treasury=b"\x01" * 32)
    cfg = parse_config({"consensus": {"max_future_block_bytes": 3 * SIZE}})
    assert cfg.consensus.to_params(chain).max_future_block_bytes == 3 * SIZE
    assert parse_config({}).consensus.to_params(chain).max_future_block_bytes == 16 << 20
