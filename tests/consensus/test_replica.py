"""Replicas over an in-memory network: commits, validator changes, restarts, block sync."""

from __future__ import annotations

from cons_helpers import CHAIN, FAST, CounterApp, Net, members, signers

from consensus.actions import Broadcast, Penalize, ScheduleTimeout, SendTo, SignedVote
from consensus.messages import (
    BLOCKSYNC,
    CONSENSUS,
    EVIDENCE,
    BlockRequest,
    ProposalMsg,
    StatusMsg,
    VoteMsg,
    decode_message,
    encode_message,
)
from consensus.replica import KEY_LAST_SIGNED, KEY_VSET, Replica, be64
from consensus.types import PRECOMMIT, PREVOTE, Vote
from consensus.validators import ValidatorSet
from state.codec import encode
from state.crypto import sha256
from state.store import Batch, MemoryStore


def same_chain(net: Net, upto: int, keys: list[bytes] | None = None) -> None:
    keys = keys or list(net.replicas)
    for h in range(1, upto + 1):
        hashes = {net.replicas[k].block(h)[0].hash for k in keys}  # type: ignore[index]
        assert len(hashes) == 1, f"replicas disagree at height {h}"
    roots = {net.apps[k].state_root() for k in keys if net.replicas[k].height == upto}
    assert len(roots) <= 1


def test_four_replicas_commit_twenty_heights() -> None:
    net = Net(4)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 20)
    hs = [net.committed[k] for k in net.replicas]
    assert all(h == hs[0] for h in hs) and len(hs[0]) >= 20
    same_chain(net, 20)
    r = next(iter(net.replicas.values()))
    proposers = set()
    for h in range(1, 21):
        block, commit = r.block(h)  # type: ignore[misc]
        commit.verify(CHAIN, r.validator_set(h))  # type: ignore[arg-type]
        assert commit.block_id == block.hash and r.height_of(block.hash) == h
        if h > 1:
            prev = r.block(h - 1)[0]  # type: ignore[index]
            assert block.header.prev_hash == prev.hash
            assert block.header.time_ms > prev.header.time_ms
            assert block.last_commit is not None and block.last_commit.block_id == prev.hash
        proposers.add(block.header.proposer)
    assert len(proposers) == 4  # the proposer rotates
    assert net.penalties == []
    assert all(not x.catching_up for x in net.replicas.values())


def test_validator_set_change_takes_effect_two_heights_later() -> None:
    ss = signers(5)
    old, new = members(ss[:4]), members(ss[1:])

    # the election at the end of block 4 changes the set that precommits block 6
    def schedule(h: int) -> list:
        return old if h < 6 else new

    net = Net(4, validators=schedule, extra_signers=[ss[4]])
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 12)
    same_chain(net, 12)
    r = net.replicas[ss[1].public_key]
    old_hash = ValidatorSet.from_members(old).hash()
    new_hash = ValidatorSet.from_members(new).hash()
    for h in range(1, 13):
        block, commit = r.block(h)  # type: ignore[misc]
        assert block.header.validators_hash == (old_hash if h < 6 else new_hash)
        signers_ = {k for k, _ in commit.signatures}
        allowed = {m.consensus_key for m in (old if h < 6 else new)}
        assert signers_ <= allowed
    proposers = {r.block(h)[0].header.proposer for h in range(6, 13)}  # type: ignore[index]
    assert ss[4].public_key in proposers and ss[0].public_key not in proposers
    # priorities were carried: stored sets for 6.. hold the new members
    assert {v.consensus_key for v in r.validator_set(8)} == {m.consensus_key for m in new}  # type: ignore[union-attr]
    assert not net.replicas[ss[0].public_key].is_validator
    assert net.replicas[ss[4].public_key].is_validator


def crash_after_first_prevote(net: Net, victim: bytes, height: int) -> MemoryStore:
    """Run until `victim` broadcast its prevote at `height`, then crash it (store image)."""

    def prevoted() -> bool:
        return (victim, height, 0, PREVOTE) in net.votes_sent

    assert net.run_until(prevoted)
    net.down.add(victim)
    return net.stores[victim].snapshot()


