"""Transactions: wire format, signing and the admission checks of PROTOCOL.md section 2.

This module is on the mempool's hot path (thousands of calls per second), so the schema
checks are plain dict/type checks rather than pydantic models: `type(v) is int` keeps
booleans out of integer fields, and every constraint of the payload column of section 4
is checked here, so `malformed` is decided entirely before the signature is looked at.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from state import codec
from state.codec import MAX_SAFE_INT, DecodeError
from state.crypto import KEY_LEN, SIG_LEN, Signer, sha256, verify
from state.errors import Code, TxError
from state.params import ChainParams

SIGN_PREFIX = b"huzhu/tx/v1\x00"
NONCE_WINDOW = 64  # check 9: nonces in [account nonce, account nonce + 64) are admitted
MAX_NAME_CHARS = 64

TX_TYPES: tuple[str, ...] = (
    "transfer",
    "admit",
    "join",
    "pay",
    "leave",
    "claim",
    "vote",
    "payout",
    "register_candidate",
    "elect",
)

# Field kinds of the payload column of section 4.
_BIN32 = "bin32"  # bin of exactly 32 bytes
_AMOUNT = "amount"  # int > 0
_STR = "str"  # any str (a pool id; unknown ones are not_found at execution)
_NAME = "name"  # str of 1..64 code points
_BOOL = "bool"
_CANDIDATES = "candidates"  # array of bin(32), at most max_votes_per_elector, no duplicates

PAYLOAD_SCHEMA: dict[str, dict[str, str]] = {
    "transfer": {"to": _BIN32, "amount": _AMOUNT},
    "admit": {"account": _BIN32},
    "join": {"pool": _STR},
    "pay": {"pool": _STR, "amount": _AMOUNT},
    "leave": {"pool": _STR},
    "claim": {"pool": _STR, "amount": _AMOUNT, "evidence": _BIN32},
    "vote": {"claim": _BIN32, "approve": _BOOL},
    "payout": {"claim": _BIN32},
    "register_candidate": {"consensus_key": _BIN32, "name": _NAME},
    "elect": {"candidates": _CANDIDATES},
}
assert tuple(PAYLOAD_SCHEMA) == TX_TYPES

_PAYLOAD_KEYS: dict[str, frozenset[str]] = {t: frozenset(s) for t, s in PAYLOAD_SCHEMA.items()}
_BODY_KEYS = frozenset(("chain_id", "type", "sender", "nonce", "fee", "payload"))
_ENVELOPE_KEYS = frozenset(("body", "sig"))

# canonical(Tx) is the map {"body": Body, "sig": bin(64)} with keys sorted, so its bytes are
# fixmap(2) + fixstr "body" + canonical(Body) + fixstr "sig" + bin8 header + 64 bytes.
# The signed body bytes are therefore a slice of the wire: no re-encoding to verify.
_BODY_START = 1 + 1 + len("body")
_SIG_TAIL = 1 + len("sig") + 2 + SIG_LEN

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_type_of = type  # functions below take a parameter named `type` (the contract's name)


@dataclass(frozen=True, slots=True)
class Tx:
    """A decoded transaction; `wire` is its canonical encoding and `hash` = sha256(wire)."""

    chain_id: str
    type: str
    sender: bytes
    nonce: int
    fee: int
    payload: dict[str, Any]
    sig: bytes
    wire: bytes
    hash: bytes

    def __hash__(self) -> int:  # the payload dict is unhashable; the tx hash identifies it
        return hash(self.hash)

    @property
    def body(self) -> dict[str, Any]:
        """The Body map of section 2 (what was signed)."""
        return {
            "chain_id": self.chain_id,
            "type": self.type,
            "sender": self.sender,
            "nonce": self.nonce,
            "fee": self.fee,
            "payload": self.payload,
        }

    @property
    def body_bytes(self) -> bytes:
        """canonical(Body), cut out of the canonical wire bytes."""
        return self.wire[_BODY_START:-_SIG_TAIL]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The admission answer: `code` OK with `tx` set, or the first failing check's code.

    `tx` is set whenever the bytes decoded (checks 1-5 passed), even if a later check
    refused it, so callers can report its hash; admit only when `code` is `Code.OK`.
    """

    code: Code
    log: str
    tx: Tx | None

    @property
    def error(self) -> str | None:
        return self.code.error

    @property
    def ok(self) -> bool:
        return self.code is Code.OK


