"""The account-history index behind the `txs` RPC (PROTOCOL.md section 12).

For every committed transaction, one entry per address it concerns: its sender and the
addresses its payload names in a `to` or `account` field. The key is
``X/ + address + be64(height) + be32(index)`` and the value the transaction's hash, so the
byte order of an address's keys is (height, index) order and the newest-first answer is a
reverse range read, never a sort. The entries are written in the block's own atomic batch
(`index_batch`, added by `state.app.ChainApp.commit`), so the index holds exactly the
committed blocks, through crashes and restarts. It is not part of the state root: it is a
node-local read index like the `x/` hash index.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from state import keys as K
from state.store import Batch, KVStore
from state.tx import Tx

__all__ = [
    "MAX_INDEX",
    "NAMING_FIELDS",
    "PREFIX",
    "HistoryEntry",
    "addresses",
    "entry_key",
    "history",
    "index_batch",
]

PREFIX = b"X/"
#: the payload fields whose address a transaction is listed under besides its sender's
NAMING_FIELDS = ("to", "account")
ADDRESS_LEN = 32
MAX_INDEX = 2**32 - 1  # a position in a block is a be32


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One transaction in an address's history: where it landed and its hash."""

    height: int
    index: int
    hash: bytes


def entry_key(address: bytes, height: int, index: int) -> bytes:
    return PREFIX + address + K.be64(height) + index.to_bytes(4, "big")


def addresses(sender: bytes, payload: dict[str, Any]) -> list[bytes]:
    """The addresses a transaction is listed under: the sender, then each naming field's
    address, each once (a transfer to oneself is one entry). index_batch's path for decoded
    transactions writes the same entries inline (tests/state/test_exec_fastpaths.py holds
    them equal)."""
    out = [sender]
    for name in NAMING_FIELDS:
        v = payload.get(name)
        if type(v) is bytes and len(v) == ADDRESS_LEN and v not in out:
            out.append(v)
    return out


def _sender_and_payload(wire: bytes) -> tuple[bytes, dict[str, Any]]:
    # Committed bytes were fully checked by execution: a trusted decode is enough here.
    body = K.unpack(wire)["body"]
    return body["sender"], body["payload"]


def index_batch(
    height: int,
    txs: Sequence[bytes],
    tx_hashes: Sequence[bytes],
    decoded: Sequence[Tx] | None = None,
) -> Batch:
    """The index entries of a committed block, for its atomic batch.

    `decoded` may give the block's transactions already decoded (the Execution's, in the
    order of `txs`): then no wire is decoded or hashed again."""
    batch = Batch()
    ops = batch.ops
    hb = K.be64(height)  # entry_key's middle part, the same for the whole block
    if decoded is None:
        for i, (wire, tx_hash) in enumerate(zip(txs, tx_hashes, strict=True)):
            sender, payload = _sender_and_payload(wire)
            tail = hb + i.to_bytes(4, "big")
            for addr in addresses(sender, payload):
                ops[PREFIX + addr + tail] = tx_hash
        return batch
    # the same entries as `addresses` gives, inline (a node's path, every transaction): an
    # address named twice writes its one key twice with the same value, so no dedup is needed
    for i, (tx, tx_hash) in enumerate(zip(decoded, tx_hashes, strict=True)):
        tail = hb + i.to_bytes(4, "big")
        ops[PREFIX + tx.sender + tail] = tx_hash
        payload = tx.payload
        for name in NAMING_FIELDS:
            v = payload.get(name)
            if type(v) is bytes and len(v) == ADDRESS_LEN:
                ops[PREFIX + v + tail] = tx_hash
    return batch


def history(
    store: KVStore,
    address: bytes,
    limit: int,
    before: tuple[int, int] | None = None,
) -> list[HistoryEntry]:
    """At most `limit` entries of `address`, newest first, strictly before `before`
    ((height, index)) when given."""
    return list(_walk(store, address, limit, before))


def _walk(
    store: KVStore, address: bytes, limit: int, before: tuple[int, int] | None
) -> Iterator[HistoryEntry]:
    if limit <= 0:
        return
    prefix = PREFIX + address
    start = None
    if before is not None:
        height, index = before
        if height < 0 or index < 0:
            return
        # the cursor is exclusive: start at it and skip it
        start = entry_key(address, min(height, 2**64 - 1), min(index, MAX_INDEX))
    n = 0
    for key, value in store.iterate(prefix, start=start, reverse=True):
        if key == start:
            continue
        pos = len(prefix)
        yield HistoryEntry(
            K.from_be64(key[pos : pos + 8]), int.from_bytes(key[pos + 8 : pos + 12], "big"), value
        )
        n += 1
        if n >= limit:
            return
