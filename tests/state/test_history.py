"""State history (PROTOCOL.md section 11): old versions of the tree stay readable and provable
until pruned, pruning is bounded per block and never deletes a node a kept version uses (the
content-addressing hazard: a node stale at v1 and written again at v2), reads at a height,
Pruned / NotCommitted, and a restart that keeps it all."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_governance import ballots, gov_harness, propose
from test_machine import Harness, addr, ok

from state import keys as K
from state.chain import (
    DEFAULT_PRUNE_PER_BLOCK,
    DEFAULT_STATE_HISTORY,
    MAX_PRUNE_PER_BLOCK,
    MAX_STATE_HISTORY,
    Chain,
    NotCommitted,
    Pruned,
    StateView,
)
from state.store import KVStore, LevelDBStore, MemoryStore
from state.tree import EMPTY_ROOT, StateTree, verify_proof

KEYS = [b"s/%d" % i for i in range(7)]
VALUES = [b"a", b"b"]  # two values: a key returns to an old value (and its old leaf) often


def _h(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def _fresh_root(model: dict[bytes, bytes]) -> bytes:
    root, _ = StateTree(MemoryStore()).update(EMPTY_ROOT, dict(model))
    return root


def _reachable(store: KVStore, root: bytes, out: set[bytes]) -> None:
    """Hashes of the stored nodes under `root`, decoded from the documented storage format
    (module docstring, Storage) rather than through StateTree."""
    if root == EMPTY_ROOT or root in out:
        return
    raw = store.get(b"t/" + root)
    assert raw is not None, f"node {root.hex()} of a kept version is missing"
    out.add(root)
    if raw[0] == 0x00:
        return
    bitmap = int.from_bytes(raw[1:3], "big")
    pos = 5
    for i in range(16):
        if bitmap >> i & 1:
            _reachable(store, raw[pos : pos + 32], out)
            pos += 32


def _commit(store: KVStore, tree: StateTree, root: bytes, changes: dict, v: int, floor: int,
            budget: int, legacy: bool = False) -> bytes:  # fmt: skip
    """One block as the chain commits it: its share of pruning first, then the update;
    `legacy` writes the version's stale index in the format before 2026-12-06."""
    batch = tree.prune(floor, budget)
    new_root, nodes = tree.update(root, changes, version=v)
    if legacy:
        _to_legacy(nodes.ops, v)
    batch.update(nodes)
    store.write(batch)
    return new_root


def _to_legacy(ops: dict[bytes, bytes | None], v: int) -> None:
    """Rewrite version v's stale record as the old index: one empty entry per hash."""
    key = b"~t/s" + v.to_bytes(8, "big")
    record = ops.pop(key, None)
    assert record is not None or not any(k.startswith(b"~t/s") for k in ops)
    for i in range(0, len(record or b""), 32):
        ops[key + record[i : i + 32]] = b""  # type: ignore[index]  # not None inside the loop


@settings(max_examples=80, deadline=None)
@given(
    steps=st.lists(
        st.dictionaries(st.sampled_from(KEYS), st.one_of(st.none(), st.sampled_from(VALUES))),
        min_size=1,
        max_size=24,
    ),
    history=st.integers(1, 5),
    budget=st.integers(1, 6),
    legacy_until=st.integers(0, 25),
)
def test_every_kept_version_reads_and_proves_and_pruning_leaves_exactly_their_nodes(
    steps: list[dict[bytes, bytes | None]], history: int, budget: int, legacy_until: int
) -> None:
    """`legacy_until`: the versions before it were written in the old stale-index format (a
    data directory from before 2026-12-06, upgraded there), and pruning must read both."""
    store = MemoryStore()
    tree = StateTree(store, cache_nodes=8)  # a small cache: eviction must not matter
    models: list[dict[bytes, bytes]] = [{}]
    root = _commit(store, tree, EMPTY_ROOT, {}, 0, 0, budget, legacy_until > 0)
    for v, changes in enumerate(steps, 1):
        floor = max(0, v - history + 1)
        root = _commit(store, tree, root, changes, v, floor, budget, v < legacy_until)
        model = dict(models[-1])
        for k, val in changes.items():
            if val is None:
                model.pop(k, None)
            else:
                model[k] = val
        models.append(model)
        assert tree.floor() == floor
        for u in range(v + 1):
            if u < floor:
                assert tree.root_at(u) is None
                continue
            r = tree.root_at(u)
            assert r == _fresh_root(models[u])
            for k in KEYS:
                want = models[u].get(k)
                assert tree.get(r, k) == want
                assert verify_proof(r, k, want, tree.prove(r, k))
    last = len(steps)
    floor = tree.floor()
    while tree.stale_backlog(floor):
        store.write(tree.prune(floor, budget))
    kept: set[bytes] = set()
    for u in range(floor, last + 1):
        r = tree.root_at(u)
        assert r is not None
        _reachable(store, r, kept)
    stored = {k[2:] for k, _ in store.iterate(b"t/")}
    assert stored == kept


