"""Execution of one block: a pure function of (committed state, block) -> changes + new root.

The executor reads committed records through a `StateReader` (decoded, cached by the chain)
and keeps every change in an overlay dict of decoded records; nothing touches the store.
At the end the changed records are encoded once and handed to the state tree for the root.
Each rule runs all of its checks (in the order of PROTOCOL.md section 4) before its first
change, so a refused rule has nothing to undo: the fee and the nonce, taken before the rule,
stay. Block validity (section 2) is checked as the transactions are met; in propose mode an
offending transaction is dropped (with the sender's later ones) instead of failing the block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from state import keys as K
from state.codec import MAX_SAFE_INT
from state.errors import Code, TxError
from state.model import (  # the block types live with the records; re-exported here
    ACTIVE,
    APPROVED,
    EMPTY_ACCOUNT,
    PAID,
    REJECTED,
    VOTING,
    WAITING,
    Account,
    BlockInput,
    Candidate,
    Claim,
    EvidenceRef,
    Execution,
    InvalidBlock,
    Member,
    Pool,
    TxResult,
    ValidatorInfo,
    member_status,
)
from state.params import ChainParams
from state.store import Batch
from state.tx import Tx, decode_tx, verify_tx

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
_SCANNED = frozenset((K.TALLY, K.ELECTOR, K.CANDIDATE, K.VALIDATORS))
_MEMBER_OK = (WAITING, ACTIVE)


class StateReader(Protocol):
    """Committed state, decoded (what the chain gives the executor)."""

    def get(self, key: bytes) -> Any: ...

    def iterate(self, prefix: bytes) -> Iterable[tuple[bytes, Any]]: ...

    def validators_at(self, height: int) -> tuple[ValidatorInfo, ...]: ...


class Tree(Protocol):
    def update(self, root: bytes, changes: dict[bytes, bytes | None]) -> tuple[bytes, Batch]: ...


def _never(tx_hash: bytes) -> bool:
    return False


def _add(a: int, b: int) -> int:
    """Sum capped at the protocol's integer range (only heights can reach it)."""
    s = a + b
    return s if s <= MAX_SAFE_INT else MAX_SAFE_INT


