"""The light-client verifier of PROTOCOL.md section 11: pure checks of what a node answers.

Why a module of its own: the client library and ``huzhu query --prove`` must refuse exactly
the same answers, and a verifier that does no I/O, reads no clock and draws no randomness can
be run over recorded answers (tests/vectors/) by anyone. It imports only ``state`` and
``consensus`` primitives (tests/test_layering.py pins that); the caller fetches, this module
judges. Every refusal is one exception type, :class:`VerifyError`, whose message starts with
the name of the failed check (``proof:``, ``header:``, ``commit:``, ``validators:``,
``answer:``, ``anchor:``).

The algorithm, with the byte layouts, is docs/protocol.md section 11; in short:

* a read at height H is accepted when the proof of the key *computed here from the query*
  leads to the state_root of the header of H, the header's validators_hash is the hash of
  the set believed for H, and precommits of that set with more than 2/3 of its power sign
  the header's hash (and the answer's fields equal the proven record's);
* the set believed for H comes from the trust anchor (the genesis validators at height 1,
  or the set whose hash a trusted block's header carries) followed through every set
  change e (the record ``s/V/be64(e)``, written by block e - 2) in order: each change is
  proven under the header at max(e - 1, anchor height), the last block the previous set
  signs, which that set must have signed. A node that hides a change is caught because a
  header checked later (the next change's e' - 1 >= the hidden one, or H) then carries the
  hash of a set other than the believed one. (Proving under e - 2, the deciding block, would
  let a change followed at once by another, e and e + 1, go unseen: no header in [e, e + 1)
  would ever be checked.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from consensus.types import PRECOMMIT, BlockHeader, Vote
from state import keys as K
from state.codec import DecodeError, encode
from state.crypto import KEY_LEN, SIG_LEN, sha256, verify
from state.model import EMPTY_ACCOUNT
from state.tree import HASH_LEN, MAX_DEPTH, Proof, verify_proof

#: a commit carrying more signatures than this is refused before any is checked
MAX_SIGNATURES = 10_000

#: (consensus_key, power) pairs sorted by key: what a header's validators_hash commits to
ValidatorKeys = tuple[tuple[bytes, int], ...]


class VerifyError(Exception):
    """An answer that does not verify; the message names the failed check."""


def _fail(msg: str) -> VerifyError:
    return VerifyError(msg)


# --------------------------------------------------------------------------- JSON readers


def _hex(v: Any, what: str, length: int | None = None) -> bytes:
    if not isinstance(v, str) or len(v) % 2:
        raise _fail(f"{what}: not hex")
    try:
        b = bytes.fromhex(v)
    except ValueError:
        raise _fail(f"{what}: not hex") from None
    if length is not None and len(b) != length:
        raise _fail(f"{what}: not {length} bytes")
    return b


def _int(v: Any, what: str) -> int:
    if type(v) is not int or v < 0:
        raise _fail(f"{what}: not an integer >= 0")
    return v


def _obj(v: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(v, dict):
        raise _fail(f"{what}: missing or not an object")
    return v


def header_from_json(d: Any) -> BlockHeader:
    """The header of an answer's ``header`` object (its ``hash``, if given, is ignored)."""
    m = _obj(d, "header")
    cid = m.get("chain_id")
    if not isinstance(cid, str):
        raise _fail("header: chain_id is not a string")
    return BlockHeader(
        chain_id=cid,
        height=_int(m.get("height"), "header: height"),
        time_ms=_int(m.get("time_ms"), "header: time_ms"),
        prev_hash=_hex(m.get("prev_hash"), "header: prev_hash", HASH_LEN),
        proposer=_hex(m.get("proposer"), "header: proposer", KEY_LEN),
        tx_root=_hex(m.get("tx_root"), "header: tx_root", HASH_LEN),
        state_root=_hex(m.get("state_root"), "header: state_root", HASH_LEN),
        last_commit_hash=_hex(m.get("last_commit_hash"), "header: last_commit_hash", HASH_LEN),
        evidence_hash=_hex(m.get("evidence_hash"), "header: evidence_hash", HASH_LEN),
        validators_hash=_hex(m.get("validators_hash"), "header: validators_hash", HASH_LEN),
    )


