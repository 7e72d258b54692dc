"""The in-memory form of the state tree's internal nodes (state/tree.py, "Storage"): decoding a
stored node into its 16 children, and picking the present children back out to encode one.
Split out of state/tree.py to keep that file under ~600 lines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter

from state.treeproof import EMPTY_ROOT, HASH_LEN

__all__ = ["PRESENT", "decode_internal", "present"]


def decode_internal(node: bytes) -> tuple[tuple[bytes, ...], int, int]:
    """Children, leafmap and bitmap of a stored internal node.

    An empty child is the EMPTY_ROOT object itself, so a node's hash preimage is just the
    concatenation of its children and `c is EMPTY_ROOT` tests emptiness.
    """
    bitmap = (node[1] << 8) | node[2]
    leafmap = (node[3] << 8) | node[4]
    children: list[bytes] = [EMPTY_ROOT] * 16
    pos = 5
    for i in range(16):
        if bitmap >> i & 1:
            children[i] = node[pos : pos + HASH_LEN]
            pos += HASH_LEN
    # a tuple of bytes: the garbage collector stops tracking it, so a big cache of decoded
    # nodes does not lengthen every full collection
    return tuple(children), leafmap, bitmap


#: bitmap -> a function giving the children whose bit is set, in nibble order (an
#: itemgetter: one C call instead of a Python filter over 16 hashes), filled as bitmaps occur
PRESENT: dict[int, Callable[[Sequence[bytes]], tuple[bytes, ...]]] = {}


def present(bitmap: int) -> Callable[[Sequence[bytes]], tuple[bytes, ...]]:
    idx = [i for i in range(16) if bitmap >> i & 1]
    pick: Callable[[Sequence[bytes]], tuple[bytes, ...]]
    if len(idx) == 1:
        i = idx[0]

        def pick(children: Sequence[bytes]) -> tuple[bytes, ...]:
            return (children[i],)

    else:
        pick = itemgetter(*idx)
    PRESENT[bitmap] = pick
    return pick
