"""One simulated run: N real nodes, one network, one clock, one event queue, one seed.

The loop pops the earliest event, advances the global clock to it, hands it to the node it
concerns (at that node's skewed local time) and turns the replica's actions into new
events: a Broadcast becomes one delivery event per peer copy the network lets through, a
ScheduleTimeout becomes a timer event, a Committed is shown to the checker. Crashes,
restarts, partitions and heals are events too, scheduled up front from the seed.

Transactions take the real path: on each node's tick its clients submit to its mempool
(after each new height), and its gossip policy flushes tx batches to the peers it reaches,
as channel-2 messages of the same network (latency, loss, partitions); proposers reap their
mempool and every commit rechecks it. The record's `mempool` counts what happened.

Randomness is split into independent streams (keys, clock, network, faults, payloads,
Byzantine splits, client mistakes), each seeded from the run's master Random, so e.g.
turning loss on does not change which keys or faults a seed gets.

Every run is bounded twice: by simulated time (`max_sim_ms`) and by the number of events
(`max_events`); reaching a bound is reported as a liveness failure, so a run always ends
and a hang is never silent.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from consensus.actions import (
    Broadcast,
    Committed,
    EvidenceFound,
    Penalize,
    ScheduleTimeout,
    SendTo,
)
from consensus.messages import (
    CONSENSUS,
    TXS,
    ProposalMsg,
    VoteMsg,
    decode_message,
    encode_message,
)
from consensus.params import ConsensusParams
from consensus.types import Proposal, Vote
from sim.byzantine import SILENT, Behaviour, make_behaviour
from sim.checker import PROPOSAL, Checker
from sim.clients import Clients
from sim.config import SimConfig
from sim.events import EventQueue, SimClock
from sim.faults import CRASH, PARTITION, Fault, FaultConfig, schedule
from sim.genesis import POOLS, Keyring, genesis_doc
from sim.network import Latency, NetConfig, Network
from sim.node import SimNode
from sim.supply import supply
from sim.txgen import TxGenerator
from sim.txstats import executed_by_type, proposal_statuses, section10_activity
from state.chain import Chain
from state.genesis import parse_genesis

#: simulated time starts this long after genesis time (block times must be later)
START_AFTER_GENESIS_MS = 10_000
#: how often the driver calls on_tick (re-gossip, status, sync timeouts), node-local ms
TICK_MS = 250
#: a crash also loses what the node sent in its last moments (kernel send buffers): messages
#: sent this long before a crash and not yet delivered are dropped. This is what makes
#: "never sign twice" bite: the restarted node must resend the very vote it signed, since
#: its peers may never have seen it.
CRASH_SEND_BUFFER_MS = 100
#: "10 rounds' worth of time" is the liveness window
LIVENESS_ROUNDS = 10
#: canonical envelopes {"k": "vote" | "proposal", ...} start with these bytes
_OWN_SIGNED_PREFIXES = (b"\x82\xa1k\xa4vote", b"\x82\xa1k\xa8proposal")


def _kind(payload: bytes) -> str:
    """The message kind from a canonical envelope {"k": kind, "v": ...} without decoding it
    (fixmap 2, fixstr "k", then the kind as a fixstr); "?" for anything else."""
    if len(payload) > 4 and payload[:3] == b"\x82\xa1k" and payload[3] & 0xE0 == 0xA0:
        n = payload[3] & 0x1F
        return payload[4 : 4 + n].decode("ascii", "replace")
    return "?"


def liveness_window_ms(params: ConsensusParams, rounds: int = LIVENESS_ROUNDS) -> int:
    """Time of `rounds` full rounds (propose + prevote + precommit timeouts, growing with
    the round) plus the commit wait: long enough that a correct cluster always decides."""
    total = params.commit_ms
    for r in range(rounds):
        total += params.propose_timeout(r) + params.prevote_timeout(r) + params.precommit_timeout(r)
    return total


@dataclass(slots=True)
class _Deliver:
    dst: int
    src: int
    incarnation: int  # the destination's, when sent
    channel: int
    payload: bytes
    sent_ms: int
    src_incarnation: int


@dataclass(slots=True)
class _Timer:
    node: int
    incarnation: int
    timeout: ScheduleTimeout


@dataclass(slots=True)
class _Tick:
    node: int
    incarnation: int


@dataclass(slots=True)
class _FaultEdge:
    fault: Fault
    begin: bool


class World:
    """Build with a config and a seed, then `run()` once; the result is a JSON record."""

    def __init__(self, cfg: SimConfig, seed: int, params: ConsensusParams | None = None) -> None:
        self.cfg = cfg
        self.seed = seed
        self.params = params or ConsensusParams()
        master = random.Random(seed)
        streams = [random.Random(master.getrandbits(64)) for _ in range(7)]
        keys_rng, clock_rng, net_rng, fault_rng, tx_rng, byz_rng, client_rng = streams

        n, f = cfg.validators, cfg.byzantine
        self.keys = Keyring.generate(keys_rng, n, cfg.members)
        self.genesis = parse_genesis(genesis_doc(self.keys))
        chain_id = self.genesis.chain_id
        pools = tuple(pid for pid, _ in POOLS)
        candidates = tuple(op.public_key for op in self.keys.operators)

        # the first f validators are Byzantine (keys are random, so this picks no one special)
        byzantine = set(range(f))
        signers = list(self.keys.validators)
        self.twin_pairs: list[tuple[int, int]] = []
        if cfg.twins:
            for j in range(f):
                self.twin_pairs.append((j, n + j))
                signers.append(self.keys.validators[j])
        self.nodes: list[SimNode] = []
        for i, signer in enumerate(signers):
            is_byz = i in byzantine or i >= n
            txgen = TxGenerator(
                random.Random(tx_rng.getrandbits(64)),
                chain_id,
                self.keys.members,
                pools,
                candidates,
                cfg.txs,
            )
            behaviour = make_behaviour(
                cfg.behaviour if is_byz else None,
                signer,
                chain_id,
                random.Random(byz_rng.getrandbits(64)),
            )
            clients = Clients(txgen, random.Random(client_rng.getrandbits(64)))
            node = SimNode(
                i, signer, self.genesis, self.params, clients, behaviour, honest=not is_byz
            )
            self.nodes.append(node)
        total = len(self.nodes)
        honest = frozenset(i for i in range(n) if i not in byzantine)
        self.honest = honest

        self.start_ms = self.genesis.genesis_time_ms + START_AFTER_GENESIS_MS
        self.clock = SimClock.with_random_skews(self.start_ms, total, cfg.max_skew_ms, clock_rng)
        net_cfg = NetConfig(
            latency=Latency.parse(cfg.latency),
            loss=cfg.loss,
            duplicate=cfg.duplicate,
            reorder=cfg.reorder,
        )
        self.network = Network(net_cfg, net_rng, total)
        fault_end = self.start_ms + cfg.fault_window
        self.faults = schedule(
            FaultConfig(partition=cfg.partition, crash=cfg.crash),
            fault_rng,
            nodes=total,
            crashable=sorted(honest),
            start_ms=self.start_ms,
            end_ms=fault_end,
            twin_pairs=self.twin_pairs or None,
        )
        self.window_ms = liveness_window_ms(self.params)
        self.max_time = self.start_ms + (
            cfg.max_sim_ms or cfg.fault_window + self.window_ms * (cfg.heights + 2)
        )
        self.honest_keys = frozenset(self.nodes[i].key for i in honest)
        self.checker = Checker(
            honest=honest,
            honest_keys=self.honest_keys,
            window_ms=self.window_ms,
            genesis_supply=self.genesis.supply,
        )
        k = self.keys
        self._accounts = (*(m.public_key for m in k.members), k.registrar.public_key,
                          k.treasury.public_key)  # fmt: skip
        self.queue = EventQueue()
        self._reach: list[frozenset[bytes]] = [frozenset() for _ in self.nodes]
        self._key_instances: dict[bytes, list[int]] = {}
        for node in self.nodes:
            self._key_instances.setdefault(node.key, []).append(node.index)
        self.events = 0
        self.delivered = 0
        self.penalties: Counter[str] = Counter()
        self.penalties_of_honest = 0
        self.sent_by_kind: Counter[str] = Counter()
        self.evidence = 0
        self.committed_txs = 0
        self.executed: Counter[str] = Counter()  # committed with code 0, by tx type
        self._reached: set[int] = set()
        self._ran = False

    # --- the loop -----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Run to the target height, a failure or a bound; once per World."""
        assert not self._ran, "a World runs once: build a new one to replay"
        self._ran = True
        now = self.clock.now_ms
        self.checker.start(now)
        for fault in self.faults:
            self.queue.push(fault.start_ms, _FaultEdge(fault, True))
            self.queue.push(fault.end_ms, _FaultEdge(fault, False))
        for node in self.nodes:
            self._boot(node)
        self._update_links()
        bound: str | None = None
        while not self._done():
            if self.events >= self.cfg.max_events:
                bound = "max_events"
                break
            t = self.queue.peek_time()
            if t is None:
                bound = "no_events"
                break
            if t > self.max_time:
                bound = "max_sim_ms"
                break
            _, ev = self.queue.pop()
            self.clock.advance(t)
            self.events += 1
            self.checker.on_time(t)
            if self.checker.liveness or self.checker.safety:
                # the run has already failed: stop here instead of burning the whole time
                # bound on a stuck or forked cluster (the record says what happened)
                break
            self._dispatch(ev)
        if not self.checker.safety:
            self.checker.finish(self.clock.now_ms, self.cfg.heights, bound)
        return self.record()

    def _done(self) -> bool:
        """Every honest node has committed the target height (checked once per event, so
        kept O(1): `_reached` grows in `_committed`)."""
        return len(self._reached) == len(self.honest)

    def _dispatch(self, ev: Any) -> None:
        if type(ev) is _Deliver:
            node = self.nodes[ev.dst]
            if not node.up or node.incarnation != ev.incarnation:
                return  # sent to an instance that has since crashed
            if not self.network.connected(ev.src, ev.dst):
                return  # a partition started while the message was in flight
            src = self.nodes[ev.src]
            if (
                src.incarnation != ev.src_incarnation
                and ev.sent_ms >= src.crashed_at_ms - CRASH_SEND_BUFFER_MS
            ):
                return  # still in the crashed sender's socket buffers: lost with it
            self.delivered += 1
            src_key = self.nodes[ev.src].key
            local = self.clock.local(node.index)
            if ev.channel == TXS:
                if not node.receive_txs(src_key, ev.payload, local):
                    self._penalize(node, src_key, "bad_tx_batch")
                return
            actions = node.live.on_message(src_key, ev.channel, ev.payload, local)
            self._apply(node, actions)
        elif type(ev) is _Timer:
            node = self.nodes[ev.node]
            if node.up and node.incarnation == ev.incarnation:
                self._apply(node, node.live.on_timeout(ev.timeout, self.clock.local(node.index)))
        elif type(ev) is _Tick:
            node = self.nodes[ev.node]
            if node.up and node.incarnation == ev.incarnation:
                local = self.clock.local(node.index)
                self._apply(node, node.live.on_tick(local))
                self._transactions(node, local)
                self._schedule_tick(node)
        elif type(ev) is _FaultEdge:
            self._fault(ev.fault, ev.begin)
        else:  # pragma: no cover - our own bug
            raise AssertionError(f"unknown event {ev!r}")

    # --- nodes ---------------------------------------------------------------------------

    def _boot(self, node: SimNode) -> None:
        replica = node.boot()
        self._apply(node, replica.start(self.clock.local(node.index)))
        self._schedule_tick(node)

    def _transactions(self, node: SimNode, local_ms: int) -> None:
        """The node's clients submit (once per new height), then its tx gossip flushes to
        the peers it reaches (sorted: the order of sends is part of the replay)."""
        node.offer_client_txs(local_ms)

        def send(peer: bytes, payload: bytes) -> bool:
            self._send(node, peer, TXS, payload)
            return True  # a lost batch is lost as on a dropped TCP connection: not retried

        node.flush_gossip(sorted(self._reach[node.index]), local_ms, send)

    def _schedule_tick(self, node: SimNode) -> None:
        at = self.clock.now_ms + TICK_MS
        self.queue.push(at, _Tick(node.index, node.incarnation))

    def _fault(self, fault: Fault, begin: bool) -> None:
        now = self.clock.now_ms
        if fault.kind == CRASH:
            node = self.nodes[fault.node]
            if begin:
                node.crash(now)
            else:
                self._boot(node)
        else:
            assert fault.kind == PARTITION
            if begin:
                self.network.partition(list(fault.sides))
            else:
                self.network.heal()
        if begin:
            self.checker.fault_started(now)
        self._update_links()
        if not begin:
            self.checker.fault_ended(now)

    def _update_links(self) -> None:
        """Tell every live replica which peers it can now reach (as p2p would)."""
        for node in self.nodes:
            if not node.up:
                self._reach[node.index] = frozenset()
                continue
            reach = frozenset(
                other.key
                for other in self.nodes
                if other.key != node.key
                and other.up
                and self.network.connected(node.index, other.index)
            )
            before = self._reach[node.index]
            self._reach[node.index] = reach
            local = self.clock.local(node.index)
            for key in sorted(before - reach):
                self._apply(node, node.live.on_peer(key, False, local))
            for key in sorted(reach - before):
                self._apply(node, node.live.on_peer(key, True, local))

    # --- actions -------------------------------------------------------------------------

    def _apply(self, node: SimNode, actions: list[Any]) -> None:
        for a in actions:
            t = type(a)
            if t is Broadcast:
                self._send(node, None, a.channel, a.payload)
            elif t is SendTo:
                self._send(node, a.peer_id, a.channel, a.payload)
            elif t is ScheduleTimeout:
                at = max(self.clock.now_ms, self.clock.to_global(node.index, a.at_ms))
                self.queue.push(at, _Timer(node.index, node.incarnation, a))
            elif t is Committed:
                self._committed(node, a)
            elif t is Penalize:
                self._penalize(node, a.peer_id, a.reason)
            elif t is EvidenceFound:
                self.evidence += 1

    def _penalize(self, node: SimNode, peer: bytes, reason: str) -> None:
        self.penalties[reason] += 1
        if node.honest and peer in self.honest_keys:
            # not a violation (a crash can cut a message), but worth a look
            self.penalties_of_honest += 1

    def _committed(self, node: SimNode, a: Committed) -> None:
        # the node's own root is only known for its latest height; earlier heights of a
        # batch (block sync) fall back to the header's, which its app validated
        latest = node.chain is not None and node.chain.height == a.height
        root = node.state_root() if latest else a.block.header.state_root
        if node.honest and a.height >= self.cfg.heights:
            self._reached.add(node.index)
        first = a.height not in self.checker.heights
        self.checker.on_commit(
            node.index, a.height, a.block.hash, root, a.commit.round, self.clock.now_ms
        )
        if first and a.height in self.checker.heights:
            self.committed_txs += len(a.block.txs)
            if node.chain is not None:
                self.executed.update(executed_by_type(node.chain, a.height, a.block.txs))
            if latest and node.chain is not None:
                total = supply(node.chain.view(), self._accounts, (pid for pid, _ in POOLS))
                self.checker.on_supply(node.index, a.height, total, self.clock.now_ms)

    def _send(self, node: SimNode, peer: bytes | None, channel: int, payload: bytes) -> None:
        if peer is None:
            dsts = [o.index for o in self.nodes if o.key != node.key]
        else:
            dsts = list(self._key_instances.get(peer, ()))
        if not dsts:
            return
        if node.honest:
            if channel == CONSENSUS and payload.startswith(_OWN_SIGNED_PREFIXES):
                self._observe_signed(node, payload)
            routes = [(dsts, payload)]
        else:
            routes = self._byzantine_routes(node, dsts, channel, payload)
        now = self.clock.now_ms
        src = node.index
        kind = "txs" if channel == TXS else _kind(payload)
        for sub, data in routes:
            self.sent_by_kind[kind] += len(sub)
            for d in sub:
                for delay in self.network.plan(src, d):
                    self.queue.push(
                        now + delay,
                        _Deliver(
                            d, src, self.nodes[d].incarnation, channel, data, now, node.incarnation
                        ),
                    )

    def _observe_signed(self, node: SimNode, payload: bytes) -> None:
        """Show the checker a vote or proposal an honest node signed itself.

        Votes carry their signer (relayed ones are not the node's own); a proposal is
        signed by the round's proposer, so it is the node's own only when the node is
        that proposer, i.e. when the signature verifies under the node's key."""
        msg = decode_message(CONSENSUS, payload)
        now = self.clock.now_ms
        if isinstance(msg, VoteMsg):
            v = msg.vote
            if v.validator == node.key:
                self.checker.on_vote(
                    node.index, v.validator, v.type, v.height, v.round, v.block_id, now
                )
            return
        assert isinstance(msg, ProposalMsg)
        p = msg.proposal
        if p.verify_signature(self.genesis.chain_id, node.key):
            self.checker.on_vote(
                node.index, node.key, PROPOSAL, p.height, p.round, p.block.hash, now
            )

    def _byzantine_routes(
        self, node: SimNode, dsts: list[int], channel: int, payload: bytes
    ) -> list[tuple[list[int], bytes]]:
        """Where a Byzantine node's message really goes, after its behaviour lied about it."""
        behaviour = node.behaviour
        if behaviour.name == SILENT:
            behaviour.lies += 1
            return []
        if channel != CONSENSUS or type(behaviour) is Behaviour:  # twins run honest replicas
            return [(dsts, payload)]
        msg = decode_message(channel, payload)
        assert isinstance(msg, VoteMsg | ProposalMsg)
        inner: Vote | Proposal = msg.vote if isinstance(msg, VoteMsg) else msg.proposal
        routes: list[tuple[list[int], bytes]] = []
        for sub, m in behaviour.route(inner, dsts):
            if m is inner:
                routes.append((sub, payload))
            else:
                lie = VoteMsg(m) if isinstance(m, Vote) else ProposalMsg(m)
                routes.append((sub, encode_message(lie)))
        return routes

    # --- the result ----------------------------------------------------------------------

    @staticmethod
    def _node_state(node: SimNode) -> dict[str, Any]:
        """Where a node ended up: the first thing to read when a run stalled."""
        d: dict[str, Any] = {
            "node": node.index,
            "key": node.key.hex()[:8],
            "honest": node.honest,
            "up": node.up,
            "restarts": node.incarnation,
        }
        if node.replica is not None:
            core = node.replica.core
            d.update(
                height=node.replica.height,
                round=core.round,
                step=core.step,
                locked_round=core.locked_round,
                valid_round=core.valid_round,
            )
        return d

    def _final_chain(self) -> Chain | None:
        """The chain of the highest honest node still up: what the run's final state is."""
        up = [n.chain for n in self.nodes if n.honest and n.chain is not None]
        return max(up, key=lambda c: c.height) if up else None

    def _mempool_counts(self) -> dict[str, Any]:
        """What the nodes' mempools and tx gossip did, summed over nodes and incarnations:
        client submissions and gossip arrivals by admission code, reaped, included,
        evicted by the recheck after a block, gossip batches and txs sent."""
        total: Counter[str] = Counter()
        for node in self.nodes:
            total.update(node.counts)
        return dict(sorted(total.items()))

    def _rel(self, d: dict[str, Any]) -> dict[str, Any]:
        """Times in records are simulated ms since the run started (faults use the same)."""
        d["time_ms"] -= self.start_ms
        return d

    def record(self) -> dict[str, Any]:
        """The run's JSON record: a pure function of (config, seed)."""
        ck = self.checker
        top = ck.max_height
        rounds: list[int | None] = []
        latencies: list[int | None] = []
        prev_t = self.start_ms
        for h in range(1, top + 1):
            info = ck.heights.get(h)
            if info is None:  # the checker missed a height (e.g. synced silently)
                rounds.append(None)
                latencies.append(None)
                continue
            rounds.append(info.round)
            latencies.append(info.time_ms - prev_t)
            prev_t = info.time_ms
        honest_heights = [ck.node_height.get(i, 0) for i in sorted(self.honest)]
        final, pools = self._final_chain(), [pid for pid, _ in POOLS]
        return {
            "seed": self.seed,
            "ok": not ck.safety and not ck.liveness,
            "committed_heights": top,
            "min_honest_height": min(honest_heights, default=0),
            "rounds_per_height": rounds,
            "commit_latency_ms": latencies,
            "safety_violations": [self._rel(v.to_json()) for v in ck.safety],
            "liveness_failures": [self._rel(v.to_json()) for v in ck.liveness],
            "messages": self.network.sent,
            "messages_by_kind": dict(sorted(self.sent_by_kind.items())),
            "delivered": self.delivered,
            "dropped": self.network.dropped,
            "duplicated": self.network.duplicated,
            "blocked_by_partition": self.network.blocked,
            "simulated_seconds": round((self.clock.now_ms - self.start_ms) / 1000, 3),
            "events": self.events,
            "committed_txs": self.committed_txs,
            "executed_by_type": dict(sorted(self.executed.items())),
            "proposals": proposal_statuses(final, pools) if final else {},
            "section10": section10_activity(final, pools) if final else {},
            "mempool": self._mempool_counts(),
            "supply_checks": ck.supply_checks,
            "evidence_found": self.evidence,
            "penalties": dict(sorted(self.penalties.items())),
            "penalties_of_honest_peers": self.penalties_of_honest,
            "byzantine_lies": sum(n.behaviour.lies for n in self.nodes),
            "crashes": sum(n.crashes for n in self.nodes),
            "final_nodes": [self._node_state(n) for n in self.nodes],
            "faults": [
                {
                    **f.to_json(),
                    "start_ms": f.start_ms - self.start_ms,
                    "end_ms": f.end_ms - self.start_ms,
                }
                for f in self.faults
            ],
        }


def run_seed(cfg: SimConfig, seed: int) -> dict[str, Any]:
    """Run one seed of `cfg` to completion and return its record."""
    return World(cfg, seed).run()