def restart(net: Net, key: bytes, store: MemoryStore) -> Replica:
    s = next(x for x in net.signers if x.public_key == key)
    r = net.add(s, store)
    net.down.discard(key)
    net.handle(key, r.start(net.now))
    return r


def test_restart_never_signs_a_different_vote() -> None:
    net = Net(4)
    ss = net.signers
    victim = ss[2].public_key
    # the victim never receives proposals: after a restart, its propose timeout would
    # prevote nil in the round where it already prevoted a block
    net.drop = lambda src, dst, ch, p: False
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 2)
    h = net.replicas[victim].height + 1
    image = crash_after_first_prevote(net, victim, h)
    first = net.votes_sent[(victim, h, 0, PREVOTE)]
    net.drop = lambda src, dst, ch, p: (
        dst == victim and isinstance(decode_message(ch, p), ProposalMsg)
        if ch == CONSENSUS
        else False
    )
    r = restart(net, victim, image)
    assert r.height == h - 1
    # run on: Net asserts on every broadcast that no (validator, h, r, type) gets two ids
    assert net.run_until(lambda: min(net.heights()) >= h + 3)
    assert net.votes_sent[(victim, h, 0, PREVOTE)] == first
    same_chain(net, h + 3)


def test_without_persisted_signing_state_the_replica_would_double_sign() -> None:
    """The guard above is what prevents it: erase the record and the core signs again."""
    net = Net(4)
    victim = net.signers[2].public_key
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 2)
    h = net.replicas[victim].height + 1
    image = crash_after_first_prevote(net, victim, h)
    assert net.votes_sent[(victim, h, 0, PREVOTE)] is not None  # it prevoted a block
    image.delete(KEY_LAST_SIGNED)
    s = net.signers[2]
    r = Replica(CHAIN, image, CounterApp(image, net.validators_fn), s, FAST)
    acts = r.start(net.now)
    (t,) = [a for a in acts if isinstance(a, ScheduleTimeout) and a.step == 1]
    out = r.core.on_timeout(t, t.at_ms)
    (v,) = [a.vote for a in out if isinstance(a, SignedVote)]
    assert (v.height, v.round, v.type, v.block_id) == (h, 0, PREVOTE, None)


def test_restart_resumes_after_last_committed_height() -> None:
    net = Net(4)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 5)
    k = net.signers[1].public_key
    net.down.add(k)
    image = net.stores[k].snapshot()
    committed = net.replicas[k].height
    r = restart(net, k, image)
    assert r.height == committed and r.consensus_height == committed + 1
    assert net.run_until(lambda: min(net.heights()) >= committed + 5)
    same_chain(net, committed + 5)


def test_lagging_replica_block_syncs_then_joins() -> None:
    net = Net(4)
    lag = net.signers[3].public_key
    net.down.add(lag)
    net.start([k for k in net.replicas if k != lag])
    assert net.run_until(lambda: net.replicas[net.signers[0].public_key].height >= 12)
    seen_catching_up = []
    net.down.discard(lag)
    net.handle(lag, net.replicas[lag].start(net.now))
    net.push(net.now + 1, "tick", lag)
    r = net.replicas[lag]
    ok = net.run_until(lambda: seen_catching_up.append(r.catching_up) or r.height >= 12)
    assert ok and True in seen_catching_up
    # once level, it is a voting member again
    top = max(net.heights())
    assert net.run_until(lambda: min(net.heights()) >= top + 3 and not r.catching_up)
    same_chain(net, top + 3)
    assert any(k[0] == lag and k[1] > top for k in net.votes_sent)


