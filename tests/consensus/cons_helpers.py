"""Test doubles for consensus: a deterministic counter app and an in-memory network.

The app's state is one counter (number of transactions committed); its state root is a hash
of (height, counter), so a wrong state root or a skipped block is detected by validate().
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from consensus.actions import (
    Broadcast,
    Committed,
    EvidenceFound,
    Penalize,
    ScheduleTimeout,
    SendTo,
)
from consensus.messages import CONSENSUS, VoteMsg, decode_message
from consensus.params import ConsensusParams
from consensus.replica import Replica
from state.codec import decode, encode
from state.crypto import Signer, sha256
from state.store import Batch, MemoryStore

CHAIN = "test-chain"
GENESIS = sha256(b"genesis")


@dataclass(frozen=True)
class Member:
    consensus_key: bytes
    power: int
    operator: bytes
    name: str


def signers(n: int) -> list[Signer]:
    return [Signer(bytes([i + 1]) * 32) for i in range(n)]


def members(ss: Sequence[Signer], powers: Sequence[int] | None = None) -> list[Member]:
    powers = powers or [1] * len(ss)
    return [
        Member(s.public_key, p, sha256(s.public_key), f"v{i}")
        for i, (s, p) in enumerate(zip(ss, powers, strict=True))
    ]


class CounterApp:
    """Every block carries `txs_per_block` transactions b"tx:<height>:<i>"."""

    def __init__(
        self,
        store: MemoryStore,
        validators: Callable[[int], list[Member]],
        txs_per_block: int = 2,
    ) -> None:
        self.store = store
        self._validators = validators
        self.txs_per_block = txs_per_block
        self.validate_calls = 0
        self.commits: list[int] = []
        self.evidence_seen: list[bytes] = []

    def _load(self) -> tuple[int, int]:
        raw = self.store.get(b"m/app")
        return (0, 0) if raw is None else tuple(decode(raw))  # type: ignore[return-value]

    @staticmethod
    def root(height: int, counter: int) -> bytes:
        return sha256(encode([height, counter]))

    def prepare(self, height, time_ms, proposer, evidence):  # noqa: ANN001, ANN201
        txs = [b"tx:%d:%d" % (height, i) for i in range(self.txs_per_block)]
        h, c = self._load()
        assert h == height - 1
        return txs, self.root(height, c + len(txs))

    def validate(self, height, time_ms, proposer, txs, evidence, state_root):  # noqa: ANN001, ANN201
        self.validate_calls += 1
        h, c = self._load()
        if h != height - 1 or not all(t.startswith(b"tx:") for t in txs):
            return False
        return state_root == self.root(height, c + len(txs))

    def commit(self, height, time_ms, proposer, txs, evidence, state_root, extra):  # noqa: ANN001, ANN201
        h, c = self._load()
        assert h == height - 1
        assert state_root == self.root(height, c + len(txs))
        b = Batch()
        b.update(extra)
        b.put(b"m/app", encode([height, c + len(txs)]))
        self.store.write(b, sync=True)
        self.commits.append(height)
        self.evidence_seen += [e.id for e in evidence]

    def validators(self, height):  # noqa: ANN001, ANN201
        return self._validators(height)

    def last_height(self) -> int:
        return self._load()[0]

    def state_root(self) -> bytes:
        h, c = self._load()
        return self.root(h, c)

    def genesis_hash(self) -> bytes:
        return GENESIS


FAST = ConsensusParams(
    propose_ms=300,
    propose_delta_ms=100,
    prevote_ms=200,
    prevote_delta_ms=100,
    precommit_ms=200,
    precommit_delta_ms=100,
    commit_ms=100,
    status_interval_ms=500,
    sync_timeout_ms=1000,
)


class Net:
    """Replicas over a perfect in-memory network with a simulated clock (10 ms latency)."""

    def __init__(
        self,
        n: int = 4,
        powers: Sequence[int] | None = None,
        validators: Callable[[int], list[Member]] | None = None,
        extra_signers: Sequence[Signer] = (),
        params: ConsensusParams = FAST,
        latency_ms: int = 10,
    ) -> None:
        self.signers = signers(n) + list(extra_signers)
        base = members(self.signers[:n], powers)
        self.validators_fn = validators or (lambda h: base)
        self.params = params
        self.latency = latency_ms
        self.now = 0
        self.seq = 0
        self.queue: list[tuple[int, int, str, object]] = []
        self.replicas: dict[bytes, Replica] = {}
        self.stores: dict[bytes, MemoryStore] = {}
        self.apps: dict[bytes, CounterApp] = {}
        self.down: set[bytes] = set()
        self.committed: dict[bytes, dict[int, bytes]] = {}
        self.penalties: list[tuple[bytes, bytes, str]] = []
        self.evidence: list[object] = []
        #: (validator, height, round, type) -> block id of every vote ever broadcast
        self.votes_sent: dict[tuple[bytes, int, int, int], bytes | None] = {}
        #: drop(src, dst, channel, payload) -> True loses the message
        self.drop: Callable[[bytes, bytes, int, bytes], bool] | None = None
        for s in self.signers:
            self.add(s)

    def add(self, s: Signer, store: MemoryStore | None = None) -> Replica:
        store = store or MemoryStore()
        app = CounterApp(store, self.validators_fn)
        r = Replica(CHAIN, store, app, s, self.params)
        k = s.public_key
        self.replicas[k], self.stores[k], self.apps[k] = r, store, app
        self.committed.setdefault(k, {})
        return r

    def push(self, at: int, kind: str, data: object) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, kind, data))

    def start(self, keys: Sequence[bytes] | None = None) -> None:
        for k in keys or list(self.replicas):
            self.handle(k, self.replicas[k].start(self.now))
            self.push(self.now + 100, "tick", k)

    def handle(self, src: bytes, actions: list) -> None:  # noqa: ANN001
        for a in actions:
            if isinstance(a, Broadcast | SendTo) and a.channel == CONSENSUS:
                self._check_no_double_sign(a.payload)
            if isinstance(a, Broadcast):
                for k in self.replicas:
                    if k != src:
                        self.push(self.now + self.latency, "msg", (src, k, a.channel, a.payload))
            elif isinstance(a, SendTo):
                self.push(self.now + self.latency, "msg", (src, a.peer_id, a.channel, a.payload))
            elif isinstance(a, ScheduleTimeout):
                self.push(a.at_ms, "timeout", (src, a))
            elif isinstance(a, Committed):
                prev = self.committed[src].get(a.height)
                assert prev is None or prev == a.block.hash
                self.committed[src][a.height] = a.block.hash
            elif isinstance(a, Penalize):
                self.penalties.append((src, a.peer_id, a.reason))
            elif isinstance(a, EvidenceFound):
                self.evidence.append(a.evidence)

    def _check_no_double_sign(self, payload: bytes) -> None:
        msg = decode_message(CONSENSUS, payload)
        if isinstance(msg, VoteMsg):
            v = msg.vote
            key = (v.validator, v.height, v.round, v.type)
            if key in self.votes_sent:
                assert self.votes_sent[key] == v.block_id, f"double sign {key}"
            self.votes_sent[key] = v.block_id

    def step(self) -> bool:
        if not self.queue:
            return False
        at, _, kind, data = heapq.heappop(self.queue)
        self.now = max(self.now, at)
        if kind == "tick":
            k = data  # type: ignore[assignment]
            if k in self.replicas:
                self.push(self.now + 250, "tick", k)
                if k not in self.down:
                    self.handle(k, self.replicas[k].on_tick(self.now))
        elif kind == "timeout":
            k, t = data  # type: ignore[misc]
            if k not in self.down:
                self.handle(k, self.replicas[k].on_timeout(t, self.now))
        else:
            src, dst, ch, payload = data  # type: ignore[misc]
            lost = self.drop is not None and self.drop(src, dst, ch, payload)
            if dst in self.replicas and dst not in self.down and src not in self.down and not lost:
                self.handle(dst, self.replicas[dst].on_message(src, ch, payload, self.now))
        return True

    def run_until(self, pred: Callable[[], bool], max_ms: int = 60_000) -> bool:
        end = self.now + max_ms
        while not pred():
            if not self.queue or self.queue[0][0] > end:
                return False
            self.step()
        return True

    def heights(self, keys: Sequence[bytes] | None = None) -> list[int]:
        return [self.replicas[k].height for k in keys or self.replicas]
