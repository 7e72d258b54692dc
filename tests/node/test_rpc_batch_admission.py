"""A JSON-RPC batch of sync broadcast_tx calls admitted as one request (node/rpcdispatch.py
`Dispatcher.broadcast_many`, NodeService.broadcast_txs, Admission with a client's several
txs): the same answer, byte for byte, as call by call, whatever the batch holds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from chain_net import ALICE, BOB, CAROL, GENESIS, ChainNet, ChainParts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.admission import Admission
from node.config import RpcConfig
from node.rpcdispatch import Dispatcher
from node.service import NodeService
from node.workers import WorkerPool
from state.crypto import Signer, sha256
from state.mempool import Mempool, MempoolLimits
from state.store import MemoryStore
from state.tx import CheckResult, build_tx

CHAIN = GENESIS.chain_id


def transfer(signer: Signer, nonce: int, fee: int = 1) -> str:
    return build_tx(
        signer, CHAIN, "transfer", nonce, fee, {"to": BOB.public_key, "amount": 1}
    ).wire.hex()


def forged(hex_wire: str) -> str:
    last = int(hex_wire[-2:], 16) ^ 1
    return hex_wire[:-2] + f"{last:02x}"


# Wires (hex) of every admission answer: admitted, nonce n then n + 1, a gap (bad nonce),
# a bad signature, malformed bytes, a wrong chain, no funds; mempool_full comes from max_txs.
TXS = [
    *(transfer(ALICE, n) for n in range(4)),
    transfer(CAROL, 0),
    transfer(ALICE, 9),
    forged(transfer(ALICE, 1)),
    "c1",
    "9301",
    build_tx(
        ALICE, "other-chain", "transfer", 0, 1, {"to": BOB.public_key, "amount": 1}
    ).wire.hex(),
    transfer(CAROL, 1, fee=10**15),
]


class AdmittingParts(ChainParts):
    """The runtime's submit and submit_many (node/runtime.py) over a real Admission."""

    def __init__(self, net: ChainNet, admission: Admission) -> None:
        super().__init__(net.chain, net.blocks, admission.mempool)
        self.admission = admission

    def submit(self, wire: bytes) -> Any:
        return self._one(self.admission.admit([wire], wait=False))

    async def _one(self, pending: Any) -> CheckResult:
        return (await pending)[0]

    def submit_many(self, wires: Sequence[bytes]) -> Any:
        return self.admission.admit(wires, wait=False)


ids = st.one_of(st.integers(-(2**70), 2**70), st.text(max_size=4), st.none(), st.floats())
call = st.one_of(
    st.builds(
        lambda tx, mode, id_, has_id: {
            "jsonrpc": "2.0",
            "method": "broadcast_tx",
            "params": {"tx": tx} if mode == "-" else {"tx": tx, "mode": mode},
            **({"id": id_} if has_id else {}),
        },
        st.sampled_from([*TXS, "zz", "abc"]),
        st.sampled_from(["-", "sync", None, "bogus"]),
        ids,
        st.booleans(),
    ),
    st.builds(lambda id_: {"jsonrpc": "2.0", "id": id_, "method": "status"}, ids),
    st.builds(lambda id_: {"jsonrpc": "2.0", "id": id_, "method": "nope"}, ids),
    st.builds(lambda id_: {"jsonrpc": "1.0", "id": id_, "method": "broadcast_tx"}, ids),
    st.just(5),
)
# batches that take the one-request path more often than a mixed draw would
sync_only = st.lists(
    st.builds(
        lambda tx, id_: {
            "jsonrpc": "2.0",
            "id": id_,
            "method": "broadcast_tx",
            "params": {"tx": tx},
        },
        st.sampled_from(TXS),
        st.integers(0, 3),
    ),
    min_size=1,
    max_size=40,
)


async def answer(body: bytes, *, together: bool, cfg: RpcConfig, threads: int) -> tuple[Any, int]:
    """The batch's answer from a fresh chain, and the one-request calls made."""
    net = ChainNet(MemoryStore())
    mempool = Mempool(net.chain.view, MempoolLimits(max_txs=4))
    pool = WorkerPool(threads, batch_txs=2)
    try:
        service = NodeService(AdmittingParts(net, Admission(mempool, pool, CHAIN)))
        made = 0

        async def many(wires: list[bytes]) -> list[dict[str, Any]]:
            nonlocal made
            made += 1
            return await service.broadcast_txs(wires)

        handlers: dict[str, Callable[..., Any]] = {
            "broadcast_tx": lambda tx, mode: service.broadcast_tx(tx, mode, 1.0),
            "status": lambda: {"ok": True},
        }
        d = Dispatcher(cfg, handlers)
        d.broadcast_many = many if together else None
        out = await d.handle_body(body, None, "127.0.0.1")
        pending = [t.hash.hex() for t in mempool]
        calls = {name: (m.ok, m.errors) for name, m in d.method_stats.items()}  # metrics
        return (out, pending, d.calls_over_answer_bound, calls), made
    finally:
        pool.close()