class _Account(Protocol):
    balance: int
    nonce: int


class _View(Protocol):
    """The part of StateView (state/chain.py) that admission reads."""

    @property
    def chain_id(self) -> str: ...

    @property
    def params(self) -> ChainParams: ...

    def account(self, addr: bytes) -> _Account: ...

    def tx_result(self, tx_hash: bytes) -> object | None: ...


def sign_bytes(body: dict[str, Any]) -> bytes:
    """The bytes a sender signs: domain prefix + canonical(Body)."""
    return SIGN_PREFIX + codec.encode(body)


def build_tx(
    signer: Signer,
    chain_id: str,
    type: str,
    nonce: int,
    fee: int,
    payload: dict[str, Any],
) -> Tx:
    """Build and sign a transaction. No schema check: `decode_tx` is the judge, and tests and
    fuzzers need to build signed transactions that break the schema. Raises EncodeError on
    values that have no canonical encoding (floats, huge ints, ...)."""
    payload = codec.decode(codec.encode(payload))  # normalise (tuples -> lists, sorted keys)
    body = {
        "chain_id": chain_id,
        "type": type,
        "sender": signer.public_key,
        "nonce": nonce,
        "fee": fee,
        "payload": payload,
    }
    body_bytes = codec.encode(body)
    sig = signer.sign(SIGN_PREFIX + body_bytes)
    wire = codec.encode({"body": body, "sig": sig})
    return Tx(
        chain_id=chain_id,
        type=type,
        sender=signer.public_key,
        nonce=nonce,
        fee=fee,
        payload=payload,
        sig=sig,
        wire=wire,
        hash=sha256(wire),
    )


def _malformed(log: str) -> TxError:
    return TxError(Code.MALFORMED, log)


def _check_payload(tx_type: str, payload: dict[str, Any], max_votes: int) -> None:
    """Raise malformed unless `payload` has exactly the type's keys, types and constraints."""
    schema = PAYLOAD_SCHEMA[tx_type]
    if payload.keys() != _PAYLOAD_KEYS[tx_type]:
        extra = sorted(payload.keys() - _PAYLOAD_KEYS[tx_type])
        missing = sorted(_PAYLOAD_KEYS[tx_type] - payload.keys())
        raise _malformed(f"{tx_type} payload keys: missing {missing}, unexpected {extra}")
    for key, kind in schema.items():
        v = payload[key]
        t = type(v)
        if kind is _BIN32:
            if t is not bytes or len(v) != KEY_LEN:
                raise _malformed(f"payload.{key}: must be bin of {KEY_LEN} bytes")
        elif kind is _AMOUNT:
            if t is not int or v <= 0:
                raise _malformed(f"payload.{key}: must be an integer > 0")
        elif kind is _STR:
            if t is not str:
                raise _malformed(f"payload.{key}: must be a string")
        elif kind is _NAME:
            if t is not str or not 1 <= len(v) <= MAX_NAME_CHARS:
                raise _malformed(f"payload.{key}: must be a string of 1..{MAX_NAME_CHARS} chars")
        elif kind is _BOOL:
            if t is not bool:
                raise _malformed(f"payload.{key}: must be a boolean")
        else:  # _CANDIDATES
            if t is not list:
                raise _malformed(f"payload.{key}: must be an array")
            if len(v) > max_votes:
                raise _malformed(f"payload.{key}: more than {max_votes} entries")
            for c in v:
                if type(c) is not bytes or len(c) != KEY_LEN:
                    raise _malformed(f"payload.{key}: entries must be bin of {KEY_LEN} bytes")
            if len(set(v)) != len(v):
                raise _malformed(f"payload.{key}: duplicate entries")