def test_one_stale_record_per_version_pruned_across_calls_and_a_restart() -> None:
    """A version's stale hashes are one store record (not one key each); prune spends its
    budget inside it over several calls, and a process that stops half-way leaves the rest
    to the next one (which redoes the record from its start: harmless)."""
    store = MemoryStore()
    tree = StateTree(store)
    root = _commit(store, tree, EMPTY_ROOT, {b"s/%d" % i: b"0" for i in range(300)}, 1, 0, 1)
    root = _commit(store, tree, root, {b"s/%d" % i: b"1" for i in range(300)}, 2, 0, 1)
    stale = [k for k, _ in store.iterate(b"~t/s")]
    assert stale == [b"~t/s" + (2).to_bytes(8, "big")]  # one record for version 2
    total = tree.stale_backlog()
    assert total > 300 and len(store.get(stale[0]) or b"") == 32 * total
    store.write(tree.prune(2, 101))  # the root of version 1, then 100 hashes
    assert tree.stale_backlog() == total - 100
    store.write(tree.prune(2, 100))
    assert tree.stale_backlog() == total - 200
    again = StateTree(store)  # a restart: the record is still there, all of it
    assert again.stale_backlog() == total
    while again.stale_backlog(2):
        store.write(again.prune(2, 150))
    assert list(store.iterate(b"~t/s")) == []
    kept: set[bytes] = set()
    _reachable(store, root, kept)
    assert {k[2:] for k, _ in store.iterate(b"t/")} == kept
    assert all(again.get(root, b"s/%d" % i) == b"1" for i in range(300))


def test_a_node_stale_at_one_version_and_written_again_later_survives_pruning() -> None:
    store = MemoryStore()
    tree = StateTree(store)
    root = _commit(store, tree, EMPTY_ROOT, {b"k": b"a", b"j": b"x"}, 1, 0, 100)
    leaf_a = _h(b"\x00" + _h(b"k") + _h(b"a"))
    root = _commit(store, tree, root, {b"k": b"b"}, 2, 0, 100)  # leaf a stale at 2
    root = _commit(store, tree, root, {b"k": b"a"}, 3, 0, 100)  # ... and written again
    assert store.get(b"t/" + leaf_a) is not None
    for v in (4, 5):  # keep only the latest: the stale entry (2, leaf a) is processed
        root = _commit(store, tree, root, {b"j": b"y%d" % v}, v, v, 100)
    assert tree.stale_backlog() == 2  # leaf j and the root node of version 4, stale at 5
    assert tree.get(root, b"k") == b"a"
    assert verify_proof(root, b"k", b"a", tree.prove(root, b"k"))
    # gone stale again later: then it goes with that version
    root = _commit(store, tree, root, {b"k": None}, 6, 6, 100)
    root = _commit(store, tree, root, {}, 7, 7, 100)
    store.write(tree.prune(7, 100))
    assert store.get(b"t/" + leaf_a) is None and tree.stale_backlog() == 0


def test_prune_does_at_most_its_budget_and_the_backlog_drains() -> None:
    store = MemoryStore()
    tree = StateTree(store)
    root = _commit(store, tree, EMPTY_ROOT, {b"s/%d" % i: b"0" for i in range(300)}, 1, 0, 1)
    for v in range(2, 6):
        root = _commit(store, tree, root, {b"s/%d" % i: b"%d" % v for i in range(300)}, v, 0, 1)
    floor = 5
    backlog = tree.stale_backlog(floor)
    assert backlog > 1000
    roots_below = 4  # versions 1..4
    batch = tree.prune(floor, 50)
    store.write(batch)
    assert tree.stale_backlog(floor) == backlog - (50 - roots_below)
    assert tree.root_at(4) is None and tree.root_at(5) == root
    with pytest.raises(ValueError, match="max_nodes"):
        tree.prune(floor, -1)
    assert len(tree.prune(floor, 0)) == 0  # no work allowed: no op at all
    while tree.stale_backlog(floor):
        store.write(tree.prune(floor, 977))
    assert all(tree.get(root, b"s/%d" % i) == b"5" for i in range(300))
    # a floor below the stored one changes nothing: pruned versions do not come back
    store.write(tree.prune(2, 10))
    assert tree.floor() == 5 and tree.root_at(3) is None


