"""A second light-client verifier, written from docs/protocol.md section 11 alone, agrees with
the project's verifier (node/light.py) over the test vectors (tests/vectors/light_client.json)
and over live answers of a real RPC server.

Like tests/state/test_tree.py's `_spec_root`, the verifier half of this file imports nothing of
the project: the canonical encoding is msgpack-python's `packb` under the rules of section 1,
hashes are hashlib's sha256, signatures libsodium's strict Ed25519 (PyNaCl, section 2). Only
the agreement tests import node.light, to compare verdicts (11.8: agree on `valid` and
`check`). Each part names the paragraph of section 11 it implements.

Where the page leaves a choice, this verifier takes one and says so (`DOC GAP` below); the
lead's report lists them.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import msgpack
import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey


class DocRefused(Exception):
    """The doc verifier's refusal; `check` is the part that did not verify."""

    def __init__(self, check: str, detail: str) -> None:
        super().__init__(f"{check}: {detail}")
        self.check = check


def H(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def canonical(obj: Any) -> bytes:
    """Section 1: maps with sorted str keys, shortest ints, str/bin distinguished."""

    def norm(o: Any) -> Any:
        if isinstance(o, dict):
            return {k: norm(o[k]) for k in sorted(o, key=lambda k: k.encode())}
        if isinstance(o, list | tuple):
            return [norm(x) for x in o]
        return o

    return msgpack.packb(norm(obj), use_bin_type=True)


def ed25519_ok(key: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        VerifyKey(key).verify(msg, sig)
    except (BadSignatureError, ValueError):
        return False
    return True


# ---------------------------------------------------------------------- the state tree proof

EMPTY = H(b"huzhu/tree/v1/empty")


def nibble(kh: bytes, d: int) -> int:
    return (kh[d // 2] >> 4) if d % 2 == 0 else (kh[d // 2] & 0x0F)


def tree_ok(root: bytes, key: bytes, value: bytes | None, proof: dict[str, Any]) -> bool:
    """11.3 steps 2 to 5: walk up from the leaf (or EMPTY) to the root."""
    kh = H(key)
    sibs = [[bytes.fromhex(s) for s in level] for level in proof["siblings"]]
    leaf = proof["leaf"]
    if len(sibs) > 64 or any(len(lv) != 15 or any(len(s) != 32 for s in lv) for lv in sibs):
        return False
    if leaf is not None:
        lkh, lvh = bytes.fromhex(leaf[0]), bytes.fromhex(leaf[1])
        if len(lkh) != 32 or len(lvh) != 32:
            return False
        if any(nibble(lkh, d) != nibble(kh, d) for d in range(len(sibs))):
            return False
    if value is not None:
        if leaf is None or (lkh, lvh) != (kh, H(value)):
            return False
    elif leaf is not None and lkh == kh:
        return False
    h = EMPTY if leaf is None else H(b"\x00" + lkh + lvh)
    for d in range(len(sibs) - 1, -1, -1):
        children = list(sibs[d])
        children.insert(nibble(kh, d), h)
        h = H(b"\x01" + b"".join(children))
    return h == root


# ---------------------------------------------------------------------- headers, commits, sets

HEADER_BIN = (
    "prev_hash",
    "proposer",
    "tx_root",
    "state_root",
    "last_commit_hash",
    "evidence_hash",
    "validators_hash",
)
HEADER_INT = ("height", "time_ms")


def header_hash(h: dict[str, Any]) -> bytes:
    """11.4: sha256 of canonical msgpack of the ten fields (`hash` ignored)."""
    obj: dict[str, Any] = {"chain_id": h["chain_id"]}
    for k in HEADER_INT:
        obj[k] = h[k]
    for k in HEADER_BIN:
        obj[k] = bytes.fromhex(h[k])
    return H(canonical(obj))


def vote_sign_bytes(chain_id: str, height: int, round_: int, block_id: bytes) -> bytes:
    """11.5: the precommit's signed bytes."""
    body = {
        "chain_id": chain_id,
        "type": 2,
        "height": height,
        "round": round_,
        "block_id": block_id,
    }
    return b"huzhu/vote/v1\x00" + canonical(body)


def set_hash(vset: dict[bytes, int]) -> bytes:
    """11.4: the validators hash, pairs sorted by key."""
    return H(canonical([[k, vset[k]] for k in sorted(vset)]))


def check_signed(
    chain_id: str,
    height: int,
    header: dict[str, Any],
    commit: dict[str, Any],
    vset: dict[bytes, int],
) -> bytes:
    """11.6 step 3 (and 4): chain_id, height, validators_hash, then the commit of 11.5;
    returns the header's state_root."""
    fields = {"chain_id", *HEADER_INT, *HEADER_BIN}
    if not isinstance(header, dict) or fields - set(header):
        raise DocRefused("header", "malformed field")  # 11.7
    if header["chain_id"] != chain_id:
        raise DocRefused("header", "another chain")
    if header["height"] != height:
        raise DocRefused("header", "another height")
    if bytes.fromhex(header["validators_hash"]) != set_hash(vset):
        raise DocRefused("validators", "header names another set")
    bh = header_hash(header)
    if commit["height"] != height or bytes.fromhex(commit["block_id"]) != bh:
        raise DocRefused("commit", "not for this header")
    sb = vote_sign_bytes(chain_id, height, commit["round"], bh)
    seen: set[bytes] = set()
    power = 0
    for s in commit["signatures"]:
        k = bytes.fromhex(s["validator"])
        if k in seen or k not in vset:
            raise DocRefused("commit", "repeated or unknown signer")
        seen.add(k)
        if not ed25519_ok(k, sb, bytes.fromhex(s["signature"])):
            raise DocRefused("commit", "bad signature")
        power += vset[k]
    if 3 * power <= 2 * sum(vset.values()):
        raise DocRefused("commit", "not more than 2/3")
    return bytes.fromhex(header["state_root"])


# ---------------------------------------------------------------------- records and reads


def be64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def state_key(kind: str, args: dict[str, Any]) -> bytes:
    """11.2's table: the stored key a read is about, from the query alone."""
    if kind == "account":
        return b"s/a/" + bytes.fromhex(args["address"])
    if kind == "pool":
        return b"s/p/" + args["id"].encode()
    if kind == "member":
        pool = args["pool"].encode()
        return b"s/m/" + len(pool).to_bytes(1, "big") + pool + bytes.fromhex(args["address"])
    if kind == "claim":
        return b"s/c/" + bytes.fromhex(args["id"])
    if kind == "proposal":
        return b"s/g/" + bytes.fromhex(args["id"])
    if kind == "event":
        pool = args["pool"].encode()
        return b"s/w/" + len(pool).to_bytes(1, "big") + pool + be64(args["round"])
    if kind == "params":
        return b"s/params"
    raise AssertionError(f"no key for {kind}")


def as_json(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, list):
        return [as_json(x) for x in v]
    if isinstance(v, dict):
        return {k: as_json(x) for k, x in v.items()}
    return v


def decode_record(raw: bytes) -> Any:
    try:
        obj = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:
        raise DocRefused("answer", f"proven record does not decode: {exc}") from None
    if canonical(obj) != raw:
        raise DocRefused("answer", "proven record is not canonical")
    return obj


def proven(proof: dict[str, Any], key: bytes, root: bytes) -> bytes | None:
    """11.3: "All four fields are required" (11.7: `proof:` missing field)."""
    if not isinstance(proof, dict) or {"key", "value", "leaf", "siblings"} - set(proof):
        raise DocRefused("proof", "missing field")
    if bytes.fromhex(proof["key"]) != key:
        raise DocRefused("proof", "another key")
    value = None if proof["value"] is None else bytes.fromhex(proof["value"])
    if not tree_ok(root, key, value, proof):
        raise DocRefused("proof", "does not lead to state_root")
    return value


ACCOUNT_ZERO = {"balance": 0, "nonce": 0, "kyc": False}
PROOF_PARTS = {"proof", "header", "commit"}


def member_status(m: dict[str, Any], height: int) -> str:
    """11.2's table: the status recomputed from the proven member record."""
    if m["left_at"] is not None:
        return "left"
    if height > m["paid_through"]:
        return "lapsed"
    return "active" if height >= m["active_from"] else "waiting"


def check_fields(
    kind: str, record: Any, args: dict[str, Any], height: int, answer: dict[str, Any]
) -> None:
    """11.2 "What the proof covers": every answer field the record holds equals it (bin as
    hex, voters as {address, approve}); recomputed fields equal their recomputation; an
    absent record states no record fields.

    DOC GAP: for an absent record the page says the answer "states no record fields"; this
    verifier refuses any field besides proof, header and commit."""
    if record is None:
        if kind == "account":
            record = ACCOUNT_ZERO
        elif set(answer) - PROOF_PARTS:
            raise DocRefused("answer", "states a record proven absent")
        else:
            return
    shown = as_json(record)
    if kind == "claim":
        shown["voters"] = [{"address": a, "approve": v} for a, v in shown["voters"]]
    if kind == "account":
        shown["address"] = args["address"].lower()
    if kind == "member":
        shown["status"] = member_status(record, height)
    if kind == "pool" and "liabilities" in record:  # section 12's reserve_bps
        owed = record["liabilities"]
        shown["reserve_bps"] = None if owed == 0 else min(record["balance"] * 10000 // owed, 10**9)
    for name, want in shown.items():
        if name in answer and answer[name] != want:
            raise DocRefused("answer", f"field {name} differs from the proven record")


# ---------------------------------------------------------------------- following the set


class DocFollower:
    """11.6: the validator set from the anchor on, through every change, in order.

    DOC GAP: step 3 does not say that the step's `validators` list must equal the proven
    record, nor what equal means; 11.7 lists "an answer that differs from the proven set" as
    a refusal. This verifier compares (consensus key, power) pairs when the list is given."""

    def __init__(self, chain_id: str, anchor_height: int, vset: dict[bytes, int]) -> None:
        self.chain_id = chain_id
        self.anchor = anchor_height
        self.sets = {anchor_height: vset}

    @classmethod
    def from_genesis(cls, doc: dict[str, Any]) -> DocFollower:
        vset = {bytes.fromhex(v["consensus_key"]): v["power"] for v in doc["validators"]}
        return cls(doc["chain_id"], 1, vset)

    @classmethod
    def from_trust(
        cls, height: int, block_hash: bytes, read: dict[str, Any], validators: dict[str, Any]
    ) -> DocFollower:
        header = read["header"]
        if header["height"] != height or header_hash(header) != block_hash:
            raise DocRefused("anchor", "the trusted block is another")
        vset = {bytes.fromhex(r["consensus_key"]): r["power"] for r in validators["validators"]}
        if set_hash(vset) != bytes.fromhex(header["validators_hash"]):
            raise DocRefused("validators", "set of the trusted block differs")
        return cls(header["chain_id"], height, vset)

    def set_at(self, height: int) -> dict[bytes, int]:
        if height < self.anchor:
            raise DocRefused("anchor", "below the anchor")
        return self.sets[max(e for e in self.sets if e <= height)]

    def follow(self, effective: int, answer: dict[str, Any]) -> None:
        if effective <= max(self.sets):
            raise DocRefused("validators", "changes out of order")
        if answer.get("effective_height") != effective:
            raise DocRefused("validators", "answer for another change")
        at = max(effective - 1, self.anchor)
        root = check_signed(self.chain_id, at, answer["header"], answer["commit"], self.set_at(at))
        raw = proven(answer["proof"], b"s/V/" + be64(effective), root)
        if raw is None:
            raise DocRefused("validators", "no such change")
        rows = decode_record(raw)
        vset = {r["consensus_key"]: r["power"] for r in rows}
        shown = answer.get("validators")
        if (
            shown is not None
            and {bytes.fromhex(r["consensus_key"]): r["power"] for r in shown} != vset
        ):
            raise DocRefused("validators", "answer differs from the proven set")
        self.sets[effective] = vset

    def read(self, kind: str, args: dict[str, Any], height: int, answer: dict[str, Any]) -> None:
        if kind == "validators":
            shown = {bytes.fromhex(r["consensus_key"]): r["power"] for r in answer["validators"]}
            if answer["height"] != height or shown != self.set_at(height):
                raise DocRefused("validators", "not the followed set")
            return
        root = check_signed(
            self.chain_id, height, answer["header"], answer["commit"], self.set_at(height)
        )
        raw = proven(answer["proof"], state_key(kind, args), root)
        check_fields(kind, None if raw is None else decode_record(raw), args, height, answer)


def doc_verdict(genesis: dict[str, Any], case: dict[str, Any], follow: dict[str, Any]) -> str:
    """ "valid", or the check that refused: the doc verifier over one vector case."""
    try:
        anchor = case["anchor"]
        if anchor.get("genesis"):
            f = DocFollower.from_genesis(genesis)
        else:
            h, _, bh = anchor["trust"].partition(":")
            f = DocFollower.from_trust(
                int(h), bytes.fromhex(bh), anchor["read"], anchor["validators"]
            )
        steps = case["follow"]
        for step in follow[steps] if isinstance(steps, str) else steps:
            f.follow(step["effective"], step["answer"])
        r = case["read"]
        f.read(r["kind"], r["args"], r["height"], r["answer"])
    except DocRefused as refused:
        return refused.check
    except (KeyError, TypeError, ValueError) as exc:  # a shape the doc does not allow
        return f"malformed ({exc!r})"
    return "valid"


# ---------------------------------------------------------------------- agreement

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "light_client.json"


def _vectors() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(VECTORS.read_text())
    return doc


def _real_verdict(genesis: dict[str, Any], case: dict[str, Any], follow: dict[str, Any]) -> str:
    """The project's verifier (node/light.py) over the same case: "valid" or its check."""
    from node.light import Follower, VerifyError, genesis_anchor, parse_trust

    try:
        anchor = case["anchor"]
        if anchor.get("genesis"):
            f = Follower(genesis_anchor(genesis))
        else:
            h, bh = parse_trust(anchor["trust"])
            f = Follower.from_trust(h, bh, anchor["read"], anchor["validators"])
        steps = case["follow"]
        for step in follow[steps] if isinstance(steps, str) else steps:
            f.follow(step["effective"], step["answer"])
        r = case["read"]
        f.verify_read(r["kind"], r["args"], r["height"], r["answer"])
    except VerifyError as refused:
        return str(refused).split(":", 1)[0]
    return "valid"


@pytest.mark.parametrize("name", [c["name"] for c in _vectors()["cases"]])
def test_the_doc_verifier_agrees_with_the_vectors_and_node_light(name: str) -> None:
    doc = _vectors()
    case = next(c for c in doc["cases"] if c["name"] == name)
    expected = "valid" if case["expect"]["valid"] else case["expect"]["check"]
    assert doc_verdict(doc["genesis"], case, doc["follow"]) == expected
    assert _real_verdict(doc["genesis"], case, doc["follow"]) == expected


# ---------------------------------------------------------------------- live answers


def _flip(h: str, at: int = -1) -> str:
    i = at % len(h)
    return h[:i] + ("0" if h[i] != "0" else "1") + h[i + 1 :]


#: a number field of each kind's record, which the "value" lie changes
_FIELD = {
    "account": "balance",
    "pool": "balance",
    "member": "paid_through",
    "params": "min_fee",
    "claim": "amount",
    "proposal": "yes",
}


def _kind(answer: dict[str, Any]) -> str:
    if "claimant" in answer:
        return "claim"
    if "scope" in answer:
        return "proposal"
    if "min_fee" in answer:
        return "params"
    if "paid_through" in answer:
        return "member"
    return "pool" if "params" in answer else "account"


#: lies told about a live answer (the read itself): name -> how
LIVE_LIES: dict[str, Any] = {
    "honest": lambda a: None,
    "value": lambda a: a.__setitem__(_FIELD[_kind(a)], a[_FIELD[_kind(a)]] + 1),
    "status": lambda a: a.__setitem__(
        "status", "waiting" if a["status"] != "waiting" else "active"
    ),
    "proof value": lambda a: a["proof"].__setitem__("value", _flip(a["proof"]["value"])),
    "proof step": lambda a: a["proof"]["siblings"][0].__setitem__(
        2, _flip(a["proof"]["siblings"][0][2], 0)
    ),
    "proof leaf": lambda a: a["proof"].__setitem__(
        "leaf", [a["proof"]["leaf"][0], _flip(a["proof"]["leaf"][1])]
    ),
    "header": lambda a: a["header"].__setitem__("time_ms", a["header"]["time_ms"] + 1),
    "signature": lambda a: a["commit"]["signatures"][1].__setitem__(
        "signature", _flip(a["commit"]["signatures"][1]["signature"], 5)
    ),
    "below 2/3": lambda a: a["commit"].__setitem__("signatures", a["commit"]["signatures"][:2]),
    "round": lambda a: a["commit"].__setitem__("round", 1),
    "chain": lambda a: a["header"].__setitem__("chain_id", "huzhu-other"),
}


async def test_the_doc_verifier_agrees_with_node_light_over_live_answers() -> None:
    """Answers of a real RPC server over a chain whose set changed four times: both verifiers
    accept the honest ones (accounts present and absent, at several heights, and the set
    changes followed from genesis) and refuse each lie with the same check."""
    from light_chain import POOL, election_chain

    from node.client import RpcClient
    from node.config import RpcConfig
    from node.rpc import RpcServer
    from node.service import NodeService

    story = election_chain()
    lc = story.lc
    server = RpcServer(NodeService(lc.parts()), RpcConfig(listen="127.0.0.1:0"))
    await server.start()
    try:
        async with RpcClient(server.url) as c:
            changes = [e for e in await c.validator_changes() if e > 1]
            steps = []
            for e in changes:
                answer = await c.request("validators", {"height": e, "prove": True})
                steps.append({"effective": e, "answer": answer})
            addresses = [m.address.hex() for m in story.members] + ["ab" * 32]
            reads = []
            member = story.members[1].address.hex()
            for height in (3, 12, 15, lc.chain.height):
                asked: list[tuple[str, dict[str, Any]]] = [
                    ("account", {"address": a}) for a in addresses
                ]
                asked += [
                    ("pool", {"id": POOL}),
                    ("pool", {"id": "nope"}),
                    ("member", {"pool": POOL, "address": member}),
                    ("params", {}),
                    ("claim", {"id": story.claim.hex()}),
                    ("proposal", {"id": story.proposal.hex()}),
                ]
                for kind, args in asked:
                    ans = await c.request(kind, {**args, "height": height, "prove": True})
                    reads.append((kind, height, args, ans))
    finally:
        await server.stop()

    def both(
        kind: str, height: int, args: dict[str, Any], answer: dict[str, Any]
    ) -> tuple[str, str]:
        case = {
            "anchor": {"genesis": True},
            "follow": [s for s in steps if s["effective"] <= height],
            "read": {"kind": kind, "args": args, "height": height, "answer": answer},
        }
        return doc_verdict(lc.doc, case, {}), _real_verdict(lc.doc, case, {})

    kinds_seen = set()
    for kind, height, args, answer in reads:
        absent = answer["proof"]["value"] is None
        kinds_seen.add((kind, absent))
        for name, lie in LIVE_LIES.items():
            skip = (
                (name in ("proof value", "proof leaf") and absent)
                or (name == "value" and absent and kind != "account")
                or (name == "status" and (kind != "member" or absent))
                or (name == "voters" and (kind != "claim" or absent))
                or (name == "proof step" and not answer["proof"]["siblings"])
            )
            if skip:
                continue  # nothing there to change
            told = copy.deepcopy(answer)
            lie(told)
            doc, real = both(kind, height, args, told)
            assert doc == real, (kind, name, height, doc, real)
            assert (doc == "valid") == (name == "honest"), (kind, name, height, doc)
    assert ("member", True) in kinds_seen and ("member", False) in kinds_seen
    assert ("pool", True) in kinds_seen and ("account", True) in kinds_seen
    assert {("claim", False), ("claim", True), ("proposal", False)} <= kinds_seen
    # a hidden change: both refuse, with the same check
    case = {
        "anchor": {"genesis": True},
        "follow": [s for s in steps if s["effective"] != changes[0]],
        "read": {"kind": "params", "args": {}, "height": lc.chain.height, "answer": reads[-1][3]},
    }
    assert doc_verdict(lc.doc, case, {}) == _real_verdict(lc.doc, case, {}) == "validators"


#: answers of the wrong shape (11.7): each is refused by the check that names the part
SHAPE_LIES: dict[str, Any] = {
    "proof without leaf": lambda a: a["proof"].pop("leaf"),
    "proof without value": lambda a: a["proof"].pop("value"),
    "proof without siblings": lambda a: a["proof"].pop("siblings"),
    "header without state_root": lambda a: a["header"].pop("state_root"),
    "header without validators_hash": lambda a: a["header"].pop("validators_hash"),
}


@pytest.mark.parametrize("name", sorted(SHAPE_LIES))
def test_both_verifiers_refuse_malformed_answers_by_the_same_check(name: str) -> None:
    doc = _vectors()
    case = copy.deepcopy(next(c for c in doc["cases"] if c["name"] == "account present"))
    SHAPE_LIES[name](case["read"]["answer"])
    want = name.split()[0]
    assert doc_verdict(doc["genesis"], case, doc["follow"]) == want
    assert _real_verdict(doc["genesis"], case, doc["follow"]) == want
