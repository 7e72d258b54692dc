"""The execution fast paths of issue 15 item 3 keep what they replaced: the commit's merge of
pruning under the block's writes, the hot-path record constructors, the tree's encoding of a
node's present children, and the per-block caches (each must never serve stale data)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest
from test_machine import Harness, addr, ok

from state import keys as K
from state.chain import _OK_TAIL, _ok_head
from state.model import Account, Member, Pool
from state.store import Batch, MemoryStore
from state.tree import EMPTY_ROOT, StateTree, _decode_internal
from state.tx import Tx
from state.txindex import addresses, entry_key, index_batch


def test_a_block_write_wins_over_a_prune_delete_of_the_same_key_in_one_commit() -> None:
    hx = Harness()
    chain = hx.chain
    ex = hx.execute([])
    rewritten, pruned = b"t/" + b"\x01" * 32, b"t/" + b"\x02" * 32
    seed = Batch()
    seed.ops.update({rewritten: b"old", pruned: b"old"})
    hx.store.write(seed)
    ex.writes.ops[rewritten] = b"new"  # the block writes the node again ...
    before = dict(ex.writes.ops)
    prune = Batch()
    prune.ops.update({rewritten: None, pruned: None})  # ... that pruning deletes

    def fake_prune(floor: int, max_nodes: int) -> Batch:
        return prune

    chain.tree.prune = fake_prune  # type: ignore[method-assign]  # a prune with a known batch
    chain.commit(ex)
    assert hx.store.get(rewritten) == b"new"
    assert hx.store.get(pruned) is None
    assert ex.writes.ops == before, "the cached execution is left as it was"


@pytest.mark.parametrize(
    ("cls", "names"),
    [
        (Pool, ("id", "name", "balance", "params", "round", "liabilities")),
        (Member, ("pool", "address", "joined_at", "paid_through", "active_from", "left_at")),
    ],
)
def test_records_built_field_by_field_on_the_hot_path_have_the_fields_it_names(
    cls: Any, names: tuple[str, ...]
) -> None:
    # machine.add_to_pool and rules._pay call these constructors positionally with every
    # field (faster than dataclasses.replace): a new field must be added there too
    assert tuple(f.name for f in fields(cls)) == names


def test_pay_and_join_write_the_records_replace_would() -> None:
    hx = Harness()
    ok(hx.do("m1", "join", pool="med"))
    pool0 = hx.view.pool("med")
    m0 = hx.view.member("med", addr("m1"))
    ok(hx.do("m1", "pay", pool="med", amount=2 * pool0.params.contribution))
    m1 = hx.view.member("med", addr("m1"))
    assert m1 == Member(
        m0.pool,
        m0.address,
        m0.joined_at,
        m0.paid_through + 2 * pool0.params.period,
        m0.active_from,
        m0.left_at,
    )
    assert hx.view.pool("med").balance == pool0.balance + 2 * pool0.params.contribution


@pytest.mark.parametrize("bitmap", [0x0001, 0x8000, 0x0101, 0x7FFE, 0xFFFF, 0x1234])
def test_an_internal_node_stores_exactly_its_present_children_in_nibble_order(
    bitmap: int,
) -> None:
    tree = StateTree(MemoryStore())
    children = [EMPTY_ROOT] * 16
    for i in range(16):
        if bitmap >> i & 1:
            children[i] = bytes([i + 1]) * 32
    tree._trailer = b"\x00" * 8
    h = tree._new_internal(children, 0, bitmap)
    raw = tree._written[b"t/" + h]
    present = [c for c in children if c is not EMPTY_ROOT]
    assert raw == bytes([1]) + bitmap.to_bytes(2, "big") + b"\x00\x00" + b"".join(present) + (
        b"\x00" * 8
    )
    decoded, _, got_bitmap = _decode_internal(raw)
    assert list(decoded) == children and got_bitmap == bitmap


@pytest.mark.parametrize("height", [1, 127, 128, 255, 256, 65_535, 65_536, 2**32, 2**53 - 1])
def test_the_tx_index_record_of_an_accepted_tx_is_the_canonical_encoding(height: int) -> None:
    for i in (0, 1, 127, 128, 255, 256, 65_535, 65_536, 2**32 - 1):
        built = _ok_head(height) + K.pack(i) + _OK_TAIL
        assert built == K.pack({"code": 0, "height": height, "index": i, "log": ""})


def test_a_block_indexes_accepted_and_refused_txs_canonically() -> None:
    hx = Harness()
    txs = [
        hx.tx("m1", "transfer", to=addr("m2"), amount=1),
        hx.tx("m2", "transfer", to=addr("m1"), amount=10**15),  # refused: insufficient funds
        hx.tx("m3", "transfer", to=addr("m1"), amount=2),
    ]
    ex = hx.block(txs)
    assert [r.code for r in ex.results][1] != 0
    for i, (tx_hash, res) in enumerate(zip(ex.tx_hashes, ex.results, strict=True)):
        want = {"code": int(res.code), "height": ex.height, "index": i, "log": res.log}
        assert hx.store.get(b"x/" + tx_hash) == K.pack(want)


@pytest.mark.parametrize("height", [1, 255, 2**32 + 7])
def test_the_account_history_entries_are_at_entry_key(height: int) -> None:
    hx = Harness()
    txs = [
        hx.tx("m1", "transfer", to=addr("m2"), amount=1),
        hx.tx("m2", "transfer", to=addr("m2"), amount=1),  # to oneself: one entry
        hx.tx("m3", "join", pool="med"),
    ]
    hashes = [t.hash for t in txs]
    wires = [t.wire for t in txs]
    got = index_batch(height, wires, hashes).ops
    want = {
        entry_key(a, height, i): t.hash
        for i, t in enumerate(txs)
        for a in addresses(t.sender, t.payload)
    }
    assert got == want and len(want) == 4
    # the commit's path: the Execution's decoded transactions, nothing decoded again
    assert index_batch(height, wires, hashes, txs).ops == want


def test_the_shared_packer_encodes_as_packb_and_an_error_leaves_no_residue() -> None:
    import msgpack

    from state.model import Account

    value = {"balance": 2**40, "kyc": False, "nonce": 3}
    assert K.pack(value) == msgpack.packb(value, use_bin_type=True)
    with pytest.raises(TypeError):
        K.pack({"a": [1, object()]})  # fails after "a" was packed into the shared buffer
    assert K.pack(value) == msgpack.packb(value, use_bin_type=True)
    assert K.encode_value(Account(5, 1, True)) == msgpack.packb(
        {"balance": 5, "kyc": True, "nonce": 1}, use_bin_type=True
    )


@pytest.mark.parametrize("cls", [Account, Member, Pool, Tx])
def test_the_hot_records_keep_their_dataclass_constructor(cls: Any) -> None:
    """Their __init__ stores through the slots (state.model.slot_init): same signature,
    defaults, equality and frozenness as the dataclass's own."""
    import dataclasses

    names = [f.name for f in fields(cls)]
    required = [f.name for f in fields(cls) if f.default is dataclasses.MISSING]
    sample = {"balance": 7, "nonce": 3, "kyc": True, "id": "p", "name": "P", "params": None}
    sample |= {"pool": "p", "address": b"\x01" * 32, "joined_at": 1, "paid_through": 9}
    sample |= {"active_from": 2, "left_at": 5, "round": 4, "liabilities": 6}
    sample |= {"chain_id": "c", "type": "transfer", "sender": b"\x02" * 32, "fee": 1}
    sample |= {"payload": {"amount": 1}, "sig": b"\x03" * 64, "wire": b"w", "hash": b"h"}
    values = [sample[n] for n in names]
    by_position, by_name = cls(*values), cls(**dict(zip(names, values, strict=True)))
    assert by_position == by_name and hash(by_position) == hash(by_name)
    assert [getattr(by_position, n) for n in names] == values
    least = cls(*values[: len(required)])
    assert all(getattr(least, f.name) == f.default for f in fields(cls)[len(required) :])
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(by_position, names[0], values[0])
    with pytest.raises(TypeError):
        cls(*values, 0)
    with pytest.raises(TypeError):
        cls(nope=1)  # an unknown field, or the required ones missing
    assert dataclasses.replace(by_position, **{names[-1]: values[-1]}) == by_position


