"""Admission with signatures on the worker pool (node/admission.py): the same answers as the
mempool alone, in arrival order, a clear refusal when the pool is full, and proposals whose
txs are pre-checked without a bad signature ever passing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from chain_net import ALICE, BOB, CAROL, GENESIS, ChainNet

import state.tx as txmod
from consensus.messages import BLOCKSYNC, CONSENSUS, ProposalMsg, VoteMsg, encode_message
from consensus.types import PREVOTE, Block, BlockHeader, Proposal, Vote
from node.admission import Admission, unverified_txs
from node.workers import WorkerPool
from state.codec import encode
from state.crypto import Signer, sha256
from state.errors import Code
from state.machine import BlockInput, InvalidBlock
from state.mempool import Mempool, MempoolLimits
from state.store import MemoryStore
from state.tx import Tx, build_tx

CHAIN = GENESIS.chain_id


def transfer(signer: Signer, nonce: int, fee: int = 1, amount: int = 1) -> bytes:
    return build_tx(
        signer, CHAIN, "transfer", nonce, fee, {"to": BOB.public_key, "amount": amount}
    ).wire


def forge(wire: bytes) -> bytes:
    return wire[:-1] + bytes([wire[-1] ^ 1])


@pytest.fixture
def net() -> ChainNet:
    return ChainNet(MemoryStore())


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Holds every worker thread inside its check until set (a check on the event loop's
    own thread, made when the queue is full, goes through)."""
    opened = threading.Event()
    real = txmod.verify_tx

    def held(tx: Tx) -> bool:
        if threading.current_thread() is not threading.main_thread():
            opened.wait(10)
        return real(tx)

    monkeypatch.setattr(txmod, "verify_tx", held)
    yield opened
    opened.set()


def cases() -> list[bytes]:
    """One wire per answer of PROTOCOL.md section 7 admission (and a few repeats)."""
    ok0 = transfer(ALICE, 0)
    return [
        ok0,
        ok0,  # duplicate (pending)
        forge(transfer(ALICE, 1)),  # bad_signature
        b"\x93\x01\x02",  # malformed
        b"\xc1",  # malformed: not msgpack
        transfer(ALICE, 1, fee=0),  # fee_too_low (if min_fee > 0) or ok
        transfer(ALICE, 1),  # duplicate sender+nonce, or ok
        transfer(ALICE, 500),  # bad_nonce
        transfer(CAROL, 0, amount=1, fee=10**15),  # insufficient_funds
        build_tx(ALICE, "other-chain", "transfer", 2, 1, {"to": BOB.public_key, "amount": 1}).wire,
        transfer(ALICE, 2),
        transfer(ALICE, 3),  # mempool_full at max_txs=3
    ]


async def test_same_answers_as_the_mempool_alone(net: ChainNet) -> None:
    alone = Mempool(net.chain.view, MempoolLimits(max_txs=3))
    expected = [alone.add(w) for w in cases()]
    pooled = Mempool(net.chain.view, MempoolLimits(max_txs=3))
    pool = WorkerPool(2, batch_txs=2)
    try:
        adm = Admission(pooled, pool, CHAIN)
        got = [(await adm.admit([w], wait=False))[0] for w in cases()]
    finally:
        pool.close()
    assert [(r.code, r.log) for r in got] == [(r.code, r.log) for r in expected]
    assert {c.code for c in expected} >= {
        Code.OK,
        Code.DUPLICATE,
        Code.BAD_SIGNATURE,
        Code.MALFORMED,
        Code.BAD_NONCE,
        Code.INSUFFICIENT_FUNDS,
        Code.WRONG_CHAIN,
        Code.MEMPOOL_FULL,
    }
    assert [t.hash for t in pooled] == [t.hash for t in alone]


async def test_stateful_checks_keep_arrival_order(net: ChainNet, gate: threading.Event) -> None:
    """Nonce 0 is still being verified when nonce 1 (already verified) arrives: 1 waits."""
    mp = Mempool(net.chain.view, MempoolLimits(max_future_per_sender=0))
    first, second = transfer(ALICE, 0), transfer(ALICE, 1)
    mp.remember_verified([sha256(second)])
    pool = WorkerPool(1)
    try:
        adm = Admission(mp, pool, CHAIN)
        a = asyncio.ensure_future(adm.admit([first], wait=False))
        b = asyncio.ensure_future(adm.admit([second], wait=False))
        await asyncio.sleep(0.05)
        assert not b.done() and len(mp) == 0  # a gap is not judged before its filler
        gate.set()
        assert [r.code for r in await a] == [Code.OK]
        assert [r.code for r in await b] == [Code.OK]  # not mempool_full (behind a gap)
        assert [t.hash for t in mp] == [sha256(first), sha256(second)]
    finally:
        gate.set()
        pool.close()


