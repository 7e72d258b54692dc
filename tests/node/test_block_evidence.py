"""The `block` result's `evidence` (issues 13/14): a block carrying duplicate-vote evidence
answers who signed which two block ids at which height, round and vote type, over `block`
and in the `new_block` event alike; a block without any answers []."""

from __future__ import annotations

import asyncio

import aiohttp
from chain_net import GENESIS, ChainNet, serve
from jsonschema import Draft7Validator
from rpc_helpers import ws_call

from consensus.types import PREVOTE, DuplicateVoteEvidence, Vote
from node.methods import BY_NAME
from state.devkeys import dev_signer
from state.store import MemoryStore

OFFENDER = dev_signer("validator2")  # a genesis validator's consensus key


def _vote(block_id: bytes | None) -> Vote:
    sign = Vote.sign_bytes_for(GENESIS.chain_id, PREVOTE, 1, 2, block_id)
    return Vote(PREVOTE, 1, 2, block_id, OFFENDER.public_key, OFFENDER.sign(sign))


async def test_block_answers_the_evidence_it_carries() -> None:
    net = ChainNet(MemoryStore())
    net.commit([])
    ev = DuplicateVoteEvidence.of(_vote(b"\xaa" * 32), _vote(None))
    net.commit([], evidence=[ev])
    async for c in serve(net):
        plain = await c.block(1)
        assert plain["evidence"] == []
        blk = await c.block(2)
        Draft7Validator(BY_NAME["block"].result_schema).validate(blk)
        ids = {ev.vote_a.block_id, ev.vote_b.block_id}
        assert blk["evidence"] == [
            {
                "id": ev.id.hex(),
                "validator": OFFENDER.public_key.hex(),
                "height": 1,
                "round": 2,
                "type": "prevote",
                "block_id_a": None if ev.vote_a.block_id is None else ev.vote_a.block_id.hex(),
                "block_id_b": None if ev.vote_b.block_id is None else ev.vote_b.block_id.hex(),
            }
        ]
        assert ids == {b"\xaa" * 32, None}
        # the evidence was executed too: the offender's operator is barred
        barred = [x for x in await c.candidates() if x["barred_until"] > 0]
        assert [x["consensus_key"] for x in barred] == [OFFENDER.public_key.hex()]


async def test_new_block_event_carries_the_evidence() -> None:
    net = ChainNet(MemoryStore())
    ev = DuplicateVoteEvidence.of(_vote(b"\x01" * 32), _vote(b"\x02" * 32))
    async for c in serve(net):
        assert net.service is not None
        async with aiohttp.ClientSession() as s, s.ws_connect(net.url + "ws") as ws:
            await ws_call(ws, "subscribe", {"event": "new_block"}, 1)
            h = net.commit([], evidence=[ev])
            net.service.on_committed(h, net.blocks[h])
            got = (await asyncio.wait_for(ws.receive_json(), 5))["params"]["data"]
        assert got == await c.block(h)
        assert [(e["type"], e["block_id_a"], e["block_id_b"]) for e in got["evidence"]] == [
            ("prevote", "01" * 32, "02" * 32)
        ]
