"""Vote tallies: the votes of one (height, round, type) and the power behind each block id."""

from __future__ import annotations

from .types import Vote

#: distinct votes (block ids) counted per equivocating validator per (round, type)
MAX_VOTES_PER_VALIDATOR = 3


class VoteTally:
    """Votes of one (round, type).

    ``votes`` holds each validator's first vote (evidence, "2f+1 of any" counts). An
    equivocator's conflicting votes are also counted, once per block id, in ``by_block``:
    other validators may have counted exactly that vote in a polka or commit, and without
    it we could never see that quorum (CometBFT tracks them the same way for claimed
    majorities). Safety is unaffected: quorum intersection rests on correct validators,
    which never vote twice. At most MAX_VOTES_PER_VALIDATOR block ids per validator.
    """

    __slots__ = ("votes", "by_block", "power", "any_power", "count")

    def __init__(self) -> None:
        self.votes: dict[bytes, Vote] = {}
        self.by_block: dict[bytes | None, dict[bytes, Vote]] = {}
        self.power: dict[bytes | None, int] = {}
        self.any_power = 0
        self.count: dict[bytes, int] = {}

    def has(self, v: Vote) -> bool:
        return v.validator in self.by_block.get(v.block_id, {})
