"""config.toml: defaults, round trip through write_config, errors that name the field."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pydantic import BaseModel

from consensus.params import ConsensusParams
from node.config import (
    ConfigError,
    ConsensusConfig,
    NodeConfig,
    P2PConfig,
    RpcConfig,
    StoreConfig,
    load_config,
    parse_config,
    parse_peer,
    split_host_port,
    write_config,
)
from p2p.types import P2PLimits
from state.params import ChainParams
from state.store import LevelDBOptions

NODE_ID = "ab" * 32


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    cfg = load_config(tmp_path)
    assert cfg == NodeConfig()
    # the protocol's fixed limits are the defaults
    assert cfg.rpc.max_body_bytes == 1024 * 1024
    assert cfg.rpc.max_batch == 100
    assert cfg.rpc.max_claims_limit == 1000
    assert cfg.rpc.commit_timeout_ms == 30_000


def test_write_then_load_round_trip(tmp_path: Path) -> None:
    cfg = NodeConfig(
        moniker='odd "name" \\ with \x7f and 互助',
        log_level="debug",
        rpc=RpcConfig(listen="0.0.0.0:1234", max_connections=7),
        p2p=P2PConfig(
            listen="[::1]:2345",
            peers=[f"{NODE_ID}@node1:27657", f"{'cd' * 32}@127.0.0.1:1"],
            observers=["EF" * 32],
        ),
    )
    write_config(tmp_path / "config.toml", cfg)
    loaded = load_config(tmp_path)
    assert loaded == cfg
    assert loaded.p2p.observers == ["ef" * 32]  # normalised to lower case
    assert loaded.p2p.peer_addresses()[0].host == "node1"
    assert loaded.p2p.observer_ids() == {bytes.fromhex("ef" * 32)}


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("monikr = 'x'", "monikr"),
        ("[rpc]\nmax_batch = 0", "rpc.max_batch"),
        ("[rpc]\nmax_batch = '100'", "rpc.max_batch"),
        ("[rpc]\nmax_body_bytes = true", "rpc.max_body_bytes"),
        ("[rpc]\nlisten = 'localhost'", "rpc.listen"),
        ("[rpc]\nlisten = 'h:70000'", "rpc.listen"),
        ("[p2p]\npeers = ['nope@h:1']", "p2p.peers.0"),
        (f"[p2p]\npeers = ['{NODE_ID}@h:1', '{NODE_ID}@h']", "p2p.peers.1"),
        (f"[p2p]\npeers = ['{NODE_ID}@h:0']", "p2p.peers.0"),
        ("[p2p]\nobservers = ['abc']", "p2p.observers.0"),
        ("[p2p]\nmax_peers = 0", "p2p.max_peers"),
        ("[mempool]\nmax_txs = -1", "mempool.max_txs"),
        ("[mempool]\nmax_tx = 5", "mempool.max_tx"),
        ("[consensus]\ntimeout_propose_ms = 0", "consensus.timeout_propose_ms"),
        ("log_level = 'verbose'", "log_level"),
        ("rpc = 5", "rpc"),
    ],
)
def test_errors_name_the_field(tmp_path: Path, toml: str, field: str) -> None:
    (tmp_path / "config.toml").write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")


def test_not_toml(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[rpc\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path)


def test_limits_at_their_boundary() -> None:
    assert RpcConfig(max_body_bytes=1024).max_body_bytes == 1024
    with pytest.raises(ValueError):
        RpcConfig(max_body_bytes=1023)
    assert RpcConfig(max_batch=1).max_batch == 1


def test_host_port_and_peer_parsing() -> None:
    assert split_host_port("127.0.0.1:0") == ("127.0.0.1", 0)
    assert split_host_port("[::1]:80") == ("::1", 80)
    p = parse_peer(f"{NODE_ID.upper()}@10.0.0.1:27657")
    assert p.node_id == bytes.fromhex(NODE_ID) and (p.host, p.port) == ("10.0.0.1", 27657)
    assert str(p) == f"{NODE_ID}@10.0.0.1:27657"
    for bad in ("x@h:1", f"{NODE_ID}h:1", f"{NODE_ID}@:1", f"{NODE_ID}@h:-1"):
        with pytest.raises(ValueError):
            parse_peer(bad)


def test_defaults_agree_with_the_components_they_configure() -> None:
    """A config.toml written by testnet must not quietly change the components' defaults."""
    from consensus.params import ConsensusParams
    from p2p.types import P2PLimits
    from state.mempool import MempoolLimits

    cfg = NodeConfig()
    cp, ml, pl = ConsensusParams(), MempoolLimits(), P2PLimits()
    c = cfg.consensus
    assert (c.timeout_propose_ms, c.timeout_propose_delta_ms) == (
        cp.propose_ms,
        cp.propose_delta_ms,
    )
    assert (c.timeout_prevote_ms, c.timeout_prevote_delta_ms) == (
        cp.prevote_ms,
        cp.prevote_delta_ms,
    )
    assert (c.timeout_precommit_ms, c.timeout_precommit_delta_ms) == (
        cp.precommit_ms,
        cp.precommit_delta_ms,
    )
    m = cfg.mempool
    assert (m.max_txs, m.max_bytes, m.verified_cache) == (
        ml.max_txs,
        ml.max_bytes,
        ml.verified_cache,
    )
    p = cfg.p2p
    assert (p.max_frame_bytes, p.max_peers, p.send_queue_len) == (
        pl.max_frame_bytes,
        pl.max_peers,
        pl.send_queue_len,
    )
    assert p.handshake_timeout_ms == pl.handshake_timeout_s * 1000
    s = cfg.state
    assert (s.state_history, s.prune_per_block, s.prune_idle_step) == (10_000, 500, 500)