def test_observer_syncs_from_another_replicas_store() -> None:
    net = Net(4)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 8)
    source = net.signers[0].public_key
    store = MemoryStore()
    obs = Replica(CHAIN, store, CounterApp(store, net.validators_fn), None, FAST)
    obs_id = b"\xee" * 32
    obs.start(0)
    src = net.replicas[source]
    # hand-driven exchange with one peer: status, requests, responses
    pending = obs.on_message(
        source, BLOCKSYNC, encode_message(StatusMsg(CHAIN, src.height)), 10_000
    )
    for _ in range(50):
        nxt = []
        for a in pending:
            if getattr(a, "peer_id", None) == source:
                for b in src.on_message(obs_id, a.channel, a.payload, 10_000):
                    if getattr(b, "peer_id", None) == obs_id:
                        nxt += obs.on_message(source, b.channel, b.payload, 10_000)
        pending = nxt + obs.on_tick(20_000)
        if obs.height >= 8:
            break
    assert obs.height >= 8
    for h in range(1, 9):
        assert obs.block(h)[0].hash == src.block(h)[0].hash  # type: ignore[index]
    assert not obs.is_validator


def test_missing_proposal_is_fetched_when_precommits_arrive() -> None:
    net = Net(4)
    victim = net.signers[1].public_key

    asked: list[BlockRequest] = []

    def drop(src: bytes, dst: bytes, ch: int, p: bytes) -> bool:
        if src == victim and ch == BLOCKSYNC:
            m = decode_message(ch, p)
            if isinstance(m, BlockRequest) and m.block_id is not None:
                asked.append(m)
        if dst != victim or ch != CONSENSUS:
            return False
        m = decode_message(ch, p)
        # the victim never gets a proposal directly from its proposer at height 3
        return isinstance(m, ProposalMsg) and m.proposal.height == 3 and src != victim

    net.drop = drop
    net.start()
    # it cannot prevote the block, but the others' precommits certify it: it fetches it
    assert net.run_until(lambda: min(net.heights()) >= 4)
    assert net.committed[victim][3] == net.committed[net.signers[0].public_key][3]
    assert asked and asked[0].height == 3 and asked[0].block_id == net.committed[victim][3]


def test_conflicting_votes_become_evidence_in_a_block() -> None:
    net = Net(4)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 2)
    cheat = net.signers[0]
    h = min(x.core.height for x in net.replicas.values())
    for bid in (sha256(b"a"), sha256(b"b")):
        sig = cheat.sign(Vote.sign_bytes_for(CHAIN, PREVOTE, h, 40, bid))
        v = Vote(PREVOTE, h, 40, bid, cheat.public_key, sig)
        net.push(
            net.now,
            "msg",
            (cheat.public_key, net.signers[1].public_key, CONSENSUS, encode_message(VoteMsg(v))),
        )
    assert net.run_until(lambda: min(net.heights()) >= h + 8)
    assert len(net.evidence) >= 1
    ev_id = net.evidence[0].id  # type: ignore[attr-defined]
    r = net.replicas[net.signers[2].public_key]
    holders = [
        x
        for x in range(h, h + 9)
        if r.block(x) and any(e.id == ev_id for e in r.block(x)[0].evidence)
    ]  # type: ignore[index]
    assert len(holders) == 1  # included once, then pruned from every pool
    for app in net.apps.values():
        assert app.evidence_seen.count(ev_id) == 1


