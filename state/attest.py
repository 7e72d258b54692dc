"""Attested claims and objections (PROTOCOL.md section 10): the `attest` and `object` rules
and end-of-block step 1 (claims), which section 10 rewrites.

A mixin of :class:`state.machine.BlockExecutor`, working only through its overlay, like the
other rules. Step 1 never scans the claims: it takes the claims whose closes_at is h + 1 (the
`s/t/` index), the claims attested in block h and the claims whose objections reached their
quorum in block h (both kept by the executor for the block only: every one of them is
handled at the end of the same block), merged in id order.
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
    REJECTED,
    STAGE_ATTESTATION,
    STAGE_JURY,
    VOTING,
    WAITING,
    Attestation,
    Claim,
)

if TYPE_CHECKING:
    from state.tx import Tx

__all__ = ["AttestRules"]


def _add(a: int, b: int) -> int:
    """Sum capped at the protocol's integer range (only heights can reach it)."""
    return min(a + b, MAX_SAFE_INT)


class AttestRules(MemberCounts):
    """`attest`, `object` and the claims step of the end of block."""

    # --- transactions ------------------------------------------------------------------------

    def _attest(self, tx: Tx, index: int) -> dict[str, Any]:
        p = tx.payload
        cid = p["claim"]
        c: Claim | None = self.get(K.claim_key(cid))
        if c is None:
            raise TxError(Code.NOT_FOUND, "no such claim")
        sender = tx.sender
        pool = self.pool(c.pool)
        if sender not in c.terms["attestors"] or sender not in pool.params.attestors:
            raise TxError(Code.UNAUTHORIZED, "sender is not an attestor of the claim and its pool")
        if sender == c.claimant:
            raise TxError(Code.NOT_ELIGIBLE, "the claimant does not attest its own claim")
        if c.status != VOTING or c.stage != STAGE_ATTESTATION or self.h >= c.closes_at:
            raise TxError(
                Code.VOTING_CLOSED,
                f"claim is {c.status} in stage {c.stage}, closes_at {c.closes_at}",
            )
        if any(a.attestor == sender for a in c.attestations):
            raise TxError(Code.ALREADY_VOTED, "already attested this claim")
        approve: bool = p["approve"]
        report: bytes = p["report"]
        self.put(
            K.claim_key(cid),
            replace(
                c,
                attest_for=c.attest_for + approve,
                attest_against=c.attest_against + (not approve),
                attestations=(*c.attestations, Attestation(sender, approve, report)),
            ),
        )
        self.attested.add(cid)
        return {
            "type": "claim_attested",
            "claim": cid.hex(),
            "attestor": sender.hex(),
            "approve": approve,
            "report": report.hex(),
        }

    def _object(self, tx: Tx, index: int) -> dict[str, Any]:
        cid = tx.payload["claim"]
        c: Claim | None = self.get(K.claim_key(cid))
        if c is None:
            raise TxError(Code.NOT_FOUND, "no such claim")
        h = self.h
        terms = c.terms
        if (
            c.status != APPROVED
            or c.payable_at is None
            or h >= c.payable_at
            or c.objected
            or terms["objection_quorum"] == 0
        ):
            raise TxError(
                Code.VOTING_CLOSED,
                f"claim is {c.status}, payable_at {c.payable_at}, objected {c.objected},"
                f" objection_quorum {terms['objection_quorum']}",
            )
        sender = tx.sender
        m, status = self._record(c.pool, sender)
        if status not in (WAITING, ACTIVE):
            raise TxError(Code.NOT_MEMBER, f"not a waiting/active member of {c.pool!r}")
        assert m is not None
        if status != ACTIVE:
            raise TxError(Code.NOT_ELIGIBLE, "members in their waiting period do not object")
        if h - m.joined_at < terms["juror_min_age"]:
            raise TxError(Code.NOT_ELIGIBLE, "member for less than juror_min_age blocks")
        if sender == c.claimant:
            raise TxError(Code.NOT_ELIGIBLE, "the claimant does not object to its own claim")
        if sender in c.objections:
            raise TxError(Code.ALREADY_VOTED, "already objected to this claim")
        objections = (*c.objections, sender)
        self.put(K.claim_key(cid), replace(c, objections=objections))
        if len(objections) >= terms["objection_quorum"]:
            self.objected.add(cid)
        return {
            "type": "claim_objected",
            "claim": cid.hex(),
            "member": sender.hex(),
            "objections": len(objections),
        }

    # --- end of block, step 1 ----------------------------------------------------------------

    def _tally(self) -> None:
        """Step 1 (claims), in id order: attestation decisions, the fallback to a jury, the
        version-1 tally of jury claims closing now, and objection rounds."""
        h = self.h
        prefix = K.tally_prefix(h + 1)
        due = {key[len(prefix) :] for key, _ in self.scan(prefix)}
        for cid in sorted(due | self.attested | self.objected):
            c: Claim | None = self.get(K.claim_key(cid))
            assert c is not None, "the indexes point at claims"
            if c.status == VOTING and c.stage == STAGE_ATTESTATION:
                self._decide_attested(c)
            elif c.status == VOTING:
                assert c.closes_at == h + 1, "jury claims come from the tally index"
                self._decide_jury(c)
            elif c.status == APPROVED and cid in self.objected:
                self._reopen(c)

    def _decide_attested(self, c: Claim) -> None:
        h = self.h
        terms = c.terms
        quorum = terms["attest_quorum"]
        counts = {"attest_for": c.attest_for, "attest_against": c.attest_against}
        if c.attest_for >= quorum:
            self.delete(K.tally_key(c.closes_at, c.id))
            payable_at = _add(h + 1, terms["notice_period"])
            self._set_claim_status(c, APPROVED, payable_at)
            self.events.append(
                {
                    "type": "claim_approved",
                    "claim": c.id.hex(),
                    "pool": c.pool,
                    "stage": STAGE_ATTESTATION,
                    **counts,
                    "payable_at": payable_at,
                }
            )
        elif c.attest_against > len(terms["attestors"]) - quorum:
            self.delete(K.tally_key(c.closes_at, c.id))
            self._reject(c, {"stage": STAGE_ATTESTATION, **counts})
        elif c.closes_at == h + 1:
            self.delete(K.tally_key(c.closes_at, c.id))
            closes_at = _add(h + 1, terms["vote_window"])
            self._set_claim_status(c, VOTING, None, stage=STAGE_JURY, closes_at=closes_at)
            self.put(K.tally_key(closes_at, c.id), True)
            self.events.append(
                {
                    "type": "claim_to_jury",
                    "claim": c.id.hex(),
                    "pool": c.pool,
                    **counts,
                    "closes_at": closes_at,
                }
            )

    def _decide_jury(self, c: Claim) -> None:
        """The version-1 tally, under the claim's terms (section 9)."""
        self.delete(K.tally_key(c.closes_at, c.id))
        terms = c.terms
        total = c.votes_for + c.votes_against
        counts = {"votes_for": c.votes_for, "votes_against": c.votes_against}
        if total >= terms["quorum"] and c.votes_for * 10000 > terms["approve_bps"] * total:
            payable_at = _add(c.closes_at, terms["notice_period"])
            self._set_claim_status(c, APPROVED, payable_at)
            self.events.append(
                {
                    "type": "claim_approved",
                    "claim": c.id.hex(),
                    "pool": c.pool,
                    **counts,
                    "payable_at": payable_at,
                }
            )
        else:
            self._reject(c, counts)

    def _reject(self, c: Claim, detail: dict[str, Any]) -> None:
        self._set_claim_status(c, REJECTED, None)
        self.add_to_pool(self.pool(c.pool), c.bond)
        self.delete(K.open_claim_key(c.pool, c.claimant))
        self.events.append(
            {
                "type": "claim_rejected",
                "claim": c.id.hex(),
                "pool": c.pool,
                **detail,
                "bond_to_pool": c.bond,
            }
        )

    def _reopen(self, c: Claim) -> None:
        """Objections reached the quorum: back to a member vote, everyone eligible may vote
        again (their earlier votes are forgotten); one objection round per claim."""
        for voter, _ in c.voters:
            self.delete(K.vote_key(c.id, voter))
        closes_at = _add(self.h + 1, c.terms["vote_window"])
        self._set_claim_status(
            c,
            VOTING,
            None,
            stage=STAGE_JURY,
            closes_at=closes_at,
            votes_for=0,
            votes_against=0,
            voters=(),
            objected=True,
        )
        self.put(K.tally_key(closes_at, c.id), True)
        self.events.append(
            {
                "type": "claim_reopened",
                "claim": c.id.hex(),
                "pool": c.pool,
                "objections": len(c.objections),
                "closes_at": closes_at,
            }
        )
