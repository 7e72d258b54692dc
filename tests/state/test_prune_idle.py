"""A prune that found nothing left below its floor is not scanned again at that floor (each
scan is a LevelDB iterator, once a block while no version is old enough: exec11), and what
could add work below it (an update at a version at or below that floor, a higher floor, a
budget spent before the floor) makes the next prune scan again."""

from __future__ import annotations

from collections.abc import Iterator

from state.store import MemoryStore
from state.tree import EMPTY_ROOT, StateTree


class CountingStore(MemoryStore):
    """A MemoryStore that counts its prefix scans."""

    def __init__(self) -> None:
        super().__init__()
        self.scans = 0

    def iterate(
        self, prefix: bytes, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        self.scans += 1
        return super().iterate(prefix, start, reverse)


def _block(store: CountingStore, tree: StateTree, root: bytes, v: int, floor: int) -> bytes:
    """One block as the chain commits it: its prune share, then the versioned update."""
    batch = tree.prune(floor, 10_000)
    new_root, nodes = tree.update(root, {b"s/%d" % i: b"%d" % v for i in range(50)}, version=v)
    batch.update(nodes)
    store.write(batch)
    return new_root


def _chain(blocks: int) -> tuple[CountingStore, StateTree, bytes]:
    """A tree after `blocks` blocks (versions 1..blocks) whose prunes had floor 0."""
    store = CountingStore()
    tree = StateTree(store)
    root = EMPTY_ROOT
    for v in range(1, blocks + 1):
        root = _block(store, tree, root, v, 0)
    return store, tree, root


def test_a_prune_with_nothing_below_its_floor_scans_once() -> None:
    store, tree, _ = _chain(3)
    # the first prune scanned (two scans: roots, stale records); the next two did not
    assert store.scans == 2
    assert len(tree.prune(0, 10_000)) == 0 and tree.last_pruned == 0
    assert store.scans == 2


def test_a_higher_floor_scans_and_prunes_then_rests() -> None:
    store, tree, root = _chain(5)
    assert tree.stale_backlog(3) > 0
    before = store.scans
    store.write(tree.prune(3, 10_000))
    assert store.scans > before and tree.stale_backlog(3) == 0
    assert tree.root_at(2) is None and tree.root_at(3) is not None
    after = store.scans
    store.write(tree.prune(3, 10_000))
    assert store.scans == after  # the same floor again: nothing to look at
    assert all(tree.get(root, b"s/%d" % i) == b"5" for i in range(50))


def test_an_update_at_the_rested_floor_is_pruned_at_the_next_call() -> None:
    store, tree, root = _chain(4)  # stale records at versions 2..4
    store.write(tree.prune(5, 10_000))
    assert tree.stale_backlog(5) == 0
    rested = store.scans
    store.write(tree.prune(5, 10_000))
    assert store.scans == rested
    # version 5 retires nodes of version 4: a stale record at the floor, work for the next
    # prune at that floor (the chain's floor stays below its next height; this is the bound)
    root, nodes = tree.update(root, {b"s/%d" % i: b"x" for i in range(50)}, version=5)
    store.write(nodes)
    assert tree.stale_backlog(5) > 0
    store.write(tree.prune(5, 10_000))
    assert store.scans > rested and tree.stale_backlog(5) == 0
    assert all(tree.get(root, b"s/%d" % i) == b"x" for i in range(50))


def test_a_budget_spent_before_the_floor_keeps_scanning() -> None:
    store, tree, root = _chain(5)
    backlog = tree.stale_backlog(4)
    assert backlog > 30
    calls = 0
    while tree.stale_backlog(4):
        store.write(tree.prune(4, 10))  # 10 units a call: many calls, none of them skipped
        calls += 1
    assert calls >= backlog // 10
    assert all(tree.get(root, b"s/%d" % i) == b"5" for i in range(50))
