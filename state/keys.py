"""The `s/...` key layout of the state and the encoding of each record kind.

Everything under `s/` is in the state root. Values are canonical msgpack: records are encoded
from `to_state()` maps whose keys are already sorted, which is what msgpack-python produces
canonically, so the hot path skips the generic canonicaliser (tests check equality with
`codec.encode`). Variable-length pool ids are length-prefixed so that no key is a prefix of
another record's key. Heights are 8-byte big-endian so byte order is height order.

| prefix            | key suffix                                  | value                       |
|-------------------|---------------------------------------------|-----------------------------|
| s/a/              | address                                     | Account                     |
| s/p/              | pool id                                     | Pool                        |
| s/m/              | lp(pool) + address                          | Member                      |
| s/c/              | claim id                                    | Claim                       |
| s/o/              | lp(pool) + claimant                         | id of the voting/approved claim |
| s/t/              | be64(closes_at) + claim id                  | true (claims to tally)      |
| s/l/              | lp(pool) + be64(opened_at) + be32(tx index) | claim id (oldest first)     |
| s/S/              | lp(pool) + status code + be64 + be32        | claim id (per-status listing)|
| s/v/              | claim id + voter                            | approve (bool)              |
| s/k/              | operator                                    | Candidate                   |
| s/i/              | consensus key                               | operator                    |
| s/e/              | elector address                             | list of operators           |
| s/V/              | be64(effective height)                      | list of ValidatorInfo       |
| s/d/              | evidence id                                 | height it was counted at    |
| s/g/              | proposal id                                 | Proposal                    |
| s/G/              | be64(closes_at) + proposal id               | true (proposals to tally)   |
| s/E/              | be64(enact_at) + be64(opened_at) + be32     | proposal id (to enact)      |
| s/P/              | lp(scope) + be64(opened_at) + be32(index)   | proposal id (oldest first)  |
| s/n/              | lp(scope)                                   | proposals voting or passed  |
| s/b/              | proposal id + voter                         | choice (str)                |
| s/h/              | be64(height) + lp(pool) + address           | true (member status changes at height) |
| s/C/              | lp(pool)                                    | [waiting, active, lapsed, left] counts |
| s/x/              | address                                     | pools the account is active in |
| s/X               |                                             | accounts active in some pool |
| s/r/              | lp(pool)                                    | reports of the open round: [[reporter, value], ...] |
| s/w/              | lp(pool) + be64(round)                      | Event                       |
| s/u/              | lp(pool) + be64(round) + address            | true (collected)            |
| s/W/              | be64(collect_until) + lp(pool) + be64(round)| true (escrow to return)     |
| s/params          |                                             | ChainParams                 |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

from state import codec
from state.model import (
    CLAIM_STATUS_CODE,
    Account,
    Candidate,
    Claim,
    Event,
    Member,
    Pool,
    Proposal,
    ValidatorInfo,
)
from state.params import ChainParams

ACCOUNT = b"s/a/"
POOL = b"s/p/"
MEMBER = b"s/m/"
CLAIM = b"s/c/"
OPEN_CLAIM = b"s/o/"
TALLY = b"s/t/"
CLAIM_LIST = b"s/l/"
CLAIM_STATUS_LIST = b"s/S/"
VOTE = b"s/v/"
CANDIDATE = b"s/k/"
CONSENSUS_KEY = b"s/i/"
ELECTOR = b"s/e/"
VALIDATORS = b"s/V/"
EVIDENCE = b"s/d/"
PROPOSAL = b"s/g/"
GOV_TALLY = b"s/G/"
GOV_ENACT = b"s/E/"
PROPOSAL_LIST = b"s/P/"
OPEN_PROPOSALS = b"s/n/"
BALLOT = b"s/b/"
MEMBER_DUE = b"s/h/"
MEMBER_COUNTS = b"s/C/"
ACTIVE_POOLS = b"s/x/"
CHAIN_ACTIVE = b"s/X"
REPORTS = b"s/r/"
EVENT = b"s/w/"
COLLECTED = b"s/u/"
EVENT_RETURN = b"s/W/"
PARAMS = b"s/params"


def be64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def from_be64(b: bytes) -> int:
    return int.from_bytes(b, "big")


def lp(pool: str) -> bytes:
    """Length-prefixed pool id (ids are at most 32 bytes; one byte of length suffices)."""
    raw = pool.encode("utf-8")
    assert len(raw) < 256, "pool ids are validated to be short"
    return bytes((len(raw),)) + raw


def account_key(addr: bytes) -> bytes:
    return ACCOUNT + addr


def pool_key(pool: str) -> bytes:
    # surrogatepass: an RPC id with a lone surrogate (possible in JSON) simply finds nothing
    return POOL + pool.encode("utf-8", "surrogatepass")


def member_key(pool: str, addr: bytes) -> bytes:
    return MEMBER + lp(pool) + addr


def member_prefix(pool: str) -> bytes:
    return MEMBER + lp(pool)


def claim_key(claim_id: bytes) -> bytes:
    return CLAIM + claim_id


def open_claim_key(pool: str, claimant: bytes) -> bytes:
    return OPEN_CLAIM + lp(pool) + claimant


def tally_prefix(closes_at: int) -> bytes:
    return TALLY + be64(closes_at)


def tally_key(closes_at: int, claim_id: bytes) -> bytes:
    return TALLY + be64(closes_at) + claim_id


def claim_list_prefix(pool: str) -> bytes:
    return CLAIM_LIST + lp(pool)


def claim_list_key(pool: str, opened_at: int, index: int) -> bytes:
    return CLAIM_LIST + lp(pool) + be64(opened_at) + index.to_bytes(4, "big")


def claim_status_prefix(pool: str, status: str) -> bytes:
    return CLAIM_STATUS_LIST + lp(pool) + bytes((CLAIM_STATUS_CODE[status],))


def claim_status_key(pool: str, status: str, opened_at: int, index: int) -> bytes:
    return claim_status_prefix(pool, status) + be64(opened_at) + index.to_bytes(4, "big")


def vote_key(claim_id: bytes, voter: bytes) -> bytes:
    return VOTE + claim_id + voter


def candidate_key(operator: bytes) -> bytes:
    return CANDIDATE + operator


def consensus_key_key(key: bytes) -> bytes:
    return CONSENSUS_KEY + key


def elector_key(addr: bytes) -> bytes:
    return ELECTOR + addr


def validators_key(height: int) -> bytes:
    return VALIDATORS + be64(height)


def evidence_key(evidence_id: bytes) -> bytes:
    return EVIDENCE + evidence_id


def proposal_key(proposal_id: bytes) -> bytes:
    return PROPOSAL + proposal_id


def gov_tally_prefix(closes_at: int) -> bytes:
    return GOV_TALLY + be64(closes_at)


def gov_tally_key(closes_at: int, proposal_id: bytes) -> bytes:
    return GOV_TALLY + be64(closes_at) + proposal_id


def gov_enact_prefix(enact_at: int) -> bytes:
    return GOV_ENACT + be64(enact_at)


def gov_enact_key(enact_at: int, opened_at: int, index: int) -> bytes:
    """Ordered as section 9's step 1c enacts: opened_at, then position in its block."""
    return GOV_ENACT + be64(enact_at) + be64(opened_at) + index.to_bytes(4, "big")


