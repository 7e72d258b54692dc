"""The state root: determinism, get, proofs, pruning, and agreement with an independent spec.

`_spec_root` recomputes the root from the module docstring alone (no shared code with
state/tree.py beyond sha256), so these tests pin the documented hash rules, not just
self-consistency.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from state.store import KVStore, LevelDBStore, MemoryStore
from state.tree import EMPTY_ROOT, MissingNodeError, Proof, StateTree, verify_proof


def _h(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def _spec_root(pairs: dict[bytes, bytes], depth: int = 0, hashed: bool = False) -> bytes:
    """The root as the module docstring defines it, by brute force over the whole set."""
    if not hashed:
        pairs = {_h(k): v for k, v in pairs.items()}
    if not pairs:
        return _h(b"huzhu/tree/v1/empty")
    if len(pairs) == 1:
        ((kh, v),) = pairs.items()
        return _h(b"\x00" + kh + _h(v))
    groups: list[dict[bytes, bytes]] = [{} for _ in range(16)]
    for kh, v in pairs.items():
        groups[int(kh.hex()[depth], 16)][kh] = v
    return _h(b"\x01" + b"".join(_spec_root(g, depth + 1, True) for g in groups))


def _apply(store: KVStore, tree: StateTree, root: bytes, changes: dict) -> bytes:
    new_root, batch = tree.update(root, changes)
    store.write(batch)
    return new_root


def _node_count(store: KVStore) -> int:
    return sum(1 for _ in store.iterate(b"t/"))


@pytest.fixture(params=["memory", "leveldb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KVStore]:
    s: KVStore = MemoryStore() if request.param == "memory" else LevelDBStore(str(tmp_path / "db"))
    yield s
    s.close()


keys = st.binary(min_size=0, max_size=6)
values = st.binary(min_size=0, max_size=8)


def test_empty_root_is_documented_constant() -> None:
    assert EMPTY_ROOT == _h(b"huzhu/tree/v1/empty")
    assert len(EMPTY_ROOT) == 32


def test_single_key_root_is_its_leaf_hash(store: KVStore) -> None:
    tree = StateTree(store)
    root = _apply(store, tree, EMPTY_ROOT, {b"s/a": b"1"})
    assert root == _h(b"\x00" + _h(b"s/a") + _h(b"1"))


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.dictionaries(keys, values, max_size=60),
    seed=st.integers(0, 2**32),
    nbatches=st.integers(1, 6),
)
def test_root_depends_only_on_content(pairs: dict, seed: int, nbatches: int) -> None:
    """Same pairs, any order, any split into blocks -> the same root, equal to the spec's."""
    one = MemoryStore()
    root_one = _apply(one, StateTree(one), EMPTY_ROOT, pairs)

    items = list(pairs.items())
    random.Random(seed).shuffle(items)
    many = MemoryStore()
    tree = StateTree(many)
    root = EMPTY_ROOT
    for i in range(nbatches):
        root = _apply(many, tree, root, dict(items[i::nbatches]))
    assert root == root_one == _spec_root(pairs)


@settings(max_examples=40, deadline=None)
@given(
    blocks=st.lists(
        st.dictionaries(keys, st.one_of(st.none(), values), max_size=25), min_size=1, max_size=8
    )
)
def test_random_histories_match_spec_and_get(blocks: list[dict]) -> None:
    """Sets, overwrites and deletes in blocks: root, get and proofs follow the live content."""
    store = MemoryStore()
    tree = StateTree(store)
    root = EMPTY_ROOT
    model: dict[bytes, bytes] = {}
    for changes in blocks:
        root = _apply(store, tree, root, changes)
        for k, v in changes.items():
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
        assert root == _spec_root(model)
    touched = {k for b in blocks for k in b}
    for k in touched:
        assert tree.get(root, k) == model.get(k)
        assert verify_proof(root, k, model.get(k), tree.prove(root, k))