MIB = 1024 * 1024
#: (section, key, lo, hi) of every int key: the ranges an operator may rely on
INT_RANGES = [
    ("rpc", "max_body_bytes", 1024, 64 * MIB),
    ("rpc", "max_batch", 1, 10_000),
    ("rpc", "batch_concurrency", 1, 10_000),
    ("rpc", "batch_timeout_ms", 1, 600_000),
    ("rpc", "max_connections", 1, 100_000),
    ("rpc", "max_ws_subscriptions", 1, 10_000),
    ("rpc", "ws_send_queue", 1, 1_000_000),
    ("rpc", "ws_send_queue_bytes", 64 * 1024, 1024 * MIB),
    ("rpc", "ws_send_total_bytes", 64 * 1024, 16 * 1024 * MIB),
    ("rpc", "ws_max_pending", 1, 10_000),
    ("rpc", "read_timeout_ms", 10, 600_000),
    ("rpc", "header_timeout_ms", 10, 600_000),
    ("rpc", "keepalive_timeout_ms", 10, 3_600_000),
    ("rpc", "ws_idle_timeout_ms", 10, 86_400_000),
    ("rpc", "max_connections_per_address", 1, 100_000),
    ("rpc", "commit_timeout_ms", 1, 600_000),
    ("rpc", "max_claims_limit", 1, 100_000),
    ("rpc", "max_batch_answer_bytes", 1024, 256 * MIB),
    ("rpc", "reserved_connections", 0, 100_000),
    ("rpc", "reserved_per_address", 0, 100_000),
    ("rpc", "max_call_weight_per_address", 1, 100_000),
    ("p2p", "max_peers", 1, 10_000),
    ("p2p", "max_frame_bytes", 64 * 1024, 256 * MIB),
    ("p2p", "send_queue_len", 1, 1_000_000),
    ("p2p", "handshake_timeout_ms", 1, 600_000),
    ("p2p", "send_queue_bytes", 64 * 1024, 4096 * MIB),
    ("p2p", "send_queue_total_bytes", 64 * 1024, 64 * 1024 * MIB),
    ("p2p", "max_pending_handshakes", 1, 10_000),
    ("p2p", "reserved_handshakes", 0, 10_000),
    ("p2p", "max_handshakes_per_address", 1, 10_000),
    ("p2p", "handshakes_per_minute_per_address", 1, 6_000_000),
    ("p2p", "handshake_burst_per_address", 1, 1_000_000),
    ("p2p", "refusal_log_interval_ms", 100, 3_600_000),
    ("p2p", "dial_interval_ms", 1, 3_600_000),
    ("p2p", "gossip_relay_delay_ms", 0, 600_000),
    ("p2p", "gossip_relay_fanout", 0, 1_000),
    ("p2p", "gossip_min_batch_txs", 1, 10_000),
    ("p2p", "gossip_max_hold_ms", 0, 60_000),
    ("mempool", "max_txs", 1, 10_000_000),
    ("mempool", "max_bytes", 1024, 16 * 1024 * MIB),
    ("mempool", "verified_cache", 1, 10_000_000),
    ("mempool", "max_future_txs", 0, 10_000_000),
    ("mempool", "max_future_per_sender", 0, 64),
    ("mempool", "committed_cache", 1, 10_000_000),
    ("mempool", "future_lifetime_blocks", 1, 10_000_000),
    ("mempool", "retry_cache", 0, 10_000_000),
    ("mempool", "backlog_blocks", 0, 10_000),
    ("mempool", "sustained_backlog_blocks", 0, 10_000),
    ("mempool", "peer_reserve_pct", 0, 90),
    ("mempool", "propose_max_txs", 1, 1_000_000),
    ("consensus", "timeout_propose_ms", 1, 600_000),
    ("consensus", "timeout_propose_delta_ms", 0, 600_000),
    ("consensus", "timeout_prevote_ms", 1, 600_000),
    ("consensus", "timeout_prevote_delta_ms", 0, 600_000),
    ("consensus", "timeout_precommit_ms", 1, 600_000),
    ("consensus", "timeout_precommit_delta_ms", 0, 600_000),
    ("consensus", "max_future_block_bytes", 0, 16 * 1024 * MIB),
    ("consensus", "max_stamp_lag_ms", 0, 600_000),
    ("state", "state_history", 0, 1 << 40),
    ("state", "prune_per_block", 1, 1_000_000),
    ("state", "prune_idle_step", 0, 1_000_000),
    ("store", "write_buffer_size", 64 * 1024, 1024 * MIB),
    ("store", "block_size", 1024, 4 * MIB),
    ("store", "lru_cache_size", 0, 64 * 1024 * MIB),
    ("store", "max_open_files", 64, 1_000_000),
    ("metrics", "max_pools", 0, 10_000),
    ("metrics", "max_claims_counted", 1, 1_000_000),
    ("workers", "threads", -1, 1024),
    ("workers", "max_queue_txs", 1, 10_000_000),
    ("workers", "batch_txs", 1, 100_000),
    ("workers", "inline_max_txs", 0, 100_000),
]