def proposal_list_prefix(scope: str) -> bytes:
    return PROPOSAL_LIST + lp(scope)


def proposal_list_key(scope: str, opened_at: int, index: int) -> bytes:
    return PROPOSAL_LIST + lp(scope) + be64(opened_at) + index.to_bytes(4, "big")


def open_proposals_key(scope: str) -> bytes:
    return OPEN_PROPOSALS + lp(scope)


def ballot_key(proposal_id: bytes, voter: bytes) -> bytes:
    return BALLOT + proposal_id + voter


def member_due_prefix(height: int) -> bytes:
    return MEMBER_DUE + be64(height)


def member_due_key(height: int, pool: str, addr: bytes) -> bytes:
    return MEMBER_DUE + be64(height) + lp(pool) + addr


def member_counts_key(pool: str) -> bytes:
    return MEMBER_COUNTS + lp(pool)


def active_pools_key(addr: bytes) -> bytes:
    return ACTIVE_POOLS + addr


def reports_key(pool: str) -> bytes:
    """The reports of the pool's open round, in arrival order (at most one per attestor)."""
    return REPORTS + lp(pool)


def event_prefix(pool: str) -> bytes:
    return EVENT + lp(pool)


def event_key(pool: str, round: int) -> bytes:
    return EVENT + lp(pool) + be64(round)


def collected_key(pool: str, round: int, addr: bytes) -> bytes:
    return COLLECTED + lp(pool) + be64(round) + addr


def event_return_prefix(height: int) -> bytes:
    return EVENT_RETURN + be64(height)


def event_return_key(collect_until: int, pool: str, round: int) -> bytes:
    return EVENT_RETURN + be64(collect_until) + lp(pool) + be64(round)


# --- value encoding ----------------------------------------------------------------------

#: msgpack ships no type information: the signatures this module relies on. One Packer
#: for the module: `packb` builds (and frees) a Packer per call, half the cost of a small
#: record's encoding. Sharing it across threads is safe: `pack` runs in C under the GIL,
#: calls no Python code for the plain values packed here, and resets itself after each call
#: (also after an error).
_packer = msgpack.Packer(use_bin_type=True)
_packb: Callable[[Any], bytes] = _packer.pack
#: the bytes that start a msgpack array of n items (to join items packed one by one)
array_header: Callable[[int], bytes] = _packer.pack_array_header
_unpackb = msgpack.unpackb


def pack(value: Any) -> bytes:
    """Canonical msgpack of a value whose maps are already key-sorted (see module doc)."""
    return _packb(value)


def unpack(raw: bytes) -> Any:
    """Decode a value the state itself wrote (trusted: no canonical re-check)."""
    return _unpackb(raw, raw=False)