def test_warming_walks_the_live_tree_top_down_within_its_bound() -> None:
    store = MemoryStore()
    tree = StateTree(store)
    root = _commit(store, tree, EMPTY_ROOT, {b"s/%d" % i: b"0" for i in range(500)}, 1, 0, 1)
    root = _commit(store, tree, root, {b"s/%d" % i: b"1" for i in range(500)}, 2, 0, 1)
    live: set[bytes] = set()
    _reachable(store, root, live)
    assert sum(1 for _ in store.iterate(b"t/")) > len(live)  # version 1 is kept too
    cold = StateTree(store)
    counts = list(cold.warming(root, chunk=100))
    assert counts[-1] == len(live) == cold.cached_nodes
    assert counts[:-1] == list(range(100, len(live), 100))
    cold.update(root, {b"s/%d" % i: b"2" for i in range(0, 500, 7)}, version=3)
    assert cold.last_reads == 0
    bounded = StateTree(store)
    assert bounded.warm(root, max_nodes=17) == 17 == bounded.cached_nodes
    assert bounded.warm(EMPTY_ROOT) == 0


# --- the chain ------------------------------------------------------------------------------


LABELS = ("m0", "m1", "m2", "m3", "m4", "treasury", "registrar")


def _snapshot(v: StateView, claim: bytes | None, pids: list[bytes]) -> dict[str, Any]:
    """Every point read a client can make, as of the view's height."""
    snap: dict[str, Any] = {"height": v.height, "params": v.params}
    for label in LABELS:
        snap["account", label] = v.account(addr(label))
        snap["electors", label] = v.electors(addr(label))
        for pool in ("med", "dental"):
            snap["member", pool, label] = v.member(pool, addr(label))
            snap["status", pool, label] = v.member_status(pool, addr(label))
    for pool in ("med", "dental", "nope"):
        snap["pool", pool] = v.pool(pool)
        snap["counts", pool] = v.pool_member_counts(pool)
    snap["claim"] = None if claim is None else v.claim(claim)
    for pid in pids:
        snap["proposal", pid] = v.proposal(pid)
    snap["validators"] = v.validators(v.height + 1)
    return snap


def test_every_record_kind_reads_at_every_kept_height_as_it_was() -> None:
    hx = gov_harness()  # m0..m4 members from block 1, now at 3
    hx.chain = Chain(hx.store, state_history=DEFAULT_STATE_HISTORY)
    snaps: dict[int, tuple[bytes | None, list[bytes], dict[str, Any]]] = {}
    claim: bytes | None = None
    pids: list[bytes] = []

    def snap() -> None:
        snaps[hx.h] = (claim, list(pids), _snapshot(hx.view, claim, pids))

    def step(txs: list[Any]) -> None:
        for r in hx.block(txs).results:
            ok(r)
        snap()

    step([hx.tx("m0", "transfer", to=addr("m1"), amount=7)])
    r, pid = propose(hx, "m0", "chain", min_fee=2)
    ok(r)
    pids.append(pid)
    snap()
    ballots(hx, pid, m1="yes", m2="yes", m3="yes")
    snap()
    c = hx.tx("m2", "claim", pool="med", amount=10, evidence=b"\x01" * 32)
    claim = c.hash
    step([c])
    step([hx.tx("m3", "vote", claim=claim, approve=True), hx.tx("m4", "leave", pool="dental")])
    while hx.h < 26:  # through the tally and the enactment of min_fee (end of 23)
        step([])
    assert hx.view.params.min_fee == 2 and snaps[8][2]["params"].min_fee != 2
    assert snaps[9][2]["claim"] is not None and snaps[7][2]["proposal", pid] is not None
    for h, (c_at, pids_at, want) in snaps.items():
        assert _snapshot(hx.chain.view(h), c_at, pids_at) == want, h
    for h in (5, 9, hx.h):
        v = hx.chain.view(h)
        for key in (K.account_key(addr("m1")), K.claim_key(claim), K.PARAMS, b"s/absent"):
            value, proof = v.prove(key)
            assert value == v.get_raw(key)
            assert verify_proof(v.state_root, key, value, proof)
        assert v.state_root == hx.chain.tree.root_at(h)
    assert hx.chain.view(5).state_root != hx.chain.view(6).state_root


