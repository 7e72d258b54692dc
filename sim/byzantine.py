"""Byzantine validators: what a faulty node does to the messages its replica sends.

A Byzantine node runs a real, honest `Replica`; its misbehaviour is a filter on its
outgoing consensus messages, so it stays a believable participant (right heights, right
rounds, valid signatures) while lying in exactly one way:

- `equivocate`: as proposer it sends its block to one half of its peers and a different,
  equally well-formed and signed block to the other half;
- `double-vote`: every vote it signs goes to one half of its peers and a conflicting,
  signed vote (nil <-> a block id) for the same height/round/type to the other half
  (one peer of which also gets the first vote, so the double sign is detectable);
- `silent`: it sends nothing at all (it still receives, so it is "up" but mute);
- `twins`: two node instances share one key, each running an honest replica (the Twins
  method, DiemBFT); the harness adds the second instance and partitions that separate the
  twins, see `sim.faults.twins_split`. There is no message filter for twins.

Splits are drawn from the node's own Random per (height, round), so one equivocation
consistently reaches the same halves.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from consensus.types import Block, Proposal, Vote
from state.crypto import Signer, sha256

EQUIVOCATE = "equivocate"
DOUBLE_VOTE = "double-vote"
SILENT = "silent"
TWINS = "twins"
BEHAVIOURS: tuple[str, ...] = (EQUIVOCATE, DOUBLE_VOTE, SILENT, TWINS)

Route = tuple[list[int], Any]  # (destination node indices, message)


def conflicting_vote(vote: Vote, signer: Signer, chain_id: str) -> Vote:
    """A validly signed vote for the same (type, height, round) with another block id.

    A vote for a block becomes a vote for nil; a nil vote becomes a vote for a block id
    that no honest node has (the hash of the vote itself)."""
    other = None if vote.block_id is not None else sha256(b"sim/double-vote" + vote.to_bytes())
    sig = signer.sign(Vote.sign_bytes_for(chain_id, vote.type, vote.height, vote.round, other))
    return replace(vote, block_id=other, signature=sig)


def alternative_proposal(proposal: Proposal, signer: Signer, chain_id: str) -> Proposal:
    """The same proposal with a different block: the header's time moves 1 ms later.

    Everything else (transactions, roots, last commit) is unchanged, so the block is as
    valid as the original wherever the state does not depend on the time, yet has a
    different hash: a second, properly signed proposal for one (height, round)."""
    b = proposal.block
    header = replace(b.header, time_ms=b.header.time_ms + 1)
    alt = Block(header, b.txs, b.last_commit, b.evidence)
    sig = signer.sign(
        Proposal.sign_bytes_for(
            chain_id, proposal.height, proposal.round, proposal.pol_round, alt.hash
        )
    )
    return replace(proposal, block=alt, signature=sig)


class Behaviour:
    """Honest routing: everything to everyone. Subclasses lie."""

    name = "honest"

    def __init__(self, signer: Signer, chain_id: str, rng: random.Random) -> None:
        self.signer = signer
        self.chain_id = chain_id
        self.rng = rng
        self.lies = 0
        self._splits: dict[tuple[int, int], int] = {}

    def split(self, peers: list[int], height: int, round: int) -> tuple[list[int], list[int]]:
        """Two halves of `peers`, the same for every message of (height, round)."""
        key = (height, round)
        salt = self._splits.get(key)
        if salt is None:
            salt = self._splits[key] = self.rng.getrandbits(32)
        order = sorted(peers)
        random.Random(salt).shuffle(order)
        half = len(order) // 2
        return sorted(order[:half]), sorted(order[half:])

    def route(self, msg: Any, peers: list[int]) -> list[Route]:
        """Where each outgoing message goes; `msg` is a decoded consensus message."""
        return [(peers, msg)]


class Equivocate(Behaviour):
    name = EQUIVOCATE

    def route(self, msg: Any, peers: list[int]) -> list[Route]:
        if not isinstance(msg, Proposal) or len(peers) < 2:
            return [(peers, msg)]
        a, b = self.split(peers, msg.height, msg.round)
        self.lies += 1
        return [(a, msg), (b, alternative_proposal(msg, self.signer, self.chain_id))]


class DoubleVote(Behaviour):
    name = DOUBLE_VOTE

    def route(self, msg: Any, peers: list[int]) -> list[Route]:
        if not isinstance(msg, Vote) or len(peers) < 2 or msg.validator != self.signer.public_key:
            return [(peers, msg)]
        a, b = self.split(peers, msg.height, msg.round)
        self.lies += 1
        # one peer of the second half gets both votes: the double sign is then provable
        # (evidence) even though honest replicas do not relay each other's votes
        return [(a + b[:1], msg), (b, conflicting_vote(msg, self.signer, self.chain_id))]


class Silent(Behaviour):
    name = SILENT

    def route(self, msg: Any, peers: list[int]) -> list[Route]:
        self.lies += 1
        return []


def make_behaviour(
    name: str | None, signer: Signer, chain_id: str, rng: random.Random
) -> Behaviour:
    """The message filter for `name`; twins and honest nodes route honestly."""
    cls = {EQUIVOCATE: Equivocate, DOUBLE_VOTE: DoubleVote, SILENT: Silent}.get(
        name or "", Behaviour
    )
    return cls(signer, chain_id, rng)