def test_garbage_and_bad_messages_are_penalised_never_raised() -> None:
    net = Net(4)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 1)
    r = net.replicas[net.signers[0].public_key]
    peer = b"\x99" * 32
    h = r.consensus_height
    outsider = signers(7)[6]
    good = net.signers[1]
    bad_sig = Vote(PREVOTE, h, 0, None, good.public_key, b"\x01" * 64)
    unknown = Vote(
        PREVOTE,
        h,
        0,
        None,
        outsider.public_key,
        outsider.sign(Vote.sign_bytes_for(CHAIN, PREVOTE, h, 0, None)),
    )
    far = Vote(
        PREVOTE,
        h + 1000,
        0,
        None,
        good.public_key,
        good.sign(Vote.sign_bytes_for(CHAIN, PREVOTE, h + 1000, 0, None)),
    )
    cases = [
        (CONSENSUS, b""),
        (CONSENSUS, b"\xff\x00garbage"),
        (CONSENSUS, encode({"k": "vote", "v": {"type": 1}})),
        (BLOCKSYNC, encode_message(VoteMsg(bad_sig))),  # right kind, wrong channel
        (EVIDENCE, encode({"k": "evidence", "v": []})),
        (BLOCKSYNC, encode({"k": "nope", "v": None})),
        (99, encode_message(VoteMsg(bad_sig))),
        (CONSENSUS, encode_message(VoteMsg(bad_sig))),
        (CONSENSUS, encode_message(VoteMsg(unknown))),
        (CONSENSUS, encode_message(VoteMsg(far))),
        (BLOCKSYNC, encode_message(StatusMsg("other-chain", 3))),
    ]
    for ch, payload in cases:
        acts = r.on_message(peer, ch, payload, net.now)
        assert len(acts) == 1 and isinstance(acts[0], Penalize), (ch, payload, acts)
        assert acts[0].peer_id == peer
    # a stale vote (an older height) is neither used nor penalised
    old = Vote(
        PREVOTE,
        1,
        0,
        None,
        good.public_key,
        good.sign(Vote.sign_bytes_for(CHAIN, PREVOTE, 1, 0, None)),
    )
    assert h > 1 and r.on_message(peer, CONSENSUS, encode_message(VoteMsg(old)), net.now) == []
    # and the replica still works
    assert net.run_until(lambda: min(net.heights()) >= h + 2)


def test_restart_between_prevote_and_precommit_keeps_both_votes() -> None:
    net = Net(4)
    victim = net.signers[2].public_key
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 2)
    h = net.replicas[victim].height + 1
    assert net.run_until(lambda: (victim, h, 0, PRECOMMIT) in net.votes_sent)
    net.down.add(victim)
    image = net.stores[victim].snapshot()
    s = net.signers[2]
    r = Replica(CHAIN, image, CounterApp(image, net.validators_fn), s, FAST)
    r.start(net.now)
    gossip = {(m.round, m.type, m.block_id) for m in r.core.gossip() if isinstance(m, Vote)}
    assert (0, PREVOTE, net.votes_sent[(victim, h, 0, PREVOTE)]) in gossip
    assert (0, PRECOMMIT, net.votes_sent[(victim, h, 0, PRECOMMIT)]) in gossip
    # and they count in its own tallies
    assert victim in r.core._tallies[(0, PREVOTE)].votes


def test_peer_announcing_heights_it_cannot_serve_does_not_keep_us_passive() -> None:
    net = Net(4)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 2)
    r = net.replicas[net.signers[0].public_key]
    liar = b"\x77" * 32
    status = encode_message(StatusMsg(CHAIN, r.height + 1000))
    acts = r.on_message(liar, BLOCKSYNC, status, net.now)
    assert r.catching_up and r.core.passive
    asked = [a for a in acts if isinstance(a, SendTo) and a.peer_id == liar]
    assert asked  # it asks the liar, which never answers
    r.on_tick(net.now + FAST.sync_timeout_ms + 1)
    assert not r.catching_up and not r.core.passive
    # the honest network goes on with it voting
    start = r.height
    assert net.run_until(lambda: min(net.heights()) >= start + 3)


def test_signing_state_and_lock_are_persisted_with_every_vote() -> None:
    from consensus.replica import KEY_LOCK
    from state.codec import decode

    net = Net(4)
    k = net.signers[1].public_key
    seen: list[tuple[int, int, int]] = []
    orig = net.handle

    def handle(src: bytes, actions: list) -> None:  # noqa: ANN001
        if src == k:
            for a in actions:
                if getattr(a, "channel", None) == CONSENSUS:
                    m = decode_message(CONSENSUS, a.payload)
                    if isinstance(m, VoteMsg):
                        # by the time the driver sees the broadcast, the record is durable
                        rec = decode(net.stores[k].get(KEY_LAST_SIGNED))
                        v = m.vote
                        assert (rec["height"], rec["round"]) >= (v.height, v.round)
                        seen.append((v.height, v.round, v.type))
                        if v.type == PRECOMMIT and v.block_id is not None:
                            lock = decode(net.stores[k].get(KEY_LOCK))
                            assert (lock["height"], lock["round"]) == (v.height, v.round)
        orig(src, actions)

    net.handle = handle  # type: ignore[method-assign]
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 5)
    assert len(seen) >= 8


