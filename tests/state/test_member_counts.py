"""Member counts kept, not scanned (issue 10 item 7): after every block of a random sequence of
join/pay/leave and time passing, the kept counts (the `pool` RPC's `members`, the electorate
a `propose` records) equal a full scan of every member's status, pool and chain scope."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_machine import Harness, ok

from state import keys as K
from state.model import ACTIVE, MEMBER_STATUSES, member_status

POOLS = ("med", "dental")
WHO = ("m0", "m1", "m2", "m3")
#: short periods so that lapses (paid_through + 1) and activations happen within a few blocks
PARAMS = {"period": 3, "waiting_period": 2, "contribution": 100, "entry_fee": 10}
TEXT = b"\x05" * 32
NONE = dict.fromkeys(MEMBER_STATUSES, 0)


#: a third pool whose members lapse before their waiting period ends unless they pay
SLOW = {**PARAMS, "waiting_period": 4}


def harness(slow: bool = False) -> Harness:
    pools = [{"id": p, "name": p, "params": PARAMS} for p in POOLS]
    if slow:
        pools.append({"id": "slow", "name": "slow", "params": SLOW})
    return Harness(pools=pools)


def scan(hx: Harness, pools: tuple[str, ...] = POOLS) -> tuple[dict[str, dict[str, int]], int]:
    """Per pool the members in each status at the committed height, and the distinct
    accounts active in some pool: by decoding every member record."""
    h = hx.h
    per_pool: dict[str, dict[str, int]] = {}
    active: set[bytes] = set()
    for pool in pools:
        counts = dict.fromkeys(MEMBER_STATUSES, 0)
        for k, raw in hx.store.iterate(K.member_prefix(pool)):
            m = K.decode_value(k, raw)
            s = member_status(m.active_from, m.paid_through, m.left_at, h)
            counts[s] += 1
            if s == ACTIVE:
                active.add(m.address)
        per_pool[pool] = counts
    return per_pool, len(active)


def kept(hx: Harness, pools: tuple[str, ...] = POOLS) -> tuple[dict[str, dict[str, int]], int]:
    raw = hx.store.get(K.CHAIN_ACTIVE)
    chain = 0 if raw is None else K.unpack(raw)
    return {p: hx.view.pool_member_counts(p) for p in pools}, chain


def assert_counts(hx: Harness, pools: tuple[str, ...] = POOLS) -> None:
    assert kept(hx, pools) == scan(hx, pools), f"at height {hx.h}"


ALL = (*POOLS, "slow")
op = st.one_of(
    st.tuples(st.just("join"), st.sampled_from(WHO), st.sampled_from(ALL), st.just(0)),
    st.tuples(st.just("pay"), st.sampled_from(WHO), st.sampled_from(ALL), st.integers(1, 2)),
    st.tuples(st.just("leave"), st.sampled_from(WHO), st.sampled_from(ALL), st.just(0)),
    st.tuples(st.just("wait"), st.just(""), st.just(""), st.integers(1, 4)),
)
#: a block is a few operations; "wait" ends the block and adds empty blocks
blocks = st.lists(st.lists(op, min_size=1, max_size=4), min_size=1, max_size=14)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks)
def test_kept_counts_equal_a_scan_after_every_block(
    seq: list[list[tuple[str, str, str, int]]],
) -> None:
    hx = harness(slow=True)
    for ops in seq:
        txs = []
        waits = 0
        for kind, who, pool, n in ops:
            if kind == "wait":
                waits += n
            elif kind == "pay":
                txs.append(hx.tx(who, "pay", pool=pool, amount=100 * n))
            else:
                txs.append(hx.tx(who, kind, pool=pool))
        hx.block(txs)
        assert_counts(hx, ALL)
        for _ in range(waits):
            hx.block()
            assert_counts(hx, ALL)


def test_two_pools_lapse_and_rejoin_after_leave() -> None:
    hx = harness()
    ok(hx.do("m0", "join", pool="med"))  # 1: active 3..3
    res = hx.block([hx.tx("m0", "join", pool="dental"), hx.tx("m0", "pay", pool="med", amount=100)])
    for r in res.results:  # 2: med now through 6; dental active 4..4
        ok(r)
    hx.advance_to(4)
    assert_counts(hx)
    assert kept(hx) == ({"med": {**NONE, "active": 1}, "dental": {**NONE, "active": 1}}, 1)
    hx.block()  # 5: dental lapses at paid_through + 1; still active in med
    assert kept(hx) == ({"med": {**NONE, "active": 1}, "dental": {**NONE, "lapsed": 1}}, 1)
    hx.advance_to(7)  # med lapses too
    assert kept(hx) == ({"med": {**NONE, "lapsed": 1}, "dental": {**NONE, "lapsed": 1}}, 0)
    ok(hx.do("m0", "join", pool="med"))  # 8: a lapsed member joins again, waiting to 10
    assert kept(hx)[0]["med"] == {**NONE, "waiting": 1}
    hx.advance_to(9)
    ok(hx.do("m0", "leave", pool="med"))  # 10: active, then left in the same block
    assert kept(hx) == ({"med": {**NONE, "left": 1}, "dental": {**NONE, "lapsed": 1}}, 0)
    ok(hx.do("m0", "join", pool="med"))  # 11: rejoin after leave
    assert kept(hx)[0]["med"] == {**NONE, "waiting": 1}
    hx.advance_to(13)
    assert kept(hx) == ({"med": {**NONE, "active": 1}, "dental": {**NONE, "lapsed": 1}}, 1)
    assert_counts(hx)


def test_propose_reads_the_kept_electorate_after_a_leave_in_its_block() -> None:
    hx = harness()
    joins = [hx.tx(w, "join", pool="med") for w in WHO] + [hx.tx("m0", "join", pool="dental")]
    for r in hx.block(joins).results:  # 1: all active 3..3
        ok(r)
    hx.advance_to(2)
    pays = [hx.tx(w, "pay", pool="med", amount=100) for w in ("m0", "m1")]
    for r in hx.block(pays).results:  # 3: m0, m1 now through 6
        ok(r)
    assert kept(hx)[0]["med"] == {**NONE, "active": 4}
    leave = hx.tx("m1", "leave", pool="med")
    prop = hx.tx("m0", "propose", scope="med", changes={"max_claim": 7}, title="t", text_hash=TEXT)
    chain = hx.tx("m0", "propose", scope="chain", changes={"min_fee": 2}, title="t", text_hash=TEXT)
    for r in hx.block([leave, prop, chain]).results:  # 4: m2, m3 lapse, m1 leaves
        ok(r)
    assert hx.view.proposal(prop.hash).electorate == 1
    assert hx.view.proposal(chain.hash).electorate == 1  # m0: lapsed in dental, active in med
    assert kept(hx)[0]["med"] == {"waiting": 0, "active": 1, "lapsed": 2, "left": 1}
    assert_counts(hx)