def _claim(**changes: Any) -> Any:
    """A claim with no field at its default (so a field out of place would show)."""
    from state.model import Attestation, Claim

    values: dict[str, Any] = {
        "id": b"\x01" * 32, "pool": "p", "claimant": b"\x02" * 32, "amount": 500,
        "evidence": b"\x03" * 32, "opened_at": 4, "closes_at": 40, "votes_for": 3,
        "votes_against": 2, "voters": ((b"\x04" * 32, True), (b"\x05" * 32, False)),
        "status": "approved", "payable_at": 50, "bond": 9, "index": 7, "terms": {"quorum": 3},
        "stage": "attestation", "attest_for": 1, "attest_against": 6,
        "attestations": (Attestation(b"\x06" * 32, True, "seen"),),
        "objections": (b"\x07" * 32,), "objected": True,
    }  # fmt: skip
    return Claim(**(values | changes))


def test_a_claim_keeps_its_dataclass_constructor() -> None:
    """Claim's __init__ stores through its slots (slot_init, which now calls a
    default_factory when its argument is left out): same fields by position and by name,
    defaults, a fresh `terms` dict per claim, frozenness."""
    import dataclasses

    from state.model import Claim

    by_name = _claim()
    values = [getattr(by_name, f.name) for f in fields(Claim)]
    assert Claim(*values) == by_name
    least = Claim(*values[:7])
    assert least.terms == {} and least.terms is not Claim(*values[:7]).terms
    for f in fields(Claim)[7:]:
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]  # one of the two is set
        assert getattr(least, f.name) == default
    assert Claim(*values[:14], terms=by_name.terms).terms is by_name.terms
    with pytest.raises(dataclasses.FrozenInstanceError):
        by_name.votes_for = 0  # type: ignore[misc]  # frozen: the point
    with pytest.raises(TypeError):
        Claim(*values, 0)
    with pytest.raises(TypeError):
        Claim(nope=1)  # type: ignore[call-arg]  # an unknown field


