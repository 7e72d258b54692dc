"""`broadcast_tx` in commit mode when the mempool drops the transaction after a commit: a
nonce that a committed transaction used can never commit, so the caller is answered at once
(the nemesis found callers stalled for the whole commit timeout after a restart)."""

from __future__ import annotations

import asyncio
import time

from chain_net import ChainParts

from node.service import NodeService
from state.chain import Chain
from state.devkeys import dev_signer, localnet_genesis
from state.genesis import Genesis, parse_genesis
from state.machine import BlockInput
from state.mempool import Mempool
from state.store import MemoryStore
from state.tx import Tx, build_tx


def _setup() -> tuple[Chain, Mempool, NodeService, Genesis]:
    genesis = parse_genesis(localnet_genesis())
    chain = Chain.init_genesis(MemoryStore(), genesis)
    mempool = Mempool(chain.view)
    return chain, mempool, NodeService(ChainParts(chain, mempool=mempool)), genesis


def _commit(chain: Chain, mempool: Mempool, service: NodeService, txs: list[Tx]) -> list[Tx]:
    """Execute and commit a block of `txs` as the runtime does; returns what the mempool
    dropped, after telling the service."""
    h = chain.height + 1
    block = BlockInput(
        height=h,
        time_ms=chain.genesis.genesis_time_ms + 1000 * h,
        proposer=chain.genesis.validators[0].consensus_key,
        txs=[t.wire for t in txs],
    )
    chain.commit(chain.execute(block))
    _, dropped = mempool.update(block.txs)
    service.on_dropped(dropped)
    return list(dropped)


async def test_a_waiter_for_a_tx_whose_nonce_was_used_is_answered_bad_nonce_at_once() -> None:
    chain, mempool, service, genesis = _setup()
    m1, m2 = dev_signer("member1"), dev_signer("member2")
    mine = build_tx(m1, genesis.chain_id, "transfer", 0, 1, {"to": m2.public_key, "amount": 5})
    # the same nonce, committed from elsewhere (another node's mempool, a client's retry)
    other = build_tx(m1, genesis.chain_id, "transfer", 0, 2, {"to": m2.public_key, "amount": 7})
    started = time.monotonic()
    waiting = asyncio.create_task(service.broadcast_tx(mine.wire, "commit", timeout=20.0))
    while mempool.get(mine.hash) is None:  # admitted, now waiting for inclusion
        await asyncio.sleep(0.01)
    dropped = _commit(chain, mempool, service, [other])
    assert mine.hash in {t.hash for t in dropped}
    answer = await asyncio.wait_for(waiting, 5.0)
    assert answer["code"] == 4 and answer["error"] == "bad_nonce"
    assert answer["hash"] == mine.hash.hex() and "nonce 0 was used" in answer["log"]
    assert time.monotonic() - started < 5.0  # not the 20 s timeout
    assert service._waiters == {}  # nothing left behind


async def test_a_waiter_for_a_tx_dropped_for_another_reason_keeps_waiting() -> None:
    """A drop that leaves the nonce unused (here: the sender's balance no longer pays the
    fee) may still commit from another node's mempool: the caller waits out its timeout."""
    chain, mempool, service, genesis = _setup()
    m1, m2 = dev_signer("member1"), dev_signer("member2")
    balance = chain.view().account(m1.public_key).balance
    later = build_tx(m1, genesis.chain_id, "transfer", 1, 1, {"to": m2.public_key, "amount": 1})
    waiting = asyncio.create_task(service.broadcast_tx(later.wire, "commit", timeout=0.5))
    while mempool.get(later.hash) is None:  # admitted with a future nonce
        await asyncio.sleep(0.01)
    # nonce 0 spends all but its own fee: nothing is left for the fee of nonce 1
    drain = build_tx(
        m1, genesis.chain_id, "transfer", 0, 1, {"to": m2.public_key, "amount": balance - 1}
    )
    dropped = _commit(chain, mempool, service, [drain])
    assert later.hash in {t.hash for t in dropped}
    assert not waiting.done()  # not answered by the drop
    answer = await asyncio.wait_for(waiting, 5.0)
    assert answer["code"] == -1 and answer["error"] == "timeout"
