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
