"""The version bookkeeping of the state tree: roots per version, the stale index, the floor,
and bounded pruning (state/tree.py module docstring, "Versions", says what they mean and why
pruning never deletes a node a kept version uses).

Keys, all under ``hist = "~" + prefix`` (``"~t/"`` for the chain's tree):

* ``hist || "s" || u64 BE(v)`` -> the 32-byte hashes, concatenated, of the nodes that left the
  tree at version v (one record per version: a block retires ~22,600 nodes, and one key each
  was a third of its write's ops);
* ``hist || "s" || u64 BE(v) || h`` -> ``b""``: node ``h`` left the tree at version v, the
  format before 2026-12-06. Data directories written then still hold such entries; prune reads
  both (the key's length tells them apart; in key order a version's record comes before its
  old entries), so no migration is needed and the old entries drain as pruning reaches them;
  the way back is not supported: a build older than this one cannot read the new records, so
  a data directory written by this build must not be opened by an older one;
* ``hist || "r" || u64 BE(v)`` -> the root of version v;
* ``hist || "f"`` -> u64 BE: the floor, the oldest version kept.

A stored node ends with ``created``, the u64 BE version that last wrote it (VERSION_LEN bytes).
"""

from __future__ import annotations

import struct
from typing import Any

from state.store import Batch, KVStore

U64 = struct.Struct(">Q")
VERSION_LEN = 8  # the `created` trailer of every stored node
HASH_LEN = 32


class TreeVersions:
    """StateTree's versions (a mixin: StateTree provides the store, prefix and node cache)."""

    _store: KVStore
    _prefix: bytes
    _cache: dict[bytes, Any]

    def _init_versions(self) -> None:
        hist = b"~" + self._prefix
        self._stale_prefix = hist + b"s"
        self._root_prefix = hist + b"r"
        self._floor_key = hist + b"f"
        # where the last prune stopped (this process): the deleted entries before it stay as
        # LevelDB tombstones until compaction, and a scan from the start would wade through them
        self._prune_from: bytes | None = None
        # a version's record is pruned over several calls: its key and the hashes already
        # done; in memory only, since redoing a hash is harmless (its node is gone, or was
        # written again and stays)
        self._rec_key: bytes | None = None
        self._rec_done = 0
        self._roots_from: bytes | None = None
        # the floor of the last prune that found nothing left below it (-1: none): a prune at
        # that floor again skips both scans (each a LevelDB iterator: ~0.14 ms a block while
        # no version is old enough, bench/README.md exec11). An update at a version <= it
        # clears it; a stale value could only skip work (garbage kept), never drop a node
        self._pruned_to = -1
        self.last_pruned = 0  # units of work (stale entries, old roots) of the last prune

    def root_at(self, version: int) -> bytes | None:
        """The root a versioned update recorded for `version`; None when never recorded or
        dropped by pruning (a version below the floor)."""
        if not 0 <= version < 1 << 64 or version < self.floor():
            return None
        return self._store.get(self._root_prefix + U64.pack(version))

    def floor(self) -> int:
        """The oldest version pruning keeps: versions below it may have lost nodes."""
        raw = self._store.get(self._floor_key)
        return 0 if raw is None else int(U64.unpack(raw)[0])

    def stale_backlog(self, up_to: int | None = None) -> int:
        """Stale node hashes (of versions <= `up_to`, default all): work left for prune.
        A scan, for tests and bench/, not for the block path."""
        end = None if up_to is None else self._stale_prefix + U64.pack(up_to + 1)
        n = 0
        whole = len(self._stale_prefix) + VERSION_LEN
        for key, value in self._store.iterate(self._stale_prefix):
            if end is not None and key >= end:
                break
            if len(key) == whole:
                n += len(value) // HASH_LEN
                if key == self._rec_key:
                    n -= self._rec_done
            else:
                n += 1
        return n

    def prune(self, floor: int, max_nodes: int) -> Batch:
        """A Batch that drops the versions below `floor`, doing at most `max_nodes` units of
        work (a stale node's hash, in a version's record or an old-format entry, or an old root
        each); the rest waits for the next call, inside a record where the budget ran out.

        The stored floor is raised in the same batch before any node goes, so a version is
        refused (`root_at` None) from the write that starts deleting its nodes. A floor below
        the stored one changes nothing: pruned versions cannot come back. Write the batch
        before the next update's batch is built on top of it, or with it, the update's ops
        last (a node the update writes again must win over a delete here). A batch that
        is dropped instead leaves its entries to the next process (the scan resumes after
        them): garbage kept longer, never a node missing.
        """
        if max_nodes < 0:
            raise ValueError(f"prune max_nodes must be >= 0, not {max_nodes}")
        batch = Batch()
        ops = batch.ops
        stored = self.floor()
        if floor > stored:
            ops[self._floor_key] = U64.pack(floor)
        else:
            floor = stored
            if floor <= self._pruned_to:
                self.last_pruned = 0
                return batch  # nothing below this floor was left at the last call
        budget = max_nodes
        store = self._store
        complete = True  # both scans reach the floor within the budget
        for key, _ in store.iterate(self._root_prefix, start=self._roots_from):
            if budget <= 0:
                complete = False
                break
            if U64.unpack(key[-VERSION_LEN:])[0] >= floor:
                break
            ops[key] = None
            self._roots_from = key
            budget -= 1
        sp = self._stale_prefix
        vstart = len(sp)
        hstart = vstart + VERSION_LEN
        end = sp + U64.pack(floor + 1) if floor + 1 < 1 << 64 else None
        start = self._prune_from
        prefix = self._prefix
        cache = self._cache
        last = None
        get = store.get
        for key, value in store.iterate(sp, start=start):
            if budget <= 0:
                complete = False
                break
            if end is not None and key >= end:
                break
            v = key[vstart:hstart]
            if len(key) == hstart:
                budget = self._prune_record(key, value, v, budget, ops)
                if self._rec_key == key:
                    complete = False
                    break  # budget spent inside the record: the next call resumes in it
                last = key
                continue
            h = key[hstart:]
            node_key = prefix + h
            node = get(node_key)
            # created before it went stale: not written again since, so in no kept version
            if node is not None and node[-VERSION_LEN:] < v:
                ops[node_key] = None
                cache.pop(h, None)
            ops[key] = None
            last = key
            budget -= 1
        if last is not None:
            self._prune_from = last
        self._pruned_to = floor if complete else -1
        self.last_pruned = max_nodes - budget
        return batch

    def _prune_record(
        self, key: bytes, rec: bytes, v: bytes, budget: int, ops: dict[bytes, Any]
    ) -> int:
        """Prune up to `budget` hashes of the version record `key` (its bytes `rec`, version
        bytes `v`) into `ops`, a unit each; the record's own delete, once all are done, is
        free. Returns the budget left."""
        if self._rec_key != key:
            self._rec_key, self._rec_done = key, 0
        done = self._rec_done
        stop = min(len(rec) // HASH_LEN, done + budget)
        prefix = self._prefix
        get = self._store.get
        pop = self._cache.pop
        for i in range(done * HASH_LEN, stop * HASH_LEN, HASH_LEN):
            h = rec[i : i + HASH_LEN]
            node_key = prefix + h
            node = get(node_key)
            # created before it went stale: not written again since, so in no kept version
            if node is not None and node[-VERSION_LEN:] < v:
                ops[node_key] = None
                pop(h, None)
        budget -= stop - done
        if stop * HASH_LEN >= len(rec):
            ops[key] = None
            self._rec_key, self._rec_done = None, 0
        else:
            self._rec_done = stop
        return budget
