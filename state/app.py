"""`ChainApp`: the consensus `Application` protocol (INTERNALS.md) over a `Chain`.

Consensus asks for a block to propose (prepare), judges proposals (validate) and finally
commits one. Executing a block of thousands of transactions is the expensive part, so both
prepare and validate keep their Execution with every field it depends on, and the commit of
the same block reuses it instead of executing again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from state import txindex
from state.chain import Chain
from state.machine import BlockInput, EvidenceRef, Execution, InvalidBlock
from state.model import ValidatorInfo
from state.store import Batch
from state.tx import Tx

__all__ = ["ChainApp", "EvidenceRef", "MAX_BLOCK_BYTES"]

MAX_BLOCK_BYTES = 8 * 1024 * 1024  # transaction bytes a proposer reaps into one block
CACHE_SIZE = 8  # executions kept (several proposals per height across rounds)

TxSource = Callable[[int, int], list[bytes]]


def _never(tx_hash: bytes) -> bool:
    return False


def as_evidence(items: Sequence[Any]) -> list[EvidenceRef]:
    """EvidenceRef from any object with validator, height, round, vote_type, id."""
    return [
        e
        if type(e) is EvidenceRef
        else EvidenceRef(
            bytes(e.validator), int(e.height), int(e.round), int(e.vote_type), bytes(e.id)
        )
        for e in items
    ]


#: the fields of a block other than its transactions that execution depends on
_Head = tuple[int, int, bytes, tuple[EvidenceRef, ...]]


def _head(height: int, time_ms: int, proposer: bytes, evidence: Sequence[Any]) -> _Head:
    return (height, time_ms, bytes(proposer), tuple(as_evidence(evidence)))


class ChainApp:
    """The state machine as consensus sees it.

    `tx_source(max_txs, max_bytes)` reaps candidate transactions (the mempool, or the
    simulator's generator); `verified(hash)` True lets execution skip a signature already
    checked at admission; `known(wire)` returns a Tx already decoded and checked for those
    bytes (the mempool's), so execution neither decodes nor verifies it again; `on_commit(execution)` is told about every committed block (events
    for RPC subscribers, mempool update).
    """

    def __init__(
        self,
        chain: Chain,
        tx_source: TxSource,
        *,
        verified: Callable[[bytes], bool] = _never,
        known: Callable[[bytes], Tx | None] | None = None,
        on_commit: Callable[[Execution], None] | None = None,
        max_block_bytes: int = MAX_BLOCK_BYTES,
    ) -> None:
        self.chain = chain
        self.tx_source = tx_source
        self.verified = verified
        self.known = known
        self.on_commit = on_commit
        self.max_block_bytes = max_block_bytes
        # (head, execution), oldest first: found by comparing the fields, not by a hash of
        # them (the transactions compare as the very objects the execution holds, or by a
        # memcmp each: cheaper than hashing every byte of the block once per call)
        self._cache: list[tuple[_Head, Execution]] = []
        #: blocks executed to the end so far (a prepare, or a validate/commit that missed the
        #: cache): a driver compares it across a call to tell real work from a cache hit
        self.executions = 0

    def _remember(self, head: _Head, ex: Execution) -> None:
        if len(self._cache) >= CACHE_SIZE:
            del self._cache[0]
        self._cache.append((head, ex))

    def _cached(self, head: _Head, txs: Sequence[bytes]) -> Execution | None:
        """The cached execution of exactly this block, None when there is none."""
        if type(txs) is not list:
            txs = list(txs)
        for h, ex in reversed(self._cache):
            if h == head and ex.txs == txs:
                return ex
        return None

    def _execute(self, head: _Head, txs: Sequence[bytes], *, propose: bool = False) -> Execution:
        """Execute the block of `head` and `txs` on the committed state, counted in
        `executions` (raises InvalidBlock, uncounted, when the block cannot execute)."""
        height, time_ms, proposer, evidence = head
        ex = self.chain.execute(
            BlockInput(height, time_ms, proposer, list(txs), list(evidence)),
            propose=propose,
            verified=self.verified,
            known=self.known,
        )
        self.executions += 1
        return ex

    def prepare(
        self, height: int, time_ms: int, proposer: bytes, evidence: Sequence[Any]
    ) -> tuple[list[bytes], bytes]:
        """Transactions of a new block (invalid ones dropped) and the root after it."""
        head = _head(height, time_ms, proposer, evidence)
        candidates = self.tx_source(self.chain.params.max_block_txs, self.max_block_bytes)
        ex = self._execute(head, candidates, propose=True)
        self._remember(head, ex)
        return list(ex.txs), ex.state_root

    def validate(
        self,
        height: int,
        time_ms: int,
        proposer: bytes,
        txs: Sequence[bytes],
        evidence: Sequence[Any],
        state_root: bytes,
    ) -> bool:
        """True when the block is valid and executes to `state_root`."""
        head = _head(height, time_ms, proposer, evidence)
        ex = self._cached(head, txs)
        if ex is None:
            try:
                ex = self._execute(head, txs)
            except InvalidBlock:
                return False
            self._remember(head, ex)
        return ex.state_root == state_root

    def commit(
        self,
        height: int,
        time_ms: int,
        proposer: bytes,
        txs: Sequence[bytes],
        evidence: Sequence[Any],
        state_root: bytes,
        extra: Batch | None = None,
    ) -> Execution:
        """Persist the decided block with `extra` and its account-history entries
        (state.txindex) in one batch (re-executes on a cache miss)."""
        head = _head(height, time_ms, proposer, evidence)
        ex = self._cached(head, txs)
        if ex is None or ex.prev_root != self.chain.state_root:
            ex = self._execute(head, txs)
        assert ex.state_root == state_root, "a decided block executes to another state root"
        # the account-history entries commit with the block, in the same atomic batch
        # from the decoded transactions when the execution kept them (execute_block does)
        decoded = ex.decoded if len(ex.decoded) == len(ex.txs) else None
        batch = txindex.index_batch(ex.height, ex.txs, ex.tx_hashes, decoded)
        if extra is not None:
            batch.update(extra)
        self.chain.commit(ex, batch)
        self._cache.clear()
        if self.on_commit is not None:
            self.on_commit(ex)
        return ex

    def validators(self, height: int) -> list[ValidatorInfo]:
        return self.chain.validators(height)

    def last_height(self) -> int:
        return self.chain.height

    def state_root(self) -> bytes:
        return self.chain.state_root

    def genesis_hash(self) -> bytes:
        return self.chain.genesis_hash
