"""A lying node: the light client behind a tampering proxy refuses every lie, each with its own
message, and accepts the honest answers (issue 12, PROTOCOL.md section 11).

The node is a real RPC server (node/rpc.py + node/service.py) over a chain built in process
with real execution and signed commits (light_chain.py), whose validator set changed by
elections and a jailing before the height read, so following the set from genesis is part of
every verification. tamper_proxy.py sits in front of it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from light_chain import POOL, ElectionStory, LightChain, election_chain
from tamper_proxy import HONEST, Rewrite, Route, Tamper, TamperProxy, flip_hex

from node.cli import main
from node.client import RpcClient
from node.config import RpcConfig
from node.light import VerifyError
from node.rpc import RpcServer
from node.service import NodeService


@dataclass
class Served:
    story: ElectionStory
    server: RpcServer
    other: RpcServer  # another chain: same validator keys, another chain_id
    proxy: TamperProxy
    genesis_file: Path

    @property
    def doc(self) -> dict[str, Any]:
        return self.story.lc.doc


async def serve(lc: LightChain) -> RpcServer:
    server = RpcServer(NodeService(lc.parts()), RpcConfig(listen="127.0.0.1:0"))
    await server.start()
    return server


@pytest.fixture(scope="module")
def stories() -> tuple[ElectionStory, ElectionStory]:
    return election_chain(), election_chain("huzhu-other")


@pytest.fixture
async def served(
    stories: tuple[ElectionStory, ElectionStory], tmp_path: Path
) -> AsyncIterator[Served]:
    story, other = stories
    genesis_file = tmp_path / "genesis.json"
    genesis_file.write_text(json.dumps(story.lc.doc))
    s1 = await serve(story.lc)
    s2 = await serve(other.lc)
    try:
        async with TamperProxy(s1.url) as proxy:
            yield Served(story, s1, s2, proxy, genesis_file)
    finally:
        await s1.stop()
        await s2.stop()


async def test_the_proxy_passes_honest_answers_and_tells_each_lie(served: Served) -> None:
    """The harness itself: honest answers are the node's, a rewrite reaches the client and is
    counted, a rerouted call answers from the other upstream."""
    addr = served.story.members[1].address.hex()
    async with RpcClient(served.server.url) as direct, RpcClient(served.proxy.url) as c:
        served.proxy.tamper = HONEST
        assert await c.account(addr) == await direct.account(addr)
        assert HONEST.told == 0

        def richer(method: str, params: dict[str, Any], result: Any) -> Any:
            return dict(result, balance=result["balance"] + 1)

        lie = Tamper("balance", rewrite=richer, methods=frozenset({"account"}))
        served.proxy.tamper = lie
        assert (await c.account(addr))["balance"] == (await direct.account(addr))["balance"] + 1
        assert (await c.status())["chain_id"] == "huzhu-light"  # other methods untouched
        assert lie.told == 1
        other = served.other.url
        served.proxy.tamper = Tamper("chain", route=lambda m, p: (m, p, other))
        assert (await c.status())["chain_id"] == "huzhu-other"


# ---------------------------------------------------------------------- the lies

READS = frozenset({"account", "pool", "member", "claim", "proposal", "params"})


def _rewrite_proven(change: Callable[[dict[str, Any]], None]) -> Rewrite:
    """Apply `change` to the answer of the read itself (not the validator-set steps)."""

    def rewrite(method: str, params: dict[str, Any], result: Any) -> Any:
        if method in READS and params.get("prove"):
            change(result)
        return result

    return rewrite


def _balance_up(r: dict[str, Any]) -> None:
    r["balance"] += 1_000


def _proof_value(r: dict[str, Any]) -> None:
    """The stored bytes say another balance (msgpack of the record, one digit changed)."""
    r["proof"]["value"] = flip_hex(r["proof"]["value"])


def _proof_step(r: dict[str, Any]) -> None:
    level = r["proof"]["siblings"][0]
    level[3] = flip_hex(level[3], 0)


def _header_field(r: dict[str, Any]) -> None:
    r["header"]["time_ms"] += 1


def _header_and_block_id(r: dict[str, Any]) -> None:
    """A header with another state_root, and the commit claiming it signed that header."""
    h = r["header"]
    h["state_root"] = flip_hex(h["state_root"])
    r["commit"]["block_id"] = header_hash(h)


def _signature(r: dict[str, Any]) -> None:
    sig = r["commit"]["signatures"][0]
    sig["signature"] = flip_hex(sig["signature"], 10)


def _keep_signatures(n: int) -> Callable[[dict[str, Any]], None]:
    def drop(r: dict[str, Any]) -> None:
        r["commit"]["signatures"] = r["commit"]["signatures"][:n]

    return drop


def _duplicate_signer(r: dict[str, Any]) -> None:
    """Two signatures of one validator counted as two (the set is 4: 2 + a repeat = 3)."""
    sigs = r["commit"]["signatures"]
    r["commit"]["signatures"] = [sigs[0], sigs[1], sigs[0]]


def header_hash(h: dict[str, Any]) -> str:
    """sha256 of the canonical msgpack of the header's fields (bins as bytes)."""
    from consensus.types import BlockHeader

    fields = {k: v for k, v in h.items() if k != "hash"}
    for k, v in fields.items():
        if isinstance(v, str) and k != "chain_id":
            fields[k] = bytes.fromhex(v)
    return BlockHeader.from_obj(fields).hash().hex()


