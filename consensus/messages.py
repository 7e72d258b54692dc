"""Channels and the wire envelope of every consensus, evidence and block-sync message.

Envelope: canonical msgpack ``{"k": kind, "v": body}``. Each kind belongs to exactly one
channel; :func:`decode_message` refuses a kind on the wrong channel, unknown kinds and any
malformed body with :class:`DecodeError`, so the replica turns every bad byte from a peer
into a penalty instead of an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from state.codec import (
    CH_BLOCKSYNC,
    CH_CONSENSUS,
    CH_EVIDENCE,
    CH_TX,
    MAX_SAFE_INT,
    DecodeError,
    decode,
    encode,
)

from .types import HASH_LEN, MAX_CHAIN_ID, Block, Commit, DuplicateVoteEvidence, Proposal, Vote

# The channel numbers live in state.codec (p2p needs them too and may not import consensus);
# these are the names this package and its users know them by.
CONSENSUS = CH_CONSENSUS
TXS = CH_TX  # the node's transaction gossip; not decoded here
EVIDENCE = CH_EVIDENCE
BLOCKSYNC = CH_BLOCKSYNC

#: the largest payload a replica decodes (a full block plus its commit fits)
MAX_MESSAGE_BYTES = 32 * 1024 * 1024

#: Largest encoding of each kind that is not a block. The largest honest one is well below
#: (a vote is about 200 bytes, evidence two votes, status a 50-character chain id); checked
#: on the payload's length before a byte is decoded, so a peer cannot make us build
#: megabytes of Python objects only to find the shape wrong. Proposals and blocks are
#: bounded by MAX_MESSAGE_BYTES (and the P2P frame) and by consensus.types' list bounds.
KIND_MAX_BYTES: dict[str, int] = {
    "vote": 512,
    "evidence": 1024,
    "status": 256,
    "get_block": 256,
    "no_block": 256,
    "proposal": MAX_MESSAGE_BYTES,
    "block": MAX_MESSAGE_BYTES,
}
#: what block_bytes counts for the header and for each piece of evidence (upper bounds of
#: their encodings, so the estimate never undercounts)
HEADER_BYTES = 1024
EVIDENCE_BYTES = 1024


def block_bytes(block: Block) -> int:
    """An upper estimate of what a block holds in memory, without encoding it: the bound
    on blocks kept for future rounds (ConsensusParams.max_future_block_bytes) counts this."""
    return HEADER_BYTES + sum(map(len, block.txs)) + EVIDENCE_BYTES * len(block.evidence)


# Canonical encoding of the envelope starts with a 2-entry fixmap, the key "k" and the kind
# as a fixstr (keys sort "k" < "v"; the strict decoder refuses any longer form).
_ENVELOPE_HEAD = b"\x82\xa1k"


@dataclass(frozen=True, slots=True)
class ProposalMsg:
    proposal: Proposal


@dataclass(frozen=True, slots=True)
class VoteMsg:
    vote: Vote


@dataclass(frozen=True, slots=True)
class EvidenceMsg:
    evidence: DuplicateVoteEvidence


@dataclass(frozen=True, slots=True)
class StatusMsg:
    """A peer's chain and last committed height (block-sync discovery)."""

    chain_id: str
    height: int


@dataclass(frozen=True, slots=True)
class BlockRequest:
    """Ask for the block at `height` (with its commit). With `block_id`, a block not yet
    committed by the peer may be answered by the proposal that carried it."""

    height: int
    block_id: bytes | None = None


@dataclass(frozen=True, slots=True)
class BlockResponse:
    block: Block
    commit: Commit


@dataclass(frozen=True, slots=True)
class NoBlock:
    height: int


Message = ProposalMsg | VoteMsg | EvidenceMsg | StatusMsg | BlockRequest | BlockResponse | NoBlock

_CHANNEL = {
    "proposal": CONSENSUS,
    "vote": CONSENSUS,
    "evidence": EVIDENCE,
    "status": BLOCKSYNC,
    "get_block": BLOCKSYNC,
    "block": BLOCKSYNC,
    "no_block": BLOCKSYNC,
}


def channel_of(msg: Message) -> int:
    return _CHANNEL[_kind_body(msg)[0]]


