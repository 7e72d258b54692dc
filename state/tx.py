"""Transactions: wire format, signing and the admission checks of PROTOCOL.md section 2.

This module is on the mempool's hot path (thousands of calls per second), so the schema
checks are plain dict/type checks rather than pydantic models: `type(v) is int` keeps
booleans out of integer fields, and every constraint of the payload column of section 4
is checked here, so `malformed` is decided entirely before the signature is looked at.
The per-type payload schema comes from the registry (state/txtypes.py): each field's kind
owns its wire check and JSON form (state/fieldkinds.py); this module only walks them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from state import codec
from state.codec import MAX_SAFE_INT, DecodeError
from state.crypto import KEY_LEN, SIG_LEN, Signer, sha256, verify
from state.errors import Code, TxError
from state.fieldkinds import MAX_NAME_CHARS, FieldKind, WireCheck
from state.model import slot_init
from state.params import ChainParams
from state.txtypes import BY_NAME, REGISTRY, TX_TYPES

SIGN_PREFIX = b"huzhu/tx/v1\x00"
NONCE_WINDOW = 64  # check 9: nonces in [account nonce, account nonce + 64) are admitted

#: the payload schema of each type, from the registry: type -> {field: kind}
PAYLOAD_SCHEMA: dict[str, dict[str, FieldKind]] = {
    t.name: {f.name: f.kind for f in t.fields} for t in REGISTRY
}
# type -> (key set, (key, check) per field): what decode_tx needs, looked up once per tx
_WIRE: dict[str, tuple[frozenset[str], tuple[tuple[str, WireCheck], ...]]] = {
    t.name: (t.keys, t.wire_checks) for t in REGISTRY
}
_BODY_KEYS = frozenset(("chain_id", "type", "sender", "nonce", "fee", "payload"))
_ENVELOPE_KEYS = frozenset(("body", "sig"))

# canonical(Tx) is the map {"body": Body, "sig": bin(64)} with keys sorted, so its bytes are
# fixmap(2) + fixstr "body" + canonical(Body) + fixstr "sig" + bin8 header + 64 bytes.
# The signed body bytes are therefore a slice of the wire: no re-encoding to verify.
_BODY_START = 1 + 1 + len("body")
_SIG_TAIL = 1 + len("sig") + 2 + SIG_LEN

__all__ = [
    "MAX_NAME_CHARS",
    "NONCE_WINDOW",
    "PAYLOAD_SCHEMA",
    "PEER_FAULT_CODES",
    "SIGN_PREFIX",
    "SIG_CHECKED_CODES",
    "TX_TYPES",
    "AdmissionView",
    "CheckResult",
    "Tx",
    "build_tx",
    "check_state",
    "check_tx",
    "decode_tx",
    "payload_from_json",
    "payload_to_json",
    "sign_bytes",
    "tx_to_json",
    "verify_tx",
]


@slot_init  # built for every tx every node admits: its __init__ stores through the slots
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


@slot_init  # one or more per tx a node is offered (gossip copies answer duplicate)
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
        """`code.error`, looked up: every answer to a refused offer reads it (a re-offered
        `mempool_full` tx under overload), and `Enum.name` costs a descriptor call."""
        return _ERROR_NAMES[self.code]

    @property
    def ok(self) -> bool:
        return self.code is Code.OK


#: `Code.error` of every code, indexed by the code's value (Code is an IntEnum)
_ERROR_NAMES: list[str | None] = [None] * (max(Code) + 1)
for _c in Code:
    _ERROR_NAMES[_c] = _c.error
del _c


class _Account(Protocol):
    # read-only, so the frozen state.model.Account fits
    @property
    def balance(self) -> int: ...

    @property
    def nonce(self) -> int: ...


class AdmissionView(Protocol):
    """The part of StateView (state/chain.py) that admission reads (check_tx, the mempool)."""

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
    return _tx_of(body, sig, wire)


def _tx_of(body: dict[str, Any], sig: bytes, wire: bytes, tx_hash: bytes | None = None) -> Tx:
    """The Tx of a Body map (built here or already checked by decode_tx) and its envelope;
    `tx_hash` is sha256(wire) when the caller already has it. Positional: with
    `slot_init`'s __init__ that is ~0.6 us a Tx, against 1.3 for the frozen dataclass's."""
    return Tx(
        body["chain_id"],
        body["type"],
        body["sender"],
        body["nonce"],
        body["fee"],
        body["payload"],
        sig,
        wire,
        sha256(wire) if tx_hash is None else tx_hash,
    )


def _malformed(log: str) -> TxError:
    return TxError(Code.MALFORMED, log)


def _check_payload(tx_type: str, payload: dict[str, Any], params: ChainParams) -> None:
    """Raise malformed unless `payload` has exactly the type's keys, types and constraints."""
    keys, checks = _WIRE[tx_type]
    if payload.keys() != keys:
        extra = sorted(payload.keys() - keys)
        missing = sorted(keys - payload.keys())
        raise _malformed(f"{tx_type} payload keys: missing {missing}, unexpected {extra}")
    for key, check in checks:
        check(key, payload[key], params)


