"""The persistent chain state: genesis, block execution against the committed state, commit.

`Chain` owns the `s/`, `t/`, `m/`, `x/` and `r/` keys of the store. Execution never writes;
`commit` writes a whole block (state changes, tree nodes, tx index, results, meta and the
caller's `extra`, e.g. the block itself) in one atomic synced batch, so a crash leaves the
previous block or the new one. Decoded committed records are cached across blocks (they are
frozen, so executions can share them) and refreshed from each committed execution.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from state import keys as K
from state.codec import MAX_SAFE_INT
from state.genesis import Genesis, parse_genesis
from state.machine import (
    BlockInput,
    EvidenceRef,
    Execution,
    InvalidBlock,
    TxResult,
    execute_block,
)
from state.membercount import counts_map
from state.model import (
    CHAIN_SCOPE,
    CLAIM_STATUSES,
    EMPTY_ACCOUNT,
    PROPOSAL_STATUSES,
    Account,
    Candidate,
    Claim,
    Event,
    Member,
    Pool,
    Proposal,
    TxRecord,
    ValidatorInfo,
)
from state.params import ChainParams
from state.store import Batch, KVStore
from state.tree import EMPTY_ROOT, StateTree
from state.tx import Tx

__all__ = [
    "BlockInput",
    "Chain",
    "EvidenceRef",
    "Execution",
    "InvalidBlock",
    "StateView",
    "TxResult",
    "ValidatorInfo",
]

META_HEIGHT = b"m/height"
META_ROOT = b"m/root"
META_GENESIS = b"m/genesis"
META_PARAMS = b"m/params"
META_TIME = b"m/time_ms"
TX_INDEX = b"x/"
RESULTS = b"r/"
CACHE_LIMIT = 2_000_000  # decoded records kept across blocks before the cache is reset
TREE_PREFIX = b"t/"

_MISSING = object()


def _never(tx_hash: bytes) -> bool:
    return False


class _Committed:
    """Committed state, decoded and cached; what executions read (a machine.StateReader)."""

    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.cache: dict[bytes, Any] = {}

    def get(self, key: bytes) -> Any:
        v = self.cache.get(key, _MISSING)
        if v is _MISSING:
            raw = self.store.get(key)
            v = None if raw is None else K.decode_value(key, raw)
            self.cache[key] = v
        return v

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, Any]]:
        for k, raw in self.store.iterate(prefix):
            yield k, K.decode_value(k, raw)

    def validators_at(self, height: int) -> tuple[ValidatorInfo, ...]:
        """The latest set whose effective height is <= `height`."""
        for _, raw in self.store.iterate(
            K.VALIDATORS, start=K.validators_key(height), reverse=True
        ):
            vs: tuple[ValidatorInfo, ...] = K.decode_value(K.VALIDATORS, raw)
            return vs
        return ()

    def refresh(self, objects: dict[bytes, Any]) -> None:
        if len(self.cache) + len(objects) > CACHE_LIMIT:
            self.cache.clear()
        self.cache.update(objects)


class Chain:
    """The state of one chain in one store, at its latest committed height.

    Not thread-safe: views, executions and commits run on one thread (the node's event loop
    or the simulator), so the committed-record cache is refreshed atomically with respect to
    every reader."""

    def __init__(self, store: KVStore) -> None:
        raw_height = store.get(META_HEIGHT)
        if raw_height is None:
            raise ValueError("store holds no chain: run Chain.init_genesis first")
        self.store = store
        # the tree keeps decoded nodes across blocks; a reopened chain fills that cache by one
        # scan instead of random reads during its first blocks
        self.tree = StateTree(store, TREE_PREFIX)
        self.tree.warm()
        self.height: int = K.unpack(raw_height)
        self.state_root: bytes = store.get(META_ROOT) or EMPTY_ROOT
        genesis_raw = store.get(META_GENESIS)
        assert genesis_raw is not None, "m/genesis is written with m/height"
        self.genesis: Genesis = parse_genesis(json.loads(genesis_raw))
        self.chain_id: str = self.genesis.chain_id
        self._committed = _Committed(store)
        params = self._committed.get(K.PARAMS)
        assert isinstance(params, ChainParams)
        self.params: ChainParams = params
        self.genesis_hash: bytes = self.genesis.hash()

    @classmethod
    def init_genesis(cls, store: KVStore, genesis: Genesis) -> Chain:
        """Write the genesis state (height 0) unless the store already holds a chain.

        Reopening a store with a different genesis is refused (ValueError)."""
        if store.get(META_HEIGHT) is not None:
            chain = cls(store)
            if chain.genesis_hash != genesis.hash():
                raise ValueError("the store holds a chain of another genesis")
            return chain
        objects: dict[bytes, Any] = {K.PARAMS: genesis.params}
        for a in genesis.accounts:
            objects[K.account_key(a.address)] = Account(a.balance, 0, False)
        for p in genesis.pools:
            objects[K.pool_key(p.id)] = Pool(p.id, p.name, 0, p.params)
        vset = []
        for v in genesis.validators:
            objects[K.candidate_key(v.operator)] = Candidate(v.operator, v.consensus_key, v.name)
            objects[K.consensus_key_key(v.consensus_key)] = v.operator
            vset.append(ValidatorInfo(v.operator, v.consensus_key, v.name, v.power))
        objects[K.validators_key(1)] = tuple(vset)
        changes: dict[bytes, bytes | None] = {k: K.encode_value(v) for k, v in objects.items()}
        root, nodes = StateTree(store, TREE_PREFIX).update(EMPTY_ROOT, changes)
        batch = Batch()
        batch.ops.update(changes)
        batch.update(nodes)
        doc = json.dumps(genesis.to_json(), sort_keys=True, separators=(",", ":"))
        batch.put(META_GENESIS, doc.encode("utf-8"))
        batch.put(META_PARAMS, K.encode_value(genesis.params))
        batch.put(META_HEIGHT, K.pack(0))
        batch.put(META_ROOT, root)
        batch.put(META_TIME, K.pack(genesis.genesis_time_ms))
        store.write(batch, sync=True)
        chain = cls(store)
        # the genesis state is in memory already: start with warm caches
        chain._committed.refresh(objects)
        return chain

    # --- reading ---------------------------------------------------------------------------

    @property
    def time_ms(self) -> int:
        """Time of the latest committed block (genesis time at height 0)."""
        raw = self.store.get(META_TIME)
        return 0 if raw is None else K.unpack(raw)

    def view(self) -> StateView:
        return StateView(self)

    def validators(self, height: int) -> list[ValidatorInfo]:
        """The set that precommits block `height` (known up to the committed height + 2)."""
        return list(self._committed.validators_at(height))

    # --- executing and committing ----------------------------------------------------------

    def execute(
        self,
        block: BlockInput,
        *,
        propose: bool = False,
        verified: Callable[[bytes], bool] = _never,
        known: Callable[[bytes], Tx | None] | None = None,
    ) -> Execution:
        """Execute `block` on the committed state; writes nothing (see Execution, commit)."""
        if block.height != self.height + 1:
            raise InvalidBlock(f"block height {block.height}, expected {self.height + 1}")
        return execute_block(
            self._committed,
            self.tree,
            self.state_root,
            chain_id=self.chain_id,
            params=self.params,
            block=block,
            propose=propose,
            verified=verified,
            known=known,
        )

    def commit(self, ex: Execution, extra: Batch | None = None) -> None:
        """Persist `ex` (+ `extra`) in one atomic synced batch and advance the height."""
        assert ex.height == self.height + 1, f"commit of {ex.height} at height {self.height}"
        assert ex.prev_root == self.state_root, "execution was computed on another state"
        batch = Batch()
        ops = batch.ops
        ops.update(ex.writes.ops)
        h = ex.height
        pack = K.pack
        results = []
        for i, (tx_hash, res) in enumerate(zip(ex.tx_hashes, ex.results, strict=True)):
            code = int(res.code)
            ops[TX_INDEX + tx_hash] = pack({"code": code, "height": h, "index": i, "log": res.log})
            results.append({"code": code, "hash": tx_hash, "log": res.log})
        ops[RESULTS + K.be64(h)] = pack({"events": ex.events, "results": results})
        ops[META_HEIGHT] = pack(h)
        ops[META_ROOT] = ex.state_root
        ops[META_TIME] = pack(ex.time_ms)
        if extra is not None:
            batch.update(extra)
        self.store.write(batch, sync=True)
        self.height = h
        self.state_root = ex.state_root
        self._committed.refresh(ex.objects)
        enacted = ex.objects.get(K.PARAMS)
        if enacted is not None:  # a chain-scope proposal: block h + 1 on runs under it
            self.params = enacted

    def block_results(self, height: int) -> dict[str, Any] | None:
        """`results` (hash, code, log per tx) and `events` of a committed block."""
        raw = self.store.get(RESULTS + K.be64(height))
        return None if raw is None else K.unpack(raw)


class StateView:
    """Read-only view of the latest committed state (INTERNALS.md `StateView`)."""

    def __init__(self, chain: Chain) -> None:
        self._chain = chain
        self._c = chain._committed

    @property
    def chain_id(self) -> str:
        return self._chain.chain_id

    @property
    def height(self) -> int:
        return self._chain.height

    @property
    def params(self) -> ChainParams:
        return self._chain.params

    @property
    def state_root(self) -> bytes:
        return self._chain.state_root

    def account(self, addr: bytes) -> Account:
        a = self._c.get(K.account_key(addr))
        return EMPTY_ACCOUNT if a is None else a

    def pool(self, pool_id: str) -> Pool | None:
        p: Pool | None = self._c.get(K.pool_key(pool_id))
        return p

    def member(self, pool: str, addr: bytes) -> Member | None:
        if self.pool(pool) is None:
            return None
        m: Member | None = self._c.get(K.member_key(pool, addr))
        return m

    def member_status(self, pool: str, addr: bytes, h: int | None = None) -> str | None:
        """Status at height `h` (default: the committed height), None for a non-member."""
        m = self.member(pool, addr)  # pools are never removed: no pool, no member
        if m is None:
            return None
        return m.status(self.height if h is None else h)

    def claim(self, claim_id: bytes) -> Claim | None:
        c: Claim | None = self._c.get(K.claim_key(claim_id))
        return c

    def claims(self, pool: str, status: str | None = None, limit: int = 100) -> list[Claim]:
        """Claims of `pool`, oldest first, optionally only those with `status`."""
        if status is not None and status not in CLAIM_STATUSES:
            return []
        if self.pool(pool) is None:
            return []
        prefix = (
            K.claim_list_prefix(pool) if status is None else K.claim_status_prefix(pool, status)
        )
        out: list[Claim] = []
        for _, raw in self._c.store.iterate(prefix):
            if len(out) >= limit:
                break
            c = self.claim(K.unpack(raw))
            assert c is not None and (status is None or c.status == status), "listing is exact"
            out.append(c)
        return out

    def pool_member_counts(self, pool: str) -> dict[str, int]:
        """Members per status at the committed height: the counts the executor keeps
        (state.membercount), O(1) instead of a scan of every member."""
        if self.pool(pool) is None:
            return counts_map(None)
        return counts_map(self._c.get(K.member_counts_key(pool)))

    def proposal(self, proposal_id: bytes) -> Proposal | None:
        p: Proposal | None = self._c.get(K.proposal_key(proposal_id))
        return p

    def proposals(
        self, scope: str, status: str | None = None, limit: int = 100
    ) -> list[Proposal] | None:
        """Proposals of `scope`, oldest first, optionally only those with `status`; None when
        the scope is neither "chain" nor a pool. Filtering walks the scope's listing."""
        if scope != CHAIN_SCOPE and self.pool(scope) is None:
            return None
        out: list[Proposal] = []
        if status is not None and status not in PROPOSAL_STATUSES:
            return out
        for _, raw in self._c.store.iterate(K.proposal_list_prefix(scope)):
            if len(out) >= limit:
                break
            p = self.proposal(K.unpack(raw))
            assert p is not None, "listing points at a proposal"
            if status is None or p.status == status:
                out.append(p)
        return out

    def candidates(self) -> list[Candidate]:
        return [v for _, v in self._c.iterate(K.CANDIDATE)]

    def validators(self, height: int) -> list[ValidatorInfo]:
        return self._chain.validators(height)

    def electors(self, addr: bytes) -> list[bytes]:
        """The candidates `addr` votes for (empty when none)."""
        v = self._c.get(K.elector_key(addr))
        return [] if v is None else list(v)

    def tx_result(self, tx_hash: bytes) -> TxRecord | None:
        raw = self._c.store.get(TX_INDEX + tx_hash)
        return None if raw is None else TxRecord.from_state(tx_hash, K.unpack(raw))

    def get_raw(self, key: bytes) -> bytes | None:
        """Raw committed state bytes of a state key (for proofs next to `state_root`)."""
        return self._c.store.get(key)

    # --- section 10 (issue 11): point reads of events, listing oldest first -------------------

    def event(self, pool: str, round: int) -> Event | None:
        """The parametric event of `pool` in `round`, or None (also for an unknown pool)."""
        if not 0 <= round <= MAX_SAFE_INT or self.pool(pool) is None:
            return None
        ev: Event | None = self._c.get(K.event_key(pool, round))
        return ev

    def events(self, pool: str, limit: int = 100) -> list[Event]:
        """Events of `pool`, oldest (lowest round) first; empty for an unknown pool."""
        if self.pool(pool) is None:
            return []
        out: list[Event] = []
        for key, _ in self._c.store.iterate(K.event_prefix(pool)):
            if len(out) >= limit:
                break
            ev = self._c.get(key)
            assert isinstance(ev, Event), "event keys hold events"
            out.append(ev)
        return out

    def pool_liabilities(self, pool: str) -> int | None:
        """The sum of the pool's approved, unpaid claims (kept on the pool record)."""
        p = self.pool(pool)
        return None if p is None else p.liabilities