def decode_tx(wire: bytes, *, chain_id: str, params: ChainParams) -> Tx:
    """Admission checks 1-5 in PROTOCOL order; raise TxError with the first failing code."""
    if type(wire) is not bytes:
        wire = bytes(wire)
    if len(wire) > params.max_tx_bytes:
        raise TxError(Code.TOO_LARGE, f"{len(wire)} bytes > max_tx_bytes {params.max_tx_bytes}")
    try:
        env = codec.decode(wire)
    except DecodeError as exc:
        raise _malformed(f"not canonical msgpack: {exc}") from None
    if type(env) is not dict or env.keys() != _ENVELOPE_KEYS:
        raise _malformed("tx must be a map with exactly the keys body, sig")
    body = env["body"]
    sig = env["sig"]
    if type(sig) is not bytes or len(sig) != SIG_LEN:
        raise _malformed(f"sig: must be bin of {SIG_LEN} bytes")
    if type(body) is not dict or body.keys() != _BODY_KEYS:
        raise _malformed(
            "body must be a map with exactly the keys " + ", ".join(sorted(_BODY_KEYS))
        )
    tx_chain = body["chain_id"]
    tx_type = body["type"]
    sender = body["sender"]
    nonce = body["nonce"]
    fee = body["fee"]
    payload = body["payload"]
    if type(tx_chain) is not str:
        raise _malformed("body.chain_id: must be a string")
    if type(tx_type) is not str:
        raise _malformed("body.type: must be a string")
    if type(sender) is not bytes or len(sender) != KEY_LEN:
        raise _malformed(f"body.sender: must be bin of {KEY_LEN} bytes")
    if type(nonce) is not int or not 0 <= nonce <= MAX_SAFE_INT:
        raise _malformed("body.nonce: must be an integer in 0..2^53-1")
    if type(fee) is not int or not 0 <= fee <= MAX_SAFE_INT:
        raise _malformed("body.fee: must be an integer in 0..2^53-1")
    if type(payload) is not dict:
        raise _malformed("body.payload: must be a map")
    if tx_chain != chain_id:
        raise TxError(Code.WRONG_CHAIN, f"chain_id {tx_chain!r} is not {chain_id!r}")
    if tx_type not in PAYLOAD_SCHEMA:
        raise TxError(Code.UNKNOWN_TYPE, f"unknown type {tx_type!r}")
    _check_payload(tx_type, payload, params.max_votes_per_elector)
    return Tx(
        chain_id=tx_chain,
        type=tx_type,
        sender=sender,
        nonce=nonce,
        fee=fee,
        payload=payload,
        sig=sig,
        wire=wire,
        hash=sha256(wire),
    )


def verify_tx(tx: Tx) -> bool:
    """Check 6: `sig` is the sender's Ed25519 signature of sign_bytes(Body)."""
    return verify(tx.sender, SIGN_PREFIX + tx.body_bytes, tx.sig)


def _never_duplicate(tx: Tx) -> bool:
    return False


def _no_pending_fees(sender: bytes) -> int:
    return 0


def _not_verified(tx_hash: bytes) -> bool:
    return False


#: codes check_tx only returns after the signature check (check 6) passed: a tx refused with
#: one of these has a good signature, so a cache of verified hashes may remember it
SIG_CHECKED_CODES: frozenset[Code] = frozenset(
    (Code.OK, Code.FEE_TOO_LOW, Code.DUPLICATE, Code.BAD_NONCE, Code.INSUFFICIENT_FUNDS)
)
#: refusals that no honest peer can cause (they do not depend on state): a peer that relays
#: such a tx is faulty
PEER_FAULT_CODES: frozenset[Code] = frozenset(
    (Code.MALFORMED, Code.BAD_SIGNATURE, Code.TOO_LARGE, Code.WRONG_CHAIN, Code.UNKNOWN_TYPE)
)


def check_tx(
    view: _View,
    wire: bytes,
    *,
    is_duplicate: Callable[[Tx], bool] = _never_duplicate,
    pending_fees: Callable[[bytes], int] = _no_pending_fees,
    verified: Callable[[bytes], bool] = _not_verified,
) -> CheckResult:
    """Admission checks 1-10 against the committed state `view`; never raises on bad bytes.

    `is_duplicate(tx)` answers for pending transactions (same hash, or same sender and
    nonce), `pending_fees(sender)` sums the fees of the sender's pending transactions and
    `verified(hash)` True skips the signature check (a cache of already verified txs).
    Check 11 (mempool_full) belongs to the mempool.
    """
    params = view.params
    try:
        tx = decode_tx(wire, chain_id=view.chain_id, params=params)
    except TxError as exc:
        return CheckResult(exc.code, exc.log, None)
    if not verified(tx.hash) and not verify_tx(tx):
        return CheckResult(Code.BAD_SIGNATURE, "signature does not verify", tx)
    if tx.fee < params.min_fee:
        return CheckResult(Code.FEE_TOO_LOW, f"fee {tx.fee} < min_fee {params.min_fee}", tx)
    if is_duplicate(tx) or view.tx_result(tx.hash) is not None:
        return CheckResult(Code.DUPLICATE, "transaction or sender nonce already seen", tx)
    account = view.account(tx.sender)
    if not account.nonce <= tx.nonce < account.nonce + NONCE_WINDOW:
        return CheckResult(
            Code.BAD_NONCE,
            f"nonce {tx.nonce} outside [{account.nonce}, {account.nonce + NONCE_WINDOW})",
            tx,
        )
    needed = tx.fee + pending_fees(tx.sender)
    if account.balance < needed:
        return CheckResult(
            Code.INSUFFICIENT_FUNDS,
            f"balance {account.balance} < fees {needed} (this and pending)",
            tx,
        )
    return CheckResult(Code.OK, "", tx)