def test_restarted_lockers_keep_the_polka_and_the_chain_commits() -> None:
    """Two validators lock a block, its polka's third prevoter dies, the fourth never saw
    the polka, and both lockers restart: the lock survives, and so must the prevotes behind
    it. Without them nobody (the lockers included) accepts their re-proposal [L28], the
    unlocked validator's blocks get nil from the lockers, and the height stalls for good."""
    from consensus.replica import KEY_LOCK
    from state.codec import decode

    net = Net(4)
    keys = [s.public_key for s in net.signers]
    H = 3
    roles: dict[str, bytes] = {}
    phase = [1]

    def drop(src: bytes, dst: bytes, ch: int, payload: bytes) -> bool:
        if ch != CONSENSUS or phase[0] != 1:
            return False
        m = decode_message(ch, payload)
        height = m.proposal.height if isinstance(m, ProposalMsg) else m.vote.height
        if height != H:
            return False
        if not roles:
            vs = net.replicas[src].validator_set(H)
            assert vs is not None
            roles["dead"] = vs.proposer(0)  # proposes B, prevotes B, then dies
            rest = sorted(k for k in keys if k != roles["dead"])
            roles["u"], roles["l1"], roles["l2"] = rest
        if isinstance(m, VoteMsg) and m.vote.type == PRECOMMIT:
            return True  # nobody decides in round 0
        # the unlocked one neither gets the block nor sees the polka (it prevotes nil)
        return dst == roles["u"]

    net.drop = drop
    net.start()
    lockers = lambda: [net.replicas[roles[x]] for x in ("l1", "l2")]  # noqa: E731
    assert net.run_until(
        lambda: (
            bool(roles) and all(r.core.height == H and r.core.locked_round == 0 for r in lockers())
        )
    )
    b = lockers()[0].core.locked_value
    assert b is not None and all(r.core.locked_value == b for r in lockers())
    # the dead validator's prevote for B is part of the lockers' polka; it goes down for good
    images = {}
    for x in ("dead", "l1", "l2"):
        net.down.add(roles[x])
        images[x] = net.stores[roles[x]].snapshot()
    # the lock record carries a quorum of prevotes for B in round 0
    rec = decode(images["l1"].get(KEY_LOCK))
    polka = [Vote.from_bytes(m) for m in rec["polka"]]
    assert {(v.round, v.type, v.block_id) for v in polka} == {(0, PREVOTE, b.hash)}
    assert len(polka) == 3 and roles["dead"] in {v.validator for v in polka}
    net.run_until(lambda: False, max_ms=2_000)  # in-flight messages of round 0 drain
    phase[0] = 2  # from now on a perfect network, but the dead stay dead
    for x in ("l1", "l2"):
        r = restart(net, roles[x], images[x])
        assert r.core.locked_round == 0 and r.core.locked_value == b
        # the restarted locker counts the polka again and relays it
        assert r.core._power(0, PREVOTE, b.hash) == 3
        relayed = {
            (v.validator, v.round, v.block_id) for v in r.core.gossip() if isinstance(v, Vote)
        }
        assert (roles["dead"], 0, b.hash) in relayed
    live = [roles[x] for x in ("u", "l1", "l2")]
    assert net.run_until(lambda: min(net.heights(live)) >= H + 1, max_ms=60_000)
    assert net.replicas[roles["u"]].block(H)[0].hash == b.hash  # type: ignore[index]
    same_chain(net, H, live)


