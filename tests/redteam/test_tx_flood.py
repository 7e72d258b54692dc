"""Red-team transaction floods (issue 14, item 5) against a real node.

For FLOOD_S seconds an attacker (from 127.0.0.5) sends signed transfers as JSON-RPC batches
of ``sync`` broadcasts, at most FLOOD_RATE a second and FLOOD_MAX in all: once from keys
that hold nothing, once from funded keys that each send their next nonce. Meanwhile an
honest member sends commit-mode transfers one after another from 127.0.0.1. The chain must
keep committing, every honest transfer commit, every refusal carry a section-7 code with
its name, nothing admitted be lost, and the node's memory stay under 300 MB. The honest
latencies are printed, not asserted (a loaded 2-core machine decides them).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from node.localnet_harness import LocalNet
from node.wsconn import SendBudget, WsConn
from state.crypto import Signer
from state.devkeys import dev_signer
from state.tx import build_tx

from .conftest import (
    CHAIN_ID,
    FUNDED,
    Watch,
    attacker_addr,
    member,
    proc_status,
    start_node,
)

FLOOD_S = 10.0
#: the flood's bounds: offered transactions a second, and in all
FLOOD_RATE = 1_000
FLOOD_MAX = 10_000
#: calls per batch, and batches in flight at once
BATCH = 50
WORKERS = 4
#: how long after the flood every admitted transaction must be found committed
DRAIN_S = 60.0

#: PROTOCOL.md section 7: code -> error name (the oracle, written from the spec)
SECTION_7 = {
    1: "malformed",
    2: "bad_signature",
    3: "wrong_chain",
    4: "bad_nonce",
    5: "fee_too_low",
    6: "insufficient_funds",
    7: "unknown_type",
    8: "too_large",
    9: "mempool_full",
    10: "duplicate",
    11: "unauthorized",
    12: "not_found",
    13: "invalid_payload",
    14: "already_member",
    15: "not_member",
    16: "waiting_period",
    17: "claim_open",
    18: "voting_closed",
    19: "not_eligible",
    20: "already_voted",
    21: "not_approved",
    22: "already_paid",
    23: "notice_period",
    24: "pool_insolvent",
    25: "already_registered",
}

TREASURY = dev_signer("redteam-treasury").public_key


def transfer(signer: Signer, nonce: int) -> str:
    return build_tx(
        signer, CHAIN_ID, "transfer", nonce, 1, {"to": TREASURY, "amount": 1}
    ).wire.hex()


@dataclass
class Flood:
    """What the attacker was told: admitted hashes and refusals by (code, error)."""

    sent: int = 0
    admitted: list[str] = field(default_factory=list)
    refused: Counter[tuple[int, str | None]] = field(default_factory=Counter)
    rpc_errors: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0

    def summary(self, label: str) -> str:
        return (
            f"[{label}] sent {self.sent} in {self.elapsed:.1f} s "
            f"({self.sent / max(self.elapsed, 1e-9):.0f}/s), admitted {len(self.admitted)}, "
            f"refused {dict(self.refused)}, call errors {dict(self.rpc_errors)}"
        )


async def post_batch(
    session: aiohttp.ClientSession, url: str, calls: list[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    body = [{"jsonrpc": "2.0", "id": k, "method": m, "params": p} for k, (m, p) in enumerate(calls)]
    async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=60)) as r:
        assert r.status == 200, (r.status, await r.text())
        out: list[dict[str, Any]] = json.loads(await r.read())
    return sorted(out, key=lambda a: a["id"])


async def run_flood(
    url: str,
    next_txs: Callable[[int, int], list[tuple[Any, str]]],
    settle: Callable[..., None],
    halt: Callable[[], bool] = lambda: False,
    mode: str = "sync",
) -> Flood:
    """WORKERS tasks send batches for FLOOD_S s, paced to FLOOD_RATE, up to FLOOD_MAX, or
    until `halt()` (a guard that keeps a probe from hurting the machine).

    `next_txs(worker, n)` gives up to n (key, tx hex) to send; `settle(key, answer)` learns
    each answer (the funded flood advances its nonces there)."""
    flood = Flood()
    t0 = time.monotonic()
    per_worker_rate = FLOOD_RATE / WORKERS

    async def worker(w: int) -> None:
        conn = aiohttp.TCPConnector(local_addr=(attacker_addr(5), 0), limit=1)
        async with aiohttp.ClientSession(connector=conn) as session:
            mine = 0
            while time.monotonic() - t0 < FLOOD_S and flood.sent < FLOOD_MAX and not halt():
                # pace: this worker may have sent per_worker_rate * elapsed so far
                ahead = mine / per_worker_rate - (time.monotonic() - t0)
                if ahead > 0:
                    await asyncio.sleep(ahead)
                txs = next_txs(w, min(BATCH, FLOOD_MAX - flood.sent))
                if not txs:
                    await asyncio.sleep(0.05)
                    continue
                flood.sent += len(txs)
                mine += len(txs)
                answers = await post_batch(
                    session, url, [("broadcast_tx", {"tx": tx, "mode": mode}) for _, tx in txs]
                )
                for (key, _), a in zip(txs, answers, strict=True):
                    if "error" in a and isinstance(a["error"], dict):
                        flood.rpc_errors[a["error"]["message"][:60]] += 1
                        continue
                    res = a["result"]
                    if res["code"] == 0:
                        flood.admitted.append(res["hash"])
                    else:
                        flood.refused[(res["code"], res["error"])] += 1
                    settle(key, res)

    await asyncio.gather(*(worker(w) for w in range(WORKERS)))
    flood.elapsed = time.monotonic() - t0
    return flood


#: an honest client retries a mempool_full refusal after this long (s), as section 7 says
RETRY_S = 0.1


async def honest_transfers(
    url: str, stop: asyncio.Event, nonce: int, retries: Counter[str]
) -> list[tuple[float, Any]]:
    """Commit-mode transfers from member 0, one after another until `stop`, each retried
    while refused mempool_full ("try later"; counted in `retries`): (latency in s from the
    first try, the final broadcast_tx result) of each."""
    out: list[tuple[float, Any]] = []
    conn = aiohttp.TCPConnector(local_addr=("127.0.0.1", 0), limit=1)
    async with aiohttp.ClientSession(connector=conn) as session:
        while not stop.is_set():
            t0 = time.monotonic()
            tx = transfer(member(0), nonce)
            while True:
                (a,) = await post_batch(
                    session, url, [("broadcast_tx", {"tx": tx, "mode": "commit"})]
                )
                res = a.get("result", a)
                if res.get("code") != 9:
                    break
                retries["mempool_full"] += 1
                await asyncio.sleep(RETRY_S)
            out.append((time.monotonic() - t0, res))
            nonce += 1
    return out


async def flood_with_honest_traffic(
    node: LocalNet,
    label: str,
    next_txs: Callable[[int, int], list[tuple[Any, str]]],
    settle: Callable[..., None],
    halt: Callable[[], bool] = lambda: False,
    mode: str = "sync",
) -> Flood:
    """Run the flood while the honest member transfers and the watch samples; assert the
    common outcome; return the flood for the caller's own assertions."""
    url = node.rpc_url(0)
    start = node.call(0, "account", address=member(0).public_key.hex())["pending_nonce"]
    stop = asyncio.Event()
    retries: Counter[str] = Counter()
    async with Watch(node) as watch:
        honest = asyncio.create_task(honest_transfers(url, stop, start, retries))
        flood = await run_flood(url, next_txs, settle, halt, mode)
        stop.set()
        results = await honest
    print(flood.summary(label))
    lat = sorted(t for t, _ in results)
    print(
        f"[{label}] honest commit-mode transfers during the flood: {len(lat)}, latency ms "
        f"min {lat[0] * 1000:.0f} p50 {lat[len(lat) // 2] * 1000:.0f} "
        f"max {lat[-1] * 1000:.0f}, mempool_full retries {retries['mempool_full']}: "
        f"{[round(t * 1000) for t in lat]}"
    )
    watch.assert_healthy(label, min_blocks=5)
    assert results, "no honest transfer finished during the flood"
    for _, res in results:
        assert res.get("code") == 0 and isinstance(res.get("height"), int), res
    assert not flood.rpc_errors, flood.rpc_errors
    for (code, error), _ in flood.refused.items():
        assert SECTION_7.get(code) == error, (code, error)
    return flood