async def test_a_full_pool_checks_a_client_tx_on_the_loop_in_section_7_order(
    net: ChainNet, gate: threading.Event
) -> None:
    """A full queue never answers mempool_full before check 6: the client's signatures are
    checked on the loop, and the answers still come in arrival order."""
    mp = Mempool(net.chain.view)
    pool = WorkerPool(1, max_queue_txs=2)
    try:
        adm = Admission(mp, pool, CHAIN)
        held = asyncio.ensure_future(adm.admit([transfer(ALICE, 0), transfer(ALICE, 1)], wait=True))
        await asyncio.sleep(0)
        assert pool.queued == 2  # full
        bad = bytearray(transfer(ALICE, 2))
        bad[-1] ^= 1  # the signature's last byte
        later = adm.admit([transfer(ALICE, 2), bytes(bad)], wait=False)
        assert pool.checked_inline == 2
        assert not later.done()  # behind the held request: nonce 2 needs nonces 0 and 1
        gate.set()
        assert [r.code for r in await held] == [Code.OK, Code.OK]
        codes = [r.code for r in await later]
        assert codes == [Code.OK, Code.BAD_SIGNATURE]
        assert len(mp) == 3
    finally:
        gate.set()
        pool.close()


async def test_a_peer_batch_stops_at_its_first_peer_fault(net: ChainNet) -> None:
    mp = Mempool(net.chain.view)
    pool = WorkerPool(2)
    try:
        adm = Admission(mp, pool, CHAIN)
        good, bad, after = transfer(ALICE, 0), forge(transfer(ALICE, 1)), transfer(ALICE, 2)
        res = await adm.admit([good, bad, after], wait=True)
        assert [r.code for r in res] == [Code.OK, Code.BAD_SIGNATURE]
        res = await adm.admit([transfer(ALICE, 1), b"\xc1", after], wait=True)
        assert [r.code for r in res] == [Code.OK, Code.MALFORMED]
        assert sha256(after) not in mp
    finally:
        pool.close()


def proposal_payload(wires: list[bytes], kind: str = "proposal") -> bytes:
    header = BlockHeader(
        chain_id=CHAIN,
        height=1,
        time_ms=GENESIS.genesis_time_ms + 1000,
        prev_hash=b"\x00" * 32,
        proposer=GENESIS.validators[0].consensus_key,
        tx_root=b"\x01" * 32,
        state_root=b"\x02" * 32,
        last_commit_hash=b"\x03" * 32,
        evidence_hash=b"\x04" * 32,
        validators_hash=b"\x05" * 32,
    )
    block = Block(header, tuple(wires), None, ())
    if kind == "proposal":
        return encode_message(ProposalMsg(Proposal(1, 0, -1, block, b"\x06" * 64)))
    return encode({"k": "block", "v": {"block": block.to_obj(), "commit": {}}})


async def test_proposal_txs_are_prechecked_and_a_bad_one_still_fails_the_block(
    net: ChainNet,
) -> None:
    mp = Mempool(net.chain.view)
    pending = transfer(ALICE, 0)
    assert mp.add(pending).code is Code.OK
    good, bad = transfer(CAROL, 0), forge(transfer(ALICE, 1))
    wires = [pending, good, bad, b"\xc1"]
    params = net.chain.params
    # only what the mempool has not checked (and what decodes) goes to the pool
    assert [t.wire for t in unverified_txs(proposal_payload(wires), mp, CHAIN, params)] == [
        good,
        bad,
    ]
    pool = WorkerPool(2)
    try:
        adm = Admission(mp, pool, CHAIN)
        pre = adm.preverify(CONSENSUS, proposal_payload(wires), params)
        assert pre is not None
        await pre
    finally:
        pool.close()
    assert mp.is_verified(sha256(good)) and not mp.is_verified(sha256(bad))

    calls: list[bytes] = []
    real = txmod.verify_tx

    def counting(tx: Tx) -> bool:
        calls.append(tx.wire)
        return real(tx)

    import state.machine

    h = net.chain.height + 1
    at = GENESIS.genesis_time_ms + 1000 * h
    proposer = GENESIS.validators[0].consensus_key
    with pytest.MonkeyPatch.context() as m:
        m.setattr(state.machine, "verify_tx", counting)
        m.setattr(txmod, "verify_tx", counting)
        ex = net.chain.execute(
            BlockInput(h, at, proposer, [pending, good], []), verified=mp.is_verified
        )
        assert calls == []  # the replica's execution only hit the cache
        with pytest.raises(InvalidBlock):
            net.chain.execute(
                BlockInput(h, at, proposer, [pending, good, bad], []), verified=mp.is_verified
            )
        assert calls == [bad]  # checked again by execution, found bad
    assert [r.code for r in ex.results] == [0, 0]