def test_every_int_key_has_its_range_pinned() -> None:
    keys = [
        (section, key)
        for section, info in NodeConfig.model_fields.items()
        if isinstance(info.default_factory, type) and issubclass(info.default_factory, BaseModel)
        for key, field in info.default_factory.model_fields.items()
        if field.annotation is int
    ]
    assert keys == [(section, key) for section, key, _, _ in INT_RANGES]


@pytest.mark.parametrize(("section", "key", "lo", "hi"), INT_RANGES)
def test_int_keys_at_their_boundaries(
    tmp_path: Path, section: str, key: str, lo: int, hi: int
) -> None:
    for ok in (lo, hi):
        assert getattr(getattr(parse_config({section: {key: ok}}), section), key) == ok
    for bad in (lo - 1, hi + 1, "1", True, 1.0):
        (tmp_path / "config.toml").write_text(f"[{section}]\n{key} = {bad!r}".lower())
        with pytest.raises(ConfigError) as err:
            load_config(tmp_path)
        assert err.value.field == f"{section}.{key}", bad


def test_moniker_length_at_its_boundaries() -> None:
    assert parse_config({"moniker": "m" * 64}).moniker == "m" * 64
    assert parse_config({"moniker": "m"}).moniker == "m"
    for bad in ("", "m" * 65, 5):
        with pytest.raises(ConfigError) as err:
            parse_config({"moniker": bad})
        assert err.value.field == "moniker"


def test_consensus_section_becomes_the_replicas_params() -> None:
    chain = ChainParams(treasury=b"\x01" * 32, block_time_ms=700, epoch_length=30)
    assert ConsensusConfig().to_params(chain) == dataclasses.replace(
        ConsensusParams(), commit_ms=700, max_evidence_age=30
    )
    cfg = parse_config({"consensus": {"timeout_prevote_ms": 900, "timeout_prevote_delta_ms": 7}})
    p = cfg.consensus.to_params(chain)
    assert (p.prevote_ms, p.prevote_delta_ms, p.prevote_timeout(2)) == (900, 7, 914)
    assert p.propose_ms == ConsensusParams().propose_ms


def test_p2p_section_becomes_the_transports_limits() -> None:
    default = P2PConfig().to_limits()
    assert dataclasses.replace(default, backoff_min_s=0.5, backoff_max_s=30.0) == P2PLimits()
    assert (default.backoff_min_s, default.backoff_max_s) == (2.0, 8.0)
    keys = {"max_peers": 3, "max_frame_bytes": 64 * 1024, "send_queue_len": 9}
    keys |= {"handshake_timeout_ms": 250, "dial_interval_ms": 1}
    lim = parse_config({"p2p": keys}).p2p.to_limits()
    assert (lim.max_peers, lim.max_frame_bytes, lim.send_queue_len) == (3, 64 * 1024, 9)
    assert (lim.handshake_timeout_s, lim.backoff_min_s, lim.backoff_max_s) == (0.25, 0.001, 0.004)
    # every range of [p2p] is one the transport accepts
    for section, key, lo, hi in INT_RANGES:
        if section == "p2p":
            for v in (lo, hi):
                P2PConfig.model_validate({key: v}).to_limits()


def test_store_section_becomes_the_stores_options() -> None:
    assert StoreConfig().options() == LevelDBOptions()
    assert LevelDBOptions().compression == "none"  # tree nodes are random: snappy buys nothing
    cfg = parse_config({"store": {"compression": "snappy", "write_buffer_size": 8 * MIB}})
    opts = cfg.store.options()
    assert (opts.compression, opts.write_buffer_size) == ("snappy", 8 * MIB)
    assert opts.plyvel_kwargs()["compression"] == "snappy"
    assert StoreConfig().options().plyvel_kwargs()["compression"] is None
    # every range of [store] is one the store accepts
    for section, key, lo, hi in INT_RANGES:
        if section == "store":
            for v in (lo, hi):
                parse_config({"store": {key: v}}).store.options()
    for bad in ("zlib", "", None, 1):
        with pytest.raises(ConfigError) as err:
            parse_config({"store": {"compression": bad}})
        assert err.value.field == "store.compression"