def both(batch: list[Any], cfg: RpcConfig, threads: int = 2) -> int:
    body = json.dumps(batch).encode()
    alone, _ = asyncio.run(answer(body, together=False, cfg=cfg, threads=threads))
    together, made = asyncio.run(answer(body, together=True, cfg=cfg, threads=threads))
    assert together == alone
    return made


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(call, min_size=1, max_size=30) | sync_only)
def test_any_batch_is_answered_as_call_by_call(batch: list[Any]) -> None:
    both(batch, RpcConfig())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sync_only, st.integers(1, 5), st.integers(1, 6))
def test_turns_and_budget_are_kept(batch: list[Any], conc: int, weight: int) -> None:
    """Small batch_concurrency and per-address budget: the same answers."""
    made = both(batch, RpcConfig(batch_concurrency=conc, max_call_weight_per_address=weight))
    assert made >= -(-len(batch) // conc)  # one request per turn, at most conc calls each


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sync_only, st.integers(1, 5))
def test_a_full_answer_leaves_the_rest_unexecuted(batch: list[Any], conc: int) -> None:
    """Which call crosses max_batch_answer_bytes depends, call by call, on when each answer
    comes back; the rule holds as documented: the calls run are a prefix answered as call by
    call, started while the answer was under the bound (so at most batch_concurrency past
    it), and every later one answers -32002, not executed."""
    bound = 1024
    cfg = RpcConfig(batch_concurrency=conc, max_batch_answer_bytes=bound)
    body = json.dumps(batch).encode()
    (out, _, skipped, _), _ = asyncio.run(answer(body, together=True, cfg=cfg, threads=2))
    answers = json.loads(out)
    ran = len(batch) - skipped
    assert all(a["error"]["code"] == -32002 for a in answers[ran:])
    prefix = json.dumps(batch[:ran]).encode()
    (alone, _, _, _), _ = asyncio.run(answer(prefix, together=False, cfg=RpcConfig(), threads=2))
    assert answers[:ran] == json.loads(alone)
    sizes = [len(json.dumps(a, separators=(",", ":"))) for a in answers[:ran]]
    if skipped:
        assert sum(sizes) >= bound
    assert sum(sizes[: max(0, ran - conc)]) < bound


@pytest.mark.parametrize("threads", [0, 2])
def test_a_senders_nonces_in_one_batch_admit_in_order_as_one_request(threads: int) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": n, "method": "broadcast_tx", "params": {"tx": transfer(ALICE, n)}}
        for n in range(3)
    ] + [{"jsonrpc": "2.0", "id": 9, "method": "broadcast_tx", "params": {"tx": TXS[6]}}]
    body = json.dumps(batch).encode()
    (out, pending, _, calls), made = asyncio.run(
        answer(body, together=True, cfg=RpcConfig(), threads=threads)
    )
    assert made == 1
    answers = json.loads(out)
    assert [a["result"]["error"] for a in answers] == [None, None, None, "bad_signature"]
    assert len(pending) == 3
    assert calls == {"broadcast_tx": (4, 0)}
    assert both(batch, RpcConfig(), threads) == 1


async def test_a_failed_request_answers_each_call_as_its_failure_alone() -> None:
    """The one request failing (a bug, or the pool closing) answers every call of the turn
    -32603, as each call failing alone does; a notification gets none."""

    async def broken(wires: list[bytes]) -> list[dict[str, Any]]:
        raise RuntimeError("boom")

    async def alone(tx: bytes, mode: str) -> Any:
        raise RuntimeError("boom")

    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx", "params": {"tx": TXS[0]}},
        {"jsonrpc": "2.0", "method": "broadcast_tx", "params": {"tx": TXS[1]}},
        {"jsonrpc": "2.0", "id": "b", "method": "broadcast_tx", "params": {"tx": TXS[2]}},
    ]
    body = json.dumps(batch).encode()
    outs = []
    for together in (True, False):
        d = Dispatcher(RpcConfig(), {"broadcast_tx": alone})
        d.broadcast_many = broken if together else None
        outs.append((await d.handle_body(body, None), d.method_stats["broadcast_tx"].errors))
    assert outs[0] == outs[1]
    assert [a["error"]["code"] for a in json.loads(outs[0][0] or "")] == [-32603, -32603]


async def test_parts_without_submit_many_take_one_request_each() -> None:
    net = ChainNet(MemoryStore())
    service = NodeService(ChainParts(net.chain, net.blocks))
    wires = [bytes.fromhex(TXS[0]), bytes.fromhex(TXS[0]), bytes.fromhex("c1")]
    got = await service.broadcast_txs(wires)
    assert [a["error"] for a in got] == [None, "duplicate", "malformed"]
    assert [a["hash"] for a in got] == [sha256(w).hex() for w in wires]