def _other_key(address: str) -> Route:
    """Ask the node for `address` instead: its honest, valid proof of another account."""

    def route(method: str, params: dict[str, Any]) -> tuple[str, dict[str, Any], str | None]:
        if method == "account":
            params = dict(params, address=address)
        return method, params, None

    return route


def _other_key_relabelled(address: str) -> tuple[Route, Rewrite]:
    """The other account's proof, with its key and address relabelled as the asked one."""

    def rewrite(method: str, params: dict[str, Any], result: Any) -> Any:
        if method == "account" and params.get("prove"):
            result["address"] = params["address"]
            result["proof"]["key"] = (b"s/a/" + bytes.fromhex(params["address"])).hex()
        return result

    return _other_key(address), rewrite


def _substituted_set(rows: list[dict[str, Any]]) -> Rewrite:
    """Every proven `validators` answer (a set-change step) names `rows` instead."""

    def rewrite(method: str, params: dict[str, Any], result: Any) -> Any:
        if method == "validators" and params.get("prove"):
            result["validators"] = rows
        return result

    return rewrite


def _step(change: Callable[[dict[str, Any]], None]) -> Rewrite:
    """Apply `change` to the proven answers of the set-change steps only."""

    def rewrite(method: str, params: dict[str, Any], result: Any) -> Any:
        if method == "validators" and params.get("prove"):
            change(result)
        return result

    return rewrite


def _hide_change(hidden: int) -> Rewrite:
    def rewrite(method: str, params: dict[str, Any], result: Any) -> Any:
        if method == "validator_changes":
            return [e for e in result if e != hidden]
        return result

    return rewrite


def _stale_step(real: int, shown: int) -> Route:
    """Asked for the change at `real`, answer with the proven step of the change `shown`."""

    def route(method: str, params: dict[str, Any]) -> tuple[str, dict[str, Any], str | None]:
        if method == "validators" and params.get("prove") and params.get("height") == real:
            params = dict(params, height=shown, at=max(shown - 2, 1))
        return method, params, None

    return route


@dataclass(frozen=True)
class Lie:
    tamper: Tamper
    refused: str  # regex the refusal must match: it names the failed check


def lies(served: Served) -> list[Lie]:
    story = served.story
    other_member = story.members[0].address.hex()
    fake_rows = [
        {"operator": "00" * 32, "consensus_key": k.hex(), "name": "x", "power": 1}
        for k in sorted(story.lc.keys)[:4]
    ]
    route, rewrite = _other_key_relabelled(other_member)
    other_url = served.other.url
    return [
        Lie(Tamper("value", _rewrite_proven(_balance_up)), r"^answer: account field 'balance'"),
        Lie(Tamper("proof_value", _rewrite_proven(_proof_value)), r"^proof: .*state_root"),
        Lie(Tamper("proof_step", _rewrite_proven(_proof_step)), r"^proof: .*state_root"),
        Lie(Tamper("header_field", _rewrite_proven(_header_field)), r"^commit: block_id"),
        Lie(
            Tamper("header_resigned", _rewrite_proven(_header_and_block_id)),
            r"^commit: bad signature",
        ),
        Lie(
            Tamper("signature", _rewrite_proven(_signature)),
            r"^commit: bad signature by [0-9a-f]{64}",
        ),
        Lie(
            Tamper("below_two_thirds", _rewrite_proven(_keep_signatures(2))),
            r"^commit: signatures of 50% of voting power, need > 2/3",
        ),
        Lie(
            Tamper("duplicate_signer", _rewrite_proven(_duplicate_signer)),
            r"^commit: [0-9a-f]{64} signs twice",
        ),
        Lie(Tamper("validator_set", _substituted_set(fake_rows)), r"^validators: answer differs"),
        Lie(Tamper("step_signature", _step(_signature)), r"^commit: bad signature by [0-9a-f]{64}"),
        Lie(
            Tamper("step_below_two_thirds", _step(_keep_signatures(2))),
            r"^commit: signatures of 50% of voting power, need > 2/3",
        ),
        Lie(Tamper("step_proof", _step(_proof_step)), r"^proof: .*state_root"),
        Lie(
            Tamper("other_key", route=_other_key(other_member)), r"^proof: for key [0-9a-f]+, asked"
        ),
        Lie(Tamper("other_key_relabelled", rewrite, route), r"^proof: .*state_root"),
        Lie(
            Tamper("other_chain", route=lambda m, p: (m, p, other_url)),
            r"^header: chain_id 'huzhu-other' is not the trusted 'huzhu-light'",
        ),
        Lie(
            Tamper("hidden_change", _hide_change(story.changes[1])),
            rf"^validators: hash at height {story.changes[2] - 1} does not match header",
        ),
        Lie(
            Tamper("hidden_last_change", _hide_change(story.changes[-1])),
            r"^validators: hash at height \d+ does not match header",
        ),
        Lie(
            Tamper("stale_step", route=_stale_step(story.changes[2], story.changes[1])),
            rf"^validators: answer is for change {story.changes[1]}, asked {story.changes[2]}",
        ),
    ]


