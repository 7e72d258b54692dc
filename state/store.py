"""The one narrow store interface (DESIGN.md principle 3) and its two implementations.

Everything persistent goes through get / put / delete / prefix iteration / an atomic batch.
The in-memory store and the LevelDB store pass one shared contract suite, so the simulator
(memory) and the node (LevelDB) run the same code above this line.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Protocol


class Batch:
    """An ordered set of puts and deletes applied all at once by `KVStore.write`."""

    __slots__ = ("ops",)

    def __init__(self) -> None:
        self.ops: dict[bytes, bytes | None] = {}

    def put(self, key: bytes, value: bytes) -> None:
        self.ops[bytes(key)] = bytes(value)

    def delete(self, key: bytes) -> None:
        self.ops[bytes(key)] = None

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
        """Pairs whose key starts with `prefix`, in key order (from `start` when given)."""
        ...

    def write(self, batch: Batch, sync: bool = True) -> None:
        """Apply every op of the batch atomically; with sync, durable before returning."""
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
        self._set(bytes(key), bytes(value))

    def delete(self, key: bytes, sync: bool = False) -> None:
        self._set(bytes(key), None)

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
        selected = keys[lo:hi]
        if reverse:
            selected = selected[::-1]
        for k in selected:
            yield k, self._data[k]

    def write(self, batch: Batch, sync: bool = True) -> None:
        if len(batch.ops) > 1000:
            # bulk path: one re-sort instead of many insorts
            for k, v in batch.ops.items():
                if v is None:
                    self._data.pop(k, None)
                else:
                    self._data[k] = v
            self._keys = sorted(self._data)
            return
        for k, v in batch.ops.items():
            self._set(k, v)

    def snapshot(self) -> MemoryStore:
        """An independent copy: what a crashed node finds on its disk."""
        return MemoryStore(self._data)

    def close(self) -> None:
        pass


class LevelDBStore:
    """LevelDB through plyvel; batches are LevelDB write batches (atomic, optionally synced)."""

    def __init__(self, path: str, create: bool = True) -> None:
        import plyvel

        self._db = plyvel.DB(path, create_if_missing=create)

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(key)

    def put(self, key: bytes, value: bytes, sync: bool = False) -> None:
        self._db.put(key, value, sync=sync)

    def delete(self, key: bytes, sync: bool = False) -> None:
        self._db.delete(key, sync=sync)

    def iterate(
        self, prefix: bytes, start: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        end = _prefix_end(prefix)
        if reverse:
            stop = end
            if start is not None:
                stop = start + b"\x00"  # inclusive of start
                if end is not None and stop > end:
                    stop = end
            it = self._db.iterator(start=prefix, stop=stop, reverse=True)
        else:
            lo = prefix if start is None or start < prefix else start
            it = self._db.iterator(start=lo, stop=end)
        with it:
            yield from it

    def write(self, batch: Batch, sync: bool = True) -> None:
        with self._db.write_batch(transaction=True, sync=sync) as wb:
            for k, v in batch.ops.items():
                if v is None:
                    wb.delete(k)
                else:
                    wb.put(k, v)

    def close(self) -> None:
        if not self._db.closed:
            self._db.close()
