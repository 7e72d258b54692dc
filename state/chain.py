"""The persistent chain state: genesis, block execution against the committed state, commit.

`Chain` owns the `s/`, `t/`, `~t/`, `m/`, `x/` and `r/` keys of the store. Execution never
writes; `commit` writes a whole block (state changes, tree nodes, the tree's stale index and
root for the height, a bounded share of pruning, tx index, results, meta and the caller's
`extra`, e.g. the block itself) in one atomic synced batch, so a crash leaves the previous
block or the new one. Decoded committed records are cached across blocks (they are frozen, so
executions can share them) and refreshed from each committed execution.

History (PROTOCOL.md section 11): the tree keeps the version of every height from
`oldest_retained` on (the last `state_history` heights; 0 keeps all), and `view(height)`
reads the state after any of them through the tree.
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
from state.tree import EMPTY_ROOT, MissingNodeError, Proof, StateTree
from state.tx import Tx
from state.txindex import HistoryEntry, history

__all__ = [
    "BlockInput",
    "Chain",
    "EvidenceRef",
    "Execution",
    "InvalidBlock",
    "NotCommitted",
    "Pruned",
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
DEFAULT_STATE_HISTORY = 10_000
# Stale tree nodes (or old roots) dropped per commit, at most: each costs a random read of the
# old node (~15 us on a quiet machine, up to ~90 us on a 5x oversubscribed one, for a
# 100,000-account state: bench/history.py), so 500 keep a commit's added delay under 50 ms
# even then. A node prunes more between blocks (Chain.prune_step, DEFAULT_PRUNE_IDLE_STEP
# every 20 ms): the budget bounds the delay, not the rate (1,000 tx/block retire ~6,200).
DEFAULT_PRUNE_PER_BLOCK = 500
DEFAULT_PRUNE_IDLE_STEP = 500
MAX_STATE_HISTORY = 1 << 40
MAX_PRUNE_PER_BLOCK = 1_000_000

_MISSING = object()
_OK_TAIL = b"\xa3log\xa0"  # "log": "" in msgpack
# pack({"code": 0, "hash": h, "log": ""}) for a 32-byte h is _OK_RESULT + h + _OK_TAIL, and
# pack({"events": e, "results": r}) is _RESULTS_HEAD + pack(e) + _RESULTS_KEY + pack(r)
_OK_RESULT = b"\x83\xa4code\x00\xa4hash\xc4\x20"
_RESULTS_HEAD = b"\x82\xa6events"
_RESULTS_KEY = b"\xa7results"


def _ok_head(height: int) -> bytes:
    """The bytes of pack({"code": 0, "height": height, "index": i, "log": ""}) before i."""
    return b"\x84\xa4code\x00\xa6height" + K.pack(height) + b"\xa5index"


def _never(tx_hash: bytes) -> bool:
    return False


class Pruned(ValueError):
    """A height older than the oldest retained one: its state is no longer kept."""

    def __init__(self) -> None:
        super().__init__("pruned")


class NotCommitted(ValueError):
    """Height 0 or above the latest committed height: there is no state after that block."""


class _AtVersion:
    """The tree as execute_block sees it (machine.Tree), writing the block's height as the
    version, so that the update records stale nodes and the root instead of deleting."""

    def __init__(self, tree: StateTree, version: int) -> None:
        self._tree = tree
        self._version = version

    def update(self, root: bytes, changes: dict[bytes, bytes | None]) -> tuple[bytes, Batch]:
        return self._tree.update(root, changes, version=self._version)


class _AtHeight:
    """Point reads of one retained height through the tree (a machine.StateReader-like
    reader for StateView), decoded as the live records are, cached for the view's life."""

    def __init__(self, chain: Chain, height: int, root: bytes) -> None:
        self.store = chain.store
        self.height = height
        self.root = root
        self._tree = chain.tree
        self.cache: dict[bytes, Any] = {}

    def raw(self, key: bytes) -> bytes | None:
        try:
            return self._tree.get(self.root, key)
        except MissingNodeError:
            raise Pruned() from None  # pruned while this view was held

    def get(self, key: bytes) -> Any:
        v = self.cache.get(key, _MISSING)
        if v is _MISSING:
            raw = self.raw(key)
            v = None if raw is None else K.decode_value(key, raw)
            self.cache[key] = v
        return v


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

    def validators_key_at(self, height: int) -> bytes | None:
        """The state key of the set validators_at(height) reads (None before any set)."""
        for key, _ in self.store.iterate(
            K.VALIDATORS, start=K.validators_key(height), reverse=True
        ):
            return key
        return None

    def refresh(self, objects: dict[bytes, Any]) -> None:
        if len(self.cache) + len(objects) > CACHE_LIMIT:
            self.cache.clear()
        self.cache.update(objects)