class BlockExecutor:
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
        self._handlers: dict[str, Callable[[Tx, int], dict[str, Any]]] = {
            "transfer": self._transfer,
            "admit": self._admit,
            "join": self._join,
            "pay": self._pay,
            "leave": self._leave,
            "claim": self._claim,
            "vote": self._vote,
            "payout": self._payout,
            "register_candidate": self._register_candidate,
            "elect": self._elect,
        }

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

    def account(self, addr: bytes) -> Account:
        a = self.get(_ACCOUNT + addr)
        return EMPTY_ACCOUNT if a is None else a

    def credit(self, addr: bytes, amount: int) -> None:
        key = _ACCOUNT + addr
        a = self.get(key) or EMPTY_ACCOUNT
        self.put(key, Account(a.balance + amount, a.nonce, a.kyc))

    def debit(self, addr: bytes, amount: int) -> None:
        key = _ACCOUNT + addr
        a = self.get(key) or EMPTY_ACCOUNT
        assert a.balance >= amount, "debit checked by the rule"
        self.put(key, Account(a.balance - amount, a.nonce, a.kyc))

    def pool(self, pool_id: str) -> Pool:
        p = self.get(K.pool_key(pool_id)) if type(pool_id) is str else None
        if p is None:
            raise TxError(Code.NOT_FOUND, f"no pool {pool_id!r}")
        return p

    def add_to_pool(self, pool: Pool, amount: int) -> None:
        cur = self.get(K.pool_key(pool.id))
        self.put(K.pool_key(pool.id), Pool(cur.id, cur.name, cur.balance + amount, cur.params))

    def validators_at(self, height: int) -> tuple[ValidatorInfo, ...]:
        """The set that precommits `height`, seeing this block's end-of-block changes."""
        eff = self.h + 2
        if height >= eff:
            pending = self.writes.get(K.validators_key(eff))
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
    ) -> tuple[list[bytes], list[bytes], list[TxResult]]:
        """Validate and execute the transactions, then the end of block.

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
        handlers = self._handlers
        included: list[bytes] = []
        hashes: list[bytes] = []
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
                event = handlers[tx.type](tx, index)
            except TxError as exc:
                results.append(TxResult(exc.code, exc.log))
            else:
                results.append(OK_RESULT)
                event["tx"] = tx.hash.hex()
                self.events.append(event)
            included.append(wire)
            hashes.append(tx.hash)
        self._tally()
        self._election()
        self._evidence(evidence)
        return included, hashes, results

    def finish(self, tree: Tree, root: bytes) -> tuple[bytes, Batch, dict[bytes, Any]]:
        """Encode the changed records once; the tree gives the root and its node writes."""
        changes: dict[bytes, bytes | None] = {}
        objects: dict[bytes, Any] = {}
        base_get = self.base.get
        encode = K.encode_value
        for k, v in self.writes.items():
            if v is None:
                if base_get(k) is None:
                    continue  # created and removed within the block
                changes[k] = None
            else:
                changes[k] = encode(v)
            objects[k] = v
        new_root, nodes = tree.update(root, changes)
        batch = Batch()
        batch.ops.update(changes)
        batch.update(nodes)
        return new_root, batch, objects

    # --- transaction rules (section 4; checks first, changes after) -------------------------

    def _transfer(self, tx: Tx, index: int) -> dict[str, Any]:
        p = tx.payload
        amount = p["amount"]
        to = p["to"]
        sender = self.account(tx.sender)
        if sender.balance < amount:
            raise TxError(Code.INSUFFICIENT_FUNDS, f"balance {sender.balance} < {amount}")
        self.debit(tx.sender, amount)
        self.credit(to, amount)
        return {
            "type": "transfer",
            "from": tx.sender.hex(),
            "to": to.hex(),
            "amount": amount,
        }

    def _admit(self, tx: Tx, index: int) -> dict[str, Any]:
        if tx.sender not in self.params.registrars:
            raise TxError(Code.UNAUTHORIZED, "sender is not a registrar")
        addr = tx.payload["account"]
        a = self.account(addr)
        self.put(_ACCOUNT + addr, Account(a.balance, a.nonce, True))
        return {"type": "kyc_admitted", "account": addr.hex()}

    def _status(self, pool: Pool, addr: bytes) -> tuple[Member | None, str | None]:
        m = self.get(K.member_key(pool.id, addr))
        if m is None:
            return None, None
        return m, member_status(
            m.joined_at, m.paid_through, m.left, pool.params.waiting_period, self.h
        )

    def _join(self, tx: Tx, index: int) -> dict[str, Any]:
        pool = self.pool(tx.payload["pool"])
        _, status = self._status(pool, tx.sender)
        if status in _MEMBER_OK:
            raise TxError(Code.ALREADY_MEMBER, f"already {status} in {pool.id!r}")
        pp = pool.params
        acct = self.account(tx.sender)
        if pp.admission == "kyc" and not acct.kyc:
            raise TxError(Code.UNAUTHORIZED, f"pool {pool.id!r} admits kyc accounts only")
        need = pp.entry_fee + pp.contribution
        if acct.balance < need:
            raise TxError(Code.INSUFFICIENT_FUNDS, f"balance {acct.balance} < {need}")
        h = self.h
        self.debit(tx.sender, need)
        if pp.entry_fee:
            self.credit(self.params.treasury, pp.entry_fee)
        self.add_to_pool(pool, pp.contribution)
        paid_through = _add(h, pp.period - 1)
        self.put(K.member_key(pool.id, tx.sender), Member(pool.id, tx.sender, h, paid_through))
        return {
            "type": "member_joined",
            "pool": pool.id,
            "address": tx.sender.hex(),
            "joined_at": h,
            "paid_through": paid_through,
        }

    def _pay(self, tx: Tx, index: int) -> dict[str, Any]:
        p = tx.payload
        pool = self.pool(p["pool"])
        m, status = self._status(pool, tx.sender)
        if status not in _MEMBER_OK:
            raise TxError(Code.NOT_MEMBER, f"not a waiting/active member of {pool.id!r}")
        assert m is not None
        amount = p["amount"]
        pp = pool.params
        if amount % pp.contribution:
            raise TxError(Code.INVALID_PAYLOAD, f"{amount} is not a multiple of {pp.contribution}")
        acct = self.account(tx.sender)
        if acct.balance < amount:
            raise TxError(Code.INSUFFICIENT_FUNDS, f"balance {acct.balance} < {amount}")
        self.debit(tx.sender, amount)
        self.add_to_pool(pool, amount)
        paid_through = _add(m.paid_through, (amount // pp.contribution) * pp.period)
        self.put(K.member_key(pool.id, tx.sender), replace(m, paid_through=paid_through))
        return {
            "type": "contribution_paid",
            "pool": pool.id,
            "address": tx.sender.hex(),
            "amount": amount,
            "paid_through": paid_through,
        }

    def _leave(self, tx: Tx, index: int) -> dict[str, Any]:
        pool = self.pool(tx.payload["pool"])
        m, status = self._status(pool, tx.sender)
        if status not in _MEMBER_OK:
            raise TxError(Code.NOT_MEMBER, f"not a waiting/active member of {pool.id!r}")
        assert m is not None
        self.put(K.member_key(pool.id, tx.sender), replace(m, left=True))
        return {"type": "member_left", "pool": pool.id, "address": tx.sender.hex()}

    def _claim(self, tx: Tx, index: int) -> dict[str, Any]:
        p = tx.payload
        pool = self.pool(p["pool"])
        _, status = self._status(pool, tx.sender)
        if status not in _MEMBER_OK:
            raise TxError(Code.NOT_MEMBER, f"not a waiting/active member of {pool.id!r}")
        if status == WAITING:
            raise TxError(Code.WAITING_PERIOD, "claims are allowed after the waiting period")
        pp = pool.params
        amount = p["amount"]
        if amount > pp.max_claim:
            raise TxError(Code.INVALID_PAYLOAD, f"amount {amount} > max_claim {pp.max_claim}")
        open_key = K.open_claim_key(pool.id, tx.sender)
        if self.get(open_key) is not None:
            raise TxError(Code.CLAIM_OPEN, "a voting or approved claim is already open")
        acct = self.account(tx.sender)
        if acct.balance < pp.claim_bond:
            raise TxError(
                Code.INSUFFICIENT_FUNDS, f"balance {acct.balance} < claim_bond {pp.claim_bond}"
            )
        h = self.h
        self.debit(tx.sender, pp.claim_bond)
        claim = Claim(
            id=tx.hash,
            pool=pool.id,
            claimant=tx.sender,
            amount=amount,
            evidence=p["evidence"],
            opened_at=h,
            closes_at=_add(h, pp.vote_window),
            bond=pp.claim_bond,
            index=index,
        )
        self.put(K.claim_key(tx.hash), claim)
        self.put(open_key, tx.hash)
        self.put(K.tally_key(claim.closes_at, tx.hash), True)
        self.put(K.claim_list_key(pool.id, h, index), tx.hash)
        self.put(K.claim_status_key(pool.id, VOTING, h, index), tx.hash)
        return {
            "type": "claim_opened",
            "claim": tx.hash.hex(),
            "pool": pool.id,
            "claimant": tx.sender.hex(),
            "amount": amount,
            "closes_at": claim.closes_at,
        }

    def _vote(self, tx: Tx, index: int) -> dict[str, Any]:
        p = tx.payload
        cid = p["claim"]
        c: Claim | None = self.get(K.claim_key(cid))
        if c is None:
            raise TxError(Code.NOT_FOUND, "no such claim")
        h = self.h
        if c.status != VOTING or h >= c.closes_at:
            raise TxError(Code.VOTING_CLOSED, f"claim is {c.status}, closes_at {c.closes_at}")
        pool = self.pool(c.pool)
        m, status = self._status(pool, tx.sender)
        if status not in _MEMBER_OK:
            raise TxError(Code.NOT_MEMBER, f"not a waiting/active member of {pool.id!r}")
        assert m is not None
        if status != ACTIVE:
            raise TxError(Code.NOT_ELIGIBLE, "members in their waiting period do not vote")
        if h - m.joined_at < pool.params.juror_min_age:
            raise TxError(Code.NOT_ELIGIBLE, "member for less than juror_min_age blocks")
        if tx.sender == c.claimant:
            raise TxError(Code.NOT_ELIGIBLE, "the claimant does not vote on its own claim")
        vkey = K.vote_key(cid, tx.sender)
        if self.get(vkey) is not None:
            raise TxError(Code.ALREADY_VOTED, "already voted on this claim")
        approve = p["approve"]
        self.put(vkey, approve)
        self.put(
            K.claim_key(cid),
            replace(
                c,
                votes_for=c.votes_for + (1 if approve else 0),
                votes_against=c.votes_against + (0 if approve else 1),
                voters=(*c.voters, (tx.sender, approve)),
            ),
        )
        return {
            "type": "claim_voted",
            "claim": cid.hex(),
            "voter": tx.sender.hex(),
            "approve": approve,
        }

    def _payout(self, tx: Tx, index: int) -> dict[str, Any]:
        cid = tx.payload["claim"]
        c: Claim | None = self.get(K.claim_key(cid))
        if c is None:
            raise TxError(Code.NOT_FOUND, "no such claim")
        if c.status == PAID:
            raise TxError(Code.ALREADY_PAID, "claim already paid")
        if c.status != APPROVED:
            raise TxError(Code.NOT_APPROVED, f"claim is {c.status}")
        assert c.payable_at is not None
        if self.h < c.payable_at:
            raise TxError(Code.NOTICE_PERIOD, f"payable from height {c.payable_at}")
        pool = self.pool(c.pool)
        if pool.balance < c.amount:
            raise TxError(Code.POOL_INSOLVENT, f"pool balance {pool.balance} < {c.amount}")
        fee = c.amount * pool.params.fee_bps // 10000
        self.add_to_pool(pool, -c.amount)
        if fee:
            self.credit(self.params.treasury, fee)
        self.credit(c.claimant, c.amount - fee + c.bond)
        self._set_claim_status(c, PAID, c.payable_at)
        self.delete(K.open_claim_key(c.pool, c.claimant))
        return {
            "type": "claim_paid",
            "claim": cid.hex(),
            "pool": c.pool,
            "claimant": c.claimant.hex(),
            "amount": c.amount - fee,
            "fee": fee,
            "bond": c.bond,
        }

    def _set_claim_status(self, c: Claim, status: str, payable_at: int | None) -> None:
        """Move a claim to `status`, keeping the per-status listing in step."""
        self.delete(K.claim_status_key(c.pool, c.status, c.opened_at, c.index))
        self.put(K.claim_status_key(c.pool, status, c.opened_at, c.index), c.id)
        self.put(K.claim_key(c.id), replace(c, status=status, payable_at=payable_at))

    def _register_candidate(self, tx: Tx, index: int) -> dict[str, Any]:
        sender = tx.sender
        if sender not in self.params.operators:
            raise TxError(Code.UNAUTHORIZED, "sender is not an operator")
        ckey = K.candidate_key(sender)
        cand: Candidate | None = self.get(ckey)
        if cand is not None and cand.barred(self.h):
            raise TxError(Code.UNAUTHORIZED, f"operator barred until {cand.barred_until}")
        key = tx.payload["consensus_key"]
        name = tx.payload["name"]
        holder = self.get(K.consensus_key_key(key))
        if holder is not None and holder != sender:
            raise TxError(Code.ALREADY_REGISTERED, "consensus key held by another candidate")
        for height in (self.h, self.h + 1):
            for v in self.validators_at(height):
                if v.consensus_key == key and v.operator != sender:
                    raise TxError(Code.ALREADY_REGISTERED, "consensus key used by a validator")
        if cand is None:
            cand = Candidate(sender, key, name)
        else:
            if cand.consensus_key != key:
                self.delete(K.consensus_key_key(cand.consensus_key))
            cand = replace(cand, consensus_key=key, name=name)
        self.put(ckey, cand)
        self.put(K.consensus_key_key(key), sender)
        return {
            "type": "candidate_registered",
            "operator": sender.hex(),
            "consensus_key": key.hex(),
            "name": name,
        }

    def _elect(self, tx: Tx, index: int) -> dict[str, Any]:
        ops = tx.payload["candidates"]
        for op in ops:
            if self.get(K.candidate_key(op)) is None:
                raise TxError(Code.NOT_FOUND, f"no candidate {op.hex()}")
        ekey = K.elector_key(tx.sender)
        if ops:
            self.put(ekey, tuple(ops))
        else:
            self.delete(ekey)
        return {
            "type": "elector_updated",
            "elector": tx.sender.hex(),
            "candidates": [op.hex() for op in ops],
        }

    # --- end of block (section 4, in order) -------------------------------------------------

    def _tally(self) -> None:
        h = self.h
        prefix = K.tally_prefix(h + 1)
        for key, _ in self.scan(prefix):
            self.delete(key)
            c: Claim | None = self.get(K.claim_key(key[len(prefix) :]))
            assert c is not None and c.status == VOTING, "tally index points at a voting claim"
            pool = self.get(K.pool_key(c.pool))
            pp = pool.params
            total = c.votes_for + c.votes_against
            if total >= pp.quorum and c.votes_for * 10000 > pp.approve_bps * total:
                payable_at = _add(c.closes_at, pp.notice_period)
                self._set_claim_status(c, APPROVED, payable_at)
                self.events.append(
                    {
                        "type": "claim_approved",
                        "claim": c.id.hex(),
                        "pool": c.pool,
                        "votes_for": c.votes_for,
                        "votes_against": c.votes_against,
                        "payable_at": payable_at,
                    }
                )
            else:
                self._set_claim_status(c, REJECTED, None)
                self.add_to_pool(pool, c.bond)
                self.delete(K.open_claim_key(c.pool, c.claimant))
                self.events.append(
                    {
                        "type": "claim_rejected",
                        "claim": c.id.hex(),
                        "pool": c.pool,
                        "votes_for": c.votes_for,
                        "votes_against": c.votes_against,
                        "bond_to_pool": c.bond,
                    }
                )

    def _election(self) -> None:
        h = self.h
        params = self.params
        if h % params.epoch_length:
            return
        weights: dict[bytes, int] = {}
        treasury = params.treasury
        for key, ops in self.scan(K.ELECTOR):
            addr = key[len(K.ELECTOR) :]
            if addr == treasury:
                continue
            bal = self.account(addr).balance
            if not bal:
                continue
            for op in ops:
                weights[op] = weights.get(op, 0) + bal
        ranked: list[tuple[int, bytes, Candidate]] = []
        for key, c in self.scan(K.CANDIDATE):
            w = weights.get(c.operator, 0)
            if c.votes != w:
                self.put(key, replace(c, votes=w))
            if w > 0 and not c.barred(h):
                ranked.append((-w, c.operator, c))
        ranked.sort(key=lambda r: (r[0], r[1]))
        chosen = [c for _, _, c in ranked[: params.max_validators]]
        event: dict[str, Any] = {
            "type": "election",
            "effective_height": h + 2,
            "changed": False,
            "validators": [],
        }
        if len(chosen) >= params.min_validators:
            new_set = tuple(ValidatorInfo(c.operator, c.consensus_key, c.name, 1) for c in chosen)
            self.put(K.validators_key(h + 2), new_set)
            event["changed"] = new_set != self.base.validators_at(h + 2)
            event["validators"] = [v.to_json() for v in new_set]
        self.events.append(event)

    def _evidence(self, evidence: Sequence[Any]) -> None:
        h = self.h
        params = self.params
        for ev in evidence:
            ekey = K.evidence_key(ev.id)
            if self.get(ekey) is not None:
                continue  # counted once
            if ev.height > h or h - ev.height > params.epoch_length:
                continue  # too old (or not yet possible): ignored, not counted
            self.put(ekey, h)
            operator = None
            for v in self.validators_at(ev.height):
                if v.consensus_key == ev.validator:
                    operator = v.operator
                    break
            if operator is None:
                operator = self.get(K.consensus_key_key(ev.validator))
            nxt = self.validators_at(h + 2)
            remaining = tuple(v for v in nxt if v.consensus_key != ev.validator)
            removed = bool(remaining) and len(remaining) != len(nxt)
            if removed:
                self.put(K.validators_key(h + 2), remaining)
            barred_until = _add(h, 10 * params.epoch_length)
            if operator is not None:
                ckey = K.candidate_key(operator)
                c: Candidate | None = self.get(ckey)
                if c is None:
                    c = Candidate(operator, ev.validator, "")
                if c.barred_until < barred_until:
                    self.put(ckey, replace(c, barred_until=barred_until))
            self.events.append(
                {
                    "type": "evidence",
                    "evidence": ev.id.hex(),
                    "validator": ev.validator.hex(),
                    "operator": None if operator is None else operator.hex(),
                    "removed_from": h + 2 if removed else None,
                    "barred_until": barred_until if operator is not None else None,
                }
            )


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
    included, hashes, results = ex.run(
        block.txs, block.evidence, propose=propose, verified=verified, known=known
    )
    new_root, writes, objects = ex.finish(tree, root)
    return Execution(
        height=block.height,
        txs=included,
        tx_hashes=hashes,
        results=results,
        events=ex.events,
        state_root=new_root,
        writes=writes,
        time_ms=block.time_ms,
        prev_root=root,
        objects=objects,
    )