def test_insert_then_delete_restores_earlier_roots(store: KVStore) -> None:
    tree = StateTree(store)
    base = {b"s/%d" % i: b"v%d" % i for i in range(300)}
    r0 = _apply(store, tree, EMPTY_ROOT, base)
    extra = {b"s/x%d" % i: b"new" for i in range(50)}
    r1 = _apply(store, tree, r0, extra)
    assert r1 != r0
    r2 = _apply(store, tree, r1, dict.fromkeys(extra))
    assert r2 == r0
    r3 = _apply(store, tree, r2, dict.fromkeys(base))
    assert r3 == EMPTY_ROOT
    assert _node_count(store) == 0


def test_overwrite_with_same_value_keeps_root_and_nodes(store: KVStore) -> None:
    tree = StateTree(store)
    base = {b"s/%d" % i: b"v" for i in range(100)}
    r0 = _apply(store, tree, EMPTY_ROOT, base)
    n0 = _node_count(store)
    r1 = _apply(store, tree, r0, {b"s/5": b"v", b"s/77": b"v", b"s/absent": None})
    assert r1 == r0
    assert _node_count(store) == n0
    assert tree.get(r1, b"s/5") == b"v"


def test_get_after_update(store: KVStore) -> None:
    tree = StateTree(store)
    root = _apply(store, tree, EMPTY_ROOT, {b"s/a": b"1", b"s/b": b"2", b"s/c": b""})
    root = _apply(store, tree, root, {b"s/a": b"one", b"s/b": None})
    assert tree.get(root, b"s/a") == b"one"
    assert tree.get(root, b"s/b") is None
    assert tree.get(root, b"s/c") == b""  # an empty value is present, not absent
    assert tree.get(root, b"s/zzz") is None
    assert tree.get(EMPTY_ROOT, b"s/a") is None


def test_memory_and_leveldb_agree(tmp_path: Path) -> None:
    rnd = random.Random(7)
    mem = MemoryStore()
    ldb = LevelDBStore(str(tmp_path / "db"))
    tm, tl = StateTree(mem), StateTree(ldb)
    rm = rl = EMPTY_ROOT
    for _ in range(5):
        changes = {
            b"s/%d" % rnd.randrange(500): (None if rnd.random() < 0.2 else rnd.randbytes(10))
            for _ in range(200)
        }
        rm = _apply(mem, tm, rm, changes)
        rl = _apply(ldb, tl, rl, changes)
        assert rm == rl
    assert dict(mem.iterate(b"t/")) == dict(ldb.iterate(b"t/"))
    ldb.close()


def test_proofs_of_present_and_absent_keys(store: KVStore) -> None:
    tree = StateTree(store)
    pairs = {b"s/%d" % i: b"value-%d" % i for i in range(400)}
    root = _apply(store, tree, EMPTY_ROOT, pairs)
    for i in range(0, 400, 7):
        k = b"s/%d" % i
        p = tree.prove(root, k)
        assert verify_proof(root, k, pairs[k], p)
        assert not verify_proof(root, k, None, p)  # present key cannot be proven absent
        assert not verify_proof(root, k, pairs[k] + b"x", p)
        assert Proof.from_bytes(p.to_bytes()) == p
    for i in range(50):
        k = b"s/absent-%d" % i
        p = tree.prove(root, k)
        assert verify_proof(root, k, None, p)
        assert not verify_proof(root, k, b"anything", p)
        assert not verify_proof(_h(b"other root"), k, None, p)


def test_proofs_in_empty_and_single_leaf_trees(store: KVStore) -> None:
    tree = StateTree(store)
    p = tree.prove(EMPTY_ROOT, b"s/a")
    assert p == Proof((), None)
    assert verify_proof(EMPTY_ROOT, b"s/a", None, p)
    root = _apply(store, tree, EMPTY_ROOT, {b"s/a": b"1"})
    assert verify_proof(root, b"s/a", b"1", tree.prove(root, b"s/a"))
    pb = tree.prove(root, b"s/b")
    assert pb.leaf is not None and pb.leaf[0] == _h(b"s/a")  # absence shown by another leaf
    assert verify_proof(root, b"s/b", None, pb)
    assert not verify_proof(root, b"s/a", None, pb)