def test_valid_value_without_a_lock_is_persisted_with_its_polka() -> None:
    """A polka seen after our precommit step updates validValue but takes no lock [L36]:
    the record keeps it (block and prevotes) so a restart can still re-propose it."""
    from consensus.replica import KEY_LOCK
    from state.codec import decode

    ss = signers(4)
    vs = ValidatorSet.from_members(members(ss))
    me = next(s for s in ss if s.public_key == vs.proposer(0))
    others = [s for s in ss if s is not me]
    store = MemoryStore()
    app = CounterApp(store, lambda h: members(ss))
    r = Replica(CHAIN, store, app, me, FAST)
    acts = r.start(0)
    acts += r.on_deadline(FAST.commit_ms)
    (p,) = [
        m.proposal
        for a in acts
        if getattr(a, "channel", None) == CONSENSUS
        and isinstance(m := decode_message(CONSENSUS, a.payload), ProposalMsg)
    ]
    b = p.block

    def send(s, type: int, bid: bytes | None, now: int) -> list:  # noqa: ANN001
        sig = s.sign(Vote.sign_bytes_for(CHAIN, type, 1, 0, bid))
        v = Vote(type, 1, 0, bid, s.public_key, sig)
        return r.on_message(s.public_key, CONSENSUS, encode_message(VoteMsg(v)), now)

    now = FAST.commit_ms + 10
    for s in others[:2]:
        send(s, PREVOTE, None, now)
    r.on_deadline(now + FAST.prevote_timeout(0))  # we precommit nil
    assert r.core.step == 3 and r.core.locked_round == -1
    assert store.get(KEY_LOCK) is None
    now += FAST.prevote_timeout(0) + 10
    send(others[2], PREVOTE, b.hash, now)
    send(others[0], PREVOTE, b.hash, now)  # an equivocator completes the polka
    assert (r.core.locked_round, r.core.valid_round) == (-1, 0)
    rec = decode(store.get(KEY_LOCK))
    assert (rec["height"], rec["round"], rec["block"], rec["valid_round"]) == (1, -1, None, 0)
    assert rec["valid_block"] == b.to_bytes() and len(rec["polka"]) == 3
    image = store.snapshot()
    r2 = Replica(CHAIN, image, CounterApp(image, lambda h: members(ss)), me, FAST)
    r2.start(now)
    assert (r2.core.locked_round, r2.core.valid_round, r2.core.valid_value) == (-1, 0, b)
    assert r2.core._power(0, PREVOTE, b.hash) == 3


def _tick_regossip(net: Net) -> dict[bytes, list[Vote]]:
    """Wrap every replica's on_tick; the votes each re-gossips on its ticks, by replica."""
    sent: dict[bytes, list[Vote]] = {k: [] for k in net.replicas}
    for k, r in net.replicas.items():

        def tick(now_ms: int, r: Replica = r, out: list[Vote] = sent[k]) -> list:  # type: ignore[type-arg]
            acts = Replica.on_tick(r, now_ms)
            for a in acts:
                if getattr(a, "channel", None) == CONSENSUS:
                    msg = decode_message(CONSENSUS, a.payload)
                    if isinstance(msg, VoteMsg):
                        out.append(msg.vote)
            return acts

        r.on_tick = tick  # type: ignore[method-assign]
    return sent


def test_a_stalled_round_re_gossips_own_votes() -> None:
    """Two of four validators down: the others prevote and wait for a quorum that never
    comes; within two status intervals they send their votes again."""
    net = Net(4)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 2)
    live = [s.public_key for s in net.signers[:2]]
    net.down.update(s.public_key for s in net.signers[2:])
    sent = _tick_regossip(net)
    net.run_until(lambda: False, max_ms=3 * FAST.status_interval_ms + 2_000)
    for k in live:
        r = net.replicas[k]
        own = [v for v in sent[k] if v.validator == k and v.height == r.height + 1]
        assert own, "a stalled validator re-sends its own votes"


