"""The per-type transaction rules of PROTOCOL.md section 4, one method per type.

Split out of :mod:`state.machine` (DESIGN.md: a file past ~600 lines is two files), which
keeps the overlay and the block loop (fee, nonce, dispatch). Each rule runs all of its
checks before its first change and raises :class:`~state.errors.TxError` to refuse, so a
refused rule has nothing to undo. :class:`TxRules` is a mixin of
:class:`state.machine.BlockExecutor`: it reads and writes only through the executor's
overlay (``get``, ``put``, ``delete``, ``account``, ``credit``, ``debit``, ``pool``,
``add_to_pool``, ``validators_at``) and its ``h``, ``params`` and ``events``. Each rule is
named by its type's entry in :mod:`state.txtypes`, which the executor dispatches on.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from state import keys as K
from state.codec import MAX_SAFE_INT
from state.errors import Code, TxError
from state.membercount import MemberCounts
from state.model import (
    ACTIVE,
    APPROVED,
    PAID,
    STAGE_ATTESTATION,
    STAGE_JURY,
    VOTING,
    WAITING,
    Account,
    Candidate,
    Claim,
    Member,
    Pool,
    claim_terms,
)

if TYPE_CHECKING:
    # state.tx reads the registry (state.txtypes), which names these rules
    from state.tx import Tx

__all__ = ["TxRules"]

_ACCOUNT = K.ACCOUNT
_MEMBER_OK = (WAITING, ACTIVE)


def _add(a: int, b: int) -> int:
    """Sum capped at the protocol's integer range (only heights can reach it)."""
    s = a + b
    return s if s <= MAX_SAFE_INT else MAX_SAFE_INT


class TxRules(MemberCounts):
    """The transaction rules of :class:`state.machine.BlockExecutor` (checks first, changes
    after)."""

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

    def _join(self, tx: Tx, index: int) -> dict[str, Any]:
        pool = self.pool(tx.payload["pool"])
        old, status = self._record(pool.id, tx.sender)
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
        active_from = _add(h, pp.waiting_period)
        self._put_member(old, Member(pool.id, tx.sender, h, paid_through, active_from))
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
        m, status = self._record(pool.id, tx.sender)
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
        # the constructor, not dataclasses.replace (~4x slower): pays are frequent
        self._put_member(
            m, Member(m.pool, m.address, m.joined_at, paid_through, m.active_from, m.left_at)
        )
        return {
            "type": "contribution_paid",
            "pool": pool.id,
            "address": tx.sender.hex(),
            "amount": amount,
            "paid_through": paid_through,
        }

    def _leave(self, tx: Tx, index: int) -> dict[str, Any]:
        pool = self.pool(tx.payload["pool"])
        m, status = self._record(pool.id, tx.sender)
        if status not in _MEMBER_OK:
            raise TxError(Code.NOT_MEMBER, f"not a waiting/active member of {pool.id!r}")
        assert m is not None
        self._put_member(m, replace(m, left_at=self.h))
        return {"type": "member_left", "pool": pool.id, "address": tx.sender.hex()}

    def _claim(self, tx: Tx, index: int) -> dict[str, Any]:
        p = tx.payload
        pool = self.pool(p["pool"])
        _, status = self._record(pool.id, tx.sender)
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
            terms=claim_terms(pp),
            stage=STAGE_ATTESTATION if pp.claim_mode == "attested" else STAGE_JURY,
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
            "stage": claim.stage,
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
        if c.stage != STAGE_JURY:
            raise TxError(Code.NOT_ELIGIBLE, f"the claim is in stage {c.stage}: attestors decide")
        pool = self.pool(c.pool)
        m, status = self._record(pool.id, tx.sender)
        if status not in _MEMBER_OK:
            raise TxError(Code.NOT_MEMBER, f"not a waiting/active member of {pool.id!r}")
        assert m is not None
        if status != ACTIVE:
            raise TxError(Code.NOT_ELIGIBLE, "members in their waiting period do not vote")
        if h - m.joined_at < c.terms["juror_min_age"]:
            raise TxError(Code.NOT_ELIGIBLE, "member for less than juror_min_age blocks")
        if tx.sender == c.claimant:
            raise TxError(Code.NOT_ELIGIBLE, "the claimant does not vote on its own claim")
        vkey = K.vote_key(cid, tx.sender)
        if self.get(vkey) is not None:
            raise TxError(Code.ALREADY_VOTED, "already voted on this claim")
        approve = p["approve"]
        self.put(vkey, approve)
        self.put(K.claim_key(cid), c.with_vote(tx.sender, approve))
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
        fee = c.amount * c.terms["fee_bps"] // 10000
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

    def _set_claim_status(
        self, c: Claim, status: str, payable_at: int | None, **changes: Any
    ) -> None:
        """Move a claim to `status` (with other field `changes`), keeping the per-status
        listing and the pool's liabilities (approved, unpaid amounts) in step."""
        if status != c.status:
            self.delete(K.claim_status_key(c.pool, c.status, c.opened_at, c.index))
            self.put(K.claim_status_key(c.pool, status, c.opened_at, c.index), c.id)
        owed = (c.amount if status == APPROVED else 0) - (c.amount if c.status == APPROVED else 0)
        if owed:
            pkey = K.pool_key(c.pool)
            pool: Pool = self.get(pkey)
            self.put(pkey, replace(pool, liabilities=pool.liabilities + owed))
        self.put(K.claim_key(c.id), replace(c, status=status, payable_at=payable_at, **changes))

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
