"""Mempool admission with the signature checks on the worker pool, in arrival order.

A client's tx (RPC `broadcast_tx`) or a peer's batch is decoded on the loop (admission
checks 1-5, `Mempool.prepare`), the signatures this node has not checked yet go to the
worker pool (check 6, node/workers.py), and only then the stateful checks 7-11 run, on the
loop (`Mempool.admit_checked`). Every request takes its place in line when it arrives and
its stateful checks wait for those of every request that arrived before it, so two txs
of one sender sent back to back are judged in the order they came, and every answer is the
one `Mempool.add` would have given at that point: PROTOCOL.md section 7's order of checks
and result codes do not change. The one new answer: a client's tx that finds the pool's
queue full is refused `mempool_full` (check 11's code, the node has no room for it) with a
message naming `[workers] max_queue_txs`, before its signature is looked at.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence

import msgpack

from consensus.messages import BLOCKSYNC, CONSENSUS, peek_kind
from node.workers import PoolFull, WorkerPool
from state.crypto import sha256
from state.errors import Code, TxError
from state.mempool import Decoded, Mempool
from state.params import ChainParams
from state.tx import PEER_FAULT_CODES, CheckResult, Tx, decode_tx


class Admission:
    """The ordered admission line of one node (one event loop)."""

    def __init__(self, mempool: Mempool, pool: WorkerPool, chain_id: str) -> None:
        self.mempool = mempool
        self.pool = pool
        self.chain_id = chain_id
        self._tail: asyncio.Future[None] | None = None  # done when the last in line is

    def admit_now(self, wires: Sequence[bytes]) -> list[CheckResult]:
        """Inline admission (no pool), stopping after the first peer-fault refusal."""
        out: list[CheckResult] = []
        for wire in wires:
            res = self.mempool.add(wire)
            out.append(res)
            if res.code in PEER_FAULT_CODES:
                break
        return out

    def admit(self, wires: Sequence[bytes], *, wait: bool) -> Awaitable[list[CheckResult]]:
        """Admit `wires` in order, after every request that arrived before: decoding and the
        place in line happen now, the rest when the returned awaitable runs, which the
        caller must await at once (the line waits for it). The answers stop after the first
        refusal no honest peer can cause (a peer's batch is then garbage: the caller bans
        it, and the txs after it are not looked at).

        wait=False (a client): a full pool queue refuses the whole request `mempool_full`;
        wait=True (a peer): it waits for room."""
        mempool = self.mempool
        pre: list[CheckResult | Decoded] = []
        for wire in wires:
            p = mempool.prepare(wire)
            pre.append(p)
            if type(p) is CheckResult and p.code in PEER_FAULT_CODES:
                break
        prev = self._tail
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tail = mine
        return self._finish(pre, prev, mine, wait)

    async def _finish(
        self,
        pre: list[CheckResult | Decoded],
        prev: asyncio.Future[None] | None,
        mine: asyncio.Future[None],
        wait: bool,
    ) -> list[CheckResult]:
        try:
            todo = [p.tx for p in pre if type(p) is Decoded and not p.verified]
            try:
                oks = await self.pool.verify(todo, wait=wait)
            except PoolFull as exc:
                return [_refused(p, str(exc)) for p in pre]
            if prev is not None and not prev.done():
                await asyncio.shield(prev)
            good = iter(oks)
            out: list[CheckResult] = []
            for p in pre:
                if type(p) is Decoded:
                    res = self.mempool.admit_checked(p, p.verified or next(good))
                else:
                    assert type(p) is CheckResult
                    res = p
                out.append(res)
                if res.code in PEER_FAULT_CODES:
                    break
            return out
        finally:
            _pass_on(prev, mine)

    def preverify(
        self, channel: int, payload: bytes, params: ChainParams
    ) -> Awaitable[None] | None:
        """For a proposal or a synced block (before the replica sees it): check on the pool
        the signatures of its txs this node has not verified, and remember the good ones,
        so the replica's synchronous execution finds them in the cache. None when there is
        nothing to check (or no threads). A bad signature is not remembered: execution
        checks it again and finds the block invalid, as without a pool."""
        if self.pool.inline or channel not in BLOCK_CHANNELS:
            return None
        txs = unverified_txs(payload, self.mempool, self.chain_id, params)
        return self._preverified(txs) if txs else None

    async def _preverified(self, txs: list[Tx]) -> None:
        oks = await self.pool.verify(txs, wait=True)
        self.mempool.remember_verified(t.hash for t, ok in zip(txs, oks, strict=True) if ok)


#: the channels whose messages may carry a block: proposals, and blocks answered to a sync
BLOCK_CHANNELS = frozenset((CONSENSUS, BLOCKSYNC))
_BLOCK_KINDS = frozenset(("proposal", "block"))


def unverified_txs(
    payload: bytes, mempool: Mempool, chain_id: str, params: ChainParams
) -> list[Tx]:
    """The decoded txs of a proposal or block message whose signature `mempool` has not
    checked. A quick look, not the replica's strict decoding: anything unexpected gives
    fewer txs (the replica then verifies them itself), never a wrong verdict, since only
    exact wire bytes found good are remembered."""
    try:
        if peek_kind(payload) not in _BLOCK_KINDS:
            return []
        env = msgpack.unpackb(payload, raw=False, strict_map_key=True)
        wires = env["v"]["block"]["txs"]
    except Exception:  # noqa: BLE001 - garbage is the replica's to judge and penalise
        return []
    if type(wires) is not list:
        return []
    out: list[Tx] = []
    for wire in wires:
        if type(wire) is not bytes:
            return []
        tx_hash = sha256(wire)
        if tx_hash in mempool or mempool.is_verified(tx_hash):
            continue
        try:
            out.append(decode_tx(wire, chain_id=chain_id, params=params))
        except TxError:
            continue
    return out


def _refused(p: CheckResult | Decoded, why: str) -> CheckResult:
    """A request the pool has no room for: what was already decided stands, the rest is
    refused mempool_full."""
    if type(p) is Decoded:
        return CheckResult(Code.MEMPOOL_FULL, why, p.tx)
    assert type(p) is CheckResult
    return p


def _pass_on(prev: asyncio.Future[None] | None, mine: asyncio.Future[None]) -> None:
    """Mark this request's turn done, but never before the one ahead of it (a request
    cancelled while waiting must not let the next one jump the line)."""
    if prev is None or prev.done():
        if not mine.done():
            mine.set_result(None)
        return

    def follow(_: object) -> None:
        if not mine.done():
            mine.set_result(None)

    prev.add_done_callback(follow)
