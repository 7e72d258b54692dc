"""Node configuration (``HOME/config.toml``) and the layout of a node's home directory.

Home layout (fixed names, so an operator, the docker entrypoint and ``huzhu testnet`` agree)::

    HOME/config.toml      this file's model, NodeConfig (optional: defaults when absent)
    HOME/genesis.json     the chain's genesis document (PROTOCOL.md section 5)
    HOME/node_key.json    the node key (node/keys.py): a validator's consensus key, which is
                          also its P2P node id; an observer's P2P identity
    HOME/data/            the node's LevelDB (state, blocks, last-signed vote)

Why pydantic, strict and ``extra="forbid"``: a misspelt key (``max_peer = 10``) must stop the
node at start with a message naming it, not be ignored while the default silently applies.
Every bound the node enforces at runtime is a field here, with its range. A section that
configures a component takes its defaults from that component's settings (ConsensusParams,
P2PLimits) and turns into them through one method (``to_params``, ``to_limits``), so a default
is written once and a key cannot be forgotten on the way.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from consensus.params import ConsensusParams
from node.durable import write_durably
from node.workers import (
    DEFAULT_BATCH_TXS,
    DEFAULT_INLINE_MAX_TXS,
    DEFAULT_MAX_QUEUE_TXS,
    WorkerPool,
    default_threads,
)
from node.wsconn import WS_SEND_TOTAL_BYTES
from p2p.types import P2PLimits, PeerAddr
from state.chain import (
    DEFAULT_PRUNE_IDLE_STEP,
    DEFAULT_PRUNE_PER_BLOCK,
    DEFAULT_STATE_HISTORY,
    MAX_PRUNE_PER_BLOCK,
    MAX_STATE_HISTORY,
)
from state.hexfmt import HEX32
from state.mempool import MempoolLimits
from state.params import ChainParams
from state.store import OPTION_RANGES, LevelDBOptions

CONFIG_FILE = "config.toml"
GENESIS_FILE = "genesis.json"
NODE_KEY_FILE = "node_key.json"
DATA_DIR = "data"

DEFAULT_RPC_PORT = 26657
DEFAULT_P2P_PORT = 27657
MIB = 1024 * 1024

_P2P = P2PLimits()
_CONSENSUS = ConsensusParams()


class ConfigError(ValueError):
    """A config file that cannot be used; ``field`` is the dotted path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Home:
    """The paths of a node's home directory (see the module docstring)."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def genesis(self) -> Path:
        return self.root / GENESIS_FILE

    @property
    def node_key(self) -> Path:
        return self.root / NODE_KEY_FILE

    @property
    def data(self) -> Path:
        return self.root / DATA_DIR


def split_host_port(value: str) -> tuple[str, int]:
    """``"host:port"`` -> (host, port); IPv6 hosts in brackets (``[::1]:26657``).

    Port 0 is allowed (the OS picks one: tests and throwaway nodes)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isascii() or not port.isdigit():
        raise ValueError(f"{value!r} is not host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"{value!r} has no valid host")
    n = int(port)
    if not 0 <= n <= 65535:
        raise ValueError(f"port {n} is outside 0..65535")
    return host, n


def parse_peer(value: str) -> PeerAddr:
    """``"<64 hex>@host:port"`` -> the transport's PeerAddr; raises ValueError saying what is
    wrong. Stricter than PeerAddr.parse: a configured peer must name its node id (so the
    handshake can check it) and a real port."""
    node_id, sep, addr = value.partition("@")
    if not sep:
        raise ValueError(f"{value!r} is not <node id hex>@host:port")
    if not HEX32.fullmatch(node_id):
        raise ValueError(f"{value!r}: node id must be 64 hex characters")
    host, port = split_host_port(addr)
    if port == 0:
        raise ValueError(f"{value!r}: a peer's port cannot be 0")
    return PeerAddr(bytes.fromhex(node_id), host, port)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _listen(v: str) -> str:
    split_host_port(v)
    return v


class RpcConfig(_Section):
    """The JSON-RPC server (PROTOCOL.md section 6); every resource a client can hold is bounded."""

    listen: str = Field(f"127.0.0.1:{DEFAULT_RPC_PORT}", description="host:port of HTTP and /ws")
    max_body_bytes: int = Field(
        MIB, ge=1024, le=64 * MIB, description="larger request bodies get HTTP 413"
    )
    max_batch: int = Field(100, ge=1, le=10_000, description="calls per batch (more: -32600)")
    batch_concurrency: int = Field(
        16, ge=1, le=10_000, description="calls of one batch being answered at once"
    )
    batch_timeout_ms: int = Field(
        30_000,
        ge=1,
        le=600_000,
        description="longest wait for a whole batch; commit-mode waits in it end by then",
    )
    max_connections: int = Field(
        256, ge=1, le=100_000, description="open TCP connections; beyond, HTTP 503 and close"
    )
    max_ws_subscriptions: int = Field(
        16, ge=1, le=10_000, description="subscriptions per WebSocket connection"
    )
    ws_send_queue: int = Field(
        65_536,
        ge=1,
        le=1_000_000,
        description="queued messages per WebSocket (a block's events included); a full queue "
        "drops it",
    )
    ws_send_queue_bytes: int = Field(
        16 * MIB,
        ge=64 * 1024,
        le=1024 * MIB,
        description="queued bytes per WebSocket; an event that does not fit drops the "
        "subscriber (close code 1013)",
    )
    ws_send_total_bytes: int = Field(
        WS_SEND_TOTAL_BYTES,
        ge=64 * 1024,
        le=16 * 1024 * MIB,
        description="bytes queued for all WebSockets together; beyond it the longest queues "
        "are dropped (close code 1013)",
    )
    ws_max_pending: int = Field(
        32, ge=1, le=10_000, description="calls of one WebSocket being answered at once"
    )
    read_timeout_ms: int = Field(
        10_000, ge=10, le=600_000, description="time to receive a request body; then HTTP 408"
    )
    header_timeout_ms: int = Field(
        10_000,
        ge=10,
        le=600_000,
        description="time a new connection has to send its first request's headers; then closed",
    )
    keepalive_timeout_ms: int = Field(
        15_000,
        ge=10,
        le=3_600_000,
        description="an HTTP connection idle this long between requests is closed",
    )
    ws_idle_timeout_ms: int = Field(
        120_000,
        ge=10,
        le=86_400_000,
        description="a WebSocket without subscriptions that sends nothing this long is closed",
    )
    max_connections_per_address: int = Field(
        128,
        ge=1,
        le=100_000,
        description="open TCP connections from one IP address; beyond, HTTP 503 and close",
    )
    commit_timeout_ms: int = Field(
        30_000, ge=1, le=600_000, description="broadcast_tx commit mode's longest wait"
    )
    explorer: bool = Field(
        True, description="serve the block explorer's static pages at /explorer/ on this port"
    )
    max_claims_limit: int = Field(
        1000, ge=1, le=100_000, description="largest `limit` of the claims method"
    )
    max_batch_answer_bytes: int = Field(
        256 * 1024,
        ge=1024,
        le=256 * MIB,
        description="bytes of a batch's answers; once reached, its calls not yet started "
        "answer -32002 unexecuted",
    )
    reserved_connections: int = Field(
        32,
        ge=0,
        le=100_000,
        description="of max_connections, the last ones go only to addresses holding fewer "
        "than reserved_per_address connections",
    )
    reserved_per_address: int = Field(
        4,
        ge=0,
        le=100_000,
        description="an address holding this many connections gets no reserved slot",
    )
    max_call_weight_per_address: int = Field(
        128,
        ge=1,
        le=100_000,
        description="weight of the calls one IP address has being answered at once (a call "
        "weighs 1, large reads more); beyond, its calls wait their turn",
    )

    _check_listen = field_validator("listen")(_listen)


class P2PConfig(_Section):
    """The authenticated P2P transport (p2p/)."""

    listen: str = Field(f"127.0.0.1:{DEFAULT_P2P_PORT}", description="host:port to accept peers")
    peers: list[str] = Field(
        default_factory=list, description='persistent peers, "<node id hex>@host:port"'
    )
    observers: list[str] = Field(
        default_factory=list,
        description="node ids (hex) of non-validators allowed to connect",
    )
    max_peers: int = Field(
        _P2P.max_peers, ge=1, le=10_000, description="connected peers, in and out"
    )
    max_frame_bytes: int = Field(
        _P2P.max_frame_bytes,
        ge=64 * 1024,
        le=256 * MIB,
        description="largest message a peer may send",
    )
    send_queue_len: int = Field(
        _P2P.send_queue_len,
        ge=1,
        le=1_000_000,
        description="queued messages per peer before it is lagging",
    )
    handshake_timeout_ms: int = Field(
        round(_P2P.handshake_timeout_s * 1000), ge=1, le=600_000, description="handshake deadline"
    )
    send_queue_bytes: int = Field(
        _P2P.send_queue_bytes, ge=64 * 1024, le=4096 * MIB, description="queued bytes per peer"
    )
    send_queue_total_bytes: int = Field(
        _P2P.send_queue_total_bytes,
        ge=64 * 1024,
        le=64 * 1024 * MIB,
        description="queued bytes for all peers together",
    )
    max_pending_handshakes: int = Field(
        _P2P.max_pending_handshakes,
        ge=1,
        le=10_000,
        description="unauthenticated handshakes in progress (strangers)",
    )
    reserved_handshakes: int = Field(
        _P2P.reserved_handshakes,
        ge=0,
        le=10_000,
        description="further handshake slots only the configured peers' addresses may use",
    )
    max_handshakes_per_address: int = Field(
        _P2P.max_handshakes_per_address,
        ge=1,
        le=10_000,
        description="handshakes in progress from one IP (configured peers' IPs exempt)",
    )
    handshakes_per_minute_per_address: int = Field(
        round(_P2P.handshake_rate_per_address * 60),
        ge=1,
        le=6_000_000,
        description="new handshakes per minute from one IP (configured peers' IPs exempt)",
    )
    handshake_burst_per_address: int = Field(
        _P2P.handshake_burst_per_address,
        ge=1,
        le=1_000_000,
        description="handshakes one IP may start at once before its rate applies",
    )
    refusal_log_interval_ms: int = Field(
        round(_P2P.refusal_log_interval_s * 1000),
        ge=100,
        le=3_600_000,
        description="refused strangers are logged as one summary line per interval",
    )
    dial_interval_ms: int = Field(
        2_000, ge=1, le=3_600_000, description="wait before redialling a lost persistent peer"
    )
    gossip_relay_delay_ms: int = Field(
        1_500,
        ge=0,
        le=600_000,
        description="a peer's tx is forwarded to other peers only this long after it arrived "
        "(if still pending): in a full mesh its origin reaches them first",
    )
    gossip_relay_fanout: int = Field(
        2,
        ge=0,
        le=1_000,
        description="a peer's tx is relayed to at most this many peers not known to have it "
        "(0: never relayed); a client's tx still goes to every peer",
    )
    gossip_min_batch_txs: int = Field(
        8,
        ge=1,
        le=10_000,
        description="a batch of fewer own txs than this waits for more (up to "
        "gossip_max_hold_ms): each batch costs every receiver a frame and an admission request, "
        "whatever it holds (1: never held)",
    )
    gossip_max_hold_ms: int = Field(
        200,
        ge=0,
        le=60_000,
        description="the longest a small tx batch waits for more (0: never held); latency it "
        "adds to a tx that arrives alone",
    )

    _check_listen = field_validator("listen")(_listen)

    @field_validator("peers")
    @classmethod
    def _check_peers(cls, v: list[str]) -> list[str]:
        for i, p in enumerate(v):
            try:
                parse_peer(p)
            except ValueError as exc:
                raise ValueError(f"peers.{i}: {exc}") from None
        return v

    @field_validator("observers")
    @classmethod
    def _check_observers(cls, v: list[str]) -> list[str]:
        for i, o in enumerate(v):
            if not HEX32.fullmatch(o):
                raise ValueError(f"observers.{i}: must be 64 hex characters")
        return [o.lower() for o in v]

    def peer_addresses(self) -> list[PeerAddr]:
        return [parse_peer(p) for p in self.peers]

    def observer_ids(self) -> frozenset[bytes]:
        return frozenset(bytes.fromhex(o) for o in self.observers)

    def to_limits(self) -> P2PLimits:
        """The transport's bounds; those without a key keep P2PLimits' defaults.

        A lost persistent peer is redialled after dial_interval_ms, backing off to four
        times that while it stays unreachable."""
        dial_s = self.dial_interval_ms / 1000
        return P2PLimits(
            max_frame_bytes=self.max_frame_bytes,
            max_peers=self.max_peers,
            send_queue_len=self.send_queue_len,
            handshake_timeout_s=self.handshake_timeout_ms / 1000,
            send_queue_bytes=self.send_queue_bytes,
            send_queue_total_bytes=self.send_queue_total_bytes,
            max_pending_handshakes=self.max_pending_handshakes,
            reserved_handshakes=self.reserved_handshakes,
            max_handshakes_per_address=self.max_handshakes_per_address,
            handshake_rate_per_address=self.handshakes_per_minute_per_address / 60,
            handshake_burst_per_address=self.handshake_burst_per_address,
            refusal_log_interval_s=self.refusal_log_interval_ms / 1000,
            backoff_min_s=dial_s,
            backoff_max_s=4 * dial_s,
        )


_MEMPOOL = MempoolLimits()  # the defaults of [mempool]
#: `[mempool] propose_max_txs` default and maximum: no ceiling beyond the measured one
PROPOSE_MAX_TXS_NO_CAP = 1_000_000


class MempoolConfig(_Section):
    """Mempool bounds (the 11th admission check): defaults are state/mempool.py
    `MempoolLimits`, and `limits()` is the one conversion to it."""

    max_txs: int = Field(_MEMPOOL.max_txs, ge=1, le=10_000_000, description="pending transactions")
    max_bytes: int = Field(
        _MEMPOOL.max_bytes, ge=1024, le=16 * 1024 * MIB, description="sum of pending wire sizes"
    )
    verified_cache: int = Field(
        _MEMPOOL.verified_cache,
        ge=1,
        le=10_000_000,
        description="hashes whose signature is known good",
    )
    max_future_txs: int = Field(
        _MEMPOOL.max_future_txs,
        ge=0,
        le=10_000_000,
        description="pending txs behind a nonce gap, all senders",
    )
    max_future_per_sender: int = Field(
        _MEMPOOL.max_future_per_sender,
        ge=0,
        le=64,
        description="pending txs behind a nonce gap, one sender",
    )
    committed_cache: int = Field(
        _MEMPOOL.committed_cache,
        ge=1,
        le=10_000_000,
        description="hashes of recently committed txs, to answer late gossip copies cheaply",
    )
    future_lifetime_blocks: int = Field(
        _MEMPOOL.future_lifetime_blocks,
        ge=1,
        le=10_000_000,
        description="blocks a tx may stay pending behind a nonce gap before it is evicted",
    )
    retry_cache: int = Field(
        _MEMPOOL.retry_cache,
        ge=0,
        le=10_000_000,
        description="decoded txs refused mempool_full, so a client's re-offer of the same bytes "
        "skips decoding and the signature check (checks 7-11 run again once anything they read "
        "changed); 0 keeps none",
    )
    backlog_blocks: int = Field(
        _MEMPOOL.backlog_blocks,
        ge=0,
        le=10_000,
        description="a client's tx is also refused when the pending txs reach this many times "
        "the mean of the last 16 committed blocks, never below the chain's max_block_txs "
        "(beyond it a tx only waits longer, and admitting it costs every node CPU the chain "
        "needs to commit); peers' gossiped txs are bounded by max_txs only; 0: max_txs only",
    )
    sustained_backlog_blocks: int = Field(
        _MEMPOOL.sustained_backlog_blocks,
        ge=0,
        le=10_000,
        description="the backlog bound in blocks once clients were refused at it during each "
        "of the last 3 committed blocks (a standing queue under sustained overload, not a "
        "burst), until a block passes without such a refusal; 0, or not below "
        "backlog_blocks: backlog_blocks throughout",
    )
    peer_reserve_pct: int = Field(
        _MEMPOOL.peer_reserve_pct,
        ge=0,
        le=90,
        description="percent of max_txs a client's tx never fills while backlog_blocks is on: "
        "room for peers' gossiped copies, so under overload every validator holds the same "
        "transactions instead of each its own clients'",
    )
    propose_max_txs: int = Field(
        PROPOSE_MAX_TXS_NO_CAP,
        ge=1,
        le=PROPOSE_MAX_TXS_NO_CAP,
        description="an operator's ceiling on the txs this node reaps into a block it "
        "proposes; the default (the most) adds none: blocks are sized from measured execution "
        "speed and timings to fit the propose timeout (node/pacing.py), within the chain's "
        "max_block_txs",
    )

    def limits(self) -> MempoolLimits:
        """The mempool's settings from this section (propose_max_txs is the proposer's)."""
        return MempoolLimits(
            max_txs=self.max_txs,
            max_bytes=self.max_bytes,
            verified_cache=self.verified_cache,
            max_future_txs=self.max_future_txs,
            max_future_per_sender=self.max_future_per_sender,
            committed_cache=self.committed_cache,
            future_lifetime_blocks=self.future_lifetime_blocks,
            retry_cache=self.retry_cache,
            backlog_blocks=self.backlog_blocks,
            sustained_backlog_blocks=self.sustained_backlog_blocks,
            peer_reserve_pct=self.peer_reserve_pct,
        )


class ConsensusConfig(_Section):
    """Tendermint timeouts in milliseconds: round r waits base + r * delta.

    Each key is ``timeout_`` + a ConsensusParams field, whose default it takes (and
    max_future_block_bytes, a memory bound, and max_stamp_lag_ms are those fields' own
    names). The wait between blocks is the chain's block_time_ms (genesis), not a node
    setting, so that all validators agree on it."""

    timeout_propose_ms: int = Field(_CONSENSUS.propose_ms, ge=1, le=600_000)
    timeout_propose_delta_ms: int = Field(_CONSENSUS.propose_delta_ms, ge=0, le=600_000)
    timeout_prevote_ms: int = Field(_CONSENSUS.prevote_ms, ge=1, le=600_000)
    timeout_prevote_delta_ms: int = Field(_CONSENSUS.prevote_delta_ms, ge=0, le=600_000)
    timeout_precommit_ms: int = Field(_CONSENSUS.precommit_ms, ge=1, le=600_000)
    timeout_precommit_delta_ms: int = Field(_CONSENSUS.precommit_delta_ms, ge=0, le=600_000)
    max_future_block_bytes: int = Field(
        _CONSENSUS.max_future_block_bytes,
        ge=0,
        le=16 * 1024 * MIB,
        description="bytes of proposed blocks kept for rounds after the current one",
    )
    max_stamp_lag_ms: int = Field(
        _CONSENSUS.max_stamp_lag_ms,
        ge=0,
        le=600_000,
        description="a late round 0's proposer stamps its due time, at most this far behind "
        "its clock (0: its clock)",
    )

    def to_params(self, chain: ChainParams) -> ConsensusParams:
        """The replica's params: these timeouts, and what the chain fixes for everyone.

        A commit waits block_time_ms before the next height; evidence is accepted and
        proposed while the state machine still counts it, epoch_length blocks (PROTOCOL.md
        section 4)."""
        return ConsensusParams(
            **{key.removeprefix("timeout_"): value for key, value in self},
            commit_ms=chain.block_time_ms,
            max_evidence_age=chain.epoch_length,
        )


class StateConfig(_Section):
    """State history (PROTOCOL.md section 11): defaults are state/chain.py's.

    Pruning is local (the state root does not depend on it), so validators may differ here;
    lowering state_history drops old heights for good, raising it keeps only new ones."""

    state_history: int = Field(
        DEFAULT_STATE_HISTORY,
        ge=0,
        le=MAX_STATE_HISTORY,
        description="heights whose state stays readable and provable (0: every height)",
    )
    prune_per_block: int = Field(
        DEFAULT_PRUNE_PER_BLOCK,
        ge=1,
        le=MAX_PRUNE_PER_BLOCK,
        description="stale tree nodes a commit deletes at most (bounds its delay; the rest waits)",
    )
    prune_idle_step: int = Field(
        DEFAULT_PRUNE_IDLE_STEP,
        ge=0,
        le=MAX_PRUNE_PER_BLOCK,
        description="stale tree nodes deleted per 20 ms step between blocks (0: only at commits)",
    )


_STORE = LevelDBOptions()


def _store_int(name: str, description: str) -> Any:
    """A [store] int key: LevelDBOptions' default and bounds."""
    lo, hi = OPTION_RANGES[name]
    return Field(getattr(_STORE, name), ge=lo, le=hi, description=description)


class StoreConfig(_Section):
    """LevelDB's tuning (state/store.py LevelDBOptions; bench/README.md has the figures).

    Local to this node (the state root does not depend on it); read when the node opens its
    data directory, and safe to change between restarts."""

    compression: Literal["none", "snappy"] = Field(
        _STORE.compression,
        description='table compression: "none" (tree nodes are random hashes) or "snappy"',
    )
    write_buffer_size: int = _store_int(
        "write_buffer_size", "bytes of writes held in memory before a flush to disk (memtable)"
    )
    block_size: int = _store_int("block_size", "bytes per table block (the unit LevelDB reads)")
    lru_cache_size: int = _store_int("lru_cache_size", "bytes of table blocks cached in memory")
    max_open_files: int = _store_int("max_open_files", "table files LevelDB keeps open")

    def options(self) -> LevelDBOptions:
        """The store options of this section."""
        return LevelDBOptions(**dict(self))


class MetricsConfig(_Section):
    """Prometheus metrics (docs/operators.md, Metrics)."""

    enabled: bool = Field(True, description="serve GET /metrics")
    listen: str = Field(
        "", description='host:port of a separate metrics server; "" serves /metrics on the RPC port'
    )
    max_pools: int = Field(
        100, ge=0, le=10_000, description="pools reported (genesis order); the rest are left out"
    )
    max_claims_counted: int = Field(
        10_000, ge=1, le=1_000_000, description="claims counted per pool and status (saturates)"
    )

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, v: str) -> str:
        return v if v == "" else _listen(v)