LIE_NAMES = [
    "value",
    "proof_value",
    "proof_step",
    "header_field",
    "header_resigned",
    "signature",
    "below_two_thirds",
    "duplicate_signer",
    "validator_set",
    "step_signature",
    "step_below_two_thirds",
    "step_proof",
    "other_key",
    "other_key_relabelled",
    "other_chain",
    "hidden_change",
    "hidden_last_change",
    "stale_step",
]


def _lie(served: Served, name: str) -> Lie:
    found = [lie for lie in lies(served) if lie.tamper.name == name]
    assert len(found) == 1
    return found[0]


async def _verify(served: Served, address: str, height: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {"address": address}
    if height is not None:
        params["height"] = height
    async with RpcClient(served.proxy.url) as c:
        answer, verified = await c.verified_request("account", params, genesis=served.doc)
    assert answer["address"] == address
    return verified


async def _cli(served: Served, argv: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    rc = await asyncio.to_thread(
        main,
        [
            "query",
            *argv,
            "--prove",
            "--genesis",
            str(served.genesis_file),
            "--rpc",
            served.proxy.url,
        ],
    )
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("height", [None, 17])
async def test_the_honest_node_is_believed(
    served: Served, height: int | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the proxy, untouched: verified from genesis across every set change."""
    story = served.story
    addr = story.members[1].address.hex()
    verified = await _verify(served, addr, height)
    assert verified["height"] == (height or story.lc.chain.height)
    assert verified["validator_changes_followed"] >= 4 and verified["present"]
    argv = ["account", addr] + ([] if height is None else ["--height", str(height)])
    rc, out, err = await _cli(served, argv, capsys)
    assert rc == 0, err
    printed = json.loads(out)
    assert printed["verified"]["block_hash"] == verified["block_hash"]
    at = story.lc.chain.view(verified["height"])
    assert printed["answer"]["balance"] == at.account(bytes.fromhex(addr)).balance


async def test_two_thirds_plus_one_signature_is_enough(served: Served) -> None:
    """The boundary of the commit check: 3 of 4 (75% > 2/3) is accepted, 2 of 4 is not."""
    served.proxy.tamper = Tamper("three", _rewrite_proven(_keep_signatures(3)))
    await _verify(served, served.story.members[1].address.hex(), None)
    assert served.proxy.tamper.told >= 1


@pytest.mark.parametrize("name", LIE_NAMES)
async def test_each_lie_is_refused_naming_the_failed_check(
    served: Served, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lie = _lie(served, name)
    served.proxy.tamper = lie.tamper
    addr = served.story.members[1].address.hex()
    with pytest.raises(VerifyError) as refused:
        await _verify(served, addr, None)
    assert re.search(lie.refused, str(refused.value)), str(refused.value)
    assert lie.tamper.told >= 1, "the proxy never told this lie"
    rc, out, err = await _cli(served, ["account", addr], capsys)
    assert rc == 1 and out == ""
    assert err.startswith("error: verification failed: "), err
    assert re.search(lie.refused, err.removeprefix("error: verification failed: ")), err


def _set_field(path: list[Any], value: Callable[[Any], Any]) -> Callable[[dict[str, Any]], None]:
    def change(r: dict[str, Any]) -> None:
        obj = r
        for p in path[:-1]:
            obj = obj[p]
        obj[path[-1]] = value(obj[path[-1]])

    return change


def _kind_reads(served: Served) -> dict[str, dict[str, Any]]:
    addr = served.story.members[1].address.hex()
    return {
        "pool": {"id": POOL},
        "member": {"pool": POOL, "address": addr},
        "params": {},
        "claim": {"id": served.story.claim.hex()},
        "proposal": {"id": served.story.proposal.hex()},
    }


#: (kind, what is changed, how, refusal): a changed field of each provable record kind
KIND_LIES = [
    ("pool", "balance", _set_field(["balance"], lambda v: v + 1), r"^answer: pool field 'balance'"),
    ("pool", "params", _set_field(["params", "max_claim"], lambda v: v * 2), "field 'params'"),
    ("member", "paid_through", _set_field(["paid_through"], lambda v: v + 100), "'paid_through'"),
    ("member", "status", _set_field(["status"], lambda v: "lapsed"), r"field 'status'"),
    ("params", "min_fee", _set_field(["min_fee"], lambda v: v + 1), r"^answer: params field"),
    ("member", "absent", lambda r: r["proof"].update(value=None), r"^proof: .*state_root"),
    ("claim", "voters", _set_field(["voters", 0, "approve"], lambda v: not v), "field 'voters'"),
    ("claim", "status", _set_field(["status"], lambda v: "approved"), r"field 'status'"),
    ("proposal", "yes", _set_field(["yes"], lambda v: v + 3), r"^answer: proposal field 'yes'"),
]


@pytest.mark.parametrize(
    "kind,what,change,refused", KIND_LIES, ids=[f"{k}-{w}" for k, w, *_ in KIND_LIES]
)
async def test_a_changed_field_of_each_record_kind_is_refused(
    served: Served, kind: str, what: str, change: Any, refused: str
) -> None:
    args = _kind_reads(served)[kind]
    async with RpcClient(served.proxy.url) as c:
        await c.verified_request(kind, args, genesis=served.doc)  # honest: believed
        served.proxy.tamper = Tamper(what, _rewrite_proven(change))
        with pytest.raises(VerifyError) as err:
            await c.verified_request(kind, args, genesis=served.doc)
    assert re.search(refused, str(err.value)), str(err.value)


async def test_derived_fields_are_reported_unverified_not_believed(served: Served) -> None:
    """A pool's member counts are not a stored record of the answer's proof: a node can lie
    about them, and the verifier says it did not check them instead of vouching for them."""
    served.proxy.tamper = Tamper(
        "members", _rewrite_proven(_set_field(["members", "active"], lambda v: v + 50))
    )
    async with RpcClient(served.proxy.url) as c:
        answer, verified = await c.verified_request("pool", {"id": POOL}, genesis=served.doc)
    assert answer["members"]["active"] >= 50
    assert "members" in verified["unverified_fields"]


async def test_a_substituted_validator_set_read_is_refused(served: Served) -> None:
    """`validators` itself: the set the node shows for a height after the changes must be
    the one followed from genesis."""
    lc = served.story.lc
    others = [
        k for k in sorted(lc.keys) if k not in {v.consensus_key for v in lc.chain.validators(17)}
    ]

    def swap(method: str, params: dict[str, Any], result: Any) -> Any:
        if method == "validators" and not params.get("prove"):
            result["validators"][0]["consensus_key"] = others[0].hex()
        return result

    async with RpcClient(served.proxy.url) as c:
        answer, _ = await c.verified_request("validators", {"height": 17}, genesis=served.doc)
        assert len(answer["validators"]) == 4
        served.proxy.tamper = Tamper("set", swap)
        with pytest.raises(VerifyError, match=r"^validators: set of height 17 is not the followed"):
            await c.verified_request("validators", {"height": 17}, genesis=served.doc)


async def test_a_trusted_block_anchor_cannot_be_replaced_by_the_node(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--trust HEIGHT:BLOCKHASH`: the honest node is believed from that block; a node that
    answers another block for the trusted height is refused by the anchor check."""
    lc = served.story.lc
    h = served.story.changes[-1]
    trust = f"{h}:{lc.blocks[h].hash.hex()}"
    addr = served.story.members[1].address.hex()
    argv = ["query", "account", addr, "--prove", "--trust", trust, "--rpc", served.proxy.url]
    assert await asyncio.to_thread(main, argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["verified"]["anchor_height"] == h

    def other_block(method: str, params: dict[str, Any]) -> tuple[str, dict[str, Any], None]:
        if params.get("height") == h:
            params = dict(params, height=h + 1)
        return method, params, None

    served.proxy.tamper = Tamper("anchor", route=other_block)
    assert await asyncio.to_thread(main, argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: verification failed: anchor: header of height"), err
