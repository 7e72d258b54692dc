"""`/metrics` of a real in-process node: every metric is there and moves with what it counts."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from consensus.messages import TXS
from node.config import ConfigError, NodeConfig, load_config, parse_config, write_config
from node.metrics import Histogram, StepClock
from node.runtime import Node
from state.txgossip import encode_batch
from tests.node.test_runtime import make_home, transfer, wait_height

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

#: every family a scrape of a running node must hold (names as exposed, before suffixes)
FAMILIES = (
    "huzhu_consensus_height",
    "huzhu_consensus_rounds",
    "huzhu_consensus_block_interval_seconds",
    "huzhu_consensus_missing_validators",
    "huzhu_consensus_byzantine_validators",
    "huzhu_consensus_validators",
    "huzhu_consensus_validator",
    "huzhu_consensus_validator_missed_blocks",
    "huzhu_consensus_evidence",
    "huzhu_consensus_copies_dropped",
    "huzhu_consensus_num_txs",
    "huzhu_consensus_total_txs",
    "huzhu_consensus_block_size_bytes",
    "huzhu_consensus_fast_syncing",
    "huzhu_state_block_processing_seconds",
    "huzhu_consensus_round_duration_seconds",
    "huzhu_consensus_step_duration_seconds",
    "huzhu_mempool_size",
    "huzhu_mempool_size_bytes",
    "huzhu_mempool_max_txs",
    "huzhu_mempool_backlog_cap_txs",
    "huzhu_mempool_refused_txs",
    "huzhu_mempool_peer_refused_txs",
    "huzhu_mempool_retry_evicted_txs",
    "huzhu_p2p_peers",
    "huzhu_p2p_message_send_bytes",
    "huzhu_p2p_message_receive_bytes",
    "huzhu_rpc_requests",
    "huzhu_rpc_request_duration_seconds",
    "huzhu_rpc_websocket_connections",
    "huzhu_rpc_websocket_dropped_subscribers",
    "huzhu_rpc_calls_deferred",
    "huzhu_rpc_batch_calls_over_answer_bound",
    "huzhu_crypto_signature_checks",
    "huzhu_gc_pause_seconds",
    "huzhu_pool_balance",
    "huzhu_pool_liabilities",
    "huzhu_pool_members",
    "huzhu_pool_claims",
)


async def scrape(url: str) -> tuple[set[str], Samples, str]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await r.text()
    names = {fam.name for fam in text_string_to_metric_families(text)}
    return names, parse_samples(text), text


def parse_samples(text: str) -> Samples:
    samples: Samples = {}
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            samples[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
    return samples


def v(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def rpc(url: str, method: str, params: Any = None) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    async with aiohttp.ClientSession() as s, s.post(url, json=body) as r:
        return await r.json()


def home_with(tmp_path: Path, **metrics: Any) -> Path:
    home = make_home(tmp_path)
    cfg = load_config(home)
    write_config(home / "config.toml", cfg.model_copy(update={"metrics": parse_config(
        {"metrics": metrics}).metrics}))  # fmt: skip
    return home


@pytest.fixture
async def node(tmp_path: Path) -> Any:
    n = Node(make_home(tmp_path))
    await n.start()
    try:
        yield n
    finally:
        await n.stop()


async def test_every_metric_is_present_and_moves(node: Node) -> None:
    assert node.rpc is not None
    url = node.rpc.url + "metrics"
    await wait_height(node, 2)
    names, before, _ = await scrape(url)
    missing = [f for f in FAMILIES if f not in names]
    assert not missing, f"absent from the scrape: {missing}"
    assert v(before, "huzhu_pool_balance", pool="medical") >= 0
    assert v(before, "huzhu_mempool_max_txs") == node.mempool.limits.max_txs
    assert v(before, "huzhu_mempool_retry_evicted_txs_total") == node.mempool.retry_evicted == 0
    # an idle chain's bound is one block of max_block_txs (below the default max_txs)
    cap = node.mempool.backlog_cap(node.chain.params)
    assert v(before, "huzhu_mempool_backlog_cap_txs") == cap == node.chain.params.max_block_txs
    assert cap <= node.mempool.limits.max_txs

    # a refusal by name, a committed transfer, RPC calls of a known and an unknown method
    assert (await node.service.broadcast_tx(b"\x01\x02", "sync"))["code"] != 0
    r = await node.service.broadcast_tx(transfer(0), "commit", timeout=20)
    assert r["code"] == 0, r
    await rpc(node.rpc.url, "status")
    await rpc(node.rpc.url, "no_such_method")
    gc.collect()
    h = node.view().height
    await wait_height(node, h + 2)
    _, after, _ = await scrape(url)

    assert v(after, "huzhu_consensus_height") >= h + 2 > v(before, "huzhu_consensus_height")
    assert v(after, "huzhu_consensus_total_txs") >= v(before, "huzhu_consensus_total_txs") + 1
    assert v(after, "huzhu_consensus_block_interval_seconds_count") > v(
        before, "huzhu_consensus_block_interval_seconds_count"
    )
    assert v(after, "huzhu_state_block_processing_seconds_count") > v(
        before, "huzhu_state_block_processing_seconds_count"
    )
    assert v(after, "huzhu_consensus_round_duration_seconds_count") > v(
        before, "huzhu_consensus_round_duration_seconds_count"
    )
    # a lone validator passes propose..precommit inside one call: it rests only between
    # heights (the 4-node e2e test sees the voting steps)
    assert v(after, "huzhu_consensus_step_duration_seconds_count", step="new_height") > v(
        before, "huzhu_consensus_step_duration_seconds_count", step="new_height"
    )
    assert v(after, "huzhu_crypto_signature_checks_total") > v(
        before, "huzhu_crypto_signature_checks_total"
    )
    refused = {k[1]: n for k, n in after.items() if k[0] == "huzhu_mempool_refused_txs_total"}
    assert sum(refused.values()) >= 1 and all(dict(lbl)["error"] for lbl in refused)
    assert v(after, "huzhu_rpc_requests_total", method="status", outcome="ok") >= 1
    assert v(after, "huzhu_rpc_requests_total", method="unknown", outcome="error") >= 1
    assert v(after, "huzhu_rpc_request_duration_seconds_count", method="status") >= 1
    assert v(after, "huzhu_gc_pause_seconds_count", generation="2") > v(
        before, "huzhu_gc_pause_seconds_count", generation="2"
    )
    # the transfer paid its fee from ALICE to the treasury; a single validator signs alone
    assert v(after, "huzhu_consensus_missing_validators") == 0
    assert v(after, "huzhu_p2p_peers") == 0
    assert v(after, "huzhu_consensus_validators") == 1
    assert v(after, "huzhu_consensus_validator") == 1
    assert v(after, "huzhu_consensus_validator_missed_blocks_total") == 0
    members = {dict(k[1])["status"] for k in after if k[0] == "huzhu_pool_members" and k[1]}
    assert members == {"waiting", "active", "lapsed", "left"}
    claims = {dict(k[1])["status"] for k in after if k[0] == "huzhu_pool_claims" and k[1]}
    assert claims == {"voting", "approved", "rejected", "paid"}


async def test_peers_refused_copies_are_counted_apart(node: Node) -> None:
    """A peer's copy of a pending tx is a duplicate counted among all refusals and among the
    peers' own; a client's refusal is not a peer's."""
    assert node.rpc is not None
    url = node.rpc.url + "metrics"
    wire = transfer(0)
    assert (await node.service.broadcast_tx(wire, "sync"))["code"] == 0
    assert (await node.service.broadcast_tx(b"\x01\x02", "sync"))["code"] != 0
    batch = node._on_message(b"\x07" * 32, TXS, encode_batch([wire]))
    if batch is not None:
        await batch
    _, after, _ = await scrape(url)
    assert v(after, "huzhu_mempool_peer_refused_txs_total", error="duplicate") == 1
    peers = {k[1] for k in after if k[0] == "huzhu_mempool_peer_refused_txs_total"}
    assert peers == {(("error", "duplicate"),)}
    assert v(after, "huzhu_mempool_refused_txs_total", error="duplicate") == 1
    assert sum(n for k, n in after.items() if k[0] == "huzhu_mempool_refused_txs_total") == 2