def test_re_gossip_skips_a_peer_whose_status_shows_the_height_committed() -> None:
    """A stalled validator sends its votes again to the peers still at its height, not to
    one that announced it committed that height (it needs none of its messages); with no
    such peer the copies go to every peer as one broadcast each, as before."""
    net = Net(4)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 2)
    net.down.update(s.public_key for s in net.signers[2:])
    net.run_until(lambda: False, max_ms=FAST.propose_ms + FAST.prevote_ms + 500)
    me, ahead, behind, other = (s.public_key for s in net.signers)
    r = net.replicas[me]
    for p in (ahead, behind, other):
        r.on_peer(p, True, net.now)
    t = net.now + 10 * FAST.status_interval_ms
    acts = [a for a in r.on_tick(t) if getattr(a, "channel", None) == CONSENSUS]
    assert acts and all(isinstance(a, Broadcast) for a in acts)
    h = r.core.height
    r.on_message(ahead, BLOCKSYNC, encode_message(StatusMsg(CHAIN, h)), t)
    r.on_message(behind, BLOCKSYNC, encode_message(StatusMsg(CHAIN, h - 1)), t)
    t += 10 * FAST.status_interval_ms
    again = [a for a in r.on_tick(t) if getattr(a, "channel", None) == CONSENSUS]
    assert again and all(isinstance(a, SendTo) for a in again)
    assert {a.peer_id for a in again} == {behind, other}
    assert sorted(a.payload for a in again if a.peer_id == other) == sorted(a.payload for a in acts)
    assert r.copies_skipped == len(acts)


def test_re_gossip_spares_a_peer_the_polka_it_precommitted() -> None:
    """A validator that saw a polka but not the decision relays the polka's prevotes again,
    but not to a peer whose precommit for that block it holds (that peer held the polka),
    and never a peer's own prevote back to it."""
    net = Net(4)
    me, x, y, z = (s.public_key for s in net.signers)

    def drop(src: bytes, dst: bytes, channel: int, payload: bytes) -> bool:
        if dst != me or channel == BLOCKSYNC:
            return dst == me
        msg = decode_message(channel, payload) if channel == CONSENSUS else None
        return isinstance(msg, VoteMsg) and msg.vote.type == PRECOMMIT and msg.vote.validator != x

    net.drop = drop
    net.start()
    r = net.replicas[me]
    assert net.run_until(lambda: r.core.valid_round == 0, max_ms=10_000)
    net.run_until(lambda: False, max_ms=200)
    assert r.height == 0 and r.core.peer_has(x, r.core.gossip()[-1])
    for p in (x, y, z):
        r.on_peer(p, True, net.now)
    acts = r.on_tick(net.now + 10 * FAST.status_interval_ms)
    prevotes: dict[bytes, set[bytes]] = {}
    for a in acts:
        if a.channel != CONSENSUS:
            continue
        v = decode_message(CONSENSUS, a.payload).vote  # type: ignore[union-attr]
        if v.type == PREVOTE and v.validator != me:
            assert isinstance(a, SendTo)
            prevotes.setdefault(a.peer_id, set()).add(v.validator)
    assert x not in prevotes
    assert prevotes[y] and y not in prevotes[y]
    assert prevotes[z] and z not in prevotes[z]
    assert r.copies_skipped > 0


class PowerLossStore(MemoryStore):
    """What survives a power loss: the data as of the last synced write (an unsynced write
    reaches the disk only with the next synced one, as in LevelDB's log)."""

    def __init__(self) -> None:
        super().__init__()
        self.durable = MemoryStore()

    def put(self, key: bytes, value: bytes, sync: bool = False) -> None:
        super().put(key, value, sync)
        if sync:
            self.durable = self.snapshot()

    def write(self, batch: Batch, sync: bool = True) -> None:
        super().write(batch, sync)
        if sync:
            self.durable = self.snapshot()


def test_power_loss_after_a_commit_loses_only_what_start_recomputes() -> None:
    # the next height's validator set is written unsynced after the commit: a power loss
    # right after the commit loses it, and the restarted replica derives it again
    net = Net(4)
    k = net.signers[1].public_key
    net.replicas.pop(k)
    store = PowerLossStore()
    net.add(net.signers[1], store)
    net.start()
    assert net.run_until(lambda: net.replicas[k].height >= 4)
    committed = net.replicas[k].height
    assert net.replicas[k].validator_set(committed + 1) is not None
    image = store.durable
    net.down.add(k)
    assert image.get(KEY_VSET + be64(committed + 1)) is None  # lost with the power
    r = restart(net, k, image)
    assert r.height == committed and r.validator_set(committed + 1) is not None
    assert net.run_until(lambda: min(net.heights()) >= committed + 4)
    same_chain(net, committed + 4)