def header_to_json(h: BlockHeader) -> dict[str, Any]:
    """The JSON form of a header (every field; bins as hex) plus its ``hash``."""
    out = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in h.to_obj().items()}
    out["hash"] = h.hash().hex()
    return out


def proof_to_json(key: bytes, value: bytes | None, proof: Proof) -> dict[str, Any]:
    """The ``proof`` object of an answer: the stored key and value and the tree path."""
    return {
        "key": key.hex(),
        "value": None if value is None else value.hex(),
        "leaf": None if proof.leaf is None else [proof.leaf[0].hex(), proof.leaf[1].hex()],
        "siblings": [[s.hex() for s in level] for level in proof.siblings],
    }


def commit_to_json(height: int, round: int, block_id: bytes, sigs: Sequence[Any]) -> dict[str, Any]:
    """The ``commit`` object of an answer (``sigs``: (consensus key, signature) pairs)."""
    return {
        "height": height,
        "round": round,
        "block_id": block_id.hex(),
        "signatures": [{"validator": k.hex(), "signature": s.hex()} for k, s in sigs],
    }


# --------------------------------------------------------------------------- validator sets


def validators_hash(vs: ValidatorKeys) -> bytes:
    """What a header's validators_hash is for this set (consensus/validators.py ``hash``)."""
    return sha256(encode([[k, p] for k, p in sorted(vs)]))


def validator_keys(rows: Any, what: str) -> ValidatorKeys:
    """(consensus_key, power) of the JSON list a ``validators`` answer carries."""
    if not isinstance(rows, list) or not rows:
        raise _fail(f"{what}: not a non-empty list")
    out: dict[bytes, int] = {}
    for r in rows:
        row = _obj(r, what)
        key = _hex(row.get("consensus_key"), f"{what}: consensus_key", KEY_LEN)
        power = _int(row.get("power"), f"{what}: power")
        if key in out or power == 0:
            raise _fail(f"{what}: duplicate key or zero power")
        out[key] = power
    return tuple(sorted(out.items()))


def _set_from_record(raw: bytes, what: str) -> ValidatorKeys:
    try:
        infos = K.decode_value(K.VALIDATORS, raw)
        pairs = {bytes(v.consensus_key): int(v.power) for v in infos}
    except Exception as exc:  # a proven but undecodable record: report, never crash
        raise _fail(f"{what}: record does not decode ({exc})") from None
    if not pairs:
        raise _fail(f"{what}: empty set")
    return tuple(sorted(pairs.items()))


# --------------------------------------------------------------------------- single checks


def check_proof(answer_proof: Any, key: bytes, state_root: bytes) -> bytes | None:
    """The proven value of `key` (None: proven absent) under `state_root`.

    `key` is what the caller computed from its query; the answer's own ``key`` must equal it,
    so a proof of another record is refused even when it is a valid proof."""
    p = _obj(answer_proof, "proof")
    missing = [k for k in ("key", "value", "leaf", "siblings") if k not in p]
    if missing:
        raise _fail(f"proof: {missing[0]} missing")
    got_key = _hex(p.get("key"), "proof: key")
    if got_key != key:
        raise _fail(f"proof: for key {got_key.hex()}, asked {key.hex()}")
    raw_value = p.get("value")
    value = None if raw_value is None else _hex(raw_value, "proof: value")
    leaf_j = p.get("leaf")
    sibs_j = p.get("siblings")
    if not isinstance(sibs_j, list) or len(sibs_j) > MAX_DEPTH:
        raise _fail(f"proof: siblings must be a list of at most {MAX_DEPTH} levels")
    levels = []
    for lv in sibs_j:
        if not isinstance(lv, list) or len(lv) != 15:
            raise _fail("proof: each siblings level must hold 15 hashes")
        levels.append(tuple(_hex(s, "proof: sibling", HASH_LEN) for s in lv))
    leaf: tuple[bytes, bytes] | None = None
    if leaf_j is not None:
        if not isinstance(leaf_j, list) or len(leaf_j) != 2:
            raise _fail("proof: leaf must be null or [key_hash, value_hash]")
        leaf = (_hex(leaf_j[0], "proof: leaf", HASH_LEN), _hex(leaf_j[1], "proof: leaf", HASH_LEN))
    if not verify_proof(state_root, key, value, Proof(tuple(levels), leaf)):
        raise _fail("proof: value does not match state_root")
    return value