def test_heights_outside_the_kept_range_raise_and_old_ones_get_pruned() -> None:
    hx = Harness()
    hx.chain = Chain(hx.store, state_history=3, prune_per_block=DEFAULT_PRUNE_PER_BLOCK)
    for i in range(6):
        ok(hx.do("m0", "transfer", to=addr("m1"), amount=i + 1))
    assert (hx.h, hx.chain.oldest_retained) == (6, 4)  # the last 3 heights: 4, 5, 6
    for bad in (0, -1, 7, 100):
        with pytest.raises(NotCommitted, match="not committed") as info:
            hx.chain.view(bad)
        assert not isinstance(info.value, Pruned)
    for old in (1, 3):
        with pytest.raises(Pruned, match="^pruned$"):
            hx.chain.view(old)
    assert issubclass(Pruned, ValueError) and issubclass(NotCommitted, ValueError)
    held = hx.chain.view(4)
    assert held.account(addr("m1")).balance - hx.chain.view(5).account(addr("m1")).balance == -5
    ok(hx.do("m0", "transfer", to=addr("m1"), amount=1))  # height 7: 4 goes
    with pytest.raises(Pruned):
        held.prove(K.account_key(addr("m2")))  # a view held across its pruning
    with pytest.raises(Pruned):
        held.account(addr("m2"))
    assert hx.chain.tree.stale_backlog(hx.chain.oldest_retained) == 0  # budget kept up


def test_history_zero_keeps_every_height() -> None:
    hx = Harness()
    hx.chain = Chain(hx.store, state_history=0)
    for i in range(5):
        ok(hx.do("m0", "transfer", to=addr("m1"), amount=i + 1))
    assert hx.chain.oldest_retained == 1
    first = hx.chain.view(1).account(addr("m1")).balance
    assert hx.chain.view(5).account(addr("m1")).balance == first + 2 + 3 + 4 + 5
    pinned, latest = hx.chain.view(5), hx.chain.view()  # the latest height, asked by number
    ok(hx.do("m0", "transfer", to=addr("m1"), amount=1))
    assert (pinned.height, latest.height) == (5, 6)  # the first stays, the second follows
    assert pinned.state_root != latest.state_root == hx.chain.state_root
    assert pinned.account(addr("m1")).balance + 1 == latest.account(addr("m1")).balance


def test_commit_prunes_at_most_prune_per_block() -> None:
    hx = Harness()
    hx.chain = Chain(hx.store, state_history=1, prune_per_block=3)
    ok(hx.do("m0", "transfer", to=addr("m1"), amount=1))
    ok(hx.do("m2", "transfer", to=addr("m3"), amount=1))
    backlog = hx.chain.tree.stale_backlog()
    ok(hx.do("m4", "transfer", to=addr("m0"), amount=1))
    assert hx.chain.last_pruned <= 2 * 3 + 1  # an entry, maybe its node, per unit; the floor
    assert hx.chain.oldest_retained == 3
    assert hx.chain.tree.stale_backlog() >= backlog - 3
    while hx.chain.tree.stale_backlog(hx.chain.oldest_retained):
        hx.block([])
    assert hx.chain.view(hx.h).account(addr("m0")).balance == hx.view.account(addr("m0")).balance


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"state_history": -1}, "state_history"),
        ({"state_history": MAX_STATE_HISTORY + 1}, "state_history"),
        ({"prune_per_block": 0}, "prune_per_block"),
        ({"prune_per_block": MAX_PRUNE_PER_BLOCK + 1}, "prune_per_block"),
    ],
)
def test_chain_settings_are_checked_at_their_bounds(kwargs: dict[str, int], field: str) -> None:
    hx = Harness()
    with pytest.raises(ValueError, match=field):
        Chain(hx.store, **kwargs)
    Chain(hx.store, state_history=MAX_STATE_HISTORY, prune_per_block=MAX_PRUNE_PER_BLOCK)
    Chain(hx.store, state_history=0, prune_per_block=1)