class Chain:
    """The state of one chain in one store, at its latest committed height.

    Not thread-safe: views, executions and commits run on one thread (the node's event loop
    or the simulator), so the committed-record cache is refreshed atomically with respect to
    every reader.

    `state_history` heights are kept (0: all); each commit prunes at most `prune_per_block`
    stale nodes of older heights. Opening does not warm the tree cache (a restarted node
    calls `warming` between other work: see node/runtime.py)."""

    def __init__(
        self,
        store: KVStore,
        state_history: int = DEFAULT_STATE_HISTORY,
        prune_per_block: int = DEFAULT_PRUNE_PER_BLOCK,
    ) -> None:
        if not 0 <= state_history <= MAX_STATE_HISTORY:
            raise ValueError(f"state_history must be 0..{MAX_STATE_HISTORY}, not {state_history}")
        if not 1 <= prune_per_block <= MAX_PRUNE_PER_BLOCK:
            raise ValueError(
                f"prune_per_block must be 1..{MAX_PRUNE_PER_BLOCK}, not {prune_per_block}"
            )
        raw_height = store.get(META_HEIGHT)
        if raw_height is None:
            raise ValueError("store holds no chain: run Chain.init_genesis first")
        self.store = store
        self.state_history = state_history
        self.prune_per_block = prune_per_block
        self.tree = StateTree(store, TREE_PREFIX)
        self.height: int = K.unpack(raw_height)
        self.state_root: bytes = store.get(META_ROOT) or EMPTY_ROOT
        if self.tree.root_at(self.height) != self.state_root:
            raise ValueError(
                f"the store records no state root for its height {self.height}: it was written "
                "before the node kept state history; re-sync this node from genesis"
            )
        self._floor = self.tree.floor()
        self.last_pruned = 0  # store ops (node and index deletes) of the last commit's prune
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
    def init_genesis(
        cls,
        store: KVStore,
        genesis: Genesis,
        state_history: int = DEFAULT_STATE_HISTORY,
        prune_per_block: int = DEFAULT_PRUNE_PER_BLOCK,
    ) -> Chain:
        """Write the genesis state (height 0) unless the store already holds a chain.

        Reopening a store with a different genesis is refused (ValueError)."""
        if store.get(META_HEIGHT) is not None:
            chain = cls(store, state_history, prune_per_block)
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
        tree = StateTree(store, TREE_PREFIX)
        root, nodes = tree.update(EMPTY_ROOT, changes, version=0)
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
        chain = cls(store, state_history, prune_per_block)
        # the genesis state is in memory already: start with warm caches (the tree that built
        # it holds every node it wrote, up to its cache bound)
        chain.tree = tree
        chain._committed.refresh(objects)
        return chain

    # --- reading ---------------------------------------------------------------------------

    @property
    def time_ms(self) -> int:
        """Time of the latest committed block (genesis time at height 0)."""
        raw = self.store.get(META_TIME)
        return 0 if raw is None else K.unpack(raw)

    @property
    def oldest_retained(self) -> int:
        """The oldest height `view` can read (1 while nothing was pruned)."""
        return max(1, self._floor)

    def view(self, height: int | None = None) -> StateView:
        """The latest state (None, or the latest height), or the state after block `height`.

        Raises NotCommitted for 0 or above the latest height, Pruned below oldest_retained.
        The latest view (None) follows the chain as it commits; a view of a given height,
        the latest included, stays at that height (its reads go through the tree), so that a
        read and the header of its height agree even if a block commits meanwhile.
        """
        if height is None:
            return StateView(self)
        if height < 1 or height > self.height:
            raise NotCommitted(f"height {height} is not committed (latest {self.height})")
        if height < self.oldest_retained:
            raise Pruned()
        root = self.tree.root_at(height)
        if root is None:
            raise Pruned()
        return StateView(self, _AtHeight(self, height, root))

    def warming(self, chunk: int = 2_000) -> Iterator[int]:
        """Fill the tree cache from the latest root, `chunk` nodes at a time (StateTree.warming),
        so that a restarted node's first block does not update cold."""
        return self.tree.warming(self.state_root, chunk=chunk)

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
            _AtVersion(self.tree, block.height),
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
        h = ex.height
        # a node this block writes again must win over a delete of it by pruning: the block's
        # writes first (a copy: the cached Execution stays as it was), then the prune's ops
        # only where the block writes nothing
        batch = Batch()
        ops = batch.ops = ex.writes.ops.copy()
        for k, v in self._prune(h).ops.items():
            if k not in ops:
                ops[k] = v
        pack = K.pack
        results: list[bytes] = []  # each tx's packed entry of the r/ record's results
        # the x/ record of an accepted tx with no log is pack({"code": 0, "height": h, "index":
        # i, "log": ""}): the same bytes from this block's prefix, i and the fixed tail; its
        # results entry likewise (no dict built and packed per transaction)
        ok_head = _ok_head(h)
        for i, (tx_hash, res) in enumerate(zip(ex.tx_hashes, ex.results, strict=True)):
            code = int(res.code)
            log = res.log
            if code == 0 and log == "" and len(tx_hash) == 32:
                ops[TX_INDEX + tx_hash] = ok_head + pack(i) + _OK_TAIL
                results.append(_OK_RESULT + tx_hash + _OK_TAIL)
            else:
                ops[TX_INDEX + tx_hash] = pack({"code": code, "height": h, "index": i, "log": log})
                results.append(pack({"code": code, "hash": tx_hash, "log": log}))
        ops[RESULTS + K.be64(h)] = b"".join(
            (_RESULTS_HEAD, pack(ex.events), _RESULTS_KEY, K.array_header(len(results)), *results)
        )
        ops[META_HEIGHT] = pack(h)
        ops[META_ROOT] = ex.state_root
        ops[META_TIME] = pack(ex.time_ms)
        if extra is not None:
            batch.update(extra)
        self.store.write(batch, sync=True)
        self.height = h
        self.state_root = ex.state_root
        self._floor = self._target_floor(h)
        self._committed.refresh(ex.objects)
        enacted = ex.objects.get(K.PARAMS)
        if enacted is not None:  # a chain-scope proposal: block h + 1 on runs under it
            self.params = enacted

    def _target_floor(self, height: int) -> int:
        """The oldest version to keep once `height` is committed: the last `state_history`
        heights; never lower than what earlier pruning (maybe with a smaller setting) left."""
        if self.state_history == 0:
            return self._floor
        return max(self._floor, height - self.state_history + 1)

    def _prune(self, height: int) -> Batch:
        """This commit's bounded share of pruning (a separate method so bench/ can time it)."""
        batch = self.tree.prune(self._target_floor(height), self.prune_per_block)
        self.last_pruned = len(batch)
        return batch

    def prune_step(self, max_nodes: int) -> int:
        """Prune up to `max_nodes` more between blocks, in a batch of its own; returns the work
        done (less than `max_nodes`: caught up). Commits prune too, but only their bounded
        share: this lets a node whose blocks retire more nodes than that catch up when idle.
        Safe at any point between commits, even while an execution awaits its commit: it
        deletes only nodes that are in no kept version (a node the pending block writes again
        is rewritten by its commit)."""
        if max_nodes <= 0:
            return 0
        batch = self.tree.prune(self._target_floor(self.height), max_nodes)
        if batch.ops:
            self.store.write(batch, sync=False)
        return self.tree.last_pruned

    def block_results(self, height: int) -> dict[str, Any] | None:
        """`results` (hash, code, log per tx) and `events` of a committed block."""
        raw = self.store.get(RESULTS + K.be64(height))
        return None if raw is None else K.unpack(raw)