async def test_websocket_connections_are_counted(node: Node) -> None:
    assert node.rpc is not None
    url = node.rpc.url + "metrics"
    async with aiohttp.ClientSession() as s, s.ws_connect(node.rpc.url + "ws") as ws:
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "status"})
        await ws.receive_json(timeout=10)
        _, during, _ = await scrape(url)
        assert v(during, "huzhu_rpc_websocket_connections") == 1
    for _ in range(100):
        _, later, _ = await scrape(url)
        if v(later, "huzhu_rpc_websocket_connections") == 0:
            break
        await asyncio.sleep(0.05)
    assert v(later, "huzhu_rpc_websocket_connections") == 0


async def test_disabled_metrics_answer_404(tmp_path: Path) -> None:
    n = Node(home_with(tmp_path, enabled=False))
    await n.start()
    try:
        assert n.rpc is not None
        async with aiohttp.ClientSession() as s, s.get(n.rpc.url + "metrics") as r:
            assert r.status in (404, 405)
    finally:
        await n.stop()


async def test_separate_port_and_not_on_rpc(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    n = Node(home_with(tmp_path, listen=f"127.0.0.1:{port}"))
    await n.start()
    try:
        assert n.rpc is not None and n.metrics_server is not None
        assert n.metrics_server.port == port
        names, _, _ = await scrape(f"http://127.0.0.1:{port}/metrics")
        assert "huzhu_consensus_height" in names
        async with aiohttp.ClientSession() as s, s.get(n.rpc.url + "metrics") as r:
            assert r.status in (404, 405)
    finally:
        await n.stop()


async def test_max_pools_zero_reports_no_pool(tmp_path: Path) -> None:
    n = Node(home_with(tmp_path, max_pools=0))
    await n.start()
    try:
        assert n.rpc is not None
        _, samples, _ = await scrape(n.rpc.url + "metrics")
        assert not [k for k in samples if k[0].startswith("huzhu_pool_")]
    finally:
        await n.stop()


def test_config_bounds() -> None:
    assert NodeConfig().metrics.enabled and NodeConfig().metrics.listen == ""
    parse_config({"metrics": {"max_pools": 10_000, "max_claims_counted": 1}})
    for bad in (
        {"max_pools": -1},
        {"max_pools": 10_001},
        {"max_claims_counted": 0},
        {"listen": "nohost"},
        {"enabled": "yes"},
    ):
        with pytest.raises(ConfigError) as e:
            parse_config({"metrics": bad})
        assert e.value.field.startswith("metrics.")


def test_step_clock_times_steps_and_rounds() -> None:
    c = StepClock()
    c.observe(1, 0, 1, 10.0)  # propose
    c.observe(1, 0, 1, 10.5)  # no change: nothing recorded
    c.observe(1, 0, 2, 11.0)  # prevote after 1 s of propose
    c.observe(1, 1, 1, 14.0)  # round 1 after 3 s of prevote; round 0 took 4 s
    assert c.step_count[1] == 1 and c.step_seconds[1] == 1.0
    assert c.step_count[2] == 1 and c.step_seconds[2] == 3.0
    assert c.rounds.counts == [0, 0, 0, 0, 0, 0, 1, 0, 0, 0] and c.rounds.sum == 4.0


def test_histogram_buckets_are_cumulative_with_inf() -> None:
    h = Histogram((1.0, 2.0))
    for x in (0.5, 1.0, 1.5, 9.0):
        h.observe(x)
    fam = h.family("x_seconds", "doc")
    got = {s.labels["le"]: s.value for s in fam.samples if s.name == "x_seconds_bucket"}
    assert got == {"1.0": 2, "2.0": 3, "+Inf": 4}
    assert h.sum == 12.0


async def test_a_commit_without_our_signature_counts_a_missed_block(node: Node) -> None:
    """What a validator that fell behind sees: blocks committed by the others' signatures."""
    from consensus.types import Commit

    assert node.rpc is not None
    await wait_height(node, 2)
    block = node.block_at(2)
    assert block is not None
    _, before, _ = await scrape(node.rpc.url + "metrics")
    node._count_block(block, Commit(2, 0, block.hash, ()))
    # rendered in the same turn of the loop: a block the node commits meanwhile would reset
    # the missing-validators gauge (it describes the latest block only)
    assert node.metrics is not None
    after = parse_samples(node.metrics.render().decode())
    assert (
        v(after, "huzhu_consensus_validator_missed_blocks_total")
        == v(before, "huzhu_consensus_validator_missed_blocks_total") + 1
    )
    assert v(after, "huzhu_consensus_missing_validators") == 1


def test_operators_doc_describes_exactly_the_metrics_served() -> None:
    """docs/operators.md's tables name every family the node serves, and only those."""
    import re

    text = (Path(__file__).parents[2] / "docs" / "operators.md").read_text()
    section = text.split("## Metrics", 1)[1]
    rows = re.findall(r"^\| `(huzhu_[a-z0-9_]+)(?:\{[a-z,]+\})?` \|", section, re.M)
    documented = {r.removesuffix("_total") for r in rows}
    assert documented == set(FAMILIES)


async def test_rpc_fairness_and_batch_answer_bound_are_counted(tmp_path: Path) -> None:
    """An operator sees a client being held to its share and batches cut by the bound."""
    home = make_home(tmp_path)
    cfg = load_config(home)
    rpc_cfg = cfg.rpc.model_copy(
        update={"max_call_weight_per_address": 8, "max_batch_answer_bytes": 1024}
    )
    write_config(home / "config.toml", cfg.model_copy(update={"rpc": rpc_cfg}))
    n = Node(home)
    await n.start()
    try:
        assert n.rpc is not None
        url = n.rpc.url
        _, before, _ = await scrape(url + "metrics")
        batch = [{"jsonrpc": "2.0", "id": k, "method": "genesis"} for k in range(6)]
        async with aiohttp.ClientSession() as s, s.post(url, json=batch) as r:
            answers = await r.json()
        cut = [a for a in answers if a.get("error", {}).get("code") == -32002]
        assert cut and len(cut) < len(batch)
        _, after, _ = await scrape(url + "metrics")
        name = "huzhu_rpc_batch_calls_over_answer_bound_total"
        assert v(after, name) - v(before, name) == len(cut)
        # genesis weighs 8, the address's share per turn: each further call waits a turn
        name = "huzhu_rpc_calls_deferred_total"
        assert v(after, name) > v(before, name)
    finally:
        await n.stop()
