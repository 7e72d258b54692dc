"""Shared fixtures for the node tests: a fake NodeAPI and a running RpcServer on 127.0.0.1.

The fake is a test double of the runtime (node/service.py implements the real one): a few
accounts, one pool, blocks 1..3, a mempool admission that decodes the transaction with the
real state.tx.decode_tx, and an event hook the tests fire by hand. It answers every read
of node/methods.py's table: RpcServer refuses a node that lacks one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from node.api import EventListener, InvalidParams, NotFound, timeout_result
from node.config import RpcConfig
from node.rpc import RpcServer
from state.crypto import Signer, sha256
from state.errors import TxError
from state.params import ChainParams
from state.tx import decode_tx, tx_to_json

CHAIN_ID = "huzhu-test"
TREASURY = Signer(sha256(b"test treasury"))
PARAMS = ChainParams(treasury=TREASURY.public_key, min_fee=2)

#: the one proposal the fake knows, as the `proposal` method answers it
PROPOSAL: dict[str, Any] = {
    "id": "a1" * 32,
    "scope": "medical",
    "proposer": "b2" * 32,
    "changes": {"max_claim": 8000},
    "title": "raise max_claim",
    "text_hash": "c3" * 32,
    "opened_at": 2,
    "closes_at": 52,
    "electorate": 3,
    "yes": 1,
    "no": 0,
    "abstain": 0,
    "status": "voting",
    "enact_at": None,
    "gov": {k: v for k, v in PARAMS.to_json().items() if k.startswith("gov_")},
}

#: the one parametric event the fake knows (pool medical, round 0), as `event` answers it
EVENT: dict[str, Any] = {
    "pool": "medical",
    "round": 0,
    "value": 220,
    "height": 2,
    "eligible": 3,
    "per_member": 500,
    "fee_bps": 800,
    "collect_until": 1002,
    "escrow": 1000,
    "collected": 1,
}


class FakeNode:
    """A NodeAPI implementation with fixed data; records what it was asked."""

    chain_id = CHAIN_ID
    chain_params = PARAMS  # (`params` is the RPC method of that name)

    def __init__(self) -> None:
        self.height = 3
        self.calls: list[tuple[str, Any]] = []
        self.received: list[bytes] = []
        self.listeners: list[EventListener] = []
        self.nonces: dict[bytes, int] = {}
        self.commit_delay: float | None = 0.0  # None: never included (commit times out)

    def subscribe_events(
        self, listener: EventListener, wants: Callable[[str], bool] | None = None
    ) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            listener(kind, data)

    async def status(self) -> dict[str, Any]:
        return {
            "chain_id": CHAIN_ID,
            "node_id": "ab" * 32,
            "height": self.height,
            "block_hash": "cd" * 32,
            "state_root": "ef" * 32,
            "time": "2026-11-26T00:00:03Z",
            "validator": True,
            "catching_up": False,
            "peers": 0,
        }

    async def broadcast_tx(self, wire: bytes, mode: str, timeout: float = 30.0) -> dict[str, Any]:
        self.calls.append(("broadcast_tx", (mode, timeout)))
        h = sha256(wire)
        base = {"hash": h.hex(), "code": 0, "error": None, "log": ""}
        if mode == "async":
            self.received.append(wire)
            return base
        try:
            tx = decode_tx(wire, chain_id=self.chain_id, params=PARAMS)
        except TxError as exc:
            return {**base, "code": int(exc.code), "error": exc.code.error, "log": exc.log}
        self.received.append(wire)
        self.nonces[tx.sender] = tx.nonce + 1
        if mode == "commit":
            if self.commit_delay is None or self.commit_delay > timeout:
                await asyncio.sleep(timeout)
                return timeout_result(h)
            await asyncio.sleep(self.commit_delay)
            return {**base, "height": self.height + 1, "index": 0}
        return base

    async def tx(self, hash: bytes) -> dict[str, Any]:
        for wire in self.received:
            if sha256(wire) == hash:
                tx = decode_tx(wire, chain_id=self.chain_id, params=PARAMS)
                rec = {"hash": hash.hex(), "height": 1, "index": 0, "code": 0, "error": None}
                return {**rec, "log": "", **tx_to_json(tx)}
        raise NotFound(f"transaction {hash.hex()}")

    async def block(self, height: int | None) -> dict[str, Any]:
        h = self.height if height is None else height
        if not 1 <= h <= self.height:
            raise NotFound(f"block at height {h}")
        return {"height": h, "hash": f"{h:064x}", "txs": [], "commit": None}

    def account(  # a plain def: allowed by NodeAPI
        self, address: bytes, height: Any = None, prove: Any = False
    ) -> dict[str, Any]:
        self.calls.append(("account", address))
        nonce = self.nonces.get(address, 0)
        return {
            "address": address.hex(),
            "balance": 1000,
            "nonce": nonce,
            "pending_nonce": nonce,
            "kyc": False,
        }

    async def pool(self, id: str, height: Any = None, prove: Any = False) -> Any:
        if id != "medical":
            raise NotFound(f"pool {id!r}")
        return {"id": id, "name": "Medical", "balance": 0, "params": {}, "members": {}}

    async def member(
        self, pool: str, address: bytes, height: Any = None, prove: Any = False
    ) -> Any:
        raise NotFound(f"member {address.hex()} of pool {pool!r}")

    async def claim(self, id: bytes, height: Any = None, prove: Any = False) -> Any:
        if id == b"\x01" * 32:
            raise RuntimeError("boom")  # a bug in the node: must become -32603
        raise NotFound(f"claim {id.hex()}")

    async def claims(self, pool: str, status: str | None, limit: int) -> list[dict[str, Any]]:
        self.calls.append(("claims", (pool, status, limit)))
        if pool != "medical":
            raise NotFound(f"pool {pool!r}")
        return []

    async def proposal(self, id: bytes, height: Any = None, prove: Any = False) -> Any:
        if id.hex() == PROPOSAL["id"]:
            return PROPOSAL
        raise NotFound(f"proposal {id.hex()}")

    async def proposals(self, scope: str, status: str | None, limit: int) -> list[dict[str, Any]]:
        self.calls.append(("proposals", (scope, status, limit)))
        if scope not in ("chain", "medical"):
            raise NotFound(f"scope {scope!r}")
        return [PROPOSAL][:limit] if scope == "medical" and status in (None, "voting") else []

    async def event(
        self, pool: str, round: int, height: int | None = None, prove: Any = False
    ) -> dict[str, Any]:
        self.calls.append(("event", (pool, round)))
        if pool != "medical":
            raise NotFound(f"pool {pool!r}")
        if round != 0:
            raise NotFound(f"event of pool {pool!r} round {round}")
        return EVENT

    async def events(self, pool: str, limit: int) -> list[dict[str, Any]]:
        self.calls.append(("events", (pool, limit)))
        if pool != "medical":
            raise NotFound(f"pool {pool!r}")
        return [EVENT][:limit]

    async def params(self, height: int | None, prove: Any = False) -> dict[str, Any]:
        self.calls.append(("params", height))
        if height is not None and height != self.height:
            raise NotFound(f"params at height {height}: state not retained")
        return PARAMS.to_json()

    async def validators(self, height: int | None, prove: Any = False, at: Any = None) -> Any:
        h = self.height + 1 if height is None else height
        if not 1 <= h <= self.height + 2:
            raise NotFound(f"validators at height {h}")
        return {"height": h, "validators": []}

    async def validator_changes(self, after: int, limit: int) -> list[int]:
        return [1]

    async def candidates(self) -> list[dict[str, Any]]:
        return []

    async def genesis(self) -> dict[str, Any]:
        return {
            "chain_id": CHAIN_ID,  # what clients sign with, even if chain_id is changed
            "params": {**PARAMS.to_json()},
        }

    async def net_info(self) -> dict[str, Any]:
        raise InvalidParams("peer", "refused by the node")  # exercised as -32602

    async def txs(
        self, address: bytes, limit: int, before: tuple[int, int] | None
    ) -> list[dict[str, Any]]:
        self.calls.append(("txs", (address, limit, before)))
        return []


@pytest.fixture
def fake_node() -> FakeNode:
    return FakeNode()


@pytest.fixture
def rpc_config() -> RpcConfig:
    return RpcConfig(listen="127.0.0.1:0")


@pytest.fixture
async def rpc_server(fake_node: FakeNode, rpc_config: RpcConfig) -> AsyncIterator[RpcServer]:
    server = RpcServer(fake_node, rpc_config)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
