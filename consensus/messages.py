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


def decode_message(channel: int, payload: bytes) -> Message:
    """Strictly decode a payload received on `channel`; DecodeError on anything else."""
    if type(payload) is not bytes:
        raise DecodeError("payload is not bytes")
    if len(payload) > MAX_MESSAGE_BYTES:
        raise DecodeError("message too large")
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
