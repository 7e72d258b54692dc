"""The wire envelope: every kind round-trips, and anything else is a DecodeError."""

from __future__ import annotations

import pytest
from cons_helpers import CHAIN, signers

from consensus.messages import (
    BLOCKSYNC,
    CONSENSUS,
    EVIDENCE,
    MAX_MESSAGE_BYTES,
    TXS,
    BlockRequest,
    BlockResponse,
    EvidenceMsg,
    NoBlock,
    ProposalMsg,
    StatusMsg,
    VoteMsg,
    channel_of,
    decode_message,
    encode_message,
)
from consensus.types import (
    PREVOTE,
    Block,
    BlockHeader,
    Commit,
    DuplicateVoteEvidence,
    Proposal,
    Vote,
)
from state.codec import DecodeError, encode
from state.crypto import sha256

S = signers(1)[0]
H = sha256(b"h")


def vote(bid: bytes | None) -> Vote:
    return Vote(
        PREVOTE, 3, 0, bid, S.public_key, S.sign(Vote.sign_bytes_for(CHAIN, PREVOTE, 3, 0, bid))
    )


BLOCK = Block(BlockHeader(CHAIN, 3, 10, H, S.public_key, H, H, H, H, H), (b"tx",), None, ())
COMMIT = Commit(3, 0, BLOCK.hash, ((S.public_key, b"\x00" * 64),))
MESSAGES = [
    ProposalMsg(Proposal(3, 1, 0, BLOCK, b"\x01" * 64)),
    VoteMsg(vote(H)),
    EvidenceMsg(DuplicateVoteEvidence.of(vote(H), vote(None))),
    StatusMsg(CHAIN, 0),
    BlockRequest(3),
    BlockRequest(3, H),
    BlockResponse(BLOCK, COMMIT),
    NoBlock(3),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip_on_its_channel_only(msg) -> None:  # noqa: ANN001
    wire = encode_message(msg)
    ch = channel_of(msg)
    assert decode_message(ch, wire) == msg
    for other in (CONSENSUS, TXS, EVIDENCE, BLOCKSYNC, 0):
        if other != ch:
            with pytest.raises(DecodeError):
                decode_message(other, wire)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x00",
        encode([1]),
        encode({"k": "vote"}),
        encode({"k": 1, "v": None}),
        encode({"k": "status", "v": {"chain_id": "", "height": 1}}),
        encode({"k": "status", "v": {"chain_id": CHAIN, "height": -1}}),
        encode({"k": "status", "v": {"chain_id": CHAIN, "height": True}}),
        encode({"k": "get_block", "v": {"height": 0, "block_id": None}}),
        encode({"k": "get_block", "v": {"height": 1, "block_id": b"x"}}),
        encode({"k": "no_block", "v": {"height": 1, "x": 1}}),
        encode_message(StatusMsg(CHAIN, 1)) + b"\x00",
    ],
)
def test_malformed_payloads_raise_decode_error(payload: bytes) -> None:
    for ch in (CONSENSUS, EVIDENCE, BLOCKSYNC):
        with pytest.raises(DecodeError):
            decode_message(ch, payload)


def test_oversized_payload_refused_before_decoding() -> None:
    with pytest.raises(DecodeError, match="too large"):
        decode_message(BLOCKSYNC, b"\x00" * (MAX_MESSAGE_BYTES + 1))
