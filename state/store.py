"""The one narrow store interface (DESIGN.md principle 3) and its two implementations.

Everything persistent goes through get / put / delete / prefix iteration / an atomic batch.
The in-memory store and the LevelDB store pass one shared contract suite, so the simulator
(memory) and the node (LevelDB) run the same code above this line.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

MiB = 1 << 20


def _as_bytes(x: object, what: str) -> bytes:
    """`x` as bytes when it is bytes-like; anything else is a caller bug, refused loudly.

    `bytes(x)` alone would turn an int n into n zero bytes and write garbage silently.
    """
    if type(x) is bytes:
        return x
    if isinstance(x, bytes | bytearray | memoryview):
        return bytes(x)
    raise TypeError(f"store {what} must be bytes, not {type(x).__name__}")


class Batch:
    """An ordered set of puts and deletes applied all at once by `KVStore.write`.

    Callers may also fill `ops` directly (key -> value, None = delete); `write` checks every
    op before applying any, so a bad one leaves the store untouched.
    """

    __slots__ = ("ops",)

    def __init__(self) -> None:
        self.ops: dict[bytes, bytes | None] = {}

    def put(self, key: bytes, value: bytes) -> None:
        self.ops[_as_bytes(key, "key")] = _as_bytes(value, "value")

    def delete(self, key: bytes) -> None:
        self.ops[_as_bytes(key, "key")] = None

    def update(self, other: Batch) -> None:
        self.ops.update(other.ops)

    def __len__(self) -> int:
        return len(self.ops)


class KVStore(Protocol):
    """What state, consensus drivers and the block store may ask of storage."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes, sync: bool = False) -> None: ...

    def delete(self, key: bytes, sync: bool = False) -> None: ...

    def iterate(
        self, prefix: bytes, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Pairs whose key starts with `prefix`, in key order.

        Writes made while an iteration runs may or may not be seen by it (LevelDB iterates a
        snapshot; the memory store skips keys deleted meanwhile); either way it never fails.

        With `start`, forward iteration yields keys >= start and reverse iteration keys
        <= start, so a `start` outside the prefix's range gives all or nothing.
        """
        ...

    def write(self, batch: Batch, sync: bool = True) -> None:
        """Apply every op of the batch atomically; with sync, durable before returning.

        A batch holding a non-bytes key or value raises TypeError and writes nothing.
        """
        ...

    def close(self) -> None: ...


def _prefix_end(prefix: bytes) -> bytes | None:
    """Smallest key greater than every key with `prefix` (None: no upper bound)."""
    p = bytearray(prefix)
    while p and p[-1] == 0xFF:
        p.pop()
    if not p:
        return None
    p[-1] += 1
    return bytes(p)


class MemoryStore:
    """A sorted in-memory store; `snapshot()` gives the crash-restart image the simulator uses."""

    def __init__(self, data: dict[bytes, bytes] | None = None) -> None:
        self._data: dict[bytes, bytes] = dict(data or {})
        self._keys: list[bytes] = sorted(self._data)

    def get(self, key: bytes) -> bytes | None:
        if type(key) is not bytes:
            key = _as_bytes(key, "key")
        return self._data.get(key)

    def _set(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            if key in self._data:
                del self._data[key]
                i = bisect.bisect_left(self._keys, key)
                del self._keys[i]
        else:
            if key not in self._data:
                bisect.insort(self._keys, key)
            self._data[key] = value

    def put(self, key: bytes, value: bytes, sync: bool = False) -> None:
        self._set(_as_bytes(key, "key"), _as_bytes(value, "value"))

    def delete(self, key: bytes, sync: bool = False) -> None:
        self._set(_as_bytes(key, "key"), None)

    def iterate(
        self, prefix: bytes, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        lo_key = prefix if start is None or start < prefix else start
        end = _prefix_end(prefix)
        keys = self._keys
        lo = bisect.bisect_left(keys, lo_key)
        hi = len(keys) if end is None else bisect.bisect_left(keys, end)
        if reverse and start is not None:
            # reverse from `start` (inclusive) downwards, as LevelDB's reverse with stop
            lo = bisect.bisect_left(keys, prefix)
            hi = min(hi, bisect.bisect_right(keys, start))
        data = self._data
        # the key list is copied (fast, C); values are read as we go, and a key deleted
        # meanwhile is skipped, so writing while iterating never breaks the iteration
        selected = keys[lo:hi]
        for k in reversed(selected) if reverse else selected:
            v = data.get(k)
            if v is not None:
                yield k, v

    def write(self, batch: Batch, sync: bool = True) -> None:
        # check everything first: a bad op must leave the store untouched (all-or-nothing)
        ops = [
            (_as_bytes(k, "key"), None if v is None else _as_bytes(v, "value"))
            for k, v in batch.ops.items()
        ]
        if len(ops) <= 64:
            for k, v in ops:
                self._set(k, v)
            return
        # bulk path (a block's batch: thousands of tree nodes): one O(n) merge of the sorted
        # key list instead of an O(n) list insert or delete per key
        data = self._data
        added = sorted(k for k, v in ops if v is not None and k not in data)
        removed = {k for k, v in ops if v is None and k in data}
        for k, v in ops:
            if v is None:
                data.pop(k, None)
            else:
                data[k] = v
        keys = self._keys
        if removed:
            keys = [k for k in keys if k not in removed]
        if added:
            keys += added
            keys.sort()  # two sorted runs: timsort merges them in linear time
        self._keys = keys

    def snapshot(self) -> MemoryStore:
        """An independent copy: what a crashed node finds on its disk."""
        return MemoryStore(self._data)

    def close(self) -> None:
        pass


class _PlyvelDB(Protocol):
    """What this module uses of ``plyvel.DB`` (plyvel ships no type information)."""

    closed: bool

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes, *, sync: bool = ...) -> None: ...

    def delete(self, key: bytes, *, sync: bool = ...) -> None: ...

    def iterator(self, *, start: bytes, stop: bytes | None) -> Any: ...

    def raw_iterator(self) -> Any: ...

    def write_batch(self, *, transaction: bool, sync: bool) -> Any: ...

    def close(self) -> None: ...


#: the bounds of LevelDBOptions' int fields (node/config.py [store] uses the same)
OPTION_RANGES: dict[str, tuple[int, int]] = {
    "write_buffer_size": (64 * 1024, 1024 * MiB),
    "block_size": (1024, 4 * MiB),
    "lru_cache_size": (0, 64 * 1024 * MiB),
    "max_open_files": (64, 1_000_000),
    "bloom_filter_bits": (0, 64),
}
COMPRESSIONS = ("none", "snappy")


@dataclass(frozen=True, slots=True)
class LevelDBOptions:
    """LevelDB's tuning, explicit rather than plyvel's defaults (bench/README.md, store).

    Most bytes written are content-addressed tree nodes (random hashes): snappy cannot shrink
    them, so compressing costs CPU on every flush and compaction for nothing ("none"). A
    bigger write buffer flushes less often but makes each memtable insert and lookup of the
    executing thread dearer; the other fields are LevelDB's own defaults, named so that an
    operator sees and can change them. Changing any of them on an existing store is safe
    (each table block records its own compression).
    """

    compression: Literal["none", "snappy"] = "none"
    # memtable size, bytes written between L0 flushes: 8 MiB holds about three 1,000-tx
    # blocks, so half as many L0 files (and L1 rewrites) as LevelDB's 4 MiB; 16 MiB made
    # every insert and read of the committing thread dearer (bench/README.md)
    write_buffer_size: int = 8 * MiB
    block_size: int = 4096  # bytes per table block (the unit of a read)
    lru_cache_size: int = 8 * MiB  # table blocks kept in memory
    max_open_files: int = 1000
    # a get of an absent key (an account never seen, a tx hash not yet indexed) skips the
    # disk instead of probing one block per level
    bloom_filter_bits: int = 10

    def __post_init__(self) -> None:
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, not {self.compression!r}")
        for name, (lo, hi) in OPTION_RANGES.items():
            v = getattr(self, name)
            if type(v) is not int or not lo <= v <= hi:
                raise ValueError(f"{name} must be an int in {lo}..{hi}, not {v!r}")

    def plyvel_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of plyvel.DB for these options."""
        kw = asdict(self)
        kw["compression"] = None if self.compression == "none" else self.compression
        return kw


class LevelDBStore:
    """LevelDB through plyvel; batches are LevelDB write batches (atomic, optionally synced)."""

    def __init__(
        self, path: str, create: bool = True, options: LevelDBOptions | None = None
    ) -> None:
        import plyvel

        opts = LevelDBOptions() if options is None else options
        self.options = opts
        self._db: _PlyvelDB = plyvel.DB(path, create_if_missing=create, **opts.plyvel_kwargs())

    def get(self, key: bytes) -> bytes | None:
        if type(key) is not bytes:
            key = _as_bytes(key, "key")
        return self._db.get(key)

    def put(self, key: bytes, value: bytes, sync: bool = False) -> None:
        self._db.put(_as_bytes(key, "key"), _as_bytes(value, "value"), sync=sync)

    def delete(self, key: bytes, sync: bool = False) -> None:
        self._db.delete(_as_bytes(key, "key"), sync=sync)

    def iterate(
        self, prefix: bytes, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        end = _prefix_end(prefix)
        if reverse:
            yield from self._iterate_reverse(prefix, start, end)
            return
        lo = prefix if start is None or start < prefix else start
        with self._db.iterator(start=lo, stop=end) as it:
            yield from it

    def _iterate_reverse(
        self, prefix: bytes, start: bytes | None, end: bytes | None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Descending from min(start, end of prefix), on LevelDB's own seek/prev.

        plyvel 1.5's `iterator(start=, stop=, reverse=True)` drops a key equal to `start` when
        it is the only key in the range (keys {b"b/", b"b/1"}: start=b"b/", stop=b"b/1" yields
        nothing), so a prefix that is itself a key could vanish; the contract suite caught it.
        A raw iterator leaves no such logic to get wrong.
        """
        upper = end  # exclusive upper bound; None: past the last key
        if start is not None:
            incl = start + b"\x00"  # the smallest key greater than start
            if upper is None or incl < upper:
                upper = incl
        with self._db.raw_iterator() as it:
            if upper is None:
                it.seek_to_last()
            else:
                it.seek(upper)  # first key >= upper ...
                if it.valid():
                    it.prev()  # ... so the one before is the last key < upper
                else:
                    it.seek_to_last()
            while it.valid():
                k = it.key()
                if not k.startswith(prefix):
                    return  # below the prefix: done
                yield k, it.value()
                it.prev()

    def write(self, batch: Batch, sync: bool = True) -> None:
        # transaction=True: an exception inside the block (a bad op) discards the whole batch
        with self._db.write_batch(transaction=True, sync=sync) as wb:
            put, delete = wb.put, wb.delete
            for k, v in batch.ops.items():
                # plyvel takes bytes only and raises TypeError for anything else: the
                # conversion (or the loud refusal) runs only then, not on ~60,000 ops a block
                try:
                    if v is None:
                        delete(k)
                    else:
                        put(k, v)
                except TypeError:
                    k = _as_bytes(k, "key")
                    if v is None:
                        delete(k)
                    else:
                        put(k, _as_bytes(v, "value"))

    def close(self) -> None:
        if not self._db.closed:
            self._db.close()
