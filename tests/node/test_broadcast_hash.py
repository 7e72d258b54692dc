"""`broadcast_tx`'s answer hash in sync mode comes from the tx admission decoded when its bytes
are the offer's, else from hashing the offer: either way it is sha256 of the bytes offered,
whatever admission answered."""

from __future__ import annotations

from typing import Any

from chain_net import ChainParts

from node.service import NodeService
from state.chain import Chain
from state.crypto import sha256
from state.devkeys import dev_signer, localnet_genesis
from state.errors import Code
from state.genesis import parse_genesis
from state.mempool import Mempool
from state.store import MemoryStore
from state.tx import CheckResult, build_tx


def _service() -> tuple[NodeService, Mempool, str]:
    genesis = parse_genesis(localnet_genesis())
    chain = Chain.init_genesis(MemoryStore(), genesis)
    mempool = Mempool(chain.view)
    return NodeService(ChainParts(chain, mempool=mempool)), mempool, genesis.chain_id


async def test_sync_answers_hash_the_offered_bytes_admitted_refused_or_malformed() -> None:
    service, mempool, chain_id = _service()
    m1, m2 = dev_signer("member1"), dev_signer("member2")
    tx = build_tx(m1, chain_id, "transfer", 0, 1, {"to": m2.public_key, "amount": 5})
    offer = bytes(bytearray(tx.wire))  # equal bytes, another object (as the RPC layer gives)
    first = await service.broadcast_tx(offer, "sync")
    assert first == {"hash": sha256(offer).hex(), "code": 0, "error": None, "log": ""}
    again = await service.broadcast_tx(bytes(bytearray(tx.wire)), "sync")
    assert again["hash"] == sha256(offer).hex() and again["error"] == "duplicate"
    malformed = b"\x93\x01\x02"
    bad = await service.broadcast_tx(malformed, "sync")
    assert bad["hash"] == sha256(malformed).hex() and bad["error"] == "malformed"
    assert len(mempool) == 1


async def test_a_result_carrying_other_bytes_never_lends_its_hash() -> None:
    service, _, chain_id = _service()
    m1, m2 = dev_signer("member1"), dev_signer("member2")
    other = build_tx(m1, chain_id, "transfer", 0, 1, {"to": m2.public_key, "amount": 5})
    offer = build_tx(m1, chain_id, "transfer", 0, 2, {"to": m2.public_key, "amount": 5}).wire

    class _Parts:
        def submit(self, wire: bytes) -> Any:
            return CheckResult(Code.DUPLICATE, "", other)

    service._p = _Parts()  # type: ignore[assignment]
    answer = await service.broadcast_tx(offer, "sync")
    assert answer["hash"] == sha256(offer).hex() != other.hash.hex()
    assert (answer["code"], answer["error"]) == (int(Code.DUPLICATE), "duplicate")