def _validators_from(raw: Any) -> tuple[ValidatorInfo, ...]:
    return tuple(ValidatorInfo.from_state(d) for d in raw)


def _elector_from(raw: Any) -> tuple[bytes, ...]:
    return tuple(raw)


_DECODERS: dict[bytes, Callable[[Any], Any]] = {
    ACCOUNT: Account.from_state,
    POOL: Pool.from_state,
    MEMBER: Member.from_state,
    CLAIM: Claim.from_state,
    EVENT: Event.from_state,
    PROPOSAL: Proposal.from_state,
    CANDIDATE: Candidate.from_state,
    ELECTOR: _elector_from,
    VALIDATORS: _validators_from,
    PARAMS[:4]: ChainParams.from_state,
}
_MODELS = (Account, Pool, Member, Claim, Candidate, Proposal, Event)


def decode_value(key: bytes, raw: bytes) -> Any:
    """The decoded record stored at `key` (a model for record keys, a plain value for indexes)."""
    value = _unpackb(raw, raw=False)
    dec = _DECODERS.get(key[:4])
    return value if dec is None else dec(value)


def _encode_account(a: Account) -> bytes:
    """pack(a.to_state()) from its parts: the map's keys and bool are fixed bytes, so no dict
    is built and packed for the commonest record (two to three per transaction)."""
    return b"".join(
        (_ACCOUNT_HEAD, _packb(a.balance), _KYC_TRUE if a.kyc else _KYC_FALSE, _packb(a.nonce))
    )


# {"balance": b, "kyc": k, "nonce": n} in msgpack: a 3-entry map, each key a fixstr
_ACCOUNT_HEAD = b"\x83\xa7balance"
_KYC_TRUE = b"\xa3kyc\xc3\xa5nonce"
_KYC_FALSE = b"\xa3kyc\xc2\xa5nonce"


# claim id -> (its voters as last encoded, their packed entries): a vote adds one voter to a
# claim that may hold a thousand, and a block re-encodes every claim it voted on
_VOTERS: dict[bytes, tuple[tuple[tuple[bytes, bool], ...], bytes]] = {}
_VOTERS_MAX = 256  # claims remembered (~45 bytes a voter: the packed entries and the tuple)
_VOTERS_MIN = 64  # below this many voters packing the whole map is as fast (bench: ~50)
_VOTER_HEAD = b"\x92\xc4\x20"  # a voter entry: a 2-array, then bin 8 of 32 bytes
_NO_VOTERS = b"\xa6voters\x90"  # "voters": [] as to_state(voters=False) packs it


def _pack_voters(voters: tuple[tuple[bytes, bool], ...]) -> bytes | None:
    """The packed entries of `voters` (no array header), or None for a voter that is not a
    32-byte address and a bool (then the generic path packs the claim)."""
    parts = []
    for a, approve in voters:
        if type(a) is not bytes or len(a) != 32 or type(approve) is not bool:
            return None
        parts.append(_VOTER_HEAD + a + (b"\xc3" if approve else b"\xc2"))
    return b"".join(parts)


def _encode_claim(c: Claim) -> bytes:
    """pack(c.to_state()) with its voters list packed from the claim's previous encoding
    plus the new voters (O(new voters), not O(voters), per block the claim is voted in).
    The remembered voters are only reused when they are an exact prefix of the claim's
    (checked), so a stale or foreign entry costs a full pack, never a wrong byte."""
    voters = c.voters
    if len(voters) < _VOTERS_MIN:
        return _packb(c.to_state())
    hit = _VOTERS.get(c.id)
    body: bytes | None = None
    if hit is not None:
        seen, packed = hit
        n = len(seen)
        if n <= len(voters) and voters[:n] == seen:
            new = _pack_voters(voters[n:])
            body = None if new is None else packed + new
    if body is None:
        body = _pack_voters(voters)
    head = _packb(c.to_state(voters=False))
    tail = _NO_VOTERS + _packb("votes_against") + _packb(c.votes_against)
    tail += _packb("votes_for") + _packb(c.votes_for)
    if body is None or not head.endswith(tail):
        return _packb(c.to_state())
    if len(_VOTERS) >= _VOTERS_MAX:
        _VOTERS.clear()
    _VOTERS[c.id] = (voters, body)
    cut = len(head) - len(tail)
    return b"".join((head[:cut], b"\xa6voters", array_header(len(voters)), body, tail[8:]))


def encode_value(value: Any) -> bytes:
    """Canonical bytes of a record (model), a validator set (tuple of ValidatorInfo) or a
    plain index value."""
    if type(value) is Account:
        return _encode_account(value)
    if type(value) is Claim:
        return _encode_claim(value)
    if type(value) is ChainParams:
        return codec.encode(value.to_state())  # once per chain: the generic path is fine
    if isinstance(value, _MODELS):
        return _packb(value.to_state())
    if type(value) is tuple and value and type(value[0]) is ValidatorInfo:
        return _packb([v.to_state() for v in value])
    return _packb(value)
