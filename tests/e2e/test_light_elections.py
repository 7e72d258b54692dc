"""Across elections: a light client verifies from genesis a chain whose validator set changed
four times (three elections of register_candidate/elect at epoch boundaries and the jailing
of a double-signer by evidence), and catches a node that hides any one of those changes
(issue 12, PROTOCOL.md section 11).

The chain is built in process with real execution, the replica's block checks and signed
commits (tests/node/light_chain.py), and served by a real RPC server over node/service.py, so
the client sees exactly what a member would.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "node"))

from light_chain import ElectionStory, election_chain  # noqa: E402
from tamper_proxy import Tamper, TamperProxy  # noqa: E402

from node.cli import main  # noqa: E402
from node.client import RpcClient  # noqa: E402
from node.config import RpcConfig  # noqa: E402
from node.light import VerifyError  # noqa: E402
from node.rpc import RpcServer  # noqa: E402
from node.service import NodeService  # noqa: E402


@pytest.fixture(scope="module")
def story() -> ElectionStory:
    return election_chain(tail=5)


@pytest.fixture
async def proxy(story: ElectionStory) -> AsyncIterator[TamperProxy]:
    server = RpcServer(NodeService(story.lc.parts()), RpcConfig(listen="127.0.0.1:0"))
    await server.start()
    try:
        async with TamperProxy(server.url) as p:
            yield p
    finally:
        await server.stop()


def test_the_chain_changed_its_set_by_elections_and_a_jailing(story: ElectionStory) -> None:
    """What the light client has to follow is really there, in the committed state."""
    lc = story.lc
    assert len(story.changes) >= 3 and story.changes == [6, 10, 14, 15]
    view = lc.chain.view()
    jailed = [c for c in view.candidates() if c.consensus_key == story.jailed]
    assert len(jailed) == 1 and jailed[0].barred_until > view.height
    results = lc.chain.block_results(13)
    assert results is not None
    evidence = [e for e in results["events"] if e["type"] == "evidence"]
    assert evidence and evidence[0]["validator"] == story.jailed.hex()
    assert evidence[0]["removed_from"] == 15
    keys_14 = {v.consensus_key for v in lc.chain.validators(14)}
    keys_15 = {v.consensus_key for v in lc.chain.validators(15)}
    assert keys_14 - keys_15 == {story.jailed}
    assert all(
        story.jailed not in {v.consensus_key for v in lc.chain.validators(h)}
        for h in range(15, view.height + 2)
    )
    assert lc.blocks[13].evidence  # the evidence travelled in the block


async def _verified(
    proxy: TamperProxy, story: ElectionStory, method: str, params: dict[str, Any], **anchor: Any
) -> tuple[Any, dict[str, Any]]:
    if not anchor:
        anchor = {"genesis": story.lc.doc}
    async with RpcClient(proxy.url) as c:
        return await c.verified_request(method, params, **anchor)


async def test_verified_from_genesis_after_the_last_change(
    proxy: TamperProxy, story: ElectionStory
) -> None:
    lc = story.lc
    last = story.changes[-1]
    member = story.members[1].address
    for height in (last, last + 2, lc.chain.height):
        answer, verified = await _verified(
            proxy, story, "account", {"address": member.hex(), "height": height}
        )
        assert answer["balance"] == lc.chain.view(height).account(member).balance
        assert verified["height"] == height and verified["anchor_height"] == 1
        # every change up to the height read was followed, each under a checked header
        followed = [e for e in (await _changes(proxy)) if 1 < e <= height]
        assert verified["validator_changes_followed"] == len(followed) >= 4
        assert verified["headers_checked"] == len(followed) + 1
        assert verified["block_hash"] == lc.blocks[height].hash.hex()


async def _changes(proxy: TamperProxy) -> list[int]:
    async with RpcClient(proxy.url) as c:
        got = await c.validator_changes()
    assert isinstance(got, list)
    return got


@pytest.mark.parametrize("height", [5, 6, 9, 12, 14, 15, 16])
async def test_the_set_of_each_height_is_the_followed_one(
    proxy: TamperProxy, story: ElectionStory, height: int
) -> None:
    """`validators` verified at heights on both sides of every change, the jailing's too."""
    answer, verified = await _verified(proxy, story, "validators", {"height": height})
    want = sorted(v.consensus_key.hex() for v in story.lc.chain.validators(height))
    assert sorted(v["consensus_key"] for v in answer["validators"]) == want
    assert verified["height"] == height