def check_commit(
    chain_id: str, header: BlockHeader, commit: Any, vset: ValidatorKeys
) -> tuple[int, int]:
    """Raise unless precommits of `vset` with > 2/3 of its power sign `header`'s hash.

    Returns (signed power, total power)."""
    c = _obj(commit, "commit")
    height = c.get("height")
    if height != header.height:
        raise _fail(f"commit: for height {height}, header is {header.height}")
    block_id = _hex(c.get("block_id"), "commit: block_id", HASH_LEN)
    if block_id != header.hash():
        raise _fail("commit: block_id is not the header's hash")
    rnd = _int(c.get("round"), "commit: round")
    sigs = c.get("signatures")
    if not isinstance(sigs, list) or len(sigs) > MAX_SIGNATURES:
        raise _fail(f"commit: signatures must be a list of at most {MAX_SIGNATURES}")
    powers = dict(vset)
    total = sum(powers.values())
    sign_bytes = Vote.sign_bytes_for(chain_id, PRECOMMIT, header.height, rnd, block_id)
    seen: set[bytes] = set()
    signed = 0
    for s in sigs:
        entry = _obj(s, "commit: signature")
        key = _hex(entry.get("validator"), "commit: validator", KEY_LEN)
        sig = _hex(entry.get("signature"), "commit: signature", SIG_LEN)
        if key in seen:
            raise _fail(f"commit: {key.hex()} signs twice")
        seen.add(key)
        power = powers.get(key)
        if power is None:
            raise _fail(f"commit: signer {key.hex()} is not a validator of height {header.height}")
        if not verify(key, sign_bytes, sig):
            raise _fail(f"commit: bad signature by {key.hex()}")
        signed += power
    if signed * 3 <= total * 2:
        raise _fail(f"commit: signatures of {signed * 100 // total}% of voting power, need > 2/3")
    return signed, total


def check_header(
    chain_id: str, height: int, header_json: Any, commit: Any, vset: ValidatorKeys
) -> BlockHeader:
    """The header of `height`, checked: chain, height, validator set and commit."""
    header = header_from_json(header_json)
    if header.chain_id != chain_id:
        raise _fail(f"header: chain_id {header.chain_id!r} is not the trusted {chain_id!r}")
    if header.height != height:
        raise _fail(f"header: height {header.height}, expected {height}")
    if header.validators_hash != validators_hash(vset):
        raise _fail(f"validators: hash at height {height} does not match header")
    check_commit(chain_id, header, commit, vset)
    return header


# --------------------------------------------------------------------------- the reads