# A tx's maps in canonical key order (UTF-8 byte order; all ASCII here)
_ENVELOPE_ORDER = ("body", "sig")
_BODY_ORDER = ("chain_id", "fee", "nonce", "payload", "sender", "type")
assert list(_BODY_ORDER) == sorted(_BODY_KEYS) and frozenset(_ENVELOPE_ORDER) == _ENVELOPE_KEYS


def _decode_plain(
    wire: bytes, chain_id: str, params: ChainParams, tx_hash: bytes | None
) -> Tx | None:
    """The Tx of a well-formed transaction in one pass, or None for anything else (then
    `decode_tx`'s full path gives the verdict and its message). Every node decodes every tx
    once, nearly all of them well formed: this does each check once (the full path runs
    codec's generic walk, then the tx's own shape checks over the same values), ~0.7 of
    ~5.6 us a tx. A Tx comes back only when every check of the full path passes, so the
    answers are the full path's (tests/state/test_codec.py compares the two on faulty input)."""
    try:
        env = codec.unpack_plain(wire)
    except Exception:  # noqa: BLE001 - the full path names the fault
        return None
    if type(env) is not dict or tuple(env) != _ENVELOPE_ORDER:
        return None
    body = env["body"]
    sig = env["sig"]
    if type(body) is not dict or tuple(body) != _BODY_ORDER:
        return None
    tx_chain = body["chain_id"]
    tx_type = body["type"]
    sender = body["sender"]
    nonce = body["nonce"]
    fee = body["fee"]
    payload = body["payload"]
    if not (
        type(sig) is bytes
        and len(sig) == SIG_LEN
        and type(tx_chain) is str
        and tx_chain == chain_id
        and type(tx_type) is str
        and type(sender) is bytes
        and len(sender) == KEY_LEN
        and type(nonce) is int
        and 0 <= nonce <= MAX_SAFE_INT
        and type(fee) is int
        and 0 <= fee <= MAX_SAFE_INT
        and type(payload) is dict
    ):
        return None
    spec = _WIRE.get(tx_type)
    if spec is None:
        return None
    keys, checks = spec
    if payload.keys() != keys:
        return None
    try:
        codec.check_in(payload, 2)  # as decode's walk reaches it: envelope 0, body 1, payload 2
        for key, check in checks:
            check(key, payload[key], params)
        if codec.pack_plain(env) != wire:  # canonical: the checks above proved what pack needs
            return None
    except Exception:  # noqa: BLE001 - the full path names the fault
        return None
    return Tx(
        tx_chain,
        tx_type,
        sender,
        nonce,
        fee,
        payload,
        sig,
        wire,
        sha256(wire) if tx_hash is None else tx_hash,
    )