def test_restart_keeps_history_and_warms_from_the_latest_root(tmp_path: Path) -> None:
    store = LevelDBStore(str(tmp_path / "db"))
    hx = Harness(store)
    hx.chain = Chain(store, state_history=4)
    for i in range(6):
        ok(hx.do("m0", "transfer", to=addr("m1"), amount=i + 1))
    before = {h: hx.chain.view(h).account(addr("m1")) for h in range(3, 7)}
    root, height = hx.chain.state_root, hx.h
    store.close()
    store = LevelDBStore(str(tmp_path / "db"))
    chain = Chain(store, state_history=4)
    assert (chain.height, chain.state_root, chain.oldest_retained) == (height, root, 3)
    assert {h: chain.view(h).account(addr("m1")) for h in range(3, 7)} == before
    with pytest.raises(Pruned):
        chain.view(2)
    assert chain.tree.cached_nodes == 0  # opening does not warm: the node does it later
    warmed = max(chain.warming(chunk=5))
    assert warmed == chain.tree.cached_nodes > 0
    hx.chain = chain
    hx.store = store
    ex = hx.execute([hx.tx("m1", "transfer", to=addr("m2"), amount=1)])
    assert chain.tree.last_reads == 0  # the first block after the restart updates warm
    chain.commit(ex)
    assert chain.oldest_retained == 4
    store.close()


def test_a_store_without_recorded_roots_is_refused_with_a_clear_message() -> None:
    hx = Harness()
    ok(hx.do("m0", "transfer", to=addr("m1"), amount=1))
    hx.store.delete(b"~t/r" + (1).to_bytes(8, "big"))  # as a store from before history
    with pytest.raises(ValueError, match="re-sync"):
        Chain(hx.store)


def test_prune_step_between_blocks_catches_up_while_an_execution_awaits_its_commit() -> None:
    hx = Harness()
    hx.chain = Chain(hx.store, state_history=2, prune_per_block=1)
    for i in range(6):
        ok(hx.do("m0", "transfer", to=addr("m1"), amount=i + 1))
    chain = hx.chain
    assert chain.tree.stale_backlog(chain.oldest_retained) > 20  # commits alone fall behind
    pending = hx.execute([hx.tx("m1", "transfer", to=addr("m2"), amount=2)])
    steps = 0
    while chain.prune_step(5) == 5:
        steps += 1
    assert steps > 3 and chain.tree.stale_backlog(chain.oldest_retained) == 0
    assert chain.prune_step(5) == 0 and chain.prune_step(0) == 0
    chain.commit(pending)
    assert chain.view(6).account(addr("m2")).balance + 2 == hx.view.account(addr("m2")).balance
    assert chain.oldest_retained == 6
    while chain.prune_step(50) == 50:
        pass
    kept: set[bytes] = set()
    for h in (6, 7):
        r = chain.tree.root_at(h)
        assert r is not None
        _reachable(hx.store, r, kept)
    assert {k[2:] for k, _ in hx.store.iterate(b"t/")} == kept  # exactly the kept versions


def test_validator_set_key_names_the_set_in_force_and_proves_at_a_kept_height() -> None:
    hx = Harness()
    for _ in range(3):
        hx.block([])
    v = hx.chain.view(2)
    key = v.validator_set_key(3)
    assert key == K.validators_key(1)  # the genesis set, in force from height 1
    value, proof = v.prove(key)
    assert value is not None and K.decode_value(key, value) == tuple(v.validators(3))
    assert verify_proof(v.state_root, key, value, proof)
    assert v.validator_set_key(0) is None


def test_a_set_change_is_proven_from_the_height_that_decided_it_and_absent_before() -> None:
    hx = Harness(params={"epoch_length": 4, "max_validators": 4})
    ok(hx.do("op-extra", "register_candidate", consensus_key=addr("vx"), name="x"))
    for m in ("m0", "m1", "m2"):
        ok(hx.do(m, "elect", candidates=[addr("op-extra")]))
    hx.advance_to(8)  # the election at the end of block 4 seats "x" from height 6
    decided = hx.chain.view(4)
    key = decided.validator_set_key(6)
    assert key == K.validators_key(6) and [v.name for v in decided.validators(6)] == ["x"]
    value, proof = decided.prove(key)
    assert value is not None and verify_proof(decided.state_root, key, value, proof)
    assert [v.name for v in K.decode_value(key, value)] == ["x"]
    before = hx.chain.view(3)
    absent, proof = before.prove(key)
    assert absent is None and verify_proof(before.state_root, key, None, proof)
    assert before.validator_set_key(5) == K.validators_key(1)