@pytest.mark.slow
async def test_flood_from_unfunded_keys(node: LocalNet) -> None:
    """Every transfer from a key with no balance is refused insufficient_funds (6) at
    admission; none is admitted, so none can crowd out the honest member."""
    keys = [dev_signer(f"redteam-unfunded-{k}") for k in range(FLOOD_MAX)]
    txs = [(k, transfer(s, 0)) for k, s in enumerate(keys)]
    queue = iter(txs)

    def next_txs(_w: int, n: int) -> list[tuple[Any, str]]:
        return [t for _, t in zip(range(n), queue, strict=False)]

    flood = await flood_with_honest_traffic(node, "unfunded flood", next_txs, lambda *a: None)
    assert flood.sent >= FLOOD_RATE  # the flood really ran (at least a second's worth)
    assert not flood.admitted
    assert flood.refused == Counter({(6, "insufficient_funds"): flood.sent}), flood.refused


@pytest.mark.slow
async def test_async_flood_from_unfunded_keys(node: LocalNet) -> None:
    """The same flood in ``async`` mode, which answers before any check: the node still
    refuses every one of them (none is ever found committed) and keeps committing."""
    keys = [dev_signer(f"redteam-unfunded-async-{k}") for k in range(FLOOD_MAX)]
    queue = iter([(k, transfer(s, 0)) for k, s in enumerate(keys)])

    def next_txs(_w: int, n: int) -> list[tuple[Any, str]]:
        return [t for _, t in zip(range(n), queue, strict=False)]

    flood = await flood_with_honest_traffic(
        node, "async unfunded flood", next_txs, lambda *a: None, mode="async"
    )
    assert flood.sent >= FLOOD_RATE and len(flood.admitted) == flood.sent
    node.wait_height(0, node.height(0) + 2)  # anything admitted would be in a block by now
    sample = flood.admitted[:: max(1, len(flood.admitted) // 200)]
    answers = node.batch(0, [("tx", {"hash": h}) for h in sample[:100]])
    assert all(a.get("error", {}).get("code") == -32001 for a in answers), answers[:3]


class FundedSenders:
    """Funded members 1.. as flood senders: each has at most one transfer in flight, its
    next nonce, so that every refusal is the node's judgement, not a race of our own."""

    def __init__(self, node: LocalNet) -> None:
        self.node = node
        self.senders = list(range(1, FUNDED))
        self.nonce = {s: self.pending_nonce(s) for s in self.senders}
        self.in_flight: set[int] = set()

    def pending_nonce(self, s: int) -> int:
        acct = self.node.call(0, "account", address=member(s).public_key.hex())
        return int(acct["pending_nonce"])

    def next_txs(self, w: int, n: int) -> list[tuple[Any, str]]:
        mine = [s for s in self.senders[w::WORKERS] if s not in self.in_flight][:n]
        self.in_flight.update(mine)
        return [(s, transfer(member(s), self.nonce[s])) for s in mine]

    def settle(self, s: int, res: dict[str, Any]) -> None:
        self.in_flight.discard(s)
        if res["code"] in (0, 10):  # admitted, or already pending: the next one
            self.nonce[s] += 1
        elif res["code"] == 4:  # a nonce race: start again from what the node expects
            self.nonce[s] = self.pending_nonce(s)


async def assert_all_committed(node: LocalNet, hashes: list[str]) -> None:
    """Nothing admitted is lost: each hash is found committed (code 0) within DRAIN_S."""
    url = node.rpc_url(0)
    pending = list(hashes)
    deadline = time.monotonic() + DRAIN_S
    async with aiohttp.ClientSession() as session:
        while pending and time.monotonic() < deadline:
            still: list[str] = []
            for i in range(0, len(pending), 100):
                chunk = pending[i : i + 100]
                answers = await post_batch(session, url, [("tx", {"hash": h}) for h in chunk])
                for h, a in zip(chunk, answers, strict=True):
                    if "result" not in a:
                        still.append(h)
                    else:
                        assert a["result"]["code"] == 0, a
            pending = still
            if pending:
                await asyncio.sleep(0.5)
    assert not pending, f"{len(pending)} admitted transactions never committed: {pending[:3]}"


@pytest.mark.slow
async def test_flood_from_funded_keys(node: LocalNet) -> None:
    """Funded members 1.. each send their next nonce as fast as the bounds allow: every
    refusal is mempool_full (9) or a nonce race (bad_nonce 4, duplicate 10), and every
    admitted transfer is committed afterwards (nothing admitted is lost)."""
    funded = FundedSenders(node)
    flood = await flood_with_honest_traffic(node, "funded flood", funded.next_txs, funded.settle)
    assert flood.admitted, "the funded flood admitted nothing"
    assert set(code for code, _ in flood.refused) <= {4, 9, 10}, flood.refused
    await assert_all_committed(node, flood.admitted)


#: the mempool bound of the overflow probe: well under what 200 ms of the flood brings
SMALL_MEMPOOL = 100


@pytest.fixture(scope="module")
def small_mempool_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    net = start_node(
        tmp_path_factory.mktemp("redteam-small-mempool"),
        {"mempool": {"max_txs": SMALL_MEMPOOL}},
    )
    try:
        yield net
    finally:
        net.close(kill=True)


@pytest.mark.slow
async def test_flood_past_a_full_mempool(small_mempool_node: LocalNet) -> None:
    """With ``[mempool] max_txs`` = SMALL_MEMPOOL the funded flood overflows it: the excess is
    refused mempool_full (9), nothing admitted is lost, and the honest member's transfers
    commit after retrying (their retries and latencies are printed)."""
    net = small_mempool_node
    funded = FundedSenders(net)
    flood = await flood_with_honest_traffic(
        net, "flood past a full mempool", funded.next_txs, funded.settle
    )
    assert flood.refused[(9, "mempool_full")] > 0, flood.refused
    assert set(code for code, _ in flood.refused) <= {4, 9, 10}, flood.refused
    await assert_all_committed(net, flood.admitted)


# ------------------------------------------------------------- subscribers that never read

#: the silent-subscriber probe stops its flood when the node's RSS passes this (a guard for
#: the shared machine; the assertion is the 300 MB of the other probes)
RSS_GUARD_BYTES = 800 * 1024 * 1024


def ws_frame(payload: bytes) -> bytes:
    """A masked client text frame (RFC 6455 section 5.2)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x81]) + (
        bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n)
    )
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """One unmasked server frame's payload."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    return await reader.readexactly(n)


async def silent_subscriber(
    host: str, port: int, source: str, subs: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket with `subs` subscriptions to "tx" that then never reads: our reader
    stops taking bytes at 64 KiB, then the kernel's buffers fill, then the node's queue."""
    reader, writer = await asyncio.open_connection(
        host, port, local_addr=(source, 0), limit=64 * 1024
    )
    key = base64.b64encode(os.urandom(16))
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 101"), head[:80]
    for k in range(subs):
        call = {"jsonrpc": "2.0", "id": k, "method": "subscribe", "params": {"event": "tx"}}
        writer.write(ws_frame(json.dumps(call).encode()))
    for _ in range(subs):  # each subscription is registered before the flood starts
        answer = json.loads(await asyncio.wait_for(read_frame(reader), 10))
        assert "result" in answer, answer
    return reader, writer


@pytest.mark.slow
async def test_flood_with_subscribers_that_never_read(node: LocalNet) -> None:
    """max_connections_per_address WebSockets from one address, each with
    max_ws_subscriptions subscriptions to "tx", never read while funded members flood: the
    node must drop them (close 1013) before their queues hold more than its memory bound,
    and keep committing; the funded flood's other expectations hold as well."""
    from node.config import RpcConfig

    cfg = RpcConfig()
    host, port = "127.0.0.1", node.rpc_port(0)
    conns = await asyncio.gather(
        *(
            silent_subscriber(host, port, attacker_addr(6), cfg.max_ws_subscriptions)
            for _ in range(cfg.max_connections_per_address)
        )
    )
    pid = node.pid(0)
    peak = [0]

    def halt() -> bool:
        peak[0] = max(peak[0], proc_status(pid)["VmRSS"])
        return peak[0] > RSS_GUARD_BYTES

    try:
        funded = FundedSenders(node)
        flood = await flood_with_honest_traffic(
            node, "flood, silent subscribers", funded.next_txs, funded.settle, halt
        )
    finally:
        drops = node.log_text(0).count("dropping a WebSocket subscriber")
        print(
            f"[flood, silent subscribers] {len(conns)} x {cfg.max_ws_subscriptions} subs, "
            f"node RSS peak seen {peak[0] / 2**20:.0f} MiB, subscribers dropped {drops}"
        )
        for _, w in conns:
            w.close()
    assert set(code for code, _ in flood.refused) <= {4, 9, 10}, flood.refused
    await assert_all_committed(node, flood.admitted)
    assert drops >= 1, "no silent subscriber was dropped"
    # the dropped and closed connections left nothing counted: a new subscriber gets events
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(node.rpc_url(0) + "ws") as ws:
            await ws.send_json(
                {"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"event": "tx"}}
            )
            assert "result" in await ws.receive_json(timeout=10)
            nonce = FundedSenders(node).pending_nonce(0)
            wire = transfer(member(0), nonce)
            node.call(0, "broadcast_tx", tx=wire, mode="sync")
            event = await ws.receive_json(timeout=20)
            assert event["method"] == "event" and event["params"]["event"] == "tx", event


def test_send_budget_boundary() -> None:
    """The server-wide budget holds exactly its bytes; one more is over; a cleared queue
    gives its bytes back."""
    budget = SendBudget(1000)
    a = WsConn(None, 10, 10_000, budget)  # type: ignore[arg-type]  # offer() never sends
    b = WsConn(None, 10, 10_000, budget)  # type: ignore[arg-type]  # offer() never sends
    assert a.offer("x" * 600) and b.offer("y" * 400)
    assert budget.queued == 1000 and not budget.over()
    assert b.offer("z") and budget.over()
    a.clear()
    assert budget.queued == 401 and not budget.over()