def decode_tx(
    wire: bytes, *, chain_id: str, params: ChainParams, tx_hash: bytes | None = None
) -> Tx:
    """Admission checks 1-5 in PROTOCOL order; raise TxError with the first failing code.

    `tx_hash`: sha256(wire), when the caller hashed the bytes already (the mempool looks
    the hash up before decoding): it is not computed twice."""
    if type(wire) is not bytes:
        wire = bytes(wire)
    if len(wire) > params.max_tx_bytes:
        raise TxError(Code.TOO_LARGE, f"{len(wire)} bytes > max_tx_bytes {params.max_tx_bytes}")
    tx = _decode_plain(wire, chain_id, params, tx_hash)
    if tx is not None:
        return tx
    return _decode_checked(wire, chain_id, params, tx_hash)


def _decode_checked(wire: bytes, chain_id: str, params: ChainParams, tx_hash: bytes | None) -> Tx:
    """`decode_tx` after its size check, every check in PROTOCOL order: the verdict and
    message of a tx `_decode_plain` does not pass (and the reference it is tested against)."""
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
    if tx_type not in _WIRE:
        raise TxError(Code.UNKNOWN_TYPE, f"unknown type {tx_type!r}")
    _check_payload(tx_type, payload, params)
    return _tx_of(body, sig, wire, tx_hash)


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
    view: AdmissionView,
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
    return check_state(view, tx, is_duplicate=is_duplicate, pending_fees=pending_fees)


def check_state(
    view: AdmissionView,
    tx: Tx,
    *,
    is_duplicate: Callable[[Tx], bool] = _never_duplicate,
    pending_fees: Callable[[bytes], int] = _no_pending_fees,
) -> CheckResult:
    """Admission checks 7-10 of a tx that passed checks 1-6 (decoded, signature good): the
    node checks signatures on worker threads (node/workers.py) and these on its loop."""
    params = view.params
    if tx.fee < params.min_fee:
        return CheckResult(Code.FEE_TOO_LOW, f"fee {tx.fee} < min_fee {params.min_fee}", tx)
    account = view.account(tx.sender)
    # Check 8's "committed" clause is asked only where it can hold: a committed tx set its
    # sender's nonce past its own, and a nonce never goes back (no rule lowers it, no
    # account is ever removed), so a tx at or above the account nonce is not committed.
    # The answer is check 8's either way; a tx index read (LevelDB) is saved per admission.
    if is_duplicate(tx) or (tx.nonce < account.nonce and view.tx_result(tx.hash) is not None):
        return CheckResult(Code.DUPLICATE, "transaction or sender nonce already seen", tx)
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
    schema = PAYLOAD_SCHEMA.get(type, {})
    out: dict[str, Any] = {}
    for key, value in payload.items():
        kind = schema.get(key)
        out[key] = value if kind is None else kind.to_json(value)
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


def payload_from_json(
    type: str, obj: dict[str, Any], *, max_votes: int | None = None
) -> dict[str, Any]:
    """Validate a JSON payload (hex in any case for bin fields) and return the wire form.

    Raises ValueError naming the offending field; the same schema as decode_tx, so a
    payload accepted here is not refused as malformed (with `max_votes` given, the
    candidates limit is checked too).
    """
    t = BY_NAME.get(type)
    if t is None:
        raise ValueError(f"type: unknown transaction type {type!r}")
    if not isinstance(obj, dict):
        raise ValueError("payload: must be an object")
    for key in obj:
        if key not in t.keys:
            raise ValueError(f"{key}: unexpected field for {type}")
    limits = {} if max_votes is None else {"max_votes_per_elector": max_votes}
    out: dict[str, Any] = {}
    for f in t.fields:
        if f.name not in obj:
            raise ValueError(f"{f.name}: missing field for {type}")
        out[f.name] = f.kind.from_json(f.name, obj[f.name], limits)
    return out