class WorkersConfig(_Section):
    """The signature-check threads of admission (node/workers.py); defaults are its."""

    threads: int = Field(
        -1, ge=-1, le=1024, description="-1: one per CPU (os.cpu_count()); 0: inline on the loop"
    )
    max_queue_txs: int = Field(
        DEFAULT_MAX_QUEUE_TXS,
        ge=1,
        le=10_000_000,
        description="txs waiting for a check; a client's tx beyond it is checked on the loop",
    )
    batch_txs: int = Field(
        DEFAULT_BATCH_TXS, ge=1, le=100_000, description="txs handed to a thread in one job"
    )
    inline_max_txs: int = Field(
        DEFAULT_INLINE_MAX_TXS,
        ge=0,
        le=100_000,
        description="a flush of at most this many txs is checked on the loop, not handed to "
        "a thread (cheaper than the hand-off); 0: every flush goes to the threads",
    )

    def pool(self) -> WorkerPool:
        """The configured pool (threads -1 resolved against this machine)."""
        threads = default_threads() if self.threads < 0 else self.threads
        return WorkerPool(
            threads,
            max_queue_txs=self.max_queue_txs,
            batch_txs=self.batch_txs,
            inline_max_txs=self.inline_max_txs,
        )


class NodeConfig(_Section):
    """The whole of ``config.toml``."""

    moniker: str = Field("node", min_length=1, max_length=64, description="human-readable name")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info")
    rpc: RpcConfig = Field(default_factory=RpcConfig)
    p2p: P2PConfig = Field(default_factory=P2PConfig)
    mempool: MempoolConfig = Field(default_factory=MempoolConfig)
    consensus: ConsensusConfig = Field(default_factory=ConsensusConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    workers: WorkersConfig = Field(default_factory=WorkersConfig)


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "config"


def parse_config(obj: Any) -> NodeConfig:
    """Validate a parsed TOML document; raise ConfigError naming the (first) bad field."""
    if not isinstance(obj, dict):
        raise ConfigError("config", "must be a table")
    try:
        return NodeConfig.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        field = _loc(err["loc"])
        # list validators report "peers.1: ..." themselves: fold that into the path
        head, sep, rest = msg.partition(": ")
        if sep and re.fullmatch(r"[a-z_]+\.\d+", head):
            field = field.rsplit(".", 1)[0] + "." + head
            msg = rest
        raise ConfigError(field, msg) from None


def load_config(home: Path) -> NodeConfig:
    """Read ``HOME/config.toml`` (defaults when the file does not exist)."""
    path = Home(Path(home)).config
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return NodeConfig()
    except OSError as exc:
        raise ConfigError("config", f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        obj = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("config", f"{path} is not valid TOML: {exc}") from None
    return parse_config(obj)


# --- writing ------------------------------------------------------------------------------


def _toml_str(s: str) -> str:
    # A JSON string literal is a TOML basic string, except that TOML also wants DEL escaped.
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, list):
        if not v:
            return "[]"
        return "[\n" + "".join(f"  {_toml_value(x)},\n" for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _lines(model: BaseModel) -> Iterator[str]:
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            continue
        if info.description:
            yield f"# {info.description}"
        yield f"{name} = {_toml_value(value)}"


def config_to_toml(cfg: NodeConfig) -> str:
    """Readable TOML for ``cfg`` (every key written, so an operator sees all the knobs)."""
    out = ["# huzhu node configuration; every key is optional (the value shown is in force)."]
    out.extend(_lines(cfg))
    for name in type(cfg).model_fields:
        section = getattr(cfg, name)
        if isinstance(section, BaseModel):
            out.append("")
            out.append(f"[{name}]")
            doc = (type(section).__doc__ or "").strip().splitlines()
            if doc:
                out.insert(len(out) - 1, f"# {doc[0]}")
            out.extend(_lines(section))
    return "\n".join(out) + "\n"


def write_config(path: Path, cfg: NodeConfig) -> None:
    """Write ``cfg`` as TOML (tomllib reads TOML but cannot write it)."""
    write_durably(Path(path), config_to_toml(cfg).encode("utf-8"))