async def test_synced_blocks_are_prechecked_but_votes_and_known_txs_cost_nothing(
    net: ChainNet,
) -> None:
    mp = Mempool(net.chain.view)
    pool = WorkerPool(1)
    inline = WorkerPool(0)
    params = net.chain.params
    try:
        adm = Admission(mp, pool, CHAIN)
        good = transfer(CAROL, 0)
        pre = adm.preverify(BLOCKSYNC, proposal_payload([good], kind="block"), params)
        assert pre is not None
        await pre
        assert mp.is_verified(sha256(good))
        # nothing left to check: no awaitable, the replica gets the message at once
        assert adm.preverify(CONSENSUS, proposal_payload([good]), params) is None
        vote = Vote(PREVOTE, 1, 0, None, b"\x01" * 32, b"\x02" * 64)
        assert adm.preverify(CONSENSUS, encode_message(VoteMsg(vote)), params) is None
        assert adm.preverify(CONSENSUS, b"\x00garbage", params) is None
        fresh = transfer(ALICE, 0)
        inline_adm = Admission(mp, inline, CHAIN)  # threads = 0: the replica checks inline
        assert inline_adm.preverify(CONSENSUS, proposal_payload([fresh]), params) is None
    finally:
        pool.close()
        inline.close()


async def test_a_closed_pool_fails_requests_without_stalling_the_line(net: ChainNet) -> None:
    from node.workers import PoolClosed

    mp = Mempool(net.chain.view)
    pool = WorkerPool(1)
    adm = Admission(mp, pool, CHAIN)
    pool.close()
    with pytest.raises(PoolClosed):
        await adm.admit([transfer(ALICE, 0)], wait=False)
    # a request that needs no check still gets its answer: nothing is left in line ahead
    answer = await asyncio.wait_for(adm.admit([b"\xc1"], wait=False), 5)
    assert [r.code for r in answer] == [Code.MALFORMED]


async def test_a_clients_reoffer_after_mempool_full_skips_the_pool_and_gets_in_when_room_appears(
    net: ChainNet,
) -> None:
    mp = Mempool(net.chain.view, MempoolLimits(max_txs=1))
    pool = WorkerPool(2)
    first, refused = transfer(ALICE, 0), transfer(CAROL, 0)
    try:
        adm = Admission(mp, pool, CHAIN)
        assert [r.code for r in await adm.admit([first], wait=False)] == [Code.OK]
        assert [r.code for r in await adm.admit([refused], wait=False)] == [Code.MEMPOOL_FULL]
        checked = pool.checked
        again = await adm.admit([refused], wait=False)
        assert [r.code for r in again] == [Code.MEMPOOL_FULL]  # still full: the same answer
        assert mp.remove(sha256(first))  # room for one
        assert [r.code for r in await adm.admit([refused], wait=False)] == [Code.OK]
        assert pool.checked == checked  # neither re-offer had its signature checked again
        assert [t.hash for t in mp] == [sha256(refused)]
    finally:
        pool.close()


@pytest.mark.parametrize("threads", [0, 2])
async def test_a_peers_batch_is_bounded_by_max_txs_and_a_clients_tx_by_the_backlog(
    net: ChainNet, threads: int
) -> None:
    """Check 11's backlog bound (one block here) refuses a client's tx; a peer's batch, on
    the pool or inline, is admitted up to max_txs (state/mempool.py says why)."""
    latest = net.chain.view()
    params = replace(latest.params, max_block_txs=1)

    class OneTxBlocks:
        """The chain's latest view, with blocks of one tx at most."""

        def __getattr__(self, name: str) -> object:
            return params if name == "params" else getattr(latest, name)

    mp = Mempool(OneTxBlocks, MempoolLimits(max_txs=3))  # type: ignore[arg-type]
    pool = WorkerPool(threads)
    try:
        adm = Admission(mp, pool, CHAIN)
        assert [r.code for r in await adm.admit([transfer(ALICE, 0)], wait=False)] == [Code.OK]
        refused = await adm.admit([transfer(ALICE, 1)], wait=False)
        assert [r.code for r in refused] == [Code.MEMPOOL_FULL]
        batch = [transfer(ALICE, n) for n in (1, 2, 3)]
        got = adm.admit_now(batch, peer=True) if pool.inline else await adm.admit(batch, wait=True)
        assert [r.code for r in got] == [Code.OK, Code.OK, Code.MEMPOOL_FULL]
        assert got[2].log == "3 transactions pending"
    finally:
        pool.close()
