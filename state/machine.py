"""Execution of one block: a pure function of (committed state, block) -> changes + new root.

The executor reads committed records through a `StateReader` (decoded, cached by the chain)
and keeps every change in an overlay dict of decoded records; nothing touches the store.
At the end the changed records are encoded once and handed to the state tree for the root.
Each rule runs all of its checks (in the order of PROTOCOL.md section 4) before its first
change, so a refused rule has nothing to undo: the fee and the nonce, taken before the rule,
stay. Block validity (section 2) is checked as the transactions are met; in propose mode an
offending transaction is dropped (with the sender's later ones) instead of failing the block.

This module keeps the overlay and the block loop; the per-type transaction rules are in
:mod:`state.rules`, :mod:`state.governance`, :mod:`state.attest` and :mod:`state.parametric`,
and the end of block (escrow return, claims, parametric rounds, governance, election,
evidence) in :mod:`state.endblock` and those, all mixed into :class:`BlockExecutor`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from state import keys as K
from state.endblock import EndOfBlock
from state.errors import Code, TxError
from state.executor_api import StateReader
from state.model import (  # the block types live with the records; re-exported here
    EMPTY_ACCOUNT,
    Account,
    BlockInput,
    EvidenceRef,
    Execution,
    InvalidBlock,
    Pool,
    TxResult,
    ValidatorInfo,
)
from state.params import ChainParams
from state.rules import TxRules
from state.store import Batch
from state.tx import Tx, decode_tx, verify_tx
from state.txtypes import REGISTRY, Rule

__all__ = [
    "BlockExecutor",
    "BlockInput",
    "EvidenceRef",
    "Execution",
    "InvalidBlock",
    "StateReader",
    "TxResult",
    "execute_block",
]
OK_RESULT = TxResult(Code.OK)

_ACCOUNT = K.ACCOUNT
_SCANNED = frozenset(
    (
        K.MEMBER_DUE,
        K.TALLY,
        K.ELECTOR,
        K.CANDIDATE,
        K.VALIDATORS,
        K.GOV_TALLY,
        K.GOV_ENACT,
        K.EVENT_RETURN,
    )
)
assert _ACCOUNT[:4] not in _SCANNED, "account writes bypass put (BlockExecutor.credit)"
#: type name -> its rule, called as rule(executor, tx, index); decode_tx admits no other type
_RULES: dict[str, Rule] = {t.name: t.rule for t in REGISTRY}


class Tree(Protocol):
    def update(self, root: bytes, changes: dict[bytes, bytes | None]) -> tuple[bytes, Batch]: ...


def _never(tx_hash: bytes) -> bool:
    return False


class BlockExecutor(TxRules, EndOfBlock):
    """Executes one block over an overlay of the committed state (use once)."""

    def __init__(self, base: StateReader, chain_id: str, params: ChainParams, height: int) -> None:
        self.base = base
        self.chain_id = chain_id
        self.params = params
        self.h = height
        self.treasury_key = _ACCOUNT + params.treasury
        self.writes: dict[bytes, Any] = {}
        self.scanned: dict[bytes, dict[bytes, Any]] = {p: {} for p in _SCANNED}
        self.events: list[dict[str, Any]] = []
        # this block's happenings that end of block step 1 acts on (section 10): claims
        # attested, claims whose objections reached the quorum, pools whose round reached it
        self.attested: set[bytes] = set()
        self.objected: set[bytes] = set()
        self.reported: set[str] = set()

    # --- overlay ---------------------------------------------------------------------------

    def get(self, key: bytes) -> Any:
        w = self.writes
        if key in w:
            return w[key]
        return self.base.get(key)

    def put(self, key: bytes, value: Any) -> None:
        self.writes[key] = value
        fam = key[:4]
        if fam in self.scanned:
            self.scanned[fam][key] = value

    def delete(self, key: bytes) -> None:
        self.put(key, None)

    def scan(self, prefix: bytes) -> list[tuple[bytes, Any]]:
        """Live (key, value) pairs under `prefix` (one of the scanned families), key order."""
        merged = dict(self.base.iterate(prefix))
        for k, v in self.scanned[prefix[:4]].items():
            if k.startswith(prefix):
                merged[k] = v
        return [(k, merged[k]) for k in sorted(merged) if merged[k] is not None]

    # accounts are no scanned family (see _SCANNED): the three below read and write the
    # overlay dict directly, as `run` does, instead of through get/put (two calls and a slice
    # each; most transactions make two to four of them)

    def account(self, addr: bytes) -> Account:
        key = _ACCOUNT + addr
        w = self.writes
        a = w[key] if key in w else self.base.get(key)
        return EMPTY_ACCOUNT if a is None else a

    def credit(self, addr: bytes, amount: int) -> None:
        key = _ACCOUNT + addr
        w = self.writes
        a = (w[key] if key in w else self.base.get(key)) or EMPTY_ACCOUNT
        w[key] = Account(a.balance + amount, a.nonce, a.kyc)

    def debit(self, addr: bytes, amount: int) -> None:
        key = _ACCOUNT + addr
        w = self.writes
        a = (w[key] if key in w else self.base.get(key)) or EMPTY_ACCOUNT
        assert a.balance >= amount, "debit checked by the rule"
        w[key] = Account(a.balance - amount, a.nonce, a.kyc)

    def pool(self, pool_id: str) -> Pool:
        p: Pool | None = self.get(K.pool_key(pool_id)) if type(pool_id) is str else None
        if p is None:
            raise TxError(Code.NOT_FOUND, f"no pool {pool_id!r}")
        return p

    def add_to_pool(self, pool: Pool, amount: int) -> None:
        key = K.pool_key(pool.id)
        c = self.get(key)
        # the constructor, not dataclasses.replace (~4x slower): every join and pay come here
        self.put(key, Pool(c.id, c.name, c.balance + amount, c.params, c.round, c.liabilities))

    def validators_at(self, height: int) -> tuple[ValidatorInfo, ...]:
        """The set that precommits `height`, seeing this block's end-of-block changes."""
        eff = self.h + 2
        if height >= eff:
            pending: tuple[ValidatorInfo, ...] | None = self.writes.get(K.validators_key(eff))
            if pending is not None:
                return pending
        return self.base.validators_at(height)

    # --- the block -------------------------------------------------------------------------

    def run(
        self,
        txs: Sequence[bytes],
        evidence: Sequence[Any],
        *,
        propose: bool,
        verified: Callable[[bytes], bool],
        known: Callable[[bytes], Tx | None] | None = None,
    ) -> tuple[list[bytes], list[Tx], list[TxResult]]:
        """Validate and execute the transactions, then the end of block: the included wires,
        their decoded transactions and their results.

        `known(wire)` may return the Tx this node already decoded and signature-checked for
        those exact bytes (its mempool): decoding is a pure function of the wire, the chain id
        and the genesis params, so reusing it saves the second decode of every transaction.
        """
        params = self.params
        if not propose and len(txs) > params.max_block_txs:
            raise InvalidBlock(f"{len(txs)} transactions > max_block_txs {params.max_block_txs}")
        chain_id = self.chain_id
        min_fee = params.min_fee
        max_txs = params.max_block_txs
        writes = self.writes
        base_get = self.base.get
        treasury_key = self.treasury_key
        rules = _RULES
        self._member_clock()  # status changes due at h, before the first transaction
        included: list[bytes] = []
        decoded: list[Tx] = []
        results: list[TxResult] = []
        dropped: set[bytes] = set()
        for pos, wire in enumerate(txs):
            if len(included) >= max_txs:
                break  # propose mode only: the check above refused longer blocks
            tx = known(wire) if known is not None else None
            if tx is None:
                try:
                    tx = decode_tx(wire, chain_id=chain_id, params=params)
                except TxError as exc:
                    if propose:
                        continue
                    raise InvalidBlock(f"tx {pos}: {exc}") from None
                checked = verified(tx.hash)
            else:
                checked = True
            sender = tx.sender
            problem = None
            if sender in dropped:
                problem = "an earlier transaction of the sender was dropped"
            elif not checked and not verify_tx(tx):
                problem = "bad_signature"
            elif tx.fee < min_fee:
                problem = f"fee_too_low: {tx.fee} < {min_fee}"
            akey = _ACCOUNT + sender
            acct = writes[akey] if akey in writes else base_get(akey)
            if acct is None:
                acct = EMPTY_ACCOUNT
            if problem is None:
                if tx.nonce != acct.nonce:
                    problem = f"nonce {tx.nonce}, account nonce {acct.nonce}"
                elif acct.balance < tx.fee:
                    problem = f"fee {tx.fee} > balance {acct.balance}"
            if problem is not None:
                if propose:
                    dropped.add(sender)
                    continue
                raise InvalidBlock(f"tx {pos} ({tx.hash.hex()}): {problem}")
            # fee to the treasury, nonce + 1: these stay whatever the rule says
            fee = tx.fee
            writes[akey] = Account(acct.balance - fee, acct.nonce + 1, acct.kyc)
            if fee:
                t = writes[treasury_key] if treasury_key in writes else base_get(treasury_key)
                if t is None:
                    t = EMPTY_ACCOUNT
                writes[treasury_key] = Account(t.balance + fee, t.nonce, t.kyc)
            index = len(included)
            try:
                event = rules[tx.type](self, tx, index)
            except TxError as exc:
                results.append(TxResult(exc.code, exc.log))
            else:
                results.append(OK_RESULT)
                event["tx"] = tx.hash.hex()
                self.events.append(event)
            included.append(wire)
            decoded.append(tx)
        self._return_escrows()  # events whose collect window ends at h, before step 1
        self._tally()
        self._rounds()  # parametric rounds, still step 1, after the claims
        self._gov_tally()  # section 9 steps 1b and 1c, before the election
        self._gov_enact()
        self._election()
        self._evidence(evidence)
        return included, decoded, results

    def finish(self, tree: Tree, root: bytes) -> tuple[bytes, Batch, dict[bytes, Any]]:
        """Encode the changed records once; the tree gives the root and its node writes."""
        changes: dict[bytes, bytes | None] = {}
        base_get = self.base.get
        encode = K.encode_value
        for k, v in self.writes.items():
            if v is None:
                if base_get(k) is None:
                    continue  # created and removed within the block
                changes[k] = None
            else:
                changes[k] = encode(v)
        new_root, batch = tree.update(root, changes)
        # the tree's batch holds only t/ and ~t/ keys: the records join it without a copy
        batch.ops.update(changes)
        # the overlay itself is the decoded changes (this executor is used once): a key
        # created and removed within the block maps to None there, which is what the chain's
        # record cache holds for an absent key anyway
        return new_root, batch, self.writes


def execute_block(
    base: StateReader,
    tree: Tree,
    root: bytes,
    *,
    chain_id: str,
    params: ChainParams,
    block: Any,
    propose: bool = False,
    verified: Callable[[bytes], bool] = _never,
    known: Callable[[bytes], Tx | None] | None = None,
) -> Execution:
    """Execute `block` (BlockInput-like) on the committed state `base` whose root is `root`."""
    ex = BlockExecutor(base, chain_id, params, block.height)
    included, decoded, results = ex.run(
        block.txs, block.evidence, propose=propose, verified=verified, known=known
    )
    new_root, writes, objects = ex.finish(tree, root)
    return Execution(
        height=block.height,
        txs=included,
        tx_hashes=[tx.hash for tx in decoded],
        results=results,
        events=ex.events,
        state_root=new_root,
        writes=writes,
        time_ms=block.time_ms,
        prev_root=root,
        objects=objects,
        decoded=decoded,
    )
