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
import functools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import msgpack

from consensus.messages import BLOCKSYNC, CONSENSUS, peek_kind
from node.workers import PoolClosed, PoolFull, WorkerPool
from p2p.gossip import monotonic_ms
from p2p.types import ProtocolViolation
from state.crypto import sha256
from state.errors import TxError
from state.mempool import Decoded, Mempool
from state.params import ChainParams
from state.tx import PEER_FAULT_CODES, CheckResult, Tx, decode_tx
from state.txgossip import PeerFault, TxGossipPolicy


class _Entry:
    """One request in the admission line: its decoded txs and, once known, the pool's
    answers for those that needed a check (or why there are none)."""

    __slots__ = ("pre", "oks", "future", "peer")

    def __init__(
        self,
        pre: list[CheckResult | Decoded],
        future: asyncio.Future[list[CheckResult]],
        *,
        peer: bool,
    ) -> None:
        self.pre = pre
        self.peer = peer
        self.oks: list[bool] | BaseException | None = None
        self.future = future


class Admission:
    """The ordered admission line of one node (one event loop).

    Requests join the line when they arrive; the pool's answers may come back in any
    order, and the line admits from its head only, so a request whose signatures are still
    being checked holds back every later one. A caller that stops waiting (a client gone)
    does not stall the line: its txs are admitted all the same, as they would have been."""

    def __init__(self, mempool: Mempool, pool: WorkerPool, chain_id: str) -> None:
        self.mempool = mempool
        self.pool = pool
        self.chain_id = chain_id
        self._line: deque[_Entry] = deque()

    def admit_now(self, wires: Sequence[bytes], *, peer: bool = False) -> list[CheckResult]:
        """Inline admission (no pool), a peer's stopping after its first peer-fault refusal.
        `peer`: a peer's gossip, bounded by max_txs only (not check 11's backlog bound); a
        client's txs (a JSON-RPC batch's) are each answered, whatever the others'."""
        out: list[CheckResult] = []
        for wire in wires:
            res = self.mempool.add(wire, peer=peer)
            out.append(res)
            if peer and res.code in PEER_FAULT_CODES:
                break
        return out

    def admit(self, wires: Sequence[bytes], *, wait: bool) -> Awaitable[list[CheckResult]]:
        """Admit `wires` in order, after every request that arrived before: decoding and the
        place in line happen now. A peer's answers stop after the first refusal no honest
        peer can cause (its batch is then garbage: the caller bans it, and the txs after it
        are not looked at); a client's (several from one JSON-RPC batch) are all answered.

        wait=False (a client): when the pool's queue is full, the request's signatures are
        checked here on the loop (the old inline path): refusing `mempool_full` before check
        6 would break section 7's order of checks (a bad signature must answer
        `bad_signature`), and the loop doing the work is the back-pressure;
        wait=True (a peer): it waits for room, and then the caller must await the result at
        once (the line waits for it); a peer's txs are bounded by max_txs only, not by check
        11's backlog bound (state/mempool.py says why)."""
        mempool = self.mempool
        pre: list[CheckResult | Decoded] = []
        for wire in wires:
            p = mempool.prepare(wire)
            pre.append(p)
            if wait and type(p) is CheckResult and p.code in PEER_FAULT_CODES:
                break
        todo = [p.tx for p in pre if type(p) is Decoded and not p.verified]
        entry = _Entry(pre, asyncio.get_running_loop().create_future(), peer=wait)
        line = self._line
        line.append(entry)
        pool = self.pool
        if not todo:
            self._answered(entry, [])
        elif wait and pool.queued + len(todo) > pool.max_queue_txs:
            return self._when_room(entry, todo)
        else:
            try:
                pool.submit(todo, functools.partial(self._answered, entry))
            except PoolFull:
                self._answered(entry, pool.verify_inline(todo))
            except PoolClosed as exc:  # stopping: this request fails, the line goes on
                self._answered(entry, exc)
        return entry.future

    async def _when_room(self, entry: _Entry, todo: list[Tx]) -> list[CheckResult]:
        try:
            oks = await self.pool.verify(todo, wait=True)
        except BaseException as exc:
            self._answered(entry, exc)
            raise
        self._answered(entry, oks)
        return await entry.future

    def _answered(self, entry: _Entry, oks: list[bool] | BaseException) -> None:
        entry.oks = oks
        line = self._line
        while line and line[0].oks is not None:
            e = line.popleft()
            fut = e.future
            answer = e.oks
            if isinstance(answer, asyncio.CancelledError):
                fut.cancel()
                continue
            if isinstance(answer, BaseException):
                if not fut.done():
                    fut.set_exception(answer)
                continue
            assert answer is not None
            try:
                out = self._checked(e.pre, answer, e.peer)
            except Exception as exc:  # a bug of ours: that request fails, the line goes on
                if not fut.done():
                    fut.set_exception(exc)
                continue
            if not fut.done():
                fut.set_result(out)

    def _checked(
        self, pre: list[CheckResult | Decoded], oks: list[bool], peer: bool
    ) -> list[CheckResult]:
        """Checks 6-11 of a request's decoded txs, in order, now that its turn has come."""
        good = iter(oks)
        out: list[CheckResult] = []
        for p in pre:
            if type(p) is Decoded:
                res = self.mempool.admit_checked(p, p.verified or next(good), peer=peer)
            else:
                assert type(p) is CheckResult
                res = p
            out.append(res)
            if peer and res.code in PEER_FAULT_CODES:
                break
        return out

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


class _Failures(Protocol):
    def step_failed(self, where: str, exc: BaseException, now_ms: int) -> bool: ...


class GossipIntake:
    """A peer's tx batch (P2P channel 2): decoded by the gossip policy, admitted through
    the line, then each answer handed back to the policy (relay, or seen by that peer).
    Garbage, or a tx no honest peer could have admitted, raises ProtocolViolation (the
    transport bans the peer); an exception of ours is recorded, never banning a peer."""

    def __init__(
        self,
        admission: Admission,
        policy: TxGossipPolicy,
        count: Callable[[CheckResult], None],
        failures: _Failures,
    ) -> None:
        self.admission = admission
        self.policy = policy
        self._count = count
        self._failures = failures

    def receive(self, peer_id: bytes, payload: bytes) -> Awaitable[None] | None:
        """Inline (no threads) the batch is admitted now; else an awaitable to await at once
        (the transport does, before reading the peer's next frame: back-pressure)."""
        try:
            wires = self.policy.open_batch(payload)
        except PeerFault as exc:
            raise ProtocolViolation(str(exc)) from None
        admission = self.admission
        if admission.pool.inline:
            self._settle(peer_id, admission.admit_now(wires, peer=True))
            return None
        return self._settle_later(peer_id, admission.admit(wires, wait=True))

    async def _settle_later(self, peer_id: bytes, pending: Awaitable[list[CheckResult]]) -> None:
        try:
            results = await pending
        except PoolClosed:
            return
        except Exception as exc:
            self._failures.step_failed("tx batch", exc, _now_ms())
            return
        self._settle(peer_id, results)

    def _settle(self, peer_id: bytes, results: list[CheckResult]) -> None:
        now = monotonic_ms()
        try:
            for res in results:
                self._count(res)
                self.policy.settle(peer_id, res, now)
        except PeerFault as exc:
            raise ProtocolViolation(str(exc)) from None


def _now_ms() -> int:
    """The wall clock in ms, as node/runtime.py's now_ms (vitals compare it with it)."""
    return time.time_ns() // 1_000_000


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
