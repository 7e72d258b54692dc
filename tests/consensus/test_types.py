"""Encoding, signing and certificate verification of consensus types."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cons_helpers import CHAIN, members, signers

import consensus.types as ctypes
from consensus.params import ConsensusParams
from consensus.types import (
    PRECOMMIT,
    PREVOTE,
    Block,
    BlockHeader,
    Commit,
    DuplicateVoteEvidence,
    InvalidCommit,
    InvalidEvidence,
    Proposal,
    Vote,
    commit_hash,
    evidence_hash,
    tx_root,
)
from consensus.validators import ValidatorSet
from consensus.validity import HeightContext, check_block
from state.codec import DecodeError, decode, encode
from state.crypto import sha256

SS = signers(4)
VS = ValidatorSet.from_members(members(SS))
BID = sha256(b"block")


def vote(i: int, type: int = PRECOMMIT, h: int = 5, r: int = 0, bid: bytes | None = BID) -> Vote:
    s = SS[i]
    sig = s.sign(Vote.sign_bytes_for(CHAIN, type, h, r, bid))
    return Vote(type, h, r, bid, s.public_key, sig)


def commit_of(idx: list[int], h: int = 5, r: int = 0, bid: bytes = BID) -> Commit:
    return Commit(
        h, r, bid, tuple((SS[i].public_key, vote(i, h=h, r=r, bid=bid).signature) for i in idx)
    )


def sample_block(
    txs: tuple[bytes, ...] = (b"a", b"b"), lc: Commit | None = None, evidence: bool = True
) -> Block:
    lc = lc or commit_of([0, 1, 2], h=1)
    evs = [DuplicateVoteEvidence.of(vote(0, h=1), vote(0, h=1, bid=None))] if evidence else []
    header = BlockHeader(
        chain_id=CHAIN,
        height=2,
        time_ms=1000,
        prev_hash=BID,
        proposer=SS[0].public_key,
        tx_root=tx_root(txs),
        state_root=sha256(b"root"),
        last_commit_hash=commit_hash(lc),
        evidence_hash=evidence_hash(evs),
        validators_hash=VS.hash(),
    )
    return Block(header, txs, lc, tuple(evs))


def test_round_trips() -> None:
    b = sample_block()
    assert Block.from_bytes(b.to_bytes()) == b
    assert Block.from_bytes(b.to_bytes()).hash == b.hash
    v = vote(1, PREVOTE, bid=None)
    assert Vote.from_bytes(v.to_bytes()) == v
    c = commit_of([0, 1, 2])
    assert Commit.from_bytes(c.to_bytes()) == c
    p = Proposal(2, 1, 0, b, SS[0].sign(b"x"))
    assert Proposal.from_bytes(p.to_bytes()) == p
    ev = b.evidence[0]
    assert DuplicateVoteEvidence.from_bytes(ev.to_bytes()) == ev
    assert b.check_roots() is None


@pytest.mark.parametrize(
    "mutate",
    [
        lambda o: o.update(type=3),
        lambda o: o.update(type=True),
        lambda o: o.update(height=0),
        lambda o: o.update(round=-1),
        lambda o: o.update(block_id=b"short"),
        lambda o: o.update(validator=b"\x00" * 31),
        lambda o: o.update(signature="x" * 64),
        lambda o: o.update(extra=1),
        lambda o: o.pop("round"),
    ],
)
def test_vote_decoding_is_strict(mutate) -> None:  # noqa: ANN001
    obj = vote(0).to_obj()
    mutate(obj)
    with pytest.raises(DecodeError):
        Vote.from_bytes(encode(obj))


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc1", b"\x80", encode([1, 2]), encode({"header": 1}), b"\x81\xa1a\x01\x00"],
)
def test_garbage_blocks_and_proposals_raise_decode_error(data: bytes) -> None:
    for cls in (Block, Proposal, Commit, DuplicateVoteEvidence, Vote):
        with pytest.raises(DecodeError):
            cls.from_bytes(data)


def test_proposal_pol_round_must_be_below_round() -> None:
    p = Proposal(2, 1, 0, sample_block(), b"\x00" * 64).to_obj()
    p["pol_round"] = 1
    with pytest.raises(DecodeError):
        Proposal.from_bytes(encode(p))
    p["pol_round"] = -2
    with pytest.raises(DecodeError):
        Proposal.from_bytes(encode(p))


def test_block_hash_covers_header_fields() -> None:
    b = sample_block()
    obj = b.to_obj()
    obj["header"]["time_ms"] += 1
    assert Block.from_obj(obj).hash != b.hash
    # a body that does not match the header's roots is caught
    tampered = Block(b.header, (b"a", b"c"), b.last_commit, b.evidence)
    assert tampered.hash == b.hash
    assert tampered.check_roots() == "tx_root mismatch"
    assert Block(b.header, b.txs, None, b.evidence).check_roots() == "last_commit_hash mismatch"
    assert Block(b.header, b.txs, b.last_commit, ()).check_roots() == "evidence_hash mismatch"


def test_roots_are_checked_once_per_block_and_never_shared_with_a_tampered_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dataclasses

    import consensus.types as types

    b = sample_block()
    calls: list[int] = []
    real = types.tx_root

    def counting(txs: tuple[bytes, ...]) -> bytes:
        calls.append(len(txs))
        return real(txs)

    monkeypatch.setattr(types, "tx_root", counting)
    assert [b.check_roots() for _ in range(40)] == [None] * 40
    assert len(calls) == 1  # one hash of the body for every vote of a height
    tampered = dataclasses.replace(b, txs=(b"a", b"c"))
    assert tampered.hash == b.hash and tampered.check_roots() == "tx_root mismatch"
    assert tampered.check_roots() == "tx_root mismatch" and b.check_roots() is None


def test_sign_bytes_are_domain_separated() -> None:
    v = vote(0)
    assert v.verify_signature(CHAIN)
    assert not v.verify_signature("other-chain")
    for other in (
        Vote(PREVOTE, v.height, v.round, v.block_id, v.validator, v.signature),
        Vote(v.type, v.height + 1, v.round, v.block_id, v.validator, v.signature),
        Vote(v.type, v.height, v.round + 1, v.block_id, v.validator, v.signature),
        Vote(v.type, v.height, v.round, None, v.validator, v.signature),
    ):
        assert not other.verify_signature(CHAIN)
    # a vote signature is never a proposal signature for the same numbers
    assert Vote.sign_bytes_for(CHAIN, 1, 5, 0, BID) != Proposal.sign_bytes_for(CHAIN, 5, 0, -1, BID)
    assert Proposal.sign_bytes_for(CHAIN, 5, 1, 0, BID) != Proposal.sign_bytes_for(
        CHAIN, 5, 1, -1, BID
    )


def test_commit_verify_accepts_two_thirds_plus() -> None:
    commit_of([0, 1, 2]).verify(CHAIN, VS)
    commit_of([3, 1, 0, 2]).verify(CHAIN, VS)


def test_commit_verify_rejects_too_little_power() -> None:
    with pytest.raises(InvalidCommit, match="insufficient"):
        commit_of([0, 1]).verify(CHAIN, VS)
    # exactly 2/3 is not enough: strictly more is required
    vs3 = ValidatorSet.from_members(members(SS[:3], [1, 1, 1]))
    with pytest.raises(InvalidCommit, match="insufficient"):
        commit_of([0, 1]).verify(CHAIN, vs3)
    # weighted: one validator with 3 of 4 power suffices alone
    heavy = ValidatorSet.from_members(members(SS[:2], [3, 1]))
    commit_of([0]).verify(CHAIN, heavy)
    with pytest.raises(InvalidCommit):
        commit_of([1]).verify(CHAIN, heavy)


def test_commit_verify_rejects_wrong_set_duplicates_and_bad_signatures() -> None:
    other = ValidatorSet.from_members(members(signers(6)[4:]))
    with pytest.raises(InvalidCommit, match="unknown signer"):
        commit_of([0, 1, 2]).verify(CHAIN, other)
    c = commit_of([0, 1])
    dup = Commit(c.height, c.round, c.block_id, c.signatures + (c.signatures[0],))
    with pytest.raises(InvalidCommit, match="duplicate"):
        dup.verify(CHAIN, VS)
    c = commit_of([0, 1, 2])
    bad = Commit(
        c.height, c.round, c.block_id, c.signatures[:2] + ((SS[2].public_key, b"\x01" * 64),)
    )
    with pytest.raises(InvalidCommit, match="bad signature"):
        bad.verify(CHAIN, VS)
    # signatures for another round do not prove this one
    moved = Commit(c.height, c.round + 1, c.block_id, c.signatures)
    with pytest.raises(InvalidCommit, match="bad signature"):
        moved.verify(CHAIN, VS)
    with pytest.raises(InvalidCommit, match="bad signature"):
        c.verify("other", VS)


def test_evidence_verify_and_id() -> None:
    a, b = vote(2, bid=BID), vote(2, bid=sha256(b"other"))
    ev = DuplicateVoteEvidence(a, b)
    ev.verify(CHAIN, VS)
    assert ev.id == DuplicateVoteEvidence(b, a).id
    assert DuplicateVoteEvidence.of(b, a) == DuplicateVoteEvidence.of(a, b)
    assert (ev.validator, ev.height, ev.round, ev.vote_type) == (SS[2].public_key, 5, 0, PRECOMMIT)
    cases = [
        (DuplicateVoteEvidence(a, a), "same block id"),
        (DuplicateVoteEvidence(a, vote(1, bid=None)), "different validators"),
        (DuplicateVoteEvidence(a, vote(2, r=1, bid=None)), "different height"),
        (DuplicateVoteEvidence(a, vote(2, type=PREVOTE, bid=None)), "different height"),
        (
            DuplicateVoteEvidence(
                a, Vote(b.type, b.height, b.round, b.block_id, b.validator, a.signature)
            ),
            "bad signature",
        ),
    ]
    for bad, reason in cases:
        with pytest.raises(InvalidEvidence, match=reason):
            bad.verify(CHAIN, VS)
    outsider = ValidatorSet.from_members(members(signers(6)[4:]))
    with pytest.raises(InvalidEvidence, match="unknown validator"):
        ev.verify(CHAIN, outsider)


def test_encoding_is_canonical_msgpack() -> None:
    b = sample_block()
    assert decode(b.to_bytes()) == b.to_obj()


# A proposal's last commit: each precommit signature is checked once per node. The node
# checked the precommits of its own commit of the previous height (as votes, or with a synced
# block); a last commit repeating them is not checked again, anything else in it still is.

OWN = commit_of([0, 1, 2], h=1)
CTX2 = HeightContext(2, VS, VS, BID, 100, OWN)


class AcceptAll:
    def validate(self, *args: object) -> bool:
        return True


def check_lc(lc: Commit) -> str | None:
    app: Any = AcceptAll()  # the last commit is checked before the application's verdict
    return check_block(
        sample_block(lc=lc, evidence=False), CTX2, CHAIN, ConsensusParams(), app, lambda h: VS
    )


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """The signers whose signature a commit check verified."""
    seen: list[bytes] = []
    real = ctypes.verify

    def spy(key: bytes, msg: bytes, signature: bytes) -> bool:
        seen.append(key)
        return real(key, msg, signature)

    monkeypatch.setattr(ctypes, "verify", spy)
    yield seen


def test_own_commit_repeated_in_a_proposal_is_not_checked_again(checked: list[bytes]) -> None:
    assert check_lc(OWN) is None
    assert checked == []


def test_a_precommit_we_did_not_have_is_checked(checked: list[bytes]) -> None:
    assert check_lc(commit_of([0, 1, 2, 3], h=1)) is None
    assert checked == [SS[3].public_key]
    forged = Commit(1, 0, BID, OWN.signatures[:2] + ((SS[3].public_key, b"\x01" * 64),))
    assert check_lc(forged) == "last_commit: bad signature"


def test_another_signature_or_round_than_ours_is_checked() -> None:
    bad = Commit(1, 0, BID, OWN.signatures[:2] + ((SS[2].public_key, b"\x01" * 64),))
    assert check_lc(bad) == "last_commit: bad signature"
    # our pairs do not prove another round
    moved = Commit(1, 1, BID, OWN.signatures)
    assert check_lc(moved) == "last_commit: bad signature"


def test_known_pairs_still_need_power_members_and_no_duplicates() -> None:
    known = frozenset(OWN.signatures)
    with pytest.raises(InvalidCommit, match="insufficient"):
        Commit(1, 0, BID, OWN.signatures[:2]).verify(CHAIN, VS, known)
    with pytest.raises(InvalidCommit, match="duplicate"):
        Commit(1, 0, BID, OWN.signatures + OWN.signatures[:1]).verify(CHAIN, VS, known)
    other = ValidatorSet.from_members(members(signers(6)[4:]))
    with pytest.raises(InvalidCommit, match="unknown signer"):
        OWN.verify(CHAIN, other, known)