async def test_a_trusted_block_between_changes_is_an_anchor(
    proxy: TamperProxy, story: ElectionStory
) -> None:
    """--trust HEIGHT:BLOCKHASH after the first two elections: the client follows only the
    later changes, and a wrong hash for that height is refused."""
    lc = story.lc
    h = story.changes[1] + 1
    trust = f"{h}:{lc.blocks[h].hash.hex()}"
    member = story.members[1].address.hex()
    _, verified = await _verified(proxy, story, "account", {"address": member}, trust=trust)
    assert verified["anchor_height"] == h
    latest = lc.chain.height
    assert verified["validator_changes_followed"] == len(
        [e for e in await _changes(proxy) if h < e <= latest]
    )
    with pytest.raises(VerifyError, match=r"^anchor: header of height \d+ does not hash"):
        await _verified(
            proxy, story, "account", {"address": member}, trust=f"{h}:{lc.blocks[h + 1].hash.hex()}"
        )


def _hide(hidden: int) -> Tamper:
    def rewrite(method: str, params: dict[str, Any], result: Any) -> Any:
        return [e for e in result if e != hidden] if method == "validator_changes" else result

    return Tamper(f"hide {hidden}", rewrite, methods=frozenset({"validator_changes"}))


#: the election's change at 14 is followed at once by the jailing's at 15: the step for 15 is
#: proven under header 14 (e - 1), which the hidden set of 14 signed
ADJACENT = 2


@pytest.mark.parametrize(
    "which",
    [
        0,
        1,
        ADJACENT,
        3,
    ],
)
async def test_a_node_hiding_any_one_change_is_caught(
    proxy: TamperProxy,
    story: ElectionStory,
    which: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Whichever change the node leaves out of validator_changes (an election's or the
    jailing's), the next header the client checks carries another set's hash."""
    hidden = story.changes[which]
    proxy.tamper = _hide(hidden)
    member = story.members[1].address.hex()
    with pytest.raises(VerifyError, match=r"^validators: hash at height \d+ does not match"):
        await _verified(proxy, story, "account", {"address": member})
    assert proxy.tamper.told >= 1
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(story.lc.doc))
    argv = ["query", "account", member, "--prove", "--genesis", str(genesis), "--rpc", proxy.url]
    assert await asyncio.to_thread(main, argv) == 1
    err = capsys.readouterr().err
    assert "verification failed: validators: hash at height" in err


async def test_hiding_a_change_that_kept_the_set_is_harmless(
    proxy: TamperProxy, story: ElectionStory
) -> None:
    """An election that re-elected the same set (its record exists, the set is equal) is no
    change to the light client: leaving it out hides nothing, and the read still verifies."""
    listed = await _changes(proxy)
    same = [e for e in listed if e > 1 and e not in story.changes]
    assert same, "the story has re-elections that kept the set"
    proxy.tamper = _hide(same[0])
    member = story.members[1].address.hex()
    answer, _ = await _verified(proxy, story, "account", {"address": member})
    assert answer["address"] == member


async def test_hiding_a_change_followed_at_once_by_another(
    proxy: TamperProxy, story: ElectionStory
) -> None:
    """With the change at 14 hidden, the step for 15 is proven under header 14 (the last block
    before 15), which carries the hidden set's hash: the very next header checked refuses it,
    for a read after 15 as for a read at 14 itself."""
    hidden = story.changes[ADJACENT]
    assert story.changes[ADJACENT + 1] == hidden + 1
    proxy.tamper = _hide(hidden)
    member = story.members[1].address
    with pytest.raises(VerifyError, match=rf"^validators: hash at height {hidden} does not"):
        await _verified(proxy, story, "account", {"address": member.hex()})
    with pytest.raises(VerifyError, match=rf"^validators: hash at height {hidden} does not"):
        await _verified(proxy, story, "account", {"address": member.hex(), "height": hidden})
