"""A bounded set that forgets its oldest entries: the caches of hashes the mempool and the
transaction gossip keep (signatures verified, txs committed, txs a peer already has).

One structure for the three, so the bound is enforced the same way everywhere: touching a
member makes it the newest, adding past `limit` drops the oldest.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class RecentSet(Generic[K]):
    """At most `limit` keys, the least recently added or touched forgotten first."""

    __slots__ = ("_keys", "limit")

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError(f"limit: must be >= 0, got {limit}")
        self._keys: OrderedDict[K, None] = OrderedDict()
        self.limit = limit

    def add(self, key: K) -> None:
        """Remember `key` as the newest member, forgetting the oldest beyond the limit."""
        keys = self._keys
        if key in keys:
            keys.move_to_end(key)
            return
        keys[key] = None
        while len(keys) > self.limit:
            keys.popitem(last=False)

    def discard(self, key: K) -> None:
        self._keys.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[K]:
        """Oldest first."""
        return iter(self._keys)
