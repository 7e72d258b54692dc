"""NodeAPI (node/api.py) over a running node: the reads and writes behind every RPC method.

The service is the only place where committed state, the block store and the mempool meet
the JSON of PROTOCOL.md section 6. It reads through `NodeParts`, a narrow view of the runtime,
so it can be driven in tests without sockets; every read takes one `StateView` so that the
answer of a call is consistent at one height.

Each read is the method of node/methods.py's table with the same name and params (the
server refuses to start when one is missing); adding a read is its table entry and its
method here.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from node.api import DEFAULT_COMMIT_TIMEOUT_S, BroadcastMode, EventListener, NotFound, shown
from node.api import timeout_result as _timeout_result
from node.jsonrpc import NOT_FOUND, RpcError
from node.light import commit_to_json, header_to_json, proof_to_json
from state import keys as K
from state.crypto import sha256
from state.errors import Code
from state.mempool import Mempool
from state.model import TxRecord
from state.tx import CheckResult, Tx, decode_tx, tx_to_json

log = logging.getLogger("huzhu.service")

_DIRECTION = {"inbound": "in", "outbound": "out"}  # p2p's words -> PROTOCOL.md's


def rfc3339(ms: int) -> str:
    """Milliseconds since the epoch as RFC 3339 UTC with millisecond precision."""
    dt = datetime.fromtimestamp(ms // 1000, tz=UTC)  # integer seconds: no float rounding
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


#: consensus vote types (consensus/types.py PREVOTE, PRECOMMIT) by their names in answers
VOTE_TYPE_NAMES = {1: "prevote", 2: "precommit"}


def _hex_or_none(b: bytes | None) -> str | None:
    return None if b is None else b.hex()


def _evidence_json(ev: Any) -> dict[str, Any]:
    """One duplicate vote a block carries (consensus DuplicateVoteEvidence): who signed which
    two block ids at one height, round and vote type (a nil vote's id is null)."""
    return {
        "id": ev.id.hex(),
        "validator": ev.validator.hex(),
        "height": ev.height,
        "round": ev.round,
        "type": VOTE_TYPE_NAMES.get(ev.vote_type, str(ev.vote_type)),
        "block_id_a": _hex_or_none(ev.vote_a.block_id),
        "block_id_b": _hex_or_none(ev.vote_b.block_id),
    }


class NodeParts(Protocol):
    """What the service needs from the runtime (node/runtime.py `Node` implements it)."""

    node_id: bytes

    # state.chain StateView at the latest committed height, or after block `height`
    # (state.chain.Pruned / NotCommitted, both ValueError, outside the retained heights)
    def view(self, height: int | None = None) -> Any: ...

    @property
    def genesis(self) -> Any: ...

    @property
    def mempool(self) -> Mempool: ...

    def block_at(self, height: int) -> Any | None: ...  # consensus Block or None

    def commit_at(self, height: int) -> Any | None: ...  # consensus Commit or None

    def catching_up(self) -> bool: ...

    def peers(self) -> list[Any]: ...  # PeerInfo(node_id, address, direction)

    # mempool admission + gossip -> CheckResult, or an awaitable of it to await at once
    def submit(self, wire: bytes) -> Any: ...


def _vitals_json(vitals: Any) -> dict[str, Any]:
    """The health fields of `status` from node.vitals.Vitals; a part without one (a test
    double, a light chain) reports a node that never failed and has no clock estimate."""
    since = None if vitals is None else vitals.stalled_since_ms
    return {
        "stalled_since": None if since is None else rfc3339(since),
        "last_error": None if vitals is None else vitals.last_error,
        "clock_offset_ms": None if vitals is None else vitals.clock_offset_ms(),
        "clock_skew_warning": False if vitals is None else vitals.clock_skewed(),
    }


class NodeService:
    """Implements node.api.NodeAPI for one node."""

    def __init__(self, parts: NodeParts) -> None:
        self._p = parts
        # each listener with the kinds it wants now (None: every kind)
        self._listeners: list[tuple[EventListener, Callable[[str], bool] | None]] = []
        # tx hash -> futures of `commit`-mode callers waiting for inclusion
        self._waiters: dict[bytes, list[asyncio.Future[dict[str, Any]]]] = {}
        self._quiet: set[asyncio.Future[Any]] = set()  # async-mode admissions still running

    # ---------------------------------------------------------------- events, waiters

    def subscribe_events(
        self, listener: EventListener, wants: Callable[[str], bool] | None = None
    ) -> Callable[[], None]:
        """Register `listener` (node.api.NodeAPI.subscribe_events). `wants(kind)`, when
        given, tells whether the listener would use an event of that kind right now: events
        nobody wants are not built at all. The RPC server listens for its WebSocket
        subscribers, usually none, and building a `tx` event per committed transaction for
        nobody cost ~4 % of a validator's CPU under load (bench/profile_node.py)."""
        entry = (listener, wants)
        self._listeners.append(entry)

        def unsubscribe() -> None:
            if entry in self._listeners:
                self._listeners.remove(entry)

        return unsubscribe

    def _wanted(self, kind: str) -> list[EventListener]:
        """The listeners that want `kind` events now; a failing `wants` counts as yes."""
        out = []
        for listener, wants in list(self._listeners):
            try:
                if wants is None or wants(kind):
                    out.append(listener)
            except Exception:
                log.exception("event listener's wants failed on %s", kind)
                out.append(listener)
        return out

    def _emit(self, kind: str, data: dict[str, Any], to: list[EventListener]) -> None:
        for listener in to:
            try:
                listener(kind, data)
            except Exception:  # a listener's bug must not stop the others, nor the node
                log.exception("event listener failed on %s", kind)

    def on_committed(
        self,
        height: int,
        block: Any,
        commit: Any = None,
        decoded: dict[bytes, Tx] | None = None,
        results: list[Any] | None = None,
        hashes: Sequence[bytes] | None = None,
    ) -> None:
        """Called by the runtime after block `height` is committed (state readable).

        `commit` is the certificate that committed it (read from the store when None);
        `decoded` maps hashes to already decoded transactions (the mempool's) and `results`
        are the execution's TxResults in block order, so events and waiters cost no store
        read and no second decode for the transactions this node already knew. `hashes`
        (the block's tx hashes in order, as execution computed them) spares hashing again.
        Nothing per transaction runs when no caller waits and no listener wants `tx`."""
        block_to = self._wanted("new_block") if self._listeners else []
        tx_to = self._wanted("tx") if self._listeners else []
        if block_to:
            if commit is None:
                commit = self._p.commit_at(height)
            self._emit("new_block", self._block_json(height, block, commit, hashes), block_to)
        if not tx_to and not self._waiters:
            return
        view = self._p.view()
        if results is not None and len(results) != len(block.txs):
            results = None
        if hashes is not None and len(hashes) != len(block.txs):
            hashes = None
        for index, wire in enumerate(block.txs):
            h = sha256(wire) if hashes is None else hashes[index]
            waiters = self._waiters.pop(h, None)
            if not tx_to and not waiters:
                continue
            if results is not None:
                r = results[index]
                rec: Any = TxRecord(h, height, index, r.code, r.log)
            else:
                rec = view.tx_result(h)
                if rec is None:  # not indexed: would be a state bug
                    log.error("committed tx %s has no index entry", h.hex())
                    continue
            if waiters:
                res = rec.to_json()
                for fut in waiters:
                    if not fut.done():
                        fut.set_result(res)
            if tx_to:
                tx = decoded.get(h) if decoded else None
                self._emit("tx", self._tx_json(rec, wire, tx), tx_to)

    def on_dropped(self, dropped: Sequence[Tx]) -> None:
        """Called by the runtime with the transactions the mempool dropped after a commit.

        One whose nonce a committed transaction has used can never be committed anywhere, so
        a `commit`-mode caller waiting for it is answered at once with `bad_nonce` instead of
        waiting out its timeout (the nemesis found callers stalled 30 s after a restart). A
        transaction dropped for another reason (a raised fee, expiry) may still be committed
        from another node's mempool, so its callers keep waiting."""
        if not self._waiters or not dropped:
            return
        view = self._p.view()
        for tx in dropped:
            waiters = self._waiters.get(tx.hash)
            if not waiters:
                continue
            used = view.account(tx.sender).nonce
            if tx.nonce >= used:
                continue
            answer = {
                "hash": tx.hash.hex(),
                "code": int(Code.BAD_NONCE),
                "error": Code.BAD_NONCE.error,
                "log": f"dropped from the mempool: nonce {tx.nonce} was used by a committed "
                f"transaction (the account's nonce is now {used})",
            }
            for fut in waiters:
                if not fut.done():
                    fut.set_result(answer)

    # ---------------------------------------------------------------- writes

    async def broadcast_tx(
        self, wire: bytes, mode: BroadcastMode, timeout: float = DEFAULT_COMMIT_TIMEOUT_S
    ) -> dict[str, Any]:
        if mode == "async":
            asyncio.get_running_loop().call_soon(self._submit_quietly, wire)
            return {"hash": sha256(wire).hex(), "code": 0, "error": None, "log": ""}
        if mode != "commit":
            res = self._p.submit(wire)
            if inspect.isawaitable(res):  # checked on the worker pool (node/workers.py)
                res = await res
            return _answer(res, _hash_of(res, wire))
        tx_hash = sha256(wire)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(tx_hash, []).append(fut)
        res = self._p.submit(wire)
        if inspect.isawaitable(res):
            try:
                res = await res
            except BaseException:
                self._drop_waiter(tx_hash, fut)
                raise
        answer = _answer(res, tx_hash)
        if res.code is not Code.OK:
            self._drop_waiter(tx_hash, fut)
            return answer
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            return _timeout_result(tx_hash)
        finally:
            self._drop_waiter(tx_hash, fut)

    async def broadcast_txs(self, wires: list[bytes]) -> list[dict[str, Any]]:
        """`broadcast_tx` mode sync of each of `wires`, in order, as one admission request
        (a JSON-RPC batch's, node/rpcdispatch.py): the answers each would get alone, for one
        line entry and one worker hand-off instead of one each."""
        submit_many = getattr(self._p, "submit_many", None)
        if submit_many is None:  # parts without it (tests' chains): one request each
            return [await self.broadcast_tx(wire, "sync") for wire in wires]
        results = submit_many(wires)
        if inspect.isawaitable(results):  # checked on the worker pool (node/workers.py)
            results = await results
        return [_answer(res, _hash_of(res, w)) for res, w in zip(results, wires, strict=True)]

    def _drop_waiter(self, tx_hash: bytes, fut: asyncio.Future[Any]) -> None:
        lst = self._waiters.get(tx_hash)
        if lst is None:
            return
        if fut in lst:
            lst.remove(fut)
        if not lst:
            del self._waiters[tx_hash]
        if not fut.done():
            fut.cancel()

    def _submit_quietly(self, wire: bytes) -> None:
        try:
            res = self._p.submit(wire)
        except Exception:
            log.exception("async broadcast_tx admission failed")
            return
        if inspect.isawaitable(res):
            task = asyncio.ensure_future(res)
            self._quiet.add(task)
            task.add_done_callback(self._quiet_done)

    def _quiet_done(self, task: asyncio.Future[Any]) -> None:
        self._quiet.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("async broadcast_tx admission failed", exc_info=task.exception())

    # ---------------------------------------------------------------- reads

    async def status(self) -> dict[str, Any]:
        view = self._p.view()
        height = view.height
        genesis = self._p.genesis
        block = self._p.block_at(height) if height > 0 else None
        node_id = self._p.node_id
        next_set = view.validators(height + 1)
        return {
            "chain_id": view.chain_id,
            "node_id": node_id.hex(),
            "height": height,
            "block_hash": block.hash.hex() if block is not None else None,
            "state_root": view.state_root.hex(),
            "time": rfc3339(block.header.time_ms) if block is not None else genesis.genesis_time,
            "validator": any(v.consensus_key == node_id for v in next_set),
            "catching_up": self._p.catching_up(),
            "peers": len(self._p.peers()),
            **_vitals_json(getattr(self._p, "vitals", None)),
        }

    def _tx_json(self, rec: Any, wire: bytes, tx: Tx | None = None) -> dict[str, Any]:
        out = rec.to_json()
        if tx is None:
            view = self._p.view()
            tx = decode_tx(wire, chain_id=view.chain_id, params=view.params)
        out.update(tx_to_json(tx))
        return out

    async def tx(self, hash: bytes) -> dict[str, Any]:
        view = self._p.view()
        rec = view.tx_result(hash)
        if rec is None:
            raise NotFound(f"transaction {hash.hex()} not found")
        block = self._p.block_at(rec.height)
        if block is None or rec.index >= len(block.txs):
            raise NotFound(f"transaction {hash.hex()}: block {rec.height} not stored")
        return self._tx_json(rec, block.txs[rec.index])

    def _block_json(
        self, height: int, block: Any, commit: Any, hashes: Sequence[bytes] | None = None
    ) -> dict[str, Any]:
        """The `block` result; `commit` is the certificate this node holds for the block,
        `hashes` its transactions' hashes when known (else computed)."""
        hd = block.header
        if hashes is None or len(hashes) != len(block.txs):
            hashes = [sha256(w) for w in block.txs]
        return {
            "height": height,
            "hash": block.hash.hex(),
            "prev_hash": hd.prev_hash.hex(),
            "time": rfc3339(hd.time_ms),
            "proposer": hd.proposer.hex(),
            "state_root": hd.state_root.hex(),
            "tx_root": hd.tx_root.hex(),
            "txs": [h.hex() for h in hashes],
            "evidence": [_evidence_json(e) for e in getattr(block, "evidence", ())],
            "commit": None
            if commit is None
            else {
                "round": commit.round,
                "signatures": [
                    {"validator": v.hex(), "signature": s.hex()} for v, s in commit.signatures
                ],
            },
        }

    async def block(self, height: int | None) -> dict[str, Any]:
        latest = self._p.view().height
        h = latest if height is None else height
        if not 1 <= h <= latest:
            raise NotFound(f"block {h} not found (latest is {latest})")
        block = self._p.block_at(h)
        if block is None:
            raise NotFound(f"block {h} not stored")
        return self._block_json(h, block, self._p.commit_at(h))

    # ---------------------------------------------------------------- section 11: heights, proofs

    def _view_at(self, height: int | None, pin: bool = False) -> Any:
        """The view after block `height` (None: the latest); -32001 outside the retained
        heights, with the message `pruned` below them (section 11). `pin` (with prove):
        the latest too is a view pinned at its height, so that a proof and its header never
        straddle a commit; plain reads keep the cached latest view."""
        latest = self._p.view().height
        if height is None:
            return self._p.view(latest) if pin and latest > 0 else self._p.view()
        if not 1 <= height <= latest:
            raise NotFound(f"height {height} not committed (latest is {latest})")
        try:
            return self._p.view(height)
        except ValueError:  # state.chain.Pruned: 1..latest was checked above
            # section 11 fixes the whole message, so not NotFound's "not found: ..." form
            raise RpcError(NOT_FOUND, "pruned") from None

    def _proven(self, view: Any, key: bytes, answer: dict[str, Any] | None) -> dict[str, Any]:
        """`answer` (None: the record is absent) with proof, header and commit of the
        view's height. -32001 when the node holds no block or commit for that height yet
        (a node that has committed a block holds both, so only a store without blocks,
        e.g. height 0, answers that)."""
        height = view.height
        block = self._p.block_at(height) if height > 0 else None
        commit = self._p.commit_at(height) if height > 0 else None
        if block is None or commit is None:
            raise NotFound(f"no block and commit held for height {height}")
        try:
            value, proof = view.prove(key)
        except ValueError:  # state.chain.Pruned: the height was pruned since the view was made
            raise RpcError(NOT_FOUND, "pruned") from None
        out = dict(answer) if answer is not None else {}
        out["proof"] = proof_to_json(key, value, proof)
        out["header"] = header_to_json(block.header)
        out["commit"] = commit_to_json(height, commit.round, commit.block_id, commit.signatures)
        return out

    async def account(
        self, address: bytes, height: int | None = None, prove: bool = False
    ) -> dict[str, Any]:
        view = self._view_at(height, prove)
        acct = view.account(address)
        out: dict[str, Any] = acct.to_json(
            address, self._p.mempool.pending_nonce(address, acct.nonce)
        )
        return self._proven(view, K.account_key(address), out) if prove else out

    async def pool(self, id: str, height: int | None = None, prove: bool = False) -> dict[str, Any]:
        view = self._view_at(height, prove)
        p = view.pool(id)
        if p is None:
            if prove:
                return self._proven(view, K.pool_key(id), None)
            raise NotFound(f"pool {shown(id)!r} not found")
        out: dict[str, Any] = p.to_json(view.pool_member_counts(id))
        return self._proven(view, K.pool_key(id), out) if prove else out

    async def member(
        self, pool: str, address: bytes, height: int | None = None, prove: bool = False
    ) -> dict[str, Any]:
        view = self._view_at(height, prove)
        if view.pool(pool) is None and not prove:
            raise NotFound(f"pool {shown(pool)!r} not found")
        m = view.member(pool, address)
        key = K.member_key(pool, address)
        if m is None:
            if prove:
                return self._proven(view, key, None)
            raise NotFound(f"{address.hex()} is not a member of pool {shown(pool)!r}")
        # the record keeps active_from: a later change of waiting_period does not move it
        out: dict[str, Any] = m.to_json(view.height)
        return self._proven(view, key, out) if prove else out

    async def claim(
        self, id: bytes, height: int | None = None, prove: bool = False
    ) -> dict[str, Any]:
        view = self._view_at(height, prove)
        c = view.claim(id)
        if c is None:
            if prove:
                return self._proven(view, K.claim_key(id), None)
            raise NotFound(f"claim {id.hex()} not found")
        out: dict[str, Any] = c.to_json()
        return self._proven(view, K.claim_key(id), out) if prove else out

    async def claims(self, pool: str, status: str | None, limit: int) -> list[dict[str, Any]]:
        view = self._p.view()
        if view.pool(pool) is None:
            raise NotFound(f"pool {shown(pool)!r} not found")
        return [c.to_json() for c in view.claims(pool, status=status, limit=limit)]

    async def proposal(
        self, id: bytes, height: int | None = None, prove: bool = False
    ) -> dict[str, Any]:
        view = self._view_at(height, prove)
        pr = view.proposal(id)
        if pr is None:
            if prove:
                return self._proven(view, K.proposal_key(id), None)
            raise NotFound(f"proposal {id.hex()} not found")
        out: dict[str, Any] = pr.to_json()
        return self._proven(view, K.proposal_key(id), out) if prove else out

    async def proposals(self, scope: str, status: str | None, limit: int) -> list[dict[str, Any]]:
        found = self._p.view().proposals(scope, status, limit)
        if found is None:
            raise NotFound(f'scope {shown(scope)!r} not found: neither "chain" nor a pool')
        return [pr.to_json() for pr in found]

    async def event(
        self, pool: str, round: int, height: int | None = None, prove: bool = False
    ) -> dict[str, Any]:
        view = self._view_at(height, prove)
        ev = view.event(pool, round)
        if ev is None:
            if prove:
                return self._proven(view, K.event_key(pool, round), None)
            if view.pool(pool) is None:
                raise NotFound(f"pool {shown(pool)!r} not found")
            raise NotFound(f"event of pool {shown(pool)!r} round {round} not found")
        out: dict[str, Any] = ev.to_json()
        return self._proven(view, K.event_key(pool, round), out) if prove else out

    async def events(self, pool: str, limit: int) -> list[dict[str, Any]]:
        view = self._p.view()
        if view.pool(pool) is None:
            raise NotFound(f"pool {shown(pool)!r} not found")
        return [ev.to_json() for ev in view.events(pool, limit)]

    async def params(self, height: int | None = None, prove: bool = False) -> dict[str, Any]:
        view = self._view_at(height, prove)
        out: dict[str, Any] = view.params.to_json()
        return self._proven(view, K.PARAMS, out) if prove else out

    async def validators(
        self, height: int | None = None, prove: bool = False, at: int | None = None
    ) -> dict[str, Any]:
        view = self._p.view()
        latest = view.height
        h = latest + 1 if height is None else height
        if not 1 <= h <= latest + 2:
            raise NotFound(f"validators of height {h} not known (1 to {latest + 2})")
        out: dict[str, Any] = {
            "height": h,
            "validators": [v.to_json() for v in view.validators(h)],
        }
        if not prove:
            return out
        # the record of the change that put this set in force, proven by the state of the
        # block that decided it (written at the end of block e - 2, section 11)
        changes = view.validator_changes(0, h, reverse=True, limit=1)
        eff = changes[0] if changes else 1
        # default: the block a light client checks (e - 1, the last the previous set signs)
        proof_h = min(max(eff - 1, 1), latest) if at is None else at
        if not max(eff - 2, 1) <= proof_h <= latest:
            raise NotFound(
                f"at {proof_h} outside {max(eff - 2, 1)}..{latest} for the change at {eff}"
            )
        out["effective_height"] = eff
        return self._proven(self._view_at(proof_h), K.validators_key(eff), out)

    async def validator_changes(self, after: int, limit: int) -> list[int]:
        changes: list[int] = self._p.view().validator_changes(after, None, limit=limit)
        return changes

    async def candidates(self) -> list[dict[str, Any]]:
        return [c.to_json() for c in self._p.view().candidates()]

    async def genesis(self) -> dict[str, Any]:
        return self._p.genesis.to_json()

    async def txs(
        self, address: bytes, limit: int, before: tuple[int, int] | None
    ) -> list[dict[str, Any]]:
        """`address`'s history from the account-history index (state/txindex.py), newest
        first. Entries come in height order, so one block is held at a time and read once."""
        view = self._p.view()
        block: Any = None
        block_height = -1
        out: list[dict[str, Any]] = []
        for e in view.account_txs(address, limit, before):
            if e.height != block_height:
                block, block_height = self._p.block_at(e.height), e.height
            rec = view.tx_result(e.hash)
            if rec is None or block is None or e.index >= len(block.txs):
                # the index commits with its block, so only a damaged store gets here
                log.error("history of %s: %d:%d unreadable", address.hex(), e.height, e.index)
                continue
            out.append(self._tx_json(rec, block.txs[e.index]))
        return out

    async def net_info(self) -> dict[str, Any]:
        return {
            "peers": [
                {
                    "node_id": p.node_id.hex(),
                    "address": str(p.address),
                    "direction": _DIRECTION.get(p.direction, p.direction),
                }
                for p in self._p.peers()
            ]
        }


def _hash_of(res: CheckResult, wire: bytes) -> bytes:
    """sha256(wire), taken from the decoded tx when admission has one for these very bytes:
    a sync broadcast_tx then hashes its tx once (admission's), not twice."""
    tx = res.tx
    return tx.hash if tx is not None and tx.wire == wire else sha256(wire)


def _answer(res: CheckResult, tx_hash: bytes) -> dict[str, Any]:
    """broadcast_tx's answer to an admission result (PROTOCOL.md section 7)."""
    return {"hash": tx_hash.hex(), "code": int(res.code), "error": res.error, "log": res.log}
