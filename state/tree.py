"""The state root: a Jellyfish-style authenticated tree over sha256 of the state keys.

Why this shape: the state root must be a commitment that every node computes identically from
the set of (key, value) pairs alone, that a block can update in time proportional to the keys
it changes (never a full rehash), and that can prove both presence and absence of a key to a
client holding only the root. A 16-ary sparse Merkle tree over the key hashes, with each leaf
lifted to the shallowest level that isolates it (Diem/Aptos "Jellyfish Merkle tree"), gives
all three with few nodes: for n random keys the depth is about log16(n) + 1.

Structure
---------
Every key is addressed by its path ``kh = sha256(key)`` (32 bytes, read as 64 nibbles, high
nibble of each byte first; ``nibble(kh, d)`` is nibble ``d``). A subtree at depth ``d`` holds
exactly the keys whose first ``d`` nibbles equal its position, and is

* **empty** when it holds no key;
* a **leaf** when it holds exactly one key (whatever ``d``: leaves are not pushed down);
* an **internal node** when it holds two or more keys: 16 child subtrees at depth ``d + 1``,
  child ``i`` holding the keys with ``nibble(kh, d) == i``. An internal node may have a single
  child, which is then itself internal (two keys sharing a long prefix give a chain); an
  internal node never has a single leaf child nor no child (it would be that leaf, or empty).

So the shape, and hence the root, depends only on the set of pairs, never on insertion order
or batching.

Hash rules (``H`` = sha256, ``||`` = concatenation)
--------------------------------------------------
* empty subtree:  ``EMPTY_ROOT = H(b"huzhu/tree/v1/empty")``
* leaf:           ``H(0x00 || kh || H(value))``                  (65-byte preimage)
* internal node:  ``H(0x01 || c_0 || c_1 || ... || c_15)``        (513-byte preimage)
  where ``c_i`` is the hash of child ``i`` (``EMPTY_ROOT`` for an empty child).

The root is the hash of the subtree at depth 0. The leading byte separates leaves from
internal nodes (the preimage lengths differ too) and the empty hash is a hash of a fixed
string that starts with neither byte, so no hash can be read as another kind of node.

Proof format (:class:`Proof`)
-----------------------------
A proof for ``key`` is the walk from the root along ``kh`` until it meets a leaf or an empty
child: ``siblings[d]`` (for ``d = 0 .. len(siblings) - 1``) holds the internal node at depth
``d`` on that path as exactly 15 hashes: its children ``c_0 .. c_15`` in nibble order with the
on-path child ``c_{nibble(kh, d)}`` left out (``EMPTY_ROOT`` for empty children). ``leaf`` is
``(leaf_kh, H(leaf_value))`` for the leaf met at depth ``len(siblings)``, or ``None`` when the
walk ended at an empty child (or the tree is empty). A verifier:

1. requires ``len(siblings) <= 64``, 15 hashes of 32 bytes per level, and, if ``leaf`` is
   given, that ``leaf_kh`` has the same first ``len(siblings)`` nibbles as ``kh``;
2. for membership of ``value``: requires ``leaf == (kh, H(value))``; for non-membership:
   requires ``leaf is None`` or ``leaf_kh != kh``;
3. starts from ``h = H(0x00 || leaf_kh || leaf_vh)`` (or ``EMPTY_ROOT`` when ``leaf`` is None)
   and for ``d`` from ``len(siblings) - 1`` down to 0 sets ``h`` to the internal hash of
   ``siblings[d]`` with ``h`` inserted at position ``nibble(kh, d)``;
4. accepts iff ``h == root``.

``Proof.to_bytes()`` is canonical msgpack of ``{"leaf": [leaf_kh, leaf_vh] | nil,
"siblings": [[15 x bin(32)], ...]}``.

Storage
-------
Nodes are content-addressed: the node whose hash is ``h`` lives at ``prefix || h``.
A leaf is stored as ``0x00 || kh || value || created``; an internal node as ``0x01 ||
bitmap(u16 BE) || leafmap(u16 BE) || hashes of the present children in nibble order ||
created`` (bit ``i`` of bitmap: child ``i`` is non-empty; of leafmap: child ``i`` is a leaf,
so a walk knows what it will read). ``created`` (u64 BE) is the version that last wrote the
node. The empty subtree is never stored.

Versions (history)
------------------
A versioned update (``update(root, changes, version=v)``, what the chain does with the block
height as the version) deletes nothing: it records every node the new version no longer
references in a stale index, one record ``hist || "s" || u64 BE(v)`` holding their hashes
(state/treeversions.py), and the new root at ``hist || "r" || u64 BE(v)`` (``hist`` is ``"~"
|| prefix``). Every old root therefore stays
readable (``get``, ``prove``) until :meth:`StateTree.prune` drops its version. Within one
version a hash occurs at one position only (every leaf commits to its full key hash, every
node to the full key hashes below it), and a node the update still uses is never stale (a
write of a hash wins over a stale mark of it).

The content-addressing hazard: a node that went stale at version v1 can be written again,
same hash, at a later version v2 (a balance that returns to an earlier value, a subtree that
returns to an earlier shape); it is then live again although the stale index still lists it
at v1. ``created`` resolves it without any extra write: pruning the stale entry (v1, h)
deletes the node only if its ``created < v1``. If the node was written again at v2 >= v1,
``created >= v1`` and it stays; the version that makes it stale again (if any) adds its own
entry, which will delete it in its turn. Proof sketch that a node deleted by pruning up to
``floor`` is in no version >= floor: it left the tree at v <= floor and was not written since
(``created < v``), so no version from v on holds it.

:meth:`StateTree.prune` raises the stored floor (versions below it refuse reads from then on)
and processes at most ``max_nodes`` stale entries with version <= floor, in version order, in
a Batch the caller writes with its block (so the work per block is bounded; the backlog
drains over later blocks). With every version pruned but the latest, the store holds one leaf
per live key plus about n / ln 16 ~ 0.36 n internal nodes (bench/tree.py: 150,609 nodes for
108,423 keys). An unversioned update (``version=None``, for tools and tests) deletes the
nodes it replaces at once, as the tree did before it kept history.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Mapping
from itertools import islice
from operator import itemgetter

from state.store import Batch, KVStore
from state.treenodes import PRESENT as _PRESENT
from state.treenodes import decode_internal as _decode_internal
from state.treenodes import present as _present
from state.treeproof import EMPTY_ROOT as EMPTY_ROOT
from state.treeproof import HASH_LEN as HASH_LEN
from state.treeproof import INTERNAL_TAG as _INTERNAL_TAG
from state.treeproof import LEAF_TAG as _LEAF_TAG
from state.treeproof import MAX_DEPTH as MAX_DEPTH
from state.treeproof import Proof as Proof
from state.treeproof import nibble as _nibble
from state.treeproof import verify_proof as verify_proof
from state.treeversions import U64, VERSION_LEN, TreeVersions

_sha256 = hashlib.sha256

_LEAF = 0x00
_INTERNAL = 0x01
_HEX = {c: i for i, c in enumerate("0123456789abcdef")}
_internal_header = struct.Struct(">BHH").pack  # tag, bitmap, leafmap
_by_hex = itemgetter(0)
_FULL = 0xFFFF  # the bitmap of a node with 16 children


class MissingNodeError(KeyError):
    """A node of the asked root is not in the store: an unknown or pruned (old) root."""


# An update item: (hex of kh, kh, new value or None for delete, hash of an existing leaf that is
# carried along unchanged or None). Items of one call are sorted by kh.
_Item = tuple[str, bytes, bytes | None, bytes | None]
# A decoded node in the cache: a leaf's kh, or an internal node's (children, leafmap, bitmap).
_Decoded = bytes | tuple[tuple[bytes, ...], int, int]
_Internal = tuple[tuple[bytes, ...], int, int]  # a decoded internal node
_Applied = tuple[bytes | None, bool]  # a position's new hash (None: empty), whether a leaf

DEFAULT_CACHE_NODES = 1 << 18


class StateTree(TreeVersions):
    """Reads and updates of the tree whose nodes live in `store` under `prefix`.

    The object holds no version state: every call names the root it works on. It keeps a
    bounded cache of decoded nodes (`cache_nodes` entries; a leaf costs ~0.17 kB, an internal
    node ~0.65 kB, ~40 MB for a 100,000-key state): nodes are content-addressed, so a cached
    node can never be stale, and with the cache warm an update reads nothing from the store
    (bench/tree.py: 12,500 keys into 100,000, 0.21 s CPU warm, 0.6 s cold). Nodes an update
    replaces leave the cache at once and those it writes enter it as they are written, so
    it holds the live tree, not history. After an update,
    `last_reads` / `last_writes` / `last_deletes` count its node I/O (for bench/;
    `last_deletes` counts the nodes it retired, deleted or marked stale).

    `update` is not reentrant (one block at a time); `get` and `prove` read the store
    directly and never touch the cache, so an RPC thread may call them meanwhile. Versions
    (roots per version, pruning) come from TreeVersions (state/treeversions.py).
    """

    def __init__(
        self, store: KVStore, prefix: bytes = b"t/", cache_nodes: int = DEFAULT_CACHE_NODES
    ) -> None:
        self._store = store
        self._prefix = bytes(prefix)
        self._init_versions()
        self._trailer = U64.pack(0)
        self._cache: dict[bytes, _Decoded] = {}
        self._cache_nodes = max(0, cache_nodes)
        self._written: dict[bytes, bytes | None] = {}  # the batch: store key -> node bytes
        self._dead: list[bytes] = []  # in walk order: the stale record's bytes are deterministic
        self.last_reads = 0
        self.last_writes = 0
        self.last_deletes = 0

    @property
    def cached_nodes(self) -> int:
        """How many decoded nodes the cache holds now (at most `cache_nodes`)."""
        return len(self._cache)

    def warm(self, root: bytes, max_nodes: int | None = None) -> int:
        """Cache the tree of `root` top down, at most `max_nodes` (and `cache_nodes`) nodes;
        returns how many were read. See `warming`."""
        return max(self.warming(root, max_nodes=max_nodes))

    def warming(
        self, root: bytes, chunk: int = 2_000, max_nodes: int | None = None
    ) -> Iterator[int]:
        """Cache the tree of `root` breadth first, yielding the running count every `chunk`
        nodes, so a restarted node can warm between other work instead of before it.

        Breadth first: the top levels, which every block's update walks, are cached first,
        so a warm cut short by its bound still serves most of the next update. The store
        holds old versions too, so a sequential scan would cache garbage: this walks the live
        tree only (one random read per node). Stops at `max_nodes` or when the cache is full.
        """
        cache = self._cache
        cap = self._cache_nodes if max_nodes is None else min(max_nodes, self._cache_nodes)
        level = [] if root == EMPTY_ROOT else [root]
        n = 0
        while level and n < cap:
            below: list[bytes] = []
            for h in level:
                if n >= cap:
                    break
                node = cache.get(h)
                if node is None:
                    raw = self._store.get(self._prefix + h)
                    if raw is None:
                        continue  # pruned meanwhile: nothing to warm below it
                    node = raw[1:33] if raw[0] == _LEAF else _decode_internal(raw)
                    cache[h] = node
                n += 1
                if not isinstance(node, bytes):
                    children, _, bitmap = node
                    below.extend(c for i, c in enumerate(children) if bitmap >> i & 1)
                if n % chunk == 0:
                    yield n
            level = below
        yield n

    # -- reading --------------------------------------------------------------------------

    def _read_once(self, h: bytes) -> bytes:
        node = self._store.get(self._prefix + h)
        if node is None:
            raise MissingNodeError(f"tree node {h.hex()} not in store (unknown or old root)")
        return node

    def _load(self, h: bytes) -> _Decoded:
        """The decoded node `h`, from the cache or the store (then cached)."""
        node = self._cache.get(h)
        if node is None:
            raw = self._read_once(h)
            self.last_reads += 1
            node = raw[1:33] if raw[0] == _LEAF else _decode_internal(raw)
            self._cache[h] = node
        return node

    def get(self, root: bytes, key: bytes) -> bytes | None:
        """The value of `key` in the tree of `root`, None when absent."""
        kh = _sha256(key).digest()
        h = root
        depth = 0
        while h != EMPTY_ROOT:
            node = self._read_once(h)
            if node[0] == _LEAF:
                return node[33:-VERSION_LEN] if node[1:33] == kh else None
            children = _decode_internal(node)[0]
            h = children[_nibble(kh, depth)]
            depth += 1
        return None

    def prove(self, root: bytes, key: bytes) -> Proof:
        """A membership proof when `key` is present, else a non-membership proof."""
        kh = _sha256(key).digest()
        siblings: list[tuple[bytes, ...]] = []
        h = root
        depth = 0
        while h != EMPTY_ROOT:
            node = self._read_once(h)
            if node[0] == _LEAF:
                leaf_value = node[33:-VERSION_LEN]
                return Proof(tuple(siblings), (node[1:33], _sha256(leaf_value).digest()))
            children = _decode_internal(node)[0]
            nib = _nibble(kh, depth)
            siblings.append(children[:nib] + children[nib + 1 :])
            h = children[nib]
            depth += 1
        return Proof(tuple(siblings), None)

    # -- updating -------------------------------------------------------------------------

    def update(
        self,
        root: bytes,
        changes: Mapping[bytes, bytes | None],
        version: int | None = None,
    ) -> tuple[bytes, Batch]:
        """Apply a whole block's sets (bytes) and deletes (None) to the tree of `root`.

        Returns the new root and a Batch of the new nodes and, with a `version`, the stale
        index entries of the nodes the new version no longer uses and the version's root
        (module docstring, Versions); without one, deletes of those nodes. Nothing is
        written: the caller puts the batch into its single atomic block write. Each touched
        node is read and rewritten once, however many keys change below it.
        """
        if version is not None:
            if not 0 <= version < 1 << 64:
                raise ValueError(f"tree version must be a u64, not {version}")
            if version <= self._pruned_to:
                self._pruned_to = -1  # it adds a stale record or root at or below that floor
        items: list[_Item] = []
        for key, value in changes.items():
            # bytes (nearly every value) and None pass on one identity test each
            if type(value) is not bytes and value is not None:
                if not isinstance(value, bytes | bytearray):  # a subclass is converted
                    raise TypeError(f"tree values are bytes or None, not {type(value).__name__}")
                value = bytes(value)
            kh = _sha256(key).digest()
            items.append((kh.hex(), kh, value, None))
        # by the hex string alone (hex strings are unique): list.sort compares str keys with
        # its latin-1 fast path, where tuples cost a generic equality test per comparison
        items.sort(key=_by_hex)
        batch = Batch()
        # new nodes go straight into the batch (no second dict to copy them from); nothing
        # else enters it before the walk ends, and written keys are never deleted below
        self._written = ops = batch.ops
        self._dead = []
        self._trailer = U64.pack(version or 0)
        self.last_reads = 0
        try:
            if root == EMPTY_ROOT:
                new, _ = self._build(0, items)
            else:
                node = self._load(root)
                if type(node) is bytes:
                    new, _ = self._apply_leaf(root, node, 0, items)
                else:
                    new, _ = self._apply_internal(root, node, 0, items)  # type: ignore[arg-type]  # not bytes: internal node
            p = self._prefix
            self.last_writes = len(ops)
            # new nodes entered the cache as they were written, retired ones left it as they
            # were retired; a node written again at its place (a value set to what it was) is
            # never retired (_replace_leaf, _apply_leaf), so every retired node is gone
            gone = self._dead
            deletes = len(gone)
            if version is None:
                for h in gone:
                    ops[p + h] = None
            else:
                if gone:
                    ops[self._stale_prefix + U64.pack(version)] = b"".join(gone)
                ops[self._root_prefix + U64.pack(version)] = EMPTY_ROOT if new is None else new
            self.last_deletes = deletes
        finally:
            self._bound()  # a failed update's new nodes are cached too: harmless, but bounded
            self._written = {}
            self._dead = []
        return (EMPTY_ROOT if new is None else new), batch

    def _bound(self) -> None:
        """Keep the cache within its bound once an update added its new nodes (the next
        block starts from them)."""
        cache = self._cache
        excess = len(cache) - self._cache_nodes
        if excess > 0:
            # dicts keep insertion order: drop the oldest entries, plus some slack so that
            # eviction runs once per many updates rather than on every one
            for h in list(islice(cache, excess + self._cache_nodes // 8)):
                del cache[h]

    def _new_leaf(self, kh: bytes, value: bytes) -> bytes:
        tagged = _LEAF_TAG + kh  # the hash preimage and the stored form both start so
        h = _sha256(tagged + _sha256(value).digest()).digest()
        self._written[self._prefix + h] = tagged + value + self._trailer
        self._cache[h] = kh
        return h

    def _replace_leaf(self, h: bytes, kh: bytes, value: bytes | None) -> bytes | None:
        """The leaf `h` of key `kh` set to `value` (None: deleted). `h` is retired unless the
        new leaf is `h` itself (a value set to what it was): a retired node is a gone one."""
        new = None if value is None else self._new_leaf(kh, value)
        if new != h:
            self._dead.append(h)
            self._cache.pop(h, None)
        return new

    def _new_internal(self, children: list[bytes], leafmap: int, bitmap: int) -> bytes:
        """Hash, encode and record a new internal node (bitmap: its non-empty children)."""
        kids = tuple(children)  # the cached form, built first so the joins below share it
        body = b"".join(kids)
        h = _sha256(_INTERNAL_TAG + body).digest()
        if bitmap != _FULL:  # a full node stores all its children: the preimage's body
            pick = _PRESENT.get(bitmap)
            if pick is None:
                pick = _present(bitmap)
            body = b"".join(pick(kids))
        self._written[self._prefix + h] = (
            _internal_header(_INTERNAL, bitmap, leafmap) + body + self._trailer
        )
        self._cache[h] = (kids, leafmap, bitmap)
        return h

    def _build(self, depth: int, items: list[_Item]) -> tuple[bytes | None, bool]:
        """The subtree at `depth` holding exactly the live items (a fresh position)."""
        live = [it for it in items if it[2] is not None or it[3] is not None]
        if not live:
            return None, False
        if len(live) == 1:
            _, kh, value, existing = live[0]
            if existing is not None:
                return existing, True
            assert value is not None
            return self._new_leaf(kh, value), True
        children: list[bytes] = [EMPTY_ROOT] * 16
        leafmap = bitmap = 0
        for nib, group in _groups(live, depth):
            c, is_leaf = self._build(depth + 1, group)
            children[nib] = c  # type: ignore[assignment]  # 2+ live keys below: never None
            bitmap |= 1 << nib
            if is_leaf:
                leafmap |= 1 << nib
        return self._new_internal(children, leafmap, bitmap), False

    def _apply_leaf(
        self, h: bytes, kh0: bytes, depth: int, items: list[_Item]
    ) -> tuple[bytes | None, bool]:
        """Apply `items` to the position at `depth` that holds the single leaf `h` (key kh0)."""
        if len(items) == 1:  # the common case, kept off the general path
            _, kh, value, _ = items[0]
            if kh == kh0:
                new = self._replace_leaf(h, kh, value)
                return (None, False) if new is None else (new, True)
            if value is None:
                return h, True  # deleting an absent key
        elif any(it[1] == kh0 for it in items):
            self._cache.pop(h, None)  # this key is set or deleted: the old leaf goes
            built = self._build(depth, items)
            if h not in self._cache:  # unless the build wrote it again (set to what it was)
                self._dead.append(h)
            return built
        merged = sorted([*items, (kh0.hex(), kh0, None, h)])
        return self._build(depth, merged)

    def _apply_internal(
        self,
        h: bytes,
        node: tuple[tuple[bytes, ...], int, int],
        depth: int,
        items: list[_Item],
    ) -> tuple[bytes | None, bool]:
        """Apply `items` to the internal node `h` at `depth`: one rewrite for all of them."""
        children = list(node[0])  # the cached list is shared: never mutate it
        leafmap = node[1]
        bitmap = node[2]
        load = self._load
        cached = self._cache.get  # a cached node is truthy: `cached(c) or load(c)` saves a call
        new: bytes | None
        e = EMPTY_ROOT
        n = len(items)
        i = 0
        d1 = depth + 1
        changed = False
        while i < n:
            # the run of items sharing nibble `depth` (items are sorted by kh)
            first = items[i]
            ch = first[0][depth]
            j = i + 1
            while j < n and items[j][0][depth] == ch:
                j += 1
            nib = _HEX[ch]
            bit = 1 << nib
            c = children[nib]
            if j == i + 1:
                # one key below this child: by far the commonest case, kept inline
                _, kh, value, _ = first
                if c is e:
                    if value is None:
                        i = j
                        continue  # deleting an absent key
                    new, new_leaf = self._new_leaf(kh, value), True
                elif leafmap & bit:
                    kh0 = cached(c) or load(c)
                    if kh0 == kh:
                        new = self._replace_leaf(c, kh, value)
                        new_leaf = new is not None
                    elif value is None:
                        i = j
                        continue  # deleting an absent key
                    else:
                        new, new_leaf = self._apply_leaf(c, kh0, d1, [first])  # type: ignore[arg-type]  # leaf bit set: a key hash
                else:
                    new, new_leaf = self._apply_one(c, cached(c) or load(c), d1, first)  # type: ignore[arg-type]  # leaf bit clear: internal node
            else:
                group = items[i:j]
                if c is e:
                    new, new_leaf = self._build(d1, group)
                elif leafmap & bit:
                    new, new_leaf = self._apply_leaf(c, load(c), d1, group)  # type: ignore[arg-type]  # leaf bit set: a key hash
                else:
                    new, new_leaf = self._apply_internal(c, load(c), d1, group)  # type: ignore[arg-type]  # leaf bit clear: internal node
            i = j
            if new == c or (new is None and c is e):
                continue  # a value set to what it was, a delete of an absent key: no rewrite
            changed = True
            if new is None:
                children[nib] = e
                bitmap &= ~bit
            else:
                children[nib] = new
                bitmap |= bit
            if new_leaf:
                leafmap |= bit
            else:
                leafmap &= ~bit
        if not changed:
            return h, False
        return self._replace_internal(h, children, leafmap, bitmap)

    def _apply_one(
        self,
        h: bytes,
        node: tuple[tuple[bytes, ...], int, int],
        depth: int,
        item: _Item,
    ) -> tuple[bytes | None, bool]:
        """_apply_internal for a single item, the commonest call below the top levels.

        A set walks down to the key's position in a loop, then rewrites the path bottom up in
        a second one (no call, no result tuple per level): a set never empties a node nor
        leaves it a lone leaf, so above the bottom node only the on-path child changes. A
        delete, which may collapse nodes, takes the recursive `_delete_one`.
        """
        hx, kh, value, _ = item
        if value is None:
            return self._delete_one(h, node, depth, item)
        cache = self._cache
        cached = cache.get
        e = EMPTY_ROOT
        path: list[tuple[bytes, tuple[bytes, ...], int, int, int]] = []
        while True:
            children, leafmap, bitmap = node
            nib = _HEX[hx[depth]]
            bit = 1 << nib
            c = children[nib]
            if c is e:
                new = self._new_leaf(kh, value)
                bitmap |= bit
                leafmap |= bit
                break
            if leafmap & bit:
                kh0 = cached(c) or self._load(c)
                if kh0 == kh:
                    new = self._replace_leaf(c, kh, value)  # type: ignore[assignment]  # a set: never None
                    if new == c:
                        return path[0][0] if path else h, False  # set to what it was
                else:  # another key's leaf: both go below it, in a new internal node
                    new = self._apply_leaf(c, kh0, depth + 1, [item])[0]  # type: ignore[arg-type,assignment]  # leaf bit set: a key hash; 2 keys: never None
                    leafmap &= ~bit
                break
            path.append((h, children, leafmap, bitmap, nib))
            h = c
            node = cached(c) or self._load(c)  # type: ignore[assignment]  # leaf bit clear: internal node
            depth += 1
        # the bottom node, then its ancestors: each gets a new child hash, so a new hash
        dead = self._dead
        new_internal = self._new_internal
        while True:
            kids = list(children)
            kids[nib] = new
            new = new_internal(kids, leafmap, bitmap)  # a new hash: never the retired `h`
            dead.append(h)
            cache.pop(h, None)
            if not path:
                return new, False
            h, children, leafmap, bitmap, nib = path.pop()

    def _delete_one(self, h: bytes, node: _Internal, depth: int, item: _Item) -> _Applied:
        """_apply_one for a delete: a node may empty or collapse to its last leaf."""
        children, leafmap, bitmap = node
        kh = item[1]
        nib = _HEX[item[0][depth]]
        bit = 1 << nib
        c = children[nib]
        if c is EMPTY_ROOT:
            return h, False  # deleting an absent key
        if leafmap & bit:
            if (self._cache.get(c) or self._load(c)) != kh:
                return h, False  # deleting an absent key
            self._dead.append(c)
            self._cache.pop(c, None)
            new, new_leaf = None, False
        else:
            below = self._cache.get(c) or self._load(c)
            new, new_leaf = self._delete_one(c, below, depth + 1, item)  # type: ignore[arg-type]  # leaf bit clear: internal node
            if new == c:
                return h, False  # nothing deleted below
        kids = list(children)  # the cached tuple is shared: copy before changing
        if new is None:
            kids[nib] = EMPTY_ROOT
            bitmap &= ~bit
        else:
            kids[nib] = new
        if new_leaf:
            leafmap |= bit
        else:
            leafmap &= ~bit
        return self._replace_internal(h, kids, leafmap, bitmap)

    def _replace_internal(
        self, h: bytes, children: list[bytes], leafmap: int, bitmap: int
    ) -> tuple[bytes | None, bool]:
        """What internal node `h` becomes once its children changed: nothing (no child left),
        its only child when that is a leaf (leaves sit at the shallowest isolating level, which
        keeps the root independent of history), or a rewritten node. One place for that rule,
        shared by the batched and the single-key paths."""
        if not bitmap:
            self._dead.append(h)
            self._cache.pop(h, None)
            return None, False
        if not bitmap & (bitmap - 1) and leafmap & bitmap:
            self._dead.append(h)  # one leaf left: it moves up to this position
            self._cache.pop(h, None)
            return children[bitmap.bit_length() - 1], True
        new_h = self._new_internal(children, leafmap, bitmap)
        if new_h != h:
            self._dead.append(h)
            self._cache.pop(h, None)
        return new_h, False


def _groups(items: list[_Item], depth: int) -> list[tuple[int, list[_Item]]]:
    """Split items (sorted by kh) into runs sharing nibble `depth`, in nibble order."""
    if len(items) == 1:
        return [(_HEX[items[0][0][depth]], items)]
    out: list[tuple[int, list[_Item]]] = []
    cur = -1
    run: list[_Item] = []
    for it in items:
        nib = _HEX[it[0][depth]]
        if nib != cur:
            if run:
                out.append((cur, run))
            cur = nib
            run = []
        run.append(it)
    if run:
        out.append((cur, run))
    return out