# ---------------------------------------------------------------------------------------
# JSON forms (RPC results, CLI input). Binary fields are lowercase hex in JSON.


def payload_to_json(type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of a decoded payload: bin fields as lowercase hex."""
    out: dict[str, Any] = {}
    schema = PAYLOAD_SCHEMA.get(type, {})
    for key, value in payload.items():
        kind = schema.get(key)
        if kind is _BIN32 and isinstance(value, bytes):
            out[key] = value.hex()
        elif kind is _CANDIDATES and isinstance(value, list):
            out[key] = [c.hex() if isinstance(c, bytes) else c for c in value]
        else:
            out[key] = value
    return out


def tx_to_json(tx: Tx) -> dict[str, Any]:
    """`type`, `sender`, `nonce`, `fee`, `payload` as the RPC `tx` method shows them."""
    return {
        "type": tx.type,
        "sender": tx.sender.hex(),
        "nonce": tx.nonce,
        "fee": tx.fee,
        "payload": payload_to_json(tx.type, tx.payload),
    }


def _is_text(v: str) -> bool:
    """False for strings with lone surrogates (possible in JSON, impossible in msgpack)."""
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _hex32(field: str, value: Any) -> bytes:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ValueError(f"{field}: must be {2 * KEY_LEN} hex characters")
    return bytes.fromhex(value)


def payload_from_json(
    type: str, obj: dict[str, Any], *, max_votes: int | None = None
) -> dict[str, Any]:
    """Validate a JSON payload (hex in any case for bin fields) and return the wire form.

    Raises ValueError naming the offending field; the same schema as decode_tx, so a
    payload accepted here is not refused as malformed (with `max_votes` given, the
    candidates limit is checked too).
    """
    schema = PAYLOAD_SCHEMA.get(type)
    if schema is None:
        raise ValueError(f"type: unknown transaction type {type!r}")
    if not isinstance(obj, dict):
        raise ValueError("payload: must be an object")
    for key in obj:
        if key not in schema:
            raise ValueError(f"{key}: unexpected field for {type}")
    out: dict[str, Any] = {}
    for key, kind in schema.items():
        if key not in obj:
            raise ValueError(f"{key}: missing field for {type}")
        v = obj[key]
        if kind is _BIN32:
            out[key] = _hex32(key, v)
        elif kind is _AMOUNT:
            if _type_of(v) is not int or not 0 < v <= MAX_SAFE_INT:
                raise ValueError(f"{key}: must be an integer in 1..2^53-1")
            out[key] = v
        elif kind is _STR:
            if _type_of(v) is not str or not _is_text(v):
                raise ValueError(f"{key}: must be a string")
            out[key] = v
        elif kind is _NAME:
            if _type_of(v) is not str or not _is_text(v) or not 1 <= len(v) <= MAX_NAME_CHARS:
                raise ValueError(f"{key}: must be a string of 1..{MAX_NAME_CHARS} characters")
            out[key] = v
        elif kind is _BOOL:
            if _type_of(v) is not bool:
                raise ValueError(f"{key}: must be true or false")
            out[key] = v
        else:  # _CANDIDATES
            if _type_of(v) is not list:
                raise ValueError(f"{key}: must be an array of addresses")
            items = [_hex32(f"{key}.{i}", c) for i, c in enumerate(v)]
            if len(set(items)) != len(items):
                raise ValueError(f"{key}: duplicate entries")
            if max_votes is not None and len(items) > max_votes:
                raise ValueError(f"{key}: more than {max_votes} entries")
            out[key] = items
    return out