class StateView:
    """Read-only view of the committed state (INTERNALS.md `StateView`): the latest (following
    the chain as it commits), or the state after one retained height (`Chain.view(height)`).

    In a historical view every point read (account, pool, member and its status, member
    counts, claim, proposal, electors, params, `get_raw`, `prove`) is of that height, through
    the tree; listing reads (claims, proposals, candidates) and tx_result answer from the
    latest state, and validators(h) from the stored sets (a set, once decided, never changes).
    A read of a historical view whose height got pruned meanwhile raises Pruned.
    """

    def __init__(self, chain: Chain, at: _AtHeight | None = None) -> None:
        self._chain = chain
        self._at = at
        self._c: _Committed | _AtHeight = chain._committed if at is None else at

    @property
    def chain_id(self) -> str:
        return self._chain.chain_id

    @property
    def height(self) -> int:
        return self._chain.height if self._at is None else self._at.height

    @property
    def params(self) -> ChainParams:
        if self._at is None:
            return self._chain.params
        p: ChainParams = self._at.get(K.PARAMS)
        return p

    @property
    def state_root(self) -> bytes:
        return self._chain.state_root if self._at is None else self._at.root

    def prove(self, key: bytes) -> tuple[bytes | None, Proof]:
        """The raw stored value of state key `key` (None when absent) and its tree proof
        against this view's state_root; both read through the tree at that one root."""
        root = self.state_root
        try:
            return self._chain.tree.get(root, key), self._chain.tree.prove(root, key)
        except MissingNodeError:
            raise Pruned() from None

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
        if self._at is not None:
            return self._chain.view().claims(pool, status, limit)
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
        if self._at is not None:
            return self._chain.view().proposals(scope, status, limit)
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
        return [v for _, v in self._chain._committed.iterate(K.CANDIDATE)]

    def validators(self, height: int) -> list[ValidatorInfo]:
        return self._chain.validators(height)

    def validator_changes(
        self, after: int, upto: int | None, *, reverse: bool = False, limit: int = 100
    ) -> list[int]:
        """Effective heights of the stored sets in (after, upto], increasing (decreasing with
        `reverse`), at most `limit`: the steps a light client follows (section 11). The
        records are never deleted, so the latest store lists every one."""
        out: list[int] = []
        if reverse:
            start = None if upto is None else K.validators_key(upto)
        else:
            start = K.validators_key(after + 1)
        for key, _ in self._chain.store.iterate(K.VALIDATORS, start=start, reverse=reverse):
            e = K.from_be64(key[len(K.VALIDATORS) :])
            if e <= after or (upto is not None and e > upto) or len(out) >= limit:
                break
            out.append(e)
        return out

    def validator_set_key(self, height: int) -> bytes | None:
        """The state key of the set that precommits block `height` (the one `validators`
        returns; its key names the height it took effect), for `prove`: a set is decided at
        effective height - 2, so it is in the tree from then on."""
        return self._chain._committed.validators_key_at(height)

    def electors(self, addr: bytes) -> list[bytes]:
        """The candidates `addr` votes for (empty when none)."""
        v = self._c.get(K.elector_key(addr))
        return [] if v is None else list(v)

    def account_txs(
        self, addr: bytes, limit: int, before: tuple[int, int] | None = None
    ) -> list[HistoryEntry]:
        """`addr`'s committed transactions, newest first, before the (height, index) cursor."""
        return history(self._c.store, addr, limit, before)

    def tx_result(self, tx_hash: bytes) -> TxRecord | None:
        raw = self._c.store.get(TX_INDEX + tx_hash)
        return None if raw is None else TxRecord.from_state(tx_hash, K.unpack(raw))

    def get_raw(self, key: bytes) -> bytes | None:
        """Raw committed state bytes of a state key (for proofs next to `state_root`)."""
        if self._at is not None:
            return self._at.raw(key)
        return self._c.store.get(key)

    # --- section 10 (issue 11): point reads of events, listing oldest first -------------------

    def event(self, pool: str, round: int) -> Event | None:
        """The parametric event of `pool` in `round`, or None (also for an unknown pool)."""
        if not 0 <= round <= MAX_SAFE_INT or self.pool(pool) is None:
            return None
        ev: Event | None = self._c.get(K.event_key(pool, round))
        return ev

    def events(self, pool: str, limit: int = 100) -> list[Event]:
        """Events of `pool`, oldest (lowest round) first; empty for an unknown pool. A listing
        is a scan, which the tree cannot do at a past height: it answers from the latest state,
        as `claims` and `proposals` do."""
        if self._at is not None:
            return self._chain.view().events(pool, limit)
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
