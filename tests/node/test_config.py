"""config.toml: defaults, round trip through write_config, errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import (
    ConfigError,
    NodeConfig,
    P2PConfig,
    RpcConfig,
    load_config,
    parse_peer,
    split_host_port,
    write_config,
)

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
