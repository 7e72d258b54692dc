"""CometBFT weighted round-robin proposer selection."""

from __future__ import annotations

from collections import Counter

import pytest
from cons_helpers import members, signers

from consensus.validators import Validator, ValidatorSet
from state.codec import DecodeError, encode

SS = signers(6)


def keys(n: int) -> list[bytes]:
    return [s.public_key for s in SS[:n]]


def sequence(vs: ValidatorSet, heights: int) -> list[bytes]:
    out = []
    for _ in range(heights):
        out.append(vs.proposer(0))
        vs = vs.next_height()
    return out


def test_equal_powers_rotate_in_key_order() -> None:
    vs = ValidatorSet.from_members(members(SS[:4]))
    seq = sequence(vs, 8)
    order = sorted(keys(4))
    assert seq == order + order  # ties broken by the smaller key, then each in turn


def test_rounds_rotate_within_a_height() -> None:
    vs = ValidatorSet.from_members(members(SS[:4]))
    order = sorted(keys(4))
    assert [vs.proposer(r) for r in range(4)] == order
    # the set is not mutated by asking
    assert vs.proposer(0) == order[0]
    # round r at height h is the same as round 0 after r height steps (equal powers)
    assert vs.proposer(2) == vs.next_height().next_height().proposer(0)


def test_weights_give_proportional_turns() -> None:
    vs = ValidatorSet.from_members(members(SS[:3], [1, 2, 5]))
    seq = sequence(vs, 80)
    counts = Counter(seq)
    assert counts[SS[0].public_key] == 10
    assert counts[SS[1].public_key] == 20
    assert counts[SS[2].public_key] == 50
    # the heaviest goes first: priorities 1, 2, 5 after the first increment
    assert seq[0] == SS[2].public_key


def test_known_cometbft_sequence() -> None:
    # p0:1, p1:2, p2:3 ordered by key; hand computed with the spec's algorithm
    ks = sorted(keys(3))
    by_key = {m.consensus_key: m for m in members(SS[:3], [1, 2, 3])}
    vals = [by_key[k] for k in ks]
    powers = {k: by_key[k].power for k in ks}
    vs = ValidatorSet.from_members(vals)
    # simulate by hand
    prio = {k: 0 for k in ks}
    expect = []
    for _ in range(12):
        for k in ks:
            prio[k] += powers[k]
        best = max(ks, key=lambda k: (prio[k], [-b for b in k]))
        prio[best] -= 6
        expect.append(best)
    assert sequence(vs, 12) == expect


def test_update_carries_priorities_and_places_newcomers_last() -> None:
    vs = ValidatorSet.from_members(members(SS[:4])).next_height()
    before = {v.consensus_key: v.priority for v in vs}
    new_members = members(SS[:4]) + members(SS[4:5])
    new_members[-1] = type(new_members[-1])(SS[4].public_key, 1, b"op", "new")
    up = vs.update(new_members)
    after = {v.consensus_key: v.priority for v in up}
    total = 5
    # newcomer starts at -1.125 * total, then everyone is re-centred by the same amount
    shift = after[SS[0].public_key] - before[SS[0].public_key]
    for k in keys(4):
        assert after[k] - before[k] == shift
    assert after[SS[4].public_key] - shift == -(total + (total >> 3))
    # the newcomer does not propose before every old member had a turn
    seq = sequence(up.next_height(), 4)
    assert SS[4].public_key not in seq


def test_update_removes_members() -> None:
    vs = ValidatorSet.from_members(members(SS[:4]))
    up = vs.update(members(SS[:3]))
    assert len(up) == 3
    assert SS[3].public_key not in up
    assert up.total_power == 3


def test_rescale_bounds_priority_spread() -> None:
    vs = ValidatorSet(
        [
            Validator(SS[0].public_key, 1, b"", "a", 10_000),
            Validator(SS[1].public_key, 1, b"", "b", -10_000),
        ]
    )
    nxt = vs.next_height()
    prios = [v.priority for v in nxt]
    assert max(prios) - min(prios) <= 2 * 2 + 2


def test_quorum_and_thresholds() -> None:
    vs = ValidatorSet.from_members(members(SS[:4]))
    assert vs.quorum == 3
    assert vs.has_quorum(3) and not vs.has_quorum(2)
    assert vs.has_one_third(2) and not vs.has_one_third(1)
    vs3 = ValidatorSet.from_members(members(SS[:3]))
    assert vs3.quorum == 3  # 2 of 3 is exactly 2/3: not enough


def test_encoding_round_trip_and_hash() -> None:
    vs = ValidatorSet.from_members(members(SS[:4], [1, 2, 3, 4])).next_height()
    again = ValidatorSet.from_bytes(vs.to_bytes())
    assert again == vs
    assert again.proposer(3) == vs.proposer(3)
    # the hash is about membership and power, not priorities
    assert vs.hash() == vs.next_height().hash()
    assert vs.hash() != ValidatorSet.from_members(members(SS[:4])).hash()
    for bad in (b"", encode({"validators": [], "proposer": None}), encode({"x": 1})):
        with pytest.raises(DecodeError):
            ValidatorSet.from_bytes(bad)


def test_invalid_sets_refused() -> None:
    with pytest.raises(ValueError):
        ValidatorSet([])
    with pytest.raises(ValueError):
        ValidatorSet([Validator(SS[0].public_key, 0, b"", "a")])
    with pytest.raises(ValueError):
        ValidatorSet([Validator(SS[0].public_key, 1, b"", "a")] * 2)
