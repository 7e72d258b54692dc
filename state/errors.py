"""Error names and codes of PROTOCOL.md section 7; the numbers are part of the protocol."""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    OK = 0
    MALFORMED = 1
    BAD_SIGNATURE = 2
    WRONG_CHAIN = 3
    BAD_NONCE = 4
    FEE_TOO_LOW = 5
    INSUFFICIENT_FUNDS = 6
    UNKNOWN_TYPE = 7
    TOO_LARGE = 8
    MEMPOOL_FULL = 9
    DUPLICATE = 10
    UNAUTHORIZED = 11
    NOT_FOUND = 12
    INVALID_PAYLOAD = 13
    ALREADY_MEMBER = 14
    NOT_MEMBER = 15
    WAITING_PERIOD = 16
    CLAIM_OPEN = 17
    VOTING_CLOSED = 18
    NOT_ELIGIBLE = 19
    ALREADY_VOTED = 20
    NOT_APPROVED = 21
    ALREADY_PAID = 22
    NOTICE_PERIOD = 23
    POOL_INSOLVENT = 24
    ALREADY_REGISTERED = 25
    TOO_MANY_PROPOSALS = 26
    STALE_REPORT = 27
    WINDOW_CLOSED = 28

    @property
    def error(self) -> str | None:
        """The protocol's error name (None for success)."""
        return None if self is Code.OK else self.name.lower()


class TxError(Exception):
    """A transaction refused with a protocol error; `code.error` is its name."""

    def __init__(self, code: Code, log: str = "") -> None:
        super().__init__(f"{code.error}: {log}" if log else str(code.error))
        self.code = code
        self.log = log


#: One line per code for the generated error table of docs/protocol.md (`make docs`).
CODE_MEANINGS: dict[Code, str] = {
    Code.OK: "accepted (admission) or executed (block result)",
    Code.MALFORMED: "bytes are not canonical msgpack, or the envelope, body or payload breaks its schema",
    Code.BAD_SIGNATURE: "the Ed25519 signature does not verify against the sender's key",
    Code.WRONG_CHAIN: "the body's chain_id is not this chain's",
    Code.BAD_NONCE: "nonce below the account's nonce, or 64 or more above it",
    Code.FEE_TOO_LOW: "fee below the chain's min_fee",
    Code.INSUFFICIENT_FUNDS: "the balance cannot cover the amount, bond or fees asked for",
    Code.UNKNOWN_TYPE: "the body names no transaction type of version 1",
    Code.TOO_LARGE: "the wire bytes exceed max_tx_bytes",
    Code.MEMPOOL_FULL: "this node's mempool has no room now; send again later",
    Code.DUPLICATE: "this transaction, or another with the same sender and nonce, is pending or committed",
    Code.UNAUTHORIZED: "the sender does not hold the role the type requires (registrar, operator or kyc), or is barred",
    Code.NOT_FOUND: "the pool, claim or candidate named in the payload does not exist",
    Code.INVALID_PAYLOAD: "a well-formed value breaks a pool rule (an amount over max_claim, or not whole contributions)",
    Code.ALREADY_MEMBER: "join by an account that is already waiting or active in the pool",
    Code.NOT_MEMBER: "the sender is not a waiting or active member of the pool",
    Code.WAITING_PERIOD: "claim by a member still in its waiting period",
    Code.CLAIM_OPEN: "the sender still has a voting or approved claim in this pool",
    Code.VOTING_CLOSED: "vote on a decided claim, or at or after its closes_at",
    Code.NOT_ELIGIBLE: "the voter is the claimant, not yet active, or a member for too short a time",
    Code.ALREADY_VOTED: "the member already voted on this claim",
    Code.NOT_APPROVED: "payout of a claim still voting, or rejected",
    Code.ALREADY_PAID: "the claim was paid already",
    Code.NOTICE_PERIOD: "payout before the claim's payable_at height",
    Code.POOL_INSOLVENT: "the pool's balance is below the claim amount; the claim stays approved",
    Code.ALREADY_REGISTERED: "the consensus key belongs to another candidate or a current or next validator",
    Code.TOO_MANY_PROPOSALS: "the scope already has gov_max_open proposals voting or passed",
    Code.STALE_REPORT: "a report for a round other than the pool's open round",
    Code.WINDOW_CLOSED: "collect after the event's collect_window",
}