def test_tampered_proofs_fail(store: KVStore) -> None:
    tree = StateTree(store)
    pairs = {b"s/%d" % i: b"%d" % i for i in range(300)}
    root = _apply(store, tree, EMPTY_ROOT, pairs)
    k = b"s/42"
    p = tree.prove(root, k)
    assert len(p.siblings) >= 2 and verify_proof(root, k, pairs[k], p)
    for d in range(len(p.siblings)):
        for j in (0, 14):
            level = list(p.siblings[d])
            level[j] = bytes([level[j][0] ^ 1]) + level[j][1:]
            bad = Proof(p.siblings[:d] + (tuple(level),) + p.siblings[d + 1 :], p.leaf)
            assert not verify_proof(root, k, pairs[k], bad)
    assert not verify_proof(root, k, pairs[k], Proof(p.siblings[1:], p.leaf))  # level dropped
    assert not verify_proof(root, k, pairs[k], Proof(p.siblings, None))
    assert not verify_proof(root, k, pairs[k], Proof(p.siblings, (p.leaf[0], _h(b"x"))))
    # malformed shapes are refused, never raise
    assert not verify_proof(root, k, pairs[k], Proof((p.siblings[0][:14],), p.leaf))
    assert not verify_proof(root, k, pairs[k], Proof(p.siblings, (b"short", b"x")))
    assert not verify_proof(root, k, pairs[k], Proof(((b"",) * 15,) * 65, p.leaf))
    # an absent key cannot borrow a present key's proof
    assert not verify_proof(root, b"s/absent", None, p)


def test_old_nodes_are_pruned(store: KVStore) -> None:
    """After many rewrites the store holds nodes for the live keys only."""
    tree = StateTree(store)
    rnd = random.Random(3)
    live = {b"s/%d" % i: b"0" for i in range(500)}
    root = _apply(store, tree, EMPTY_ROOT, live)
    fresh = _node_count(store)
    for _ in range(30):
        changes = {b"s/%d" % rnd.randrange(500): rnd.randbytes(4) for _ in range(100)}
        live.update(changes)
        root = _apply(store, tree, root, changes)
    # the same content built in one go has exactly the nodes the pruned store kept
    other = MemoryStore()
    assert _apply(other, StateTree(other), EMPTY_ROOT, live) == root
    assert _node_count(store) == _node_count(other)
    assert _node_count(store) < 1.5 * fresh


def test_old_root_is_gone_after_update(store: KVStore) -> None:
    tree = StateTree(store)
    r0 = _apply(store, tree, EMPTY_ROOT, {b"s/%d" % i: b"a" for i in range(50)})
    _apply(store, tree, r0, {b"s/1": b"b"})
    with pytest.raises(MissingNodeError):
        tree.get(r0, b"s/1")


def test_update_does_not_write(store: KVStore) -> None:
    tree = StateTree(store)
    r0 = _apply(store, tree, EMPTY_ROOT, {b"s/a": b"1", b"s/b": b"2"})
    before = list(store.iterate(b""))
    r1, batch = tree.update(r0, {b"s/c": b"3", b"s/a": None})
    assert list(store.iterate(b"")) == before
    assert len(batch) > 0 and r1 != r0
    # the same update computed twice gives the same answer (pure in the committed state)
    assert tree.update(r0, {b"s/c": b"3", b"s/a": None})[0] == r1


