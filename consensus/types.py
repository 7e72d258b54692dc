"""Consensus data types: votes, proposals, blocks, commit certificates and evidence.

Every type has exactly one byte encoding (canonical msgpack of a map) so that hashes and
signatures agree across nodes. ``from_bytes`` is the boundary where peer bytes enter: it
checks every key, type and length and raises only :class:`DecodeError`, so a garbage
message can never reach the algorithm half-parsed (DESIGN.md principle 5).

Signatures are over domain-separated bytes that include the chain id, height, round and
message type, so a signature can never be replayed on another chain, another height or as
another kind of message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from state.codec import MAX_SAFE_INT, DecodeError, decode, encode
from state.crypto import KEY_LEN, SIG_LEN, sha256, verify

if TYPE_CHECKING:
    from collections.abc import Collection

    from consensus.validators import ValidatorSet

PREVOTE = 1
PRECOMMIT = 2
VOTE_TYPES = (PREVOTE, PRECOMMIT)

HASH_LEN = 32
MAX_CHAIN_ID = 50
#: hard decode bounds; a peer cannot make us allocate more than this per message
MAX_TXS_PER_BLOCK = 100_000
MAX_EVIDENCE_PER_BLOCK = 256
MAX_COMMIT_SIGNATURES = 10_000

VOTE_DOMAIN = b"huzhu/vote/v1\x00"
PROPOSAL_DOMAIN = b"huzhu/proposal/v1\x00"

#: the hash standing for "nothing" (block 1 has no last commit, empty lists)
EMPTY_HASH = sha256(b"")


class InvalidCommit(Exception):
    """A commit certificate that does not prove its block; ``reason`` names the failure."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidEvidence(Exception):
    """Evidence that does not prove a double sign; ``reason`` names the failure."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- field checks


def _map(obj: Any, keys: frozenset[str], what: str) -> dict[str, Any]:
    if type(obj) is not dict:
        raise DecodeError(f"{what}: not a map")
    if set(obj) != keys:
        raise DecodeError(f"{what}: wrong keys")
    return obj


def _int(v: Any, what: str, lo: int = 0, hi: int = MAX_SAFE_INT) -> int:
    if type(v) is not int or not lo <= v <= hi:
        raise DecodeError(f"{what}: not an int in [{lo}, {hi}]")
    return v


def _bin(v: Any, what: str, length: int) -> bytes:
    if type(v) is not bytes or len(v) != length:
        raise DecodeError(f"{what}: not {length} bytes")
    return v


def _list(v: Any, what: str, max_len: int) -> list[Any]:
    if type(v) is not list or len(v) > max_len:
        raise DecodeError(f"{what}: not a list of at most {max_len}")
    return v


def _decode_top(data: bytes) -> Any:
    if type(data) is not bytes:
        raise DecodeError("not bytes")
    return decode(data)


# --------------------------------------------------------------------------- votes


@dataclass(frozen=True, slots=True)
class Vote:
    """A prevote or precommit; ``block_id`` None is a vote for nil."""

    type: int
    height: int
    round: int
    block_id: bytes | None
    validator: bytes
    signature: bytes

    @staticmethod
    def sign_bytes_for(
        chain_id: str, type: int, height: int, round: int, block_id: bytes | None
    ) -> bytes:
        return VOTE_DOMAIN + encode(
            {
                "chain_id": chain_id,
                "type": type,
                "height": height,
                "round": round,
                "block_id": block_id,
            }
        )

    def sign_bytes(self, chain_id: str) -> bytes:
        return Vote.sign_bytes_for(chain_id, self.type, self.height, self.round, self.block_id)

    def verify_signature(self, chain_id: str) -> bool:
        return verify(self.validator, self.sign_bytes(chain_id), self.signature)

    def to_obj(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "height": self.height,
            "round": self.round,
            "block_id": self.block_id,
            "validator": self.validator,
            "signature": self.signature,
        }

    _KEYS = frozenset({"type", "height", "round", "block_id", "validator", "signature"})

    @classmethod
    def from_obj(cls, obj: Any) -> Vote:
        m = _map(obj, cls._KEYS, "vote")
        t = _int(m["type"], "vote.type", PREVOTE, PRECOMMIT)
        bid = m["block_id"]
        if bid is not None:
            bid = _bin(bid, "vote.block_id", HASH_LEN)
        return cls(
            type=t,
            height=_int(m["height"], "vote.height", 1),
            round=_int(m["round"], "vote.round"),
            block_id=bid,
            validator=_bin(m["validator"], "vote.validator", KEY_LEN),
            signature=_bin(m["signature"], "vote.signature", SIG_LEN),
        )

    def to_bytes(self) -> bytes:
        return encode(self.to_obj())

    @classmethod
    def from_bytes(cls, data: bytes) -> Vote:
        return cls.from_obj(_decode_top(data))


# --------------------------------------------------------------------------- commits


@dataclass(frozen=True, slots=True)
class Commit:
    """The precommits (2f+1 of the voting power) that committed ``block_id`` at ``height``.

    Only (validator, signature) pairs are kept: every signature is over the same precommit
    sign bytes, rebuilt from (chain_id, height, round, block_id) when verifying.
    """

    height: int
    round: int
    block_id: bytes
    signatures: tuple[tuple[bytes, bytes], ...]

    def hash(self) -> bytes:
        return sha256(self.to_bytes())

    def verify(
        self,
        chain_id: str,
        validator_set: ValidatorSet,
        verified: Collection[tuple[bytes, bytes]] = (),
    ) -> None:
        """Raise InvalidCommit unless strictly more than 2/3 of the set's power signed.

        `verified`: (key, signature) pairs already checked over these same sign bytes (the
        node's own commit of this height and round); their signature check is skipped, the
        membership, duplicate and power checks are not."""
        sign_bytes = Vote.sign_bytes_for(
            chain_id, PRECOMMIT, self.height, self.round, self.block_id
        )
        seen: set[bytes] = set()
        power = 0
        for key, sig in self.signatures:
            val = validator_set.get(key)
            if val is None:
                raise InvalidCommit("wrong validator set: unknown signer")
            if key in seen:
                raise InvalidCommit("duplicate signer")
            seen.add(key)
            if (key, sig) not in verified and not verify(key, sign_bytes, sig):
                raise InvalidCommit("bad signature")
            power += val.power
        if power * 3 <= validator_set.total_power * 2:
            raise InvalidCommit("insufficient voting power")

    def votes(self) -> list[Vote]:
        """The precommits this certificate stands for (e.g. to seed a vote set)."""
        return [
            Vote(PRECOMMIT, self.height, self.round, self.block_id, k, s)
            for k, s in self.signatures
        ]

    def to_obj(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "round": self.round,
            "block_id": self.block_id,
            "signatures": [[k, s] for k, s in self.signatures],
        }

    _KEYS = frozenset({"height", "round", "block_id", "signatures"})

    @classmethod
    def from_obj(cls, obj: Any) -> Commit:
        m = _map(obj, cls._KEYS, "commit")
        sigs = []
        for pair in _list(m["signatures"], "commit.signatures", MAX_COMMIT_SIGNATURES):
            if type(pair) is not list or len(pair) != 2:
                raise DecodeError("commit.signatures: not a [key, signature] pair")
            sigs.append(
                (
                    _bin(pair[0], "commit.signatures.key", KEY_LEN),
                    _bin(pair[1], "commit.signatures.signature", SIG_LEN),
                )
            )
        return cls(
            height=_int(m["height"], "commit.height", 1),
            round=_int(m["round"], "commit.round"),
            block_id=_bin(m["block_id"], "commit.block_id", HASH_LEN),
            signatures=tuple(sigs),
        )

    def to_bytes(self) -> bytes:
        return encode(self.to_obj())

    @classmethod
    def from_bytes(cls, data: bytes) -> Commit:
        return cls.from_obj(_decode_top(data))


def commit_hash(commit: Commit | None) -> bytes:
    """What a header's last_commit_hash must be (EMPTY_HASH for block 1)."""
    return EMPTY_HASH if commit is None else commit.hash()


# --------------------------------------------------------------------------- evidence


@dataclass(frozen=True, slots=True)
class DuplicateVoteEvidence:
    """Two votes of one validator for one (height, round, type) with different block ids."""

    vote_a: Vote
    vote_b: Vote

    @classmethod
    def of(cls, a: Vote, b: Vote) -> DuplicateVoteEvidence:
        """Build with the two votes in canonical (byte) order, so equal evidence is equal."""
        return cls(a, b) if a.to_bytes() <= b.to_bytes() else cls(b, a)

    @property
    def id(self) -> bytes:
        """Order-independent identity: the same double sign is counted once however sent."""
        pair = sorted([self.vote_a.to_bytes(), self.vote_b.to_bytes()])
        return sha256(encode(pair))

    @property
    def validator(self) -> bytes:
        return self.vote_a.validator

    @property
    def height(self) -> int:
        return self.vote_a.height

    @property
    def round(self) -> int:
        return self.vote_a.round

    @property
    def vote_type(self) -> int:
        return self.vote_a.type

    def verify(self, chain_id: str, validator_set: ValidatorSet) -> None:
        """Raise InvalidEvidence unless this proves a double sign by a member of the set."""
        a, b = self.vote_a, self.vote_b
        if a.validator != b.validator:
            raise InvalidEvidence("different validators")
        if (a.height, a.round, a.type) != (b.height, b.round, b.type):
            raise InvalidEvidence("different height, round or type")
        if a.block_id == b.block_id:
            raise InvalidEvidence("same block id")
        if validator_set.get(a.validator) is None:
            raise InvalidEvidence("unknown validator")
        if not a.verify_signature(chain_id) or not b.verify_signature(chain_id):
            raise InvalidEvidence("bad signature")

    def to_obj(self) -> dict[str, Any]:
        return {"vote_a": self.vote_a.to_obj(), "vote_b": self.vote_b.to_obj()}

    _KEYS = frozenset({"vote_a", "vote_b"})

    @classmethod
    def from_obj(cls, obj: Any) -> DuplicateVoteEvidence:
        m = _map(obj, cls._KEYS, "evidence")
        return cls(Vote.from_obj(m["vote_a"]), Vote.from_obj(m["vote_b"]))

    def to_bytes(self) -> bytes:
        return encode(self.to_obj())

    @classmethod
    def from_bytes(cls, data: bytes) -> DuplicateVoteEvidence:
        return cls.from_obj(_decode_top(data))


def evidence_hash(
    evidence: list[DuplicateVoteEvidence] | tuple[DuplicateVoteEvidence, ...],
) -> bytes:
    return sha256(encode([ev.id for ev in evidence]))


def tx_root(txs: list[bytes] | tuple[bytes, ...]) -> bytes:
    """Hash over the tx hashes: binds the block to its transactions in order."""
    return sha256(encode([sha256(tx) for tx in txs]))


# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True, slots=True)
class BlockHeader:
    chain_id: str
    height: int
    time_ms: int
    prev_hash: bytes
    proposer: bytes
    tx_root: bytes
    state_root: bytes  # the state root AFTER executing this block's transactions
    last_commit_hash: bytes
    evidence_hash: bytes
    validators_hash: bytes

    def to_obj(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "height": self.height,
            "time_ms": self.time_ms,
            "prev_hash": self.prev_hash,
            "proposer": self.proposer,
            "tx_root": self.tx_root,
            "state_root": self.state_root,
            "last_commit_hash": self.last_commit_hash,
            "evidence_hash": self.evidence_hash,
            "validators_hash": self.validators_hash,
        }

    _KEYS = frozenset(
        {
            "chain_id",
            "height",
            "time_ms",
            "prev_hash",
            "proposer",
            "tx_root",
            "state_root",
            "last_commit_hash",
            "evidence_hash",
            "validators_hash",
        }
    )

    @classmethod
    def from_obj(cls, obj: Any) -> BlockHeader:
        m = _map(obj, cls._KEYS, "header")
        cid = m["chain_id"]
        if type(cid) is not str or not 1 <= len(cid) <= MAX_CHAIN_ID:
            raise DecodeError("header.chain_id: not a chain id")
        return cls(
            chain_id=cid,
            height=_int(m["height"], "header.height", 1),
            time_ms=_int(m["time_ms"], "header.time_ms"),
            prev_hash=_bin(m["prev_hash"], "header.prev_hash", HASH_LEN),
            proposer=_bin(m["proposer"], "header.proposer", KEY_LEN),
            tx_root=_bin(m["tx_root"], "header.tx_root", HASH_LEN),
            state_root=_bin(m["state_root"], "header.state_root", HASH_LEN),
            last_commit_hash=_bin(m["last_commit_hash"], "header.last_commit_hash", HASH_LEN),
            evidence_hash=_bin(m["evidence_hash"], "header.evidence_hash", HASH_LEN),
            validators_hash=_bin(m["validators_hash"], "header.validators_hash", HASH_LEN),
        )

    def hash(self) -> bytes:
        return sha256(encode(self.to_obj()))


@dataclass(frozen=True, slots=True)
class Block:
    header: BlockHeader
    txs: tuple[bytes, ...]
    last_commit: Commit | None
    evidence: tuple[DuplicateVoteEvidence, ...] = ()
    _hash: bytes = field(default=b"", compare=False, repr=False)
    #: check_roots' answer once computed (the block is immutable): "" = not yet
    _roots: str | None = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "txs", tuple(self.txs))
        object.__setattr__(self, "evidence", tuple(self.evidence))
        object.__setattr__(self, "_hash", self.header.hash())
        object.__setattr__(self, "_roots", "")

    @property
    def hash(self) -> bytes:
        """sha256 of the canonical header; the header commits to txs, commit and evidence."""
        return self._hash

    @property
    def height(self) -> int:
        return self.header.height

    def check_roots(self) -> str | None:
        """The reason the body does not match the header's roots, or None when it does.

        Computed once per block object: the core asks on every vote (each validity check
        starts with it), and hashing a 1,000-tx body and a 21-signature commit ~40 times a
        height was a large share of a 21-validator node's CPU."""
        if self._roots == "":
            object.__setattr__(self, "_roots", self._check_roots())
        return self._roots

    def _check_roots(self) -> str | None:
        h = self.header
        if h.tx_root != tx_root(self.txs):
            return "tx_root mismatch"
        if h.evidence_hash != evidence_hash(self.evidence):
            return "evidence_hash mismatch"
        if h.last_commit_hash != commit_hash(self.last_commit):
            return "last_commit_hash mismatch"
        return None

    def to_obj(self) -> dict[str, Any]:
        return {
            "header": self.header.to_obj(),
            "txs": list(self.txs),
            "last_commit": None if self.last_commit is None else self.last_commit.to_obj(),
            "evidence": [ev.to_obj() for ev in self.evidence],
        }

    _KEYS = frozenset({"header", "txs", "last_commit", "evidence"})

    @classmethod
    def from_obj(cls, obj: Any) -> Block:
        m = _map(obj, cls._KEYS, "block")
        txs = _list(m["txs"], "block.txs", MAX_TXS_PER_BLOCK)
        for tx in txs:
            if type(tx) is not bytes or not tx:
                raise DecodeError("block.txs: not a list of non-empty bin")
        lc = m["last_commit"]
        evs = _list(m["evidence"], "block.evidence", MAX_EVIDENCE_PER_BLOCK)
        return cls(
            header=BlockHeader.from_obj(m["header"]),
            txs=tuple(txs),
            last_commit=None if lc is None else Commit.from_obj(lc),
            evidence=tuple(DuplicateVoteEvidence.from_obj(e) for e in evs),
        )

    def to_bytes(self) -> bytes:
        return encode(self.to_obj())

    @classmethod
    def from_bytes(cls, data: bytes) -> Block:
        return cls.from_obj(_decode_top(data))


