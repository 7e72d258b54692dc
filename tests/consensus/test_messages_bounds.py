"""A peer's message is refused on its size and kind before any of it is decoded."""

from __future__ import annotations

import pytest
from cons_helpers import signers

import consensus.messages as messages
from consensus.messages import (
    BLOCKSYNC,
    CONSENSUS,
    EVIDENCE,
    KIND_MAX_BYTES,
    BlockRequest,
    EvidenceMsg,
    NoBlock,
    StatusMsg,
    VoteMsg,
    decode_message,
    encode_message,
)
from consensus.types import PRECOMMIT, PREVOTE, DuplicateVoteEvidence, Vote
from state.codec import MAX_SAFE_INT, DecodeError, encode
from state.crypto import sha256

S = signers(1)[0]


def _vote(t: int = PREVOTE, bid: bytes | None = None) -> Vote:
    bid = bid if bid is not None else sha256(b"b")
    raw = Vote(t, MAX_SAFE_INT, MAX_SAFE_INT, bid, S.public_key, bytes(64))
    return Vote(t, raw.height, raw.round, bid, S.public_key, S.sign(raw.sign_bytes("c" * 50)))


def _padded(kind: str, size: int) -> bytes:
    """A well-formed envelope of `kind` whose body is a bin padded to exactly `size` bytes."""
    base = len(encode({"k": kind, "v": b""}))
    for pad in range(max(0, size - base - 5), size):
        data = encode({"k": kind, "v": bytes(pad)})
        if len(data) == size:
            return data
    raise AssertionError(f"cannot pad {kind} to {size}")


@pytest.mark.parametrize(
    ("channel", "kind"),
    [
        (CONSENSUS, "vote"),
        (EVIDENCE, "evidence"),
        (BLOCKSYNC, "status"),
        (BLOCKSYNC, "get_block"),
        (BLOCKSYNC, "no_block"),
    ],
)
def test_small_kinds_refused_over_their_bound_without_decoding(
    monkeypatch: pytest.MonkeyPatch, channel: int, kind: str
) -> None:
    limit = KIND_MAX_BYTES[kind]
    calls: list[int] = []
    real = messages.decode

    def spy(data: bytes) -> object:
        calls.append(len(data))
        return real(data)

    monkeypatch.setattr(messages, "decode", spy)
    with pytest.raises(DecodeError, match="too large"):
        decode_message(channel, _padded(kind, limit + 1))
    assert calls == []  # refused on the first bytes: nothing was built
    with pytest.raises(DecodeError) as err:  # at the bound it is decoded (and is a bad body)
        decode_message(channel, _padded(kind, limit))
    assert "too large" not in str(err.value) and calls == [limit]


def test_wrong_channel_and_bad_envelope_refused_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(data: bytes) -> object:
        raise AssertionError("decoded")

    big = encode({"k": "block", "v": bytes(1 << 20)})
    monkeypatch.setattr(messages, "decode", boom)
    with pytest.raises(DecodeError, match="not allowed on channel"):
        decode_message(CONSENSUS, big)  # a block only travels on block sync
    for junk in (b"", b"\x82", b"\x81\xa1k\xa4vote", b"\x82\xa1v\x01\xa1k\xa4vote", bytes(1000)):
        with pytest.raises(DecodeError, match="bad envelope"):
            decode_message(CONSENSUS, junk)


def test_largest_honest_small_messages_fit_their_bounds() -> None:
    # The bounds must never refuse an honest message: the largest of each kind decodes.
    largest = [
        (CONSENSUS, VoteMsg(_vote(PRECOMMIT))),
        (EVIDENCE, EvidenceMsg(DuplicateVoteEvidence(_vote(), _vote(bid=sha256(b"c"))))),
        (BLOCKSYNC, StatusMsg("c" * 50, MAX_SAFE_INT)),
        (BLOCKSYNC, BlockRequest(MAX_SAFE_INT, sha256(b"x"))),
        (BLOCKSYNC, NoBlock(MAX_SAFE_INT)),
    ]
    for channel, msg in largest:
        data = encode_message(msg)
        assert decode_message(channel, data) == msg