def _kind_body(msg: Message) -> tuple[str, Any]:
    if isinstance(msg, ProposalMsg):
        return "proposal", msg.proposal.to_obj()
    if isinstance(msg, VoteMsg):
        return "vote", msg.vote.to_obj()
    if isinstance(msg, EvidenceMsg):
        return "evidence", msg.evidence.to_obj()
    if isinstance(msg, StatusMsg):
        return "status", {"chain_id": msg.chain_id, "height": msg.height}
    if isinstance(msg, BlockRequest):
        return "get_block", {"height": msg.height, "block_id": msg.block_id}
    if isinstance(msg, BlockResponse):
        return "block", {"block": msg.block.to_obj(), "commit": msg.commit.to_obj()}
    if isinstance(msg, NoBlock):
        return "no_block", {"height": msg.height}
    raise TypeError(f"not a message: {type(msg).__name__}")


def encode_message(msg: Message) -> bytes:
    kind, body = _kind_body(msg)
    return encode({"k": kind, "v": body})


def _height(v: Any, what: str, lo: int = 1) -> int:
    if type(v) is not int or not lo <= v <= MAX_SAFE_INT:
        raise DecodeError(f"{what}: bad height")
    return v


def _body(v: Any, keys: set[str], what: str) -> dict[str, Any]:
    if type(v) is not dict or set(v) != keys:
        raise DecodeError(f"{what}: wrong keys")
    return v


def peek_kind(payload: bytes) -> str:
    """The envelope's kind from its first bytes, without decoding the body.

    Exact, not a guess: every payload the strict decoder accepts as an envelope starts this
    way, so refusing one that does not loses nothing."""
    n = len(_ENVELOPE_HEAD)
    if len(payload) < n + 1 or payload[:n] != _ENVELOPE_HEAD or payload[n] & 0xE0 != 0xA0:
        raise DecodeError("bad envelope")
    size = payload[n] & 0x1F
    try:
        return payload[n + 1 : n + 1 + size].decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("bad envelope") from None


def decode_message(channel: int, payload: bytes) -> Message:
    """Strictly decode a payload received on `channel`; DecodeError on anything else.

    Kind, channel and the kind's size bound are checked on the raw bytes first."""
    if type(payload) is not bytes:
        raise DecodeError("payload is not bytes")
    if len(payload) > MAX_MESSAGE_BYTES:
        raise DecodeError("message too large")
    peeked = peek_kind(payload)
    if _CHANNEL.get(peeked) != channel:
        raise DecodeError(f"kind {peeked[:16]!r} not allowed on channel {channel}")
    if len(payload) > KIND_MAX_BYTES[peeked]:
        raise DecodeError(f"{peeked} message too large ({len(payload)} bytes)")
    env = decode(payload)
    if type(env) is not dict or set(env) != {"k", "v"} or type(env["k"]) is not str:
        raise DecodeError("bad envelope")
    kind, body = env["k"], env["v"]
    if _CHANNEL.get(kind) != channel:
        raise DecodeError(f"kind {kind!r} not allowed on channel {channel}")
    if kind == "proposal":
        return ProposalMsg(Proposal.from_obj(body))
    if kind == "vote":
        return VoteMsg(Vote.from_obj(body))
    if kind == "evidence":
        return EvidenceMsg(DuplicateVoteEvidence.from_obj(body))
    if kind == "status":
        b = _body(body, {"chain_id", "height"}, "status")
        cid = b["chain_id"]
        if type(cid) is not str or not 1 <= len(cid) <= MAX_CHAIN_ID:
            raise DecodeError("status: bad chain id")
        return StatusMsg(cid, _height(b["height"], "status", 0))
    if kind == "get_block":
        b = _body(body, {"height", "block_id"}, "get_block")
        bid = b["block_id"]
        if bid is not None and (type(bid) is not bytes or len(bid) != HASH_LEN):
            raise DecodeError("get_block: bad block id")
        return BlockRequest(_height(b["height"], "get_block"), bid)
    if kind == "block":
        b = _body(body, {"block", "commit"}, "block")
        return BlockResponse(Block.from_obj(b["block"]), Commit.from_obj(b["commit"]))
    b = _body(body, {"height"}, "no_block")
    return NoBlock(_height(b["height"], "no_block"))
