"""Byzantine message filters produce real, verifiable lies to disjoint halves of the peers."""

from __future__ import annotations

import random

from consensus.types import (
    EMPTY_HASH,
    PREVOTE,
    Block,
    BlockHeader,
    DuplicateVoteEvidence,
    Proposal,
    Vote,
    evidence_hash,
    tx_root,
)
from sim.byzantine import (
    DOUBLE_VOTE,
    EQUIVOCATE,
    SILENT,
    TWINS,
    Behaviour,
    make_behaviour,
)
from state.crypto import Signer

CHAIN = "huzhu-sim"
SIGNER = Signer(b"\x07" * 32)
PEERS = [1, 2, 3, 4, 5]


class _OneValidator:
    """The slice of ValidatorSet that evidence verification reads."""

    def get(self, key: bytes) -> object | None:
        return object() if key == SIGNER.public_key else None


def signed_vote(block_id: bytes | None) -> Vote:
    sig = SIGNER.sign(Vote.sign_bytes_for(CHAIN, PREVOTE, 3, 1, block_id))
    return Vote(PREVOTE, 3, 1, block_id, SIGNER.public_key, sig)


def signed_proposal() -> Proposal:
    header = BlockHeader(
        chain_id=CHAIN,
        height=3,
        time_ms=1_000,
        prev_hash=b"\x01" * 32,
        proposer=SIGNER.public_key,
        tx_root=tx_root([b"tx"]),
        state_root=b"\x02" * 32,
        last_commit_hash=EMPTY_HASH,
        evidence_hash=evidence_hash(()),
        validators_hash=b"\x03" * 32,
    )
    block = Block(header, (b"tx",), None, ())
    sig = SIGNER.sign(Proposal.sign_bytes_for(CHAIN, 3, 0, -1, block.hash))
    return Proposal(3, 0, -1, block, sig)


def test_double_vote_sends_provable_conflict_to_other_half() -> None:
    b = make_behaviour(DOUBLE_VOTE, SIGNER, CHAIN, random.Random(1))
    vote = signed_vote(b"\x09" * 32)
    routes = b.route(vote, PEERS)
    assert len(routes) == 2
    (half_a, va), (half_b, vb) = routes
    assert va is vote and sorted(set(half_a + half_b)) == PEERS
    # exactly one peer gets both votes (it can prove the double sign)
    assert len(set(half_a) & set(half_b)) == 1 and len(half_a) + len(half_b) == len(PEERS) + 1
    assert vb.block_id is None and vb.verify_signature(CHAIN)
    # the two votes are evidence an honest node can verify and put in a block
    DuplicateVoteEvidence.of(va, vb).verify(CHAIN, _OneValidator())  # type: ignore[arg-type]
    nil_routes = b.route(signed_vote(None), PEERS)
    assert nil_routes[1][1].block_id is not None and nil_routes[1][1].verify_signature(CHAIN)
    # the same (height, round) always splits the peers the same way
    assert [sorted(r[0]) for r in nil_routes] == [sorted(half_a), sorted(half_b)]
    assert b.lies == 2


def test_equivocating_proposer_signs_two_blocks() -> None:
    b = make_behaviour(EQUIVOCATE, SIGNER, CHAIN, random.Random(2))
    p = signed_proposal()
    (half_a, pa), (half_b, pb) = b.route(p, PEERS)
    assert pa is p and sorted(half_a + half_b) == PEERS
    assert pb.block.hash != pa.block.hash
    assert pb.verify_signature(CHAIN, SIGNER.public_key)
    assert pb.block.check_roots() is None and pb.block.header.time_ms == 1_001
    # votes are not touched by an equivocating proposer
    v = signed_vote(None)
    assert b.route(v, PEERS) == [(PEERS, v)]


def test_silent_sends_nothing_and_honest_sends_everything() -> None:
    assert (
        make_behaviour(SILENT, SIGNER, CHAIN, random.Random(3)).route(signed_vote(None), PEERS)
        == []
    )
    for name in (TWINS, None):
        b = make_behaviour(name, SIGNER, CHAIN, random.Random(3))
        assert type(b) is Behaviour
        p = signed_proposal()
        assert b.route(p, PEERS) == [(PEERS, p)]