def _record(key: bytes, raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return K.decode_value(key, raw)
    except Exception as exc:  # proven bytes the model cannot read: the node's state is odd
        raise _fail(f"answer: proven record does not decode ({exc})") from None


@dataclass(frozen=True, slots=True)
class Read:
    """How one provable read maps to its state key and to the fields its record proves.

    `key(args)` computes the state key from the query's (JSON) args; `fields(record, args,
    height)` is the JSON the proven record (None: absent) implies, fields recomputed from it
    included (a member's status at the height), or None when absence means "not found".
    Answer fields outside it are reported as unverified (an account's pending_nonce, a
    pool's member counts)."""

    key: Callable[[Mapping[str, Any]], bytes]
    fields: Callable[[Any, Mapping[str, Any], int], dict[str, Any] | None]


def _addr(args: Mapping[str, Any], name: str = "address") -> bytes:
    v = args.get(name)
    return bytes(v) if isinstance(v, bytes | bytearray) else _hex(v, f"query: {name}", KEY_LEN)


def _id(args: Mapping[str, Any]) -> bytes:
    return _addr(args, "id")


def _account_fields(rec: Any, args: Mapping[str, Any], h: int) -> dict[str, Any]:
    out = (EMPTY_ACCOUNT if rec is None else rec).to_json(_addr(args))
    del out["pending_nonce"]
    return dict(out)


def _json_of(rec: Any, *a: Any) -> dict[str, Any] | None:
    return None if rec is None else dict(rec.to_json(*a))


def _pool_fields(rec: Any, args: Mapping[str, Any], h: int) -> dict[str, Any] | None:
    out = _json_of(rec)
    if out is not None:
        out.pop("members", None)
    return out


#: every provable read but `validators` (it follows the set, see Follower)
READS: dict[str, Read] = {
    "account": Read(lambda a: K.account_key(_addr(a)), _account_fields),
    # members: the counts are another record (s/C/), not proven here
    "pool": Read(lambda a: K.pool_key(str(a.get("id"))), _pool_fields),
    "member": Read(
        lambda a: K.member_key(str(a.get("pool")), _addr(a)),
        lambda rec, a, h: _json_of(rec, h),
    ),
    "claim": Read(lambda a: K.claim_key(_id(a)), lambda rec, a, h: _json_of(rec)),
    "proposal": Read(lambda a: K.proposal_key(_id(a)), lambda rec, a, h: _json_of(rec)),
    "event": Read(
        lambda a: K.event_key(str(a.get("pool")), int(a.get("round", -1))),
        lambda rec, a, h: _json_of(rec),
    ),
    "params": Read(lambda a: K.PARAMS, lambda rec, a, h: _json_of(rec)),
}


def _compare(kind: str, expected: dict[str, Any], answer: Mapping[str, Any]) -> list[str]:
    """Raise at the first field the answer states otherwise than the proven record;
    returns the answer's fields the record does not cover."""
    for name, want in expected.items():
        if name in answer and answer[name] != want:
            raise _fail(f"answer: {kind} field {name!r} does not match the proven record")
    return sorted(n for n in answer if n not in expected and n not in _PROOF_FIELDS)


_PROOF_FIELDS = frozenset({"proof", "header", "commit"})


# --------------------------------------------------------------------------- anchors, following


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where trust starts: the chain and the validator set in force at `height`.

    From a genesis file the set is the file's validators at height 1; from ``--trust
    HEIGHT:BLOCKHASH`` it is established by :meth:`Follower.from_trust`."""

    chain_id: str
    height: int
    validators: ValidatorKeys


def genesis_anchor(doc: Any) -> Anchor:
    """The anchor of a genesis document (the one the user holds, never the node's): its
    chain_id and validators' (consensus_key, power). Only those are read: validating the
    whole document (every account) took 3.6 s for 100,000 accounts and proves nothing more,
    since a wrong field elsewhere changes no header the verifier checks."""
    if not isinstance(doc, dict) or not isinstance(doc.get("chain_id"), str):
        raise _fail("anchor: genesis file has no chain_id")
    vs = validator_keys(doc.get("validators"), "anchor: genesis validators")
    return Anchor(doc["chain_id"], 1, vs)


def parse_trust(text: str) -> tuple[int, bytes]:
    """``HEIGHT:BLOCKHASH`` -> (height >= 1, 32-byte hash); VerifyError naming the problem."""
    h, sep, bh = text.partition(":")
    if not sep or not h.isdigit() or int(h) < 1:
        raise _fail("anchor: --trust wants HEIGHT:BLOCKHASH with HEIGHT >= 1")
    return int(h), _hex(bh.lower(), "anchor: BLOCKHASH", HASH_LEN)


@dataclass
class Follower:
    """The validator sets believed from an anchor on, extended change by change.

    `changes` maps each followed effective height to its set (the anchor's at its height).
    The set for height h is the one of the greatest followed height <= h, which is right
    as long as no change in between was hidden; the header check of every later step and
    of the read itself refuses a hidden one."""

    anchor: Anchor
    changes: dict[int, ValidatorKeys] = field(default_factory=dict)
    headers_checked: int = 0

    def __post_init__(self) -> None:
        self.changes.setdefault(self.anchor.height, self.anchor.validators)

    @property
    def chain_id(self) -> str:
        return self.anchor.chain_id

    @property
    def last_followed(self) -> int:
        return max(self.changes)

    def set_at(self, height: int) -> ValidatorKeys:
        if height < self.anchor.height:
            raise _fail(f"anchor: height {height} is below the trust anchor {self.anchor.height}")
        return self.changes[max(e for e in self.changes if e <= height)]

    @classmethod
    def from_trust(
        cls, height: int, block_hash: bytes, read_answer: Any, validators_answer: Any
    ) -> Follower:
        """Anchor at a trusted block: `read_answer` is any proven read at `height` (its
        header must hash to `block_hash`), `validators_answer` the `validators` answer for
        `height` (its set must hash to that header's validators_hash)."""
        header = header_from_json(_obj(read_answer, "anchor").get("header"))
        if header.height != height or header.hash() != block_hash:
            raise _fail(f"anchor: header of height {height} does not hash to the trusted hash")
        rows = _obj(validators_answer, "anchor").get("validators")
        vs = validator_keys(rows, "validators")
        if validators_hash(vs) != header.validators_hash:
            raise _fail(f"validators: hash at height {height} does not match header")
        return cls(Anchor(header.chain_id, height, vs))

    def follow(self, effective: int, answer: Any) -> None:
        """Take the set change at `effective` from a ``validators`` answer with ``prove``
        (proof of s/V/be64(effective) under the header at max(effective - 1, anchor height)).

        Changes must be followed in increasing order."""
        if effective <= self.last_followed:
            raise _fail(f"validators: change at {effective} is not after {self.last_followed}")
        a = _obj(answer, "validators")
        at = max(effective - 1, self.anchor.height)
        if a.get("effective_height") != effective:
            raise _fail(
                f"validators: answer is for change {a.get('effective_height')}, asked {effective}"
            )
        header = self._header(at, a)
        raw = check_proof(a.get("proof"), K.validators_key(effective), header.state_root)
        if raw is None:
            raise _fail(f"validators: no set change at height {effective}")
        vs = _set_from_record(raw, "validators")
        rows = a.get("validators")
        if rows is not None and validator_keys(rows, "validators") != vs:
            raise _fail(f"validators: answer differs from the proven set of {effective}")
        self.changes[effective] = vs

    def _header(self, height: int, answer: Mapping[str, Any]) -> BlockHeader:
        header = check_header(
            self.chain_id, height, answer.get("header"), answer.get("commit"), self.set_at(height)
        )
        self.headers_checked += 1
        return header

    def verify_read(self, kind: str, args: Mapping[str, Any], height: int, answer: Any) -> Verified:
        """Check one proven read answered for `height`; returns what was verified."""
        if kind == "validators":
            return self._verify_validators(height, answer)
        read = READS.get(kind)
        if read is None:
            raise _fail(f"query: {kind} has no proof")
        a = _obj(answer, "answer")
        header = self._header(height, a)
        key = read.key(args)
        raw = check_proof(a.get("proof"), key, header.state_root)
        rec = _record(key, raw)
        expected = read.fields(rec, args, height)
        unverified: list[str] = []
        if expected is not None:
            unverified = _compare(kind, expected, a)
            missing = [n for n in expected if n not in a]
            if missing:
                raise _fail(f"answer: {kind} lacks the proven field {missing[0]!r}")
        elif set(a) - _PROOF_FIELDS:
            raise _fail(f"answer: {kind} states a record that is proven absent")
        return Verified(kind, height, header, key, raw, unverified)

    def _verify_validators(self, height: int, answer: Any) -> Verified:
        a = _obj(answer, "answer")
        if a.get("height") != height:
            raise _fail(f"answer: validators for height {a.get('height')}, asked {height}")
        vs = validator_keys(a.get("validators"), "validators")
        if vs != self.set_at(height):
            raise _fail(f"validators: set of height {height} is not the followed one")
        return Verified("validators", height, None, b"", None, ["name", "operator"])


@dataclass(frozen=True, slots=True)
class Verified:
    """What a successful check established (printed by ``huzhu query --prove``)."""

    kind: str
    height: int
    header: BlockHeader | None
    key: bytes
    value: bytes | None
    unverified: list[str]

    def summary(self, follower: Follower) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "height": self.height,
            "chain_id": follower.chain_id,
            "anchor_height": follower.anchor.height,
            "validator_changes_followed": len(follower.changes) - 1,
            "headers_checked": follower.headers_checked,
            "unverified_fields": self.unverified,
        }
        if self.header is not None:
            out["block_hash"] = self.header.hash().hex()
            out["state_root"] = self.header.state_root.hex()
            out["key"] = self.key.hex()
            out["present"] = self.value is not None
        return out


__all__ = [
    "READS",
    "Anchor",
    "DecodeError",
    "Follower",
    "Read",
    "ValidatorKeys",
    "Verified",
    "VerifyError",
    "check_commit",
    "check_header",
    "check_proof",
    "commit_to_json",
    "genesis_anchor",
    "header_from_json",
    "header_to_json",
    "parse_trust",
    "proof_to_json",
    "validator_keys",
    "validators_hash",
]
