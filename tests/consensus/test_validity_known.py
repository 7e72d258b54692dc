"""A proposal's last commit: each precommit signature is checked once per node.

The node already checked the precommits of its own commit of the previous height (they came
in as votes, or with a synced block); a proposal's last commit that repeats them is not
checked again, while anything else in it (another signer, another signature, another round)
still is."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cons_helpers import CHAIN, members, signers

import consensus.types as ctypes
from consensus.params import ConsensusParams
from consensus.types import (
    PRECOMMIT,
    Block,
    BlockHeader,
    Commit,
    InvalidCommit,
    Vote,
    commit_hash,
    evidence_hash,
    tx_root,
)
from consensus.validators import ValidatorSet
from consensus.validity import HeightContext, check_block
from state.crypto import sha256

SS = signers(4)
VS = ValidatorSet.from_members(members(SS))
PREV = sha256(b"block 1")
BAD = b"\x01" * 64


def sig(i: int, r: int = 0) -> bytes:
    return SS[i].sign(Vote.sign_bytes_for(CHAIN, PRECOMMIT, 1, r, PREV))


def commit(pairs: list[tuple[int, bytes]], r: int = 0) -> Commit:
    return Commit(1, r, PREV, tuple((SS[i].public_key, s) for i, s in pairs))


OWN = commit([(0, sig(0)), (1, sig(1)), (2, sig(2))])
CTX = HeightContext(2, VS, VS, PREV, 100, OWN)


class AcceptAll:
    def validate(self, *args: object) -> bool:
        return True


def block_with(lc: Commit) -> Block:
    header = BlockHeader(
        chain_id=CHAIN,
        height=2,
        time_ms=200,
        prev_hash=PREV,
        proposer=SS[0].public_key,
        tx_root=tx_root(()),
        state_root=sha256(b"root"),
        last_commit_hash=commit_hash(lc),
        evidence_hash=evidence_hash([]),
        validators_hash=VS.hash(),
    )
    return Block(header, (), lc, ())


def check(lc: Commit) -> str | None:
    return check_block(
        block_with(lc),
        CTX,
        CHAIN,
        ConsensusParams(),
        AcceptAll(),
        lambda h: VS,  # type: ignore[arg-type]
    )


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """The signers whose signature a commit check verified."""
    seen: list[bytes] = []
    real = ctypes.verify

    def spy(key: bytes, msg: bytes, signature: bytes) -> bool:
        seen.append(key)
        return real(key, msg, signature)

    monkeypatch.setattr(ctypes, "verify", spy)
    yield seen


def test_own_commit_repeated_is_not_checked_again(checks: list[bytes]) -> None:
    assert check(OWN) is None
    assert checks == []


def test_a_precommit_we_did_not_have_is_checked(checks: list[bytes]) -> None:
    more = commit([(0, sig(0)), (1, sig(1)), (2, sig(2)), (3, sig(3))])
    assert check(more) is None
    assert checks == [SS[3].public_key]
    forged = commit([(0, sig(0)), (1, sig(1)), (3, BAD)])
    assert check(forged) == "last_commit: bad signature"


def test_another_signature_or_round_is_checked() -> None:
    # same signer, another signature than the one we checked: no pass
    assert check(commit([(0, sig(0)), (1, sig(1)), (2, BAD)])) == "last_commit: bad signature"
    # our pairs do not prove another round
    assert check(commit([(0, sig(0)), (1, sig(1)), (2, sig(2))], r=1)) == (
        "last_commit: bad signature"
    )


def test_known_pairs_still_need_power_members_and_no_duplicates() -> None:
    known = frozenset(OWN.signatures)
    with pytest.raises(InvalidCommit, match="insufficient"):
        Commit(1, 0, PREV, OWN.signatures[:2]).verify(CHAIN, VS, known)
    with pytest.raises(InvalidCommit, match="duplicate"):
        Commit(1, 0, PREV, OWN.signatures + OWN.signatures[:1]).verify(CHAIN, VS, known)
    other = ValidatorSet.from_members(members(signers(6)[4:]))
    with pytest.raises(InvalidCommit, match="unknown signer"):
        OWN.verify(CHAIN, other, known)
