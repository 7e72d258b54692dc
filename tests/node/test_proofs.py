"""Section 11 end to end in process: reads with height and prove over the JSON-RPC server,
checked by the client library (node/client.py over node/light.py) from the genesis file or a
trusted block, through the validator-set changes of a chain with elections every 10 blocks;
`huzhu query --prove` exit codes; pruned heights; and the proof property on random trees."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from light_chain import DevLightChain

from node.cli import main
from node.client import RpcClient, RpcError
from node.config import RpcConfig
from node.light import VerifyError, check_proof, proof_to_json
from node.rpc import RpcServer
from node.service import NodeService
from state.crypto import sha256
from state.devkeys import dev_signer
from state.store import MemoryStore
from state.tree import EMPTY_ROOT, StateTree

LAST = 45
OLD = 20  # an older height, before two of the four set changes
M1 = dev_signer("member1").public_key
NOBODY = sha256(b"nobody")


class Net:
    """A served DevLightChain: the chain, its server URL and the record ids."""

    def __init__(self, lc: DevLightChain, url: str, claim: bytes, proposal: bytes) -> None:
        self.lc, self.url, self.claim, self.proposal = lc, url, claim, proposal


@pytest.fixture(scope="module")
def built() -> tuple[DevLightChain, bytes, bytes]:
    lc = DevLightChain(epoch_length=10, state_history=0)  # following from genesis needs it all
    lc.start_elections()
    claim, proposal = lc.populate()
    lc.run_to(LAST, rotate_every=10)
    return lc, claim, proposal


@pytest.fixture
async def net(built: tuple[DevLightChain, bytes, bytes]) -> AsyncIterator[Net]:
    lc, claim, proposal = built
    server = RpcServer(NodeService(lc.parts()), RpcConfig(listen="127.0.0.1:0"))
    await server.start()
    try:
        yield Net(lc, server.url, claim, proposal)
    finally:
        await server.stop()


def _reads(net: Net) -> list[tuple[str, dict[str, Any], bool]]:
    """(method, params, present) for every provable record kind, present and absent."""
    return [
        ("account", {"address": M1.hex()}, True),
        ("account", {"address": NOBODY.hex()}, False),
        ("pool", {"id": "medical"}, True),
        ("pool", {"id": "dental"}, False),
        ("member", {"pool": "medical", "address": M1.hex()}, True),
        ("member", {"pool": "medical", "address": NOBODY.hex()}, False),
        ("claim", {"id": net.claim.hex()}, True),
        ("claim", {"id": NOBODY.hex()}, False),
        ("proposal", {"id": net.proposal.hex()}, True),
        ("proposal", {"id": NOBODY.hex()}, False),
        ("event", {"pool": "rainfall", "round": 0}, True),
        ("event", {"pool": "rainfall", "round": 1}, False),
        ("params", {}, True),
    ]


@pytest.mark.parametrize("height", [None, OLD])
async def test_every_record_present_and_absent_verifies_from_genesis(
    net: Net, height: int | None
) -> None:
    async with RpcClient(net.url) as c:
        for method, params, present in _reads(net):
            query = {**params, "height": height}
            answer, verified = await c.verified_request(method, query, genesis=net.lc.doc)
            assert verified["present"] is present, (method, params)
            assert verified["height"] == (LAST if height is None else height)
            # four set changes (12, 22, 32, 42) up to 45; one (12) up to 20
            assert verified["validator_changes_followed"] == (4 if height is None else 1)
            assert answer["header"]["height"] == verified["height"]
            if method == "account":
                assert verified["unverified_fields"] == ["pending_nonce"]
            if method == "pool" and present:
                assert "members" in verified["unverified_fields"]
        # the record changed between the two heights, and each height proves its own
        old = await c.request("member", {"pool": "medical", "address": M1.hex(), "height": 5})
        assert old["status"] == "waiting"
        new = await c.request("member", {"pool": "medical", "address": M1.hex()})
        assert new["status"] == "active"


async def test_absent_record_answers_its_proof_only_with_prove(net: Net) -> None:
    async with RpcClient(net.url) as c:
        with pytest.raises(RpcError) as err:
            await c.claim(NOBODY)
        assert err.value.code == -32001
        answer = await c.claim(NOBODY, prove=True)
        assert set(answer) == {"proof", "header", "commit"} and answer["proof"]["value"] is None


async def test_a_trusted_block_anchors_as_the_genesis_file_does(net: Net) -> None:
    block_hash = net.lc.blocks[30].hash.hex()
    async with RpcClient(net.url) as c:
        _, verified = await c.verified_request(
            "account", {"address": M1.hex()}, trust=f"30:{block_hash}"
        )
        assert verified["anchor_height"] == 30 and verified["validator_changes_followed"] == 2
        # a change decided before the trusted block (42, decided by 40) is proven by the
        # trusted block's own state
        trust41 = f"41:{net.lc.blocks[41].hash.hex()}"
        _, verified = await c.verified_request("claim", {"id": net.claim.hex()}, trust=trust41)
        assert verified["validator_changes_followed"] == 1 and verified["present"] is True
        with pytest.raises(VerifyError, match="^anchor: header of height 30 does not hash"):
            await c.verified_request("account", {"address": M1.hex()}, trust=f"30:{'00' * 32}")
        with pytest.raises(VerifyError, match="^anchor: height 20 is below the trust anchor 30"):
            await c.verified_request(
                "account", {"address": M1.hex(), "height": 20}, trust=f"30:{block_hash}"
            )


async def test_validators_follow_every_change(net: Net) -> None:
    async with RpcClient(net.url) as c:
        assert await c.validator_changes() == [1, 12, 22, 32, 42]
        assert await c.validator_changes(after=12, limit=2) == [22, 32]
        for h in (LAST, LAST + 2):
            answer, verified = await c.verified_request(
                "validators", {"height": h}, genesis=net.lc.doc
            )
            assert answer["height"] == h and verified["validator_changes_followed"] == 4
        assert any("after the header" in f for f in verified["unverified_fields"])
        genesis_set = await c.validators(1, prove=True)  # proven by block 1's state
        assert (genesis_set["effective_height"], genesis_set["header"]["height"]) == (1, 1)
        step = await c.validators(22, prove=True)
        assert step["effective_height"] == 22 and step["header"]["height"] == 21  # e - 1
        with pytest.raises(RpcError) as err:  # `at` before the deciding block
            await c.validators(22, prove=True, at=19)
        assert err.value.code == -32001


async def test_another_genesis_is_refused(net: Net) -> None:
    other = json.loads(json.dumps(net.lc.doc))
    other["chain_id"] = "huzhu-elsewhere"
    async with RpcClient(net.url) as c:
        with pytest.raises(VerifyError, match="^header: chain_id 'huzhu-localnet' is not"):
            await c.verified_request("account", {"address": M1.hex()}, genesis=other)


async def test_a_pruned_height_answers_pruned() -> None:
    lc = DevLightChain(epoch_length=10, state_history=5)
    lc.start_elections()
    claim, proposal = lc.populate()  # to height 12
    lc.run_to(20, rotate_every=10)
    oldest = lc.chain.oldest_retained
    assert oldest == 20 - 5 + 1
    server = RpcServer(NodeService(lc.parts()), RpcConfig(listen="127.0.0.1:0"))
    await server.start()
    try:
        async with RpcClient(server.url) as c:
            for method, params, _ in _reads(Net(lc, server.url, claim, proposal)):
                for prove in (False, True):
                    with pytest.raises(RpcError) as err:
                        await c.request(method, {**params, "height": oldest - 1, "prove": prove})
                    assert (err.value.code, err.value.message) == (-32001, "pruned"), method
                with pytest.raises(RpcError) as err:
                    await c.request(method, {**params, "height": 21})
                assert err.value.code == -32001 and err.value.message != "pruned"
            await c.account(M1, height=oldest, prove=True)  # the oldest kept one answers
            # following from genesis needs the state of block 10, which decided the set of 12
            with pytest.raises(RpcError, match="pruned"):
                await c.verified_request("account", {"address": M1.hex()}, genesis=lc.doc)
            # a trusted block inside the window still works
            trust = f"18:{lc.blocks[18].hash.hex()}"
            _, verified = await c.verified_request("account", {"address": M1.hex()}, trust=trust)
            assert verified["height"] == 20
    finally:
        await server.stop()


# --- the command line -------------------------------------------------------------------------


async def _cli(argv: list[str]) -> int:
    return await asyncio.to_thread(main, argv)


async def test_cli_verifies_and_exits_1_naming_the_failed_check(
    net: Net, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(net.lc.doc))
    rpc = ["--rpc", net.url]
    argv = ["query", "account", M1.hex(), "--prove", "--genesis", str(genesis), *rpc]
    assert await _cli(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["answer"]["address"] == M1.hex() and out["verified"]["present"] is True
    assert await _cli(["query", "claim", net.claim.hex(), "--height", "20", *argv[3:]]) == 0
    assert json.loads(capsys.readouterr().out)["verified"]["height"] == 20
    assert await _cli(["query", "validators", "40", *argv[3:]]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["answer"]["height"] == 40 and got["verified"]["validator_changes_followed"] == 3
    trust = f"30:{net.lc.blocks[30].hash.hex()}"
    assert await _cli(["query", "pool", "medical", "--prove", "--trust", trust, *rpc]) == 0
    assert json.loads(capsys.readouterr().out)["verified"]["anchor_height"] == 30
    # another chain's genesis: exit 1, the failed check named
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**net.lc.doc, "chain_id": "huzhu-elsewhere"}))
    argv_other = ["query", "account", M1.hex(), "--prove", "--genesis", str(other), *rpc]
    assert await _cli(argv_other) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: verification failed: header: chain_id")
    assert (
        await _cli(["query", "account", M1.hex(), "--prove", "--trust", "30:" + "00" * 32, *rpc])
        == 1
    )
    assert "verification failed: anchor:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["query", "account", "ab" * 32, "--prove"],  # no anchor
        ["query", "account", "ab" * 32, "--genesis", "g.json"],  # an anchor without --prove
        ["query", "account", "ab" * 32, "--prove", "--genesis", "g", "--trust", "1:" + "00" * 32],
    ],
)
def test_cli_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--rpc", "http://127.0.0.1:1"])
    assert exit_.value.code == 2 and "error:" in capsys.readouterr().err


# --- the property -----------------------------------------------------------------------------

_kv = st.dictionaries(st.binary(min_size=1, max_size=12), st.binary(max_size=40), max_size=40)


def _mutations(proof: dict[str, Any]) -> list[dict[str, Any]]:
    """Every proof with one hex digit changed, anywhere in it (key, value, leaf, siblings)."""
    text = json.dumps(proof)
    out = []
    for i, ch in enumerate(text):
        if ch in "0123456789abcdef" and text[i - 1] != "\\":
            alt = "1" if ch == "0" else "0"
            try:
                out.append(json.loads(text[:i] + alt + text[i + 1 :]))
            except ValueError:
                continue
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_kv, st.binary(min_size=1, max_size=12))
def test_every_proof_verifies_and_no_altered_one_does(
    pairs: dict[bytes, bytes], probe: bytes
) -> None:
    store = MemoryStore()
    tree = StateTree(store)
    root, batch = tree.update(EMPTY_ROOT, dict(pairs))
    store.write(batch)
    for key in [*pairs, probe]:
        value = tree.get(root, key)
        assert value == pairs.get(key)
        proof = proof_to_json(key, value, tree.prove(root, key))
        assert check_proof(proof, key, root) == value
        for bad in _mutations(proof)[:: max(1, len(_mutations(proof)) // 60)]:
            with pytest.raises(VerifyError):
                check_proof(bad, key, root)


async def test_no_digit_of_a_proven_answer_can_change_unnoticed(net: Net) -> None:
    """Any one hex digit or decimal digit changed in proof, header (but its informative
    `hash`) or commit of a real answer is refused."""
    from node.light import Follower, genesis_anchor

    async with RpcClient(net.url) as c:
        follower = Follower(genesis_anchor(net.lc.doc))
        await c.follow_to(follower, LAST)
        answer = await c.account(M1, prove=True)
    args = {"address": M1.hex()}
    follower.verify_read("account", args, LAST, answer)
    checked = 0
    for part in ("proof", "header", "commit"):
        body = {k: v for k, v in answer[part].items() if k != "hash"}
        for bad in _mutations(body)[::3]:
            if part == "header":
                bad["hash"] = answer["header"]["hash"]
            with pytest.raises(VerifyError):
                follower.verify_read("account", args, LAST, {**answer, part: bad})
            checked += 1
    assert checked > 1000
