"""Durability where a test can fail: spies on what reaches LevelDB and on fsync.

A process killed after a write keeps the kernel's page cache, so "the data is there after
os._exit" passes without any sync at all. These tests instead watch the calls: every block
(state, block, commit) must reach LevelDB in a batch written with sync=True, the signing
record must be written with sync=True before the message it guards is broadcast, and a new
key file must be fsynced together with its directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import plyvel
import pytest
from test_runtime import make_home, transfer, wait_height

from consensus.actions import Broadcast
from consensus.replica import KEY_BLOCK, KEY_COMMIT, KEY_LAST_SIGNED, KEY_LOCK
from node.durable import write_durably
from node.keys import KeyFileError, load_key, write_key
from node.runtime import Node
from state.chain import META_HEIGHT
from state.crypto import Signer, sha256

REAL_DB = plyvel.DB


class SpyBatch:
    """A LevelDB write batch that records its keys and the sync flag it was opened with."""

    def __init__(self, real: Any, log: list[tuple[str, bool, list[bytes]]], sync: bool) -> None:
        self._real = real
        self._log = log
        self._sync = sync
        self._keys: list[bytes] = []

    def put(self, k: bytes, v: bytes) -> None:
        self._keys.append(k)
        self._real.put(k, v)

    def delete(self, k: bytes) -> None:
        self._keys.append(k)
        self._real.delete(k)

    def __enter__(self) -> SpyBatch:
        self._real.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        out = self._real.__exit__(*exc)
        if exc[0] is None:
            self._log.append(("batch", self._sync, self._keys))
        return out


class SpyDB:
    """plyvel.DB as the store sees it, with every write recorded in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._db = REAL_DB(*args, **kwargs)
        self.log: list[tuple[str, bool, list[bytes]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    def put(self, key: bytes, value: bytes, *, sync: bool = False) -> None:
        self._db.put(key, value, sync=sync)
        self.log.append(("put", sync, [key]))

    def delete(self, key: bytes, *, sync: bool = False) -> None:
        self._db.delete(key, sync=sync)
        self.log.append(("delete", sync, [key]))

    def write_batch(self, *, transaction: bool = False, sync: bool = False) -> SpyBatch:
        return SpyBatch(self._db.write_batch(transaction=transaction, sync=sync), self.log, sync)


async def test_every_block_and_signing_record_reaches_leveldb_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dbs: list[SpyDB] = []

    def spy_db(*args: Any, **kwargs: Any) -> SpyDB:
        dbs.append(SpyDB(*args, **kwargs))
        return dbs[-1]

    monkeypatch.setattr(plyvel, "DB", spy_db)
    node = Node(make_home(tmp_path))
    await node.start()
    events: list[str] = []
    db = dbs[0]
    real_act = node._act

    def act(a: Any) -> None:  # the order of broadcasts against the writes before them
        if isinstance(a, Broadcast):
            events.append(f"broadcast@{len(db.log)}")
        real_act(a)

    node._act = act  # type: ignore[method-assign]  # the spy on the runtime's actions
    try:
        r = await node.service.broadcast_tx(transfer(0), "commit", timeout=30)
        assert r["code"] == 0
        await wait_height(node, r["height"] + 2)
    finally:
        await node.stop()
    heights = [
        (sync, keys) for kind, sync, keys in db.log if kind == "batch" and META_HEIGHT in keys
    ]
    assert len(heights) >= 4  # genesis and three blocks at least
    assert all(sync for sync, _ in heights), "a block's state was written without sync"
    block_writes = [
        sync
        for _, sync, keys in db.log
        if any(k.startswith(KEY_BLOCK) or k.startswith(KEY_COMMIT) for k in keys)
    ]
    assert block_writes and all(block_writes), "a block or commit was written without sync"
    signing = [(i, sync) for i, (_, sync, keys) in enumerate(db.log) if KEY_LAST_SIGNED in keys]
    assert signing and all(sync for _, sync in signing), "the signing record was not synced"
    assert all(sync for _, sync, keys in db.log if KEY_LOCK in keys)
    # every broadcast (our signed votes and proposals) follows a synced signing record
    first_signed = signing[0][0]
    assert events and all(int(e.split("@")[1]) > first_signed for e in events)


def test_a_new_key_file_and_its_directory_are_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[tuple[bool, int]] = []  # (is a directory, inode)
    real = os.fsync

    def spy(fd: int) -> None:
        st = os.fstat(fd)
        synced.append((stat.S_ISDIR(st.st_mode), st.st_ino))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    path = tmp_path / "keys" / "node_key.json"
    path.parent.mkdir()
    signer = Signer(sha256(b"durable key"))
    write_key(path, signer)
    assert (False, path.stat().st_ino) in synced
    assert (True, path.parent.stat().st_ino) in synced
    # the file came first, its directory entry after
    assert synced.index((False, path.stat().st_ino)) < synced.index(
        (True, path.parent.stat().st_ino)
    )
    assert load_key(path).public_key == signer.public_key


def test_a_key_file_whose_directory_cannot_be_synced_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.fsync

    def failing_on_dirs(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fsync", failing_on_dirs)
    with pytest.raises(KeyFileError, match="cannot sync"):
        write_key(tmp_path / "k.json", Signer(sha256(b"k")))


def test_write_durably_replaces_atomically_and_syncs_file_then_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "config.toml"
    target.write_text("old\n")
    order: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        order.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    def replace(a: Any, b: Any) -> None:
        assert Path(b).read_text() == "old\n"  # until the rename, the old content stands
        order.append("rename")
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_durably(target, b"new\n", mode=0o600)
    assert order == ["file", "rename", "dir"]
    assert target.read_text() == "new\n" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]  # no temporary left


def test_spy_db_sees_what_the_store_is_asked(tmp_path: Path) -> None:
    """The spy itself: an unsynced write is recorded as unsynced (else the checks above could
    not fail)."""
    from state.store import Batch, LevelDBStore

    spy = SpyDB(str(tmp_path / "db"), create_if_missing=True)
    s = LevelDBStore.__new__(LevelDBStore)
    s._db = spy  # type: ignore[assignment]  # the spy in place of plyvel.DB
    b = Batch()
    b.put(META_HEIGHT, b"\x01")
    s.write(b, sync=False)
    s.put(KEY_LAST_SIGNED, b"x", sync=False)
    assert spy.log == [("batch", False, [META_HEIGHT]), ("put", False, [KEY_LAST_SIGNED])]
    s.close()