@pytest.mark.parametrize("approve", [True, False])
def test_a_vote_gives_the_claim_replace_gave(approve: bool) -> None:
    """Claim.with_vote (the vote rule's constructor call) equals the dataclasses.replace it
    replaced, every other field carried over as it was."""
    import dataclasses

    c = _claim()
    voter = b"\x08" * 32
    want = dataclasses.replace(
        c,
        votes_for=c.votes_for + (1 if approve else 0),
        votes_against=c.votes_against + (0 if approve else 1),
        voters=(*c.voters, (voter, approve)),
    )
    got = c.with_vote(voter, approve)
    assert got == want
    assert all(getattr(got, f.name) == getattr(want, f.name) for f in fields(got))


def test_an_account_encodes_from_its_parts_as_packing_its_map() -> None:
    """K.encode_value joins an Account's bytes from fixed parts: the same bytes as packing
    to_state() at every msgpack int width (fixint, uint8..uint64) and both kyc values."""
    import msgpack

    from state.model import Account

    edges = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2**32 - 1, 2**32, 2**53 - 1, 2**64 - 1]
    for balance in edges:
        for nonce in (0, 127, 128, 2**32, 2**53 - 1):
            for kyc in (False, True):
                a = Account(balance, nonce, kyc)
                want = msgpack.packb(a.to_state(), use_bin_type=True)
                assert K.encode_value(a) == want
                assert K.decode_value(K.ACCOUNT + b"\x01" * 32, want) == a


def test_a_key_created_and_removed_within_a_block_reads_absent_after_commit() -> None:
    """finish hands its overlay over as the Execution's objects: a key put and deleted in one
    block is no tree change and no store write, and the chain's record cache reads it absent."""
    from state.machine import BlockExecutor

    chain = Harness().chain
    executor = BlockExecutor(chain._committed, chain.chain_id, chain.params, 1)
    gone, kept = K.account_key(addr("ghost")), K.account_key(addr("m7"))
    executor.put(gone, Account(5, 0, False))
    executor.delete(gone)
    executor.put(kept, Account(9, 0, False))
    root, batch, objects = executor.finish(StateTree(MemoryStore()), EMPTY_ROOT)
    assert objects == {gone: None, kept: Account(9, 0, False)}
    assert gone not in batch.ops and kept in batch.ops
    chain._committed.refresh(objects)  # what Chain.commit does with them
    assert chain._committed.get(gone) is None and chain.store.get(gone) is None


def test_a_claim_with_many_voters_encodes_as_packing_its_map() -> None:
    """K.encode_value packs a long voters list from the claim's previous encoding plus its
    new voters: the same bytes as packing to_state() at the array header's widths (16-bit
    from 16 entries, 32-bit from 65,536), from a first encode, a vote at a time, and when
    the remembered entry is no prefix of the claim's voters (another claim's, or stale)."""
    import msgpack

    def voter(i: int) -> tuple[bytes, bool]:
        return (i.to_bytes(32, "big"), i % 3 != 0)

    def check(c: Any) -> None:
        assert K.encode_value(c) == msgpack.packb(c.to_state(), use_bin_type=True)
        assert K.decode_value(K.CLAIM + c.id, K.encode_value(c)) == c

    for n in (0, 15, 16, 63, 64, 65, 1000, 65_535, 65_536):
        c = _claim(voters=tuple(voter(i) for i in range(n)))
        check(c)
        for i in range(n, n + 3):
            c = c.with_vote(*voter(i))
            check(c)
    c = _claim(voters=tuple(voter(i) for i in range(100)))
    check(c)
    check(_claim(voters=tuple(voter(i) for i in range(1, 101))))  # same id, other voters
    check(_claim(voters=tuple(voter(i) for i in range(99))))  # fewer than remembered
    check(_claim(votes_for=2**40, voters=c.voters))  # a wider int after the voters


def test_a_claim_voter_the_fast_encoding_cannot_write_takes_the_generic_path() -> None:
    """A voter that is not a 32-byte address and a bool (no rule writes one) is packed as
    to_state() packs it, never with the fixed 32-byte entry; the remembered claims are
    bounded."""
    import msgpack

    voters = tuple((i.to_bytes(32, "big"), True) for i in range(100))
    for odd in ((b"\x01" * 31, True), (b"\x01" * 32, 1), ("ab" * 16, False)):
        c = _claim(voters=(*voters, odd))
        assert K.encode_value(c) == msgpack.packb(c.to_state(), use_bin_type=True)
    for i in range(K._VOTERS_MAX + 5):
        K.encode_value(_claim(id=i.to_bytes(32, "big"), voters=voters))
        assert len(K._VOTERS) <= K._VOTERS_MAX