def test_rejects_non_bytes_values(store: KVStore) -> None:
    with pytest.raises(TypeError):
        StateTree(store).update(EMPTY_ROOT, {b"s/a": "text"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        StateTree(store).update(EMPTY_ROOT, {b"s/a": memoryview(b"1")})  # type: ignore[dict-item]


def test_bytes_like_values_hash_as_their_bytes(store: KVStore) -> None:
    """A bytearray or a bytes subclass is taken as its bytes: same root, same stored leaf."""

    class Sub(bytes):
        pass

    plain, plain_batch = StateTree(MemoryStore()).update(EMPTY_ROOT, {b"s/a": b"1", b"s/b": b"2"})
    mixed, mixed_batch = StateTree(store).update(
        EMPTY_ROOT,
        {b"s/a": bytearray(b"1"), b"s/b": Sub(b"2")},  # type: ignore[dict-item]
    )
    assert mixed == plain
    assert mixed_batch.ops == plain_batch.ops
    assert all(type(v) is bytes for v in mixed_batch.ops.values())


def test_prefix_isolates_trees() -> None:
    store = MemoryStore()
    a, b = StateTree(store, b"t/"), StateTree(store, b"u/")
    ra = _apply(store, a, EMPTY_ROOT, {b"k": b"1"})
    rb = _apply(store, b, EMPTY_ROOT, {b"k": b"1"})
    assert ra == rb
    _apply(store, a, ra, {b"k": None})
    assert b.get(rb, b"k") == b"1"


def test_update_cost_is_proportional_to_changes(store: KVStore) -> None:
    """One changed key in a 4,000-key tree touches one root-to-leaf path, not the tree."""
    tree = StateTree(store)
    root = _apply(store, tree, EMPTY_ROOT, {b"s/%d" % i: b"v" for i in range(4000)})
    depth = len(tree.prove(root, b"s/17").siblings)
    cold = StateTree(store)  # nothing cached: every node it needs comes from the store
    new_root, batch = cold.update(root, {b"s/17": b"w"})
    assert cold.last_reads == depth + 1  # the internal nodes on the path and the leaf
    assert cold.last_writes == depth + 1
    assert cold.last_deletes == depth + 1
    assert len(batch) == 2 * (depth + 1)
    store.write(batch)
    assert new_root == _spec_root({**{b"s/%d" % i: b"v" for i in range(4000)}, b"s/17": b"w"})


def test_noop_changes_write_nothing(store: KVStore) -> None:
    tree = StateTree(store)
    root = _apply(store, tree, EMPTY_ROOT, {b"s/%d" % i: b"v" for i in range(500)})
    new_root, batch = tree.update(root, {b"s/absent-%d" % i: None for i in range(50)})
    assert new_root == root
    assert len(batch) == 0


@pytest.mark.parametrize("cache_nodes", [0, 40])
def test_small_cache_and_abandoned_updates_stay_correct(cache_nodes: int) -> None:
    """Eviction and updates computed but never written (a proposal that lost) must not
    change any later root: the cache is an optimisation, never a source of truth."""
    store = MemoryStore()
    tree = StateTree(store, cache_nodes=cache_nodes)
    rnd = random.Random(11)
    model: dict[bytes, bytes] = {}
    root = EMPTY_ROOT
    for _ in range(12):
        abandoned = {b"s/%d" % rnd.randrange(300): rnd.randbytes(3) for _ in range(40)}
        tree.update(root, abandoned)  # computed, then dropped
        changes: dict[bytes, bytes | None] = {
            b"s/%d" % rnd.randrange(300): (None if rnd.random() < 0.3 else rnd.randbytes(3))
            for _ in range(40)
        }
        root = _apply(store, tree, root, changes)
        for k, v in changes.items():
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
        assert root == _spec_root(model)
    assert tree.cached_nodes <= cache_nodes  # bounded, whatever the history


def test_proof_bytes_round_trip_and_refuse_garbage(store: KVStore) -> None:
    from state.codec import DecodeError, encode

    tree = StateTree(store)
    root = _apply(store, tree, EMPTY_ROOT, {b"s/%d" % i: b"x" for i in range(100)})
    for k in (b"s/3", b"s/absent"):
        p = tree.prove(root, k)
        q = Proof.from_bytes(p.to_bytes())
        assert q == p and verify_proof(root, k, tree.get(root, k), q)
    for bad in (
        encode([1, 2]),
        encode({"leaf": None}),
        encode({"leaf": [b"a"], "siblings": []}),
        encode({"leaf": None, "siblings": [[1]]}),
        b"\xc1",
    ):
        with pytest.raises(DecodeError):
            Proof.from_bytes(bad)


def test_warm_cache_serves_the_next_update(store: KVStore) -> None:
    tree = StateTree(store)
    pairs = {b"s/%d" % i: b"v" for i in range(600)}
    root = _apply(store, tree, EMPTY_ROOT, pairs)
    nodes = _node_count(store)
    restarted = StateTree(store)
    assert restarted.warm(root) == nodes
    new_root, _ = restarted.update(root, {b"s/%d" % i: b"w" for i in range(0, 600, 5)})
    assert restarted.last_reads == 0
    assert new_root == _spec_root({**pairs, **{b"s/%d" % i: b"w" for i in range(0, 600, 5)}})
    small = StateTree(store, cache_nodes=10)
    assert small.warm(root) == 10 and small.cached_nodes == 10


def _spec_verify(root: bytes, key: bytes, value: bytes | None, proof: Proof) -> bool:
    """The verifier of the module docstring, written from its four steps alone."""
    kh = _h(key)
    nibbles = kh.hex()
    n = len(proof.siblings)
    if n > 64 or any(len(lv) != 15 or any(len(s) != 32 for s in lv) for lv in proof.siblings):
        return False
    if proof.leaf is None:
        if value is not None:
            return False
        h = _h(b"huzhu/tree/v1/empty")
    else:
        lkh, lvh = proof.leaf
        if len(lkh) != 32 or len(lvh) != 32 or lkh.hex()[:n] != nibbles[:n]:
            return False
        if value is None and lkh == kh:
            return False
        if value is not None and (lkh, lvh) != (kh, _h(value)):
            return False
        h = _h(b"\x00" + lkh + lvh)
    for d in reversed(range(n)):
        i = int(nibbles[d], 16)
        level = list(proof.siblings[d])
        h = _h(b"\x01" + b"".join(level[:i] + [h] + level[i:]))
    return h == root


def test_proofs_follow_the_documented_format(store: KVStore) -> None:
    """Proofs made by prove() pass the docstring's verifier, and verify_proof agrees with it
    on genuine, wrong-value and tampered proofs."""
    tree = StateTree(store)
    pairs = {b"s/%d" % i: b"%d" % (i * i) for i in range(700)}
    root = _apply(store, tree, EMPTY_ROOT, pairs)
    rnd = random.Random(5)
    for i in range(0, 760, 9):
        k = b"s/%d" % i
        p = tree.prove(root, k)
        v = pairs.get(k)
        assert _spec_verify(root, k, v, p) and verify_proof(root, k, v, p)
        for claim in (None, b"other"):
            assert _spec_verify(root, k, claim, p) == verify_proof(root, k, claim, p)
        if p.siblings:
            d = rnd.randrange(len(p.siblings))
            level = list(p.siblings[d])
            level[rnd.randrange(15)] = _h(b"forged")
            forged = Proof(p.siblings[:d] + (tuple(level),) + p.siblings[d + 1 :], p.leaf)
            assert not _spec_verify(root, k, v, forged)
            assert not verify_proof(root, k, v, forged)


def test_a_leaf_set_to_its_own_value_is_never_marked_stale() -> None:
    """A key set to the value it has keeps its leaf, alone or with a new key that splits its
    position: the version's stale record does not list it, so pruning keeps it readable."""
    store = MemoryStore()
    tree = StateTree(store)
    base = {b"s/%d" % i: b"v%d" % i for i in range(40)}
    root, batch = tree.update(EMPTY_ROOT, base, version=1)
    store.write(batch)
    kh0 = _h(b"s/0")
    depth = len(tree.prove(root, b"s/0").siblings)  # the leaf's depth
    # a new key whose path reaches that leaf's position: the leaf splits into a subtree
    new_key = next(
        k
        for k in (b"n/%d" % j for j in range(1_000_000))
        if _h(k).hex()[:depth] == kh0.hex()[:depth] and k not in base
    )
    steps = [
        {b"s/0": b"v0", new_key: b"x"},  # the split: _apply_leaf builds the position again
        {b"s/1": b"v1", b"s/2": b"changed"},  # a lone same-value set beside a change
    ]
    model = dict(base)
    for version, changes in enumerate(steps, start=2):
        root, batch = tree.update(root, changes, version=version)
        store.write(batch)
        model.update(changes)
        stale = store.get(tree._stale_prefix + version.to_bytes(8, "big")) or b""
        gone = {stale[i : i + 32] for i in range(0, len(stale), 32)}
        for key in (b"s/0", b"s/1"):
            assert _h(b"\x00" + _h(key) + _h(model[key])) not in gone
        assert root == _spec_root(model)
    store.write(tree.prune(len(steps) + 1, 10_000))
    for key, value in model.items():
        assert tree.get(root, key) == value
