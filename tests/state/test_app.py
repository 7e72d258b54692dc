"""ChainApp: the consensus Application over a Chain (prepare / validate / commit)."""

from __future__ import annotations

from dataclasses import dataclass

from test_machine import Harness, addr

from state.app import ChainApp
from state.chain import Chain
from state.store import Batch


@dataclass(frozen=True)
class ForeignEvidence:
    """Evidence as consensus hands it over: another class with the same attributes."""

    validator: bytes
    height: int
    round: int
    vote_type: int
    id: bytes


class Source:
    """A tx source that records what it was asked for."""

    def __init__(self, txs: list[bytes]) -> None:
        self.txs = txs
        self.asked: list[tuple[int, int]] = []

    def __call__(self, max_txs: int, max_bytes: int) -> list[bytes]:
        self.asked.append((max_txs, max_bytes))
        return list(self.txs)


class CountingChain:
    """Wraps a chain to count executions."""

    def __init__(self, chain: Chain) -> None:
        self._chain = chain
        self.executions = 0

    def execute(self, *args: object, **kw: object) -> object:
        self.executions += 1
        return self._chain.execute(*args, **kw)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._chain, name)


def two_nodes() -> tuple[Harness, Harness]:
    return Harness(), Harness()


def test_prepare_drops_invalid_and_peer_validates_and_commits() -> None:
    a, b = two_nodes()
    good = a.tx("m0", "transfer", to=addr("m1"), amount=5, nonce=0)
    gap = a.tx("m1", "transfer", to=addr("m2"), amount=5, nonce=3)
    src = Source([good.wire, gap.wire, b"junk"])
    app_a = ChainApp(a.chain, src)
    txs, root = app_a.prepare(1, 1000, addr("val0"), [])
    assert txs == [good.wire]
    assert src.asked == [(5000, app_a.max_block_bytes)]
    app_b = ChainApp(b.chain, Source([]))
    assert app_b.validate(1, 1000, addr("val0"), txs, [], root)
    assert not app_b.validate(1, 1000, addr("val0"), txs, [], b"\x00" * 32)
    assert not app_b.validate(1, 1000, addr("val0"), [good.wire, gap.wire], [], root)
    for app in (app_a, app_b):
        extra = Batch()
        extra.put(b"B/b/1", b"block")
        app.commit(1, 1000, addr("val0"), txs, [], root, extra)
        assert app.last_height() == 1 and app.state_root() == root
        assert app.chain.store.get(b"B/b/1") == b"block"
    assert a.balance("m1") == b.balance("m1") == 1_000_005
    assert app_a.genesis_hash() == a.genesis.hash()
    assert app_a.validators(3) == a.chain.validators(1)


def test_commit_reuses_cached_execution_and_reexecutes_on_miss() -> None:
    a, b = two_nodes()
    t = a.tx("m0", "join", pool="med", nonce=0)
    counting = CountingChain(a.chain)
    app = ChainApp(counting, Source([t.wire]))  # type: ignore[arg-type]
    txs, root = app.prepare(1, 1000, addr("val0"), [])
    assert app.validate(1, 1000, addr("val0"), txs, [], root)
    app.commit(1, 1000, addr("val0"), txs, [], root, Batch())
    assert counting.executions == 1
    assert app.executions == 1  # the public count PacedApp reads: validate and commit hit
    other = ChainApp(b.chain, Source([]))
    seen = []
    other.on_commit = seen.append
    ex = other.commit(1, 1000, addr("val0"), txs, [], root, Batch())  # never validated
    assert b.chain.state_root == root and seen == [ex]


def test_different_time_or_evidence_is_a_different_block() -> None:
    a, _ = two_nodes()
    counting = CountingChain(a.chain)
    app = ChainApp(counting, Source([]))  # type: ignore[arg-type]
    _, root = app.prepare(1, 1000, addr("val0"), [])
    ev = ForeignEvidence(addr("val1"), 1, 0, 2, b"\x05" * 32)
    assert not app.validate(1, 1000, addr("val0"), [], [ev], root)  # evidence changes state
    assert app.validate(1, 2000, addr("val0"), [], [], root)
    assert counting.executions == 3
    assert app.executions == 3  # each miss counts, a refused root included
    txs, root_ev = app.prepare(1, 1000, addr("val0"), [ev])
    app.commit(1, 1000, addr("val0"), txs, [ev], root_ev, Batch())
    assert [v.operator for v in a.chain.validators(3)] == [addr(f"op{i}") for i in (0, 2, 3)]


def test_invalid_block_is_refused_not_raised() -> None:
    a, _ = two_nodes()
    app = ChainApp(a.chain, Source([]))
    assert not app.validate(1, 1000, addr("val0"), [b"\x01\x02"], [], a.chain.state_root)
    assert not app.validate(7, 1000, addr("val0"), [], [], a.chain.state_root)
    assert app.executions == 0  # an execution that raised is not a sample of its cost


def test_cache_matches_the_block_by_content_not_by_object() -> None:
    """A proposal decoded from the wire carries other bytes objects (and maybe a tuple): still
    the cached execution; any other transaction list, order or proposer is another block."""
    a, _ = two_nodes()
    t0 = a.tx("m0", "transfer", to=addr("m1"), amount=5, nonce=0)
    t1 = a.tx("m1", "transfer", to=addr("m2"), amount=5, nonce=0)
    counting = CountingChain(a.chain)
    app = ChainApp(counting, Source([t0.wire, t1.wire]))  # type: ignore[arg-type]
    txs, root = app.prepare(1, 1000, addr("val0"), [])
    copies = tuple(bytes(bytearray(w)) for w in txs)
    assert all(c is not w for c, w in zip(copies, txs, strict=True))
    assert app.validate(1, 1000, bytes(bytearray(addr("val0"))), copies, [], root)
    assert counting.executions == 1  # a hit
    # each of these is executed (whatever it answers): the reordered, the shorter, the other
    # proposer's block
    app.validate(1, 1000, addr("val0"), txs[::-1], [], root)
    assert not app.validate(1, 1000, addr("val0"), txs[:1], [], root)
    app.validate(1, 1000, addr("val1"), txs, [], root)
    assert counting.executions == 4
    app.commit(1, 1000, addr("val0"), list(copies), [], root, Batch())
    assert counting.executions == 4 and a.chain.state_root == root