# --------------------------------------------------------------------------- proposals


@dataclass(frozen=True, slots=True)
class Proposal:
    """The round's proposer offering ``block``; ``pol_round`` is its validRound (-1: none).

    The signer is not carried: it must be the proposer of (height, round), which the
    receiver computes from its validator set and verifies against.
    """

    height: int
    round: int
    pol_round: int
    block: Block
    signature: bytes

    @staticmethod
    def sign_bytes_for(
        chain_id: str, height: int, round: int, pol_round: int, block_id: bytes
    ) -> bytes:
        return PROPOSAL_DOMAIN + encode(
            {
                "chain_id": chain_id,
                "type": "proposal",
                "height": height,
                "round": round,
                "pol_round": pol_round,
                "block_id": block_id,
            }
        )

    def sign_bytes(self, chain_id: str) -> bytes:
        return Proposal.sign_bytes_for(
            chain_id, self.height, self.round, self.pol_round, self.block.hash
        )

    def verify_signature(self, chain_id: str, proposer: bytes) -> bool:
        return verify(proposer, self.sign_bytes(chain_id), self.signature)

    def to_obj(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "round": self.round,
            "pol_round": self.pol_round,
            "block": self.block.to_obj(),
            "signature": self.signature,
        }

    _KEYS = frozenset({"height", "round", "pol_round", "block", "signature"})

    @classmethod
    def from_obj(cls, obj: Any) -> Proposal:
        m = _map(obj, cls._KEYS, "proposal")
        rnd = _int(m["round"], "proposal.round")
        return cls(
            height=_int(m["height"], "proposal.height", 1),
            round=rnd,
            pol_round=_int(m["pol_round"], "proposal.pol_round", -1, rnd - 1),
            block=Block.from_obj(m["block"]),
            signature=_bin(m["signature"], "proposal.signature", SIG_LEN),
        )

    def to_bytes(self) -> bytes:
        return encode(self.to_obj())

    @classmethod
    def from_bytes(cls, data: bytes) -> Proposal:
        return cls.from_obj(_decode_top(data))
