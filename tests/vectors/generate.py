"""Write tests/vectors/light_client.json: light-client cases with their expected verdicts.

Run from the repository root: ``.venv/bin/python tests/vectors/generate.py`` (``--check``
compares instead of writing; tests/node/test_proofs_vectors.py does that and runs every case
through node/light.py). The output is deterministic: dev keys, fixed block times and Ed25519's
deterministic signatures, so a change in the file is a change in the format or the chain.

How the cases are made: tests/node/lightchain.py builds a 4-validator chain in process with
elections every 10 blocks (member0 rotates its votes, so each election changes the set; the
sets take effect at 12, 22, 32 and 42) and signs every block with the validators' dev keys.
While the chain grows, each set change is captured the moment block e - 1 (the last one the
previous set signs) is the latest, as a node answers ``validators(e, prove, at=e-1)``; the reads are captured at the last
height. Each tampered case alters one thing of an honest answer and names the check that must
refuse it. The file format is docs/protocol.md section 11, "Test vectors".
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "node"))
sys.path.insert(0, str(ROOT))

from light_chain import DevLightChain  # noqa: E402

from consensus.types import PRECOMMIT, Vote  # noqa: E402
from node.light import VerifyError, header_from_json, validators_hash  # noqa: E402
from node.service import NodeService  # noqa: E402
from state import keys as K  # noqa: E402
from state.crypto import sha256  # noqa: E402
from state.devkeys import dev_signer  # noqa: E402

OUT = Path(__file__).with_name("light_client.json")
#: each lie and the check that must refuse it (the verifier's message starts with it)
LIES = {
    "value changed": "proof",
    "proof step changed": "proof",
    "proof leaf changed": "proof",
    "answer field differs from the proven record": "answer",
    "header state_root changed": "commit",
    "header time changed": "commit",
    "header changed and commit moved to its hash": "commit",
    "signature changed": "commit",
    "signatures dropped below 2/3": "commit",
    "signature by a key outside the set": "commit",
    "signer counted twice": "commit",
    "proof of another key": "proof",
    "another chain": "header",
    "answer for another height": "header",
    "absent record stated as present": "answer",
    "a validator-set change hidden": "validators",
    "a validator set substituted in its proof": "proof",
    "a forged header signed by a substituted set": "validators",
    "a validator-set change that never happened": "validators",
    "set changes out of order": "validators",
}
EPOCH = 10
LAST = 45
TRUST_AT = 30
FAKE_CHANGE = 43  # no election ends at 41: no set takes effect at 43


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def build() -> dict[str, Any]:
    """The whole vector document."""
    lc = DevLightChain(epoch_length=EPOCH)
    svc = NodeService(lc.parts())
    steps: dict[int, Any] = {}
    trust: dict[str, Any] = {}

    def on_block(h: int) -> None:
        for e in _run(svc.validator_changes(h, 10)):
            if e == h + 1:
                steps[e] = _run(svc.validators(e, True, h))
        if h == FAKE_CHANGE - 1:  # what a node claiming a change at FAKE_CHANGE must show
            ans = {"height": FAKE_CHANGE, "effective_height": FAKE_CHANGE}
            key = K.validators_key(FAKE_CHANGE)
            trust["fake"] = svc._proven(svc._p.view(), key, ans)
        if h == TRUST_AT:
            trust["read"] = _run(svc.params(None, True))
            trust["validators"] = _run(svc.validators(h))
            trust["block_hash"] = lc.blocks[h].hash.hex()

    lc.on_block = on_block
    lc.start_elections()
    claim_id, proposal_id = lc.populate()
    lc.run_to(LAST, rotate_every=EPOCH)
    changes = [e for e in _run(svc.validator_changes(1, 100)) if e <= LAST]
    assert changes == sorted(steps) and len(changes) >= 3, (changes, sorted(steps))
    follow = [{"effective": e, "answer": steps[e]} for e in changes]

    m1 = dev_signer("member1").public_key
    nobody = sha256(b"nobody")
    reads: list[tuple[str, str, dict[str, Any], Any]] = [
        ("account present", "account", {"address": m1.hex()}, svc.account(m1, None, True)),
        (
            "account absent (reads as zeros)",
            "account",
            {"address": nobody.hex()},
            svc.account(nobody, None, True),
        ),
        ("pool present", "pool", {"id": "medical"}, svc.pool("medical", None, True)),
        ("pool absent", "pool", {"id": "dental"}, svc.pool("dental", None, True)),
        (
            "member present",
            "member",
            {"pool": "medical", "address": m1.hex()},
            svc.member("medical", m1, None, True),
        ),
        (
            "member absent",
            "member",
            {"pool": "medical", "address": nobody.hex()},
            svc.member("medical", nobody, None, True),
        ),
        ("claim present", "claim", {"id": claim_id.hex()}, svc.claim(claim_id, None, True)),
        ("claim absent", "claim", {"id": nobody.hex()}, svc.claim(nobody, None, True)),
        (
            "event present",
            "event",
            {"pool": "rainfall", "round": 0},
            svc.event("rainfall", 0, None, True),
        ),
        (
            "event absent",
            "event",
            {"pool": "rainfall", "round": 1},
            svc.event("rainfall", 1, None, True),
        ),
        (
            "proposal present",
            "proposal",
            {"id": proposal_id.hex()},
            svc.proposal(proposal_id, None, True),
        ),
        ("proposal absent", "proposal", {"id": nobody.hex()}, svc.proposal(nobody, None, True)),
        ("params", "params", {}, svc.params(None, True)),
        ("validators", "validators", {}, svc.validators(LAST)),
    ]
    cases: list[dict[str, Any]] = []
    for name, kind, args, coro in reads:
        cases.append(_case(name, kind, args, _run(coro)))
    acct = next(c for c in cases if c["name"] == "account present")
    claim_absent = next(c for c in cases if c["name"] == "claim absent")
    cases += _tampered(acct, claim_absent, follow, trust["fake"])
    cases.append(
        {
            "name": "trusted block: honest",
            "anchor": {"trust": f"{TRUST_AT}:{trust['block_hash']}", **_trust_parts(trust)},
            "follow": [s for s in follow if s["effective"] > TRUST_AT],
            "read": copy.deepcopy(acct["read"]),
        }
    )
    cases.append(
        {
            "name": "trusted block: hash of another block",
            "anchor": {"trust": f"{TRUST_AT}:{'00' * 32}", **_trust_parts(trust)},
            "follow": [s for s in follow if s["effective"] > TRUST_AT],
            "read": copy.deepcopy(acct["read"]),
            "expect": {"valid": False, "check": "anchor"},
        }
    )
    for c in cases:  # each default case follows the whole chain from genesis
        c.setdefault("anchor", {"genesis": True})
        c.setdefault("follow", "from_genesis")
    doc = {
        "format": "huzhu light-client vectors v1 (docs/protocol.md section 11)",
        "genesis": lc.doc,
        "follow": {"from_genesis": follow},
        "cases": cases,
    }
    for c in doc["cases"]:
        intended = c.get("expect", {"valid": True})
        got = _verdict(doc, c)
        if intended["valid"] != got["valid"] or intended.get("check") != got.get("check"):
            raise AssertionError(f"case {c['name']!r}: meant {intended}, the verifier says {got}")
        c["expect"] = got
    return doc


def _trust_parts(trust: dict[str, Any]) -> dict[str, Any]:
    return {"read": trust["read"], "validators": trust["validators"]}


def _case(name: str, kind: str, args: dict[str, Any], answer: Any) -> dict[str, Any]:
    return {"name": name, "read": {"kind": kind, "args": args, "height": LAST, "answer": answer}}


def _tampered(
    acct: dict[str, Any], claim_absent: dict[str, Any], follow: list[Any], fake: Any
) -> list[dict[str, Any]]:
    """One case per kind of lie; each alters a copy of an honest case."""
    out: list[dict[str, Any]] = []

    def lie(name: str, base: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> None:
        c = copy.deepcopy(base)
        c["name"] = name
        change(c)
        c["expect"] = {"valid": False, "check": LIES[name]}
        out.append(c)

    def flip(hexstr: str) -> str:
        return ("0" if hexstr[0] != "0" else "1") + hexstr[1:]

    def ans(c: dict[str, Any]) -> dict[str, Any]:
        a: dict[str, Any] = c["read"]["answer"]
        return a

    lie(
        "value changed",
        acct,
        lambda c: ans(c)["proof"].update(value=ans(c)["proof"]["value"][:-2] + "00"),
    )
    lie(
        "proof step changed",
        acct,
        lambda c: ans(c)["proof"]["siblings"][0].__setitem__(3, "ab" * 32),
    )
    lie("proof leaf changed", acct, lambda c: ans(c)["proof"].update(leaf=None))
    lie(
        "answer field differs from the proven record",
        acct,
        lambda c: ans(c).update(balance=ans(c)["balance"] + 1),
    )
    lie("header state_root changed", acct, lambda c: ans(c)["header"].update(state_root="11" * 32))
    lie(
        "header time changed",
        acct,
        lambda c: ans(c)["header"].update(time_ms=ans(c)["header"]["time_ms"] + 1),
    )

    def resign_for_other_root(c: dict[str, Any]) -> None:
        ans(c)["header"]["state_root"] = "11" * 32
        ans(c)["commit"]["block_id"] = header_from_json(ans(c)["header"]).hash().hex()

    lie("header changed and commit moved to its hash", acct, resign_for_other_root)

    def bad_sig(c: dict[str, Any]) -> None:
        s = ans(c)["commit"]["signatures"][0]
        s["signature"] = flip(s["signature"])

    lie("signature changed", acct, bad_sig)
    lie(
        "signatures dropped below 2/3",
        acct,
        lambda c: ans(c)["commit"].update(signatures=ans(c)["commit"]["signatures"][:2]),
    )

    def stranger(c: dict[str, Any]) -> None:
        s = ans(c)["commit"]["signatures"][0]
        s["validator"] = dev_signer("stranger").public_key.hex()

    lie("signature by a key outside the set", acct, stranger)
    lie(
        "signer counted twice",
        acct,
        lambda c: ans(c)["commit"]["signatures"].__setitem__(1, ans(c)["commit"]["signatures"][0]),
    )

    def other_key(c: dict[str, Any]) -> None:
        c["read"]["args"] = {"address": dev_signer("member2").public_key.hex()}
        ans(c)["address"] = c["read"]["args"]["address"]

    lie("proof of another key", acct, other_key)
    lie("another chain", acct, lambda c: ans(c)["header"].update(chain_id="huzhu-other"))
    lie("answer for another height", acct, lambda c: c["read"].update(height=LAST - 1))
    lie(
        "absent record stated as present",
        claim_absent,
        lambda c: ans(c).update(amount=50, status="voting"),
    )
    lie("a validator-set change hidden", acct, lambda c: c.update(follow=follow[:-1]))

    def substituted_record(c: dict[str, Any]) -> None:
        steps = copy.deepcopy(follow)
        p = steps[-1]["answer"]["proof"]
        p["value"] = p["value"][:-2] + ("00" if p["value"][-2:] != "00" else "01")
        c["follow"] = steps

    lie("a validator set substituted in its proof", acct, substituted_record)

    def substituted_set(c: dict[str, Any]) -> None:
        # a forged header carrying another set's hash, signed by that set
        fakes = [dev_signer(f"forger{i}") for i in range(4)]
        h = ans(c)["header"]
        h["validators_hash"] = validators_hash(tuple((f.public_key, 1) for f in fakes)).hex()
        block_id = header_from_json(h).hash()
        sb = Vote.sign_bytes_for(h["chain_id"], PRECOMMIT, h["height"], 0, block_id)
        ans(c)["commit"] = {
            "height": h["height"],
            "round": 0,
            "block_id": block_id.hex(),
            "signatures": [
                {"validator": f.public_key.hex(), "signature": f.sign(sb).hex()} for f in fakes
            ],
        }

    lie("a forged header signed by a substituted set", acct, substituted_set)

    def fake_change(c: dict[str, Any]) -> None:
        # a change the chain never made: its record is proven absent
        c["follow"] = [*follow, {"effective": FAKE_CHANGE, "answer": fake}]

    lie("a validator-set change that never happened", acct, fake_change)
    lie(
        "set changes out of order",
        acct,
        lambda c: c.update(follow=[follow[1], follow[0], *follow[2:]]),
    )
    return out


def _verdict(doc: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    """What node/light.py says of the case: the expected verdict written to the file."""
    from vectors_runner import run_case

    try:
        run_case(doc, case)
    except VerifyError as exc:
        msg = str(exc)
        return {"valid": False, "check": msg.split(":", 1)[0], "message": msg}
    return {"valid": True}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the file, write nothing")
    args = ap.parse_args(argv)
    text = json.dumps(build(), indent=1, sort_keys=True) + "\n"
    if args.check:
        same = OUT.exists() and OUT.read_text() == text
        print("up to date" if same else f"{OUT} is stale: run {Path(__file__).name}")
        return 0 if same else 1
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