def status_sent(net: Net, key: bytes) -> list[int]:
    """The times `key` broadcast its status (recorded as the net carries its actions)."""
    times: list[int] = []
    handle = net.handle

    def spy(src: bytes, actions: list) -> None:  # noqa: ANN001
        if src == key:
            times.extend(
                net.now
                for a in actions
                if isinstance(a, Broadcast)
                and a.channel == BLOCKSYNC
                and isinstance(decode_message(BLOCKSYNC, a.payload), StatusMsg)
            )
        handle(src, actions)

    net.handle = spy  # type: ignore[method-assign]
    return times


def test_status_reaches_peers_each_interval_without_repeating_a_commits() -> None:
    net = Net(4)
    k = net.signers[0].public_key
    times = status_sent(net, k)
    net.start()
    # committing a height every ~100 ms, faster than the status interval (500 ms): one
    # status a height (with its commit), none more from the tick
    assert net.run_until(lambda: net.replicas[k].height >= 20)
    assert len(times) == 1 + net.replicas[k].height
    # stalled (no quorum): the tick still tells the peers our height every interval
    stalled_at = net.now
    net.down.update(s.public_key for s in net.signers[2:])
    net.run_until(lambda: net.now >= stalled_at + 5_000)
    late = [t for t in times if t > stalled_at]
    assert len(late) >= 5_000 // FAST.status_interval_ms - 1
    assert all(b - a <= FAST.status_interval_ms + 250 for a, b in zip(late, late[1:], strict=False))


def test_a_copy_of_a_held_vote_is_dropped_undecoded_and_changes_nothing() -> None:
    """Peers re-send their votes every status interval while a height is undecided; a
    byte copy of a vote the core holds is dropped before decoding (counted), anything
    else (another signature, another channel, the next height) still goes through."""
    net = Net(4)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 2)
    a, b = (s.public_key for s in net.signers[:2])
    net.down.update(s.public_key for s in net.signers[2:])
    net.run_until(lambda: False, max_ms=3 * FAST.status_interval_ms + 2_000)
    ra = net.replicas[a]
    assert ra.copies_dropped > 0, "b's re-gossiped prevote reached a as a copy"
    held = [
        v
        for t in ra.core._tallies.values()
        for by in t.by_block.values()
        for v in by.values()
        if v.validator == b
    ]
    assert held
    payload = encode_message(VoteMsg(held[0]))
    before = ra.copies_dropped
    assert ra.is_held(CONSENSUS, payload)
    assert ra.on_message(b, CONSENSUS, payload, net.now) == []
    assert ra.copies_dropped == before + 2  # is_held, then on_message's own check
    forged = Vote(held[0].type, held[0].height, held[0].round, held[0].block_id, b, bytes(64))
    assert not ra.is_held(CONSENSUS, encode_message(VoteMsg(forged)))
    assert not ra.is_held(EVIDENCE, payload)
    assert net.penalties == []


def test_a_vote_held_at_one_height_is_not_dropped_at_the_next() -> None:
    net = Net(4)
    net.start()
    assert net.run_until(lambda: min(net.heights()) >= 2)
    r = next(iter(net.replicas.values()))

    def held() -> list[Vote]:
        return [
            v for t in r.core._tallies.values() for by in t.by_block.values() for v in by.values()
        ]

    assert net.run_until(lambda: any(v.validator != r.signer.public_key for v in held()))  # type: ignore[union-attr]
    v = next(v for v in held() if v.validator != r.signer.public_key)  # type: ignore[union-attr]
    payload = encode_message(VoteMsg(v))
    assert r.is_held(CONSENSUS, payload)
    height = r.height
    assert net.run_until(lambda: r.height > height)
    assert not r.is_held(CONSENSUS, payload), "a new height holds nothing of the last"
    assert net.run_until(lambda: min(net.heights()) >= height + 3)
    same_chain(net, height + 3)
