"""RecentSet: the bound the mempool's caches and the gossip's per-peer seen sets rely on."""

import pytest

from state.recent import RecentSet


def test_holds_at_most_limit_forgetting_the_oldest() -> None:
    r: RecentSet[int] = RecentSet(3)
    for k in range(5):
        r.add(k)
    assert list(r) == [2, 3, 4] and len(r) == 3
    assert 1 not in r and 2 in r


def test_touching_a_member_makes_it_the_newest() -> None:
    r: RecentSet[str] = RecentSet(2)
    r.add("a")
    r.add("b")
    r.add("a")  # now b is the oldest
    r.add("c")
    assert list(r) == ["a", "c"]


def test_limit_zero_remembers_nothing_and_negative_is_refused() -> None:
    r: RecentSet[int] = RecentSet(0)
    r.add(1)
    assert 1 not in r and len(r) == 0
    with pytest.raises(ValueError, match="limit"):
        RecentSet(-1)


def test_discard_forgets_one_key() -> None:
    r: RecentSet[int] = RecentSet(4)
    r.add(1)
    r.add(2)
    r.discard(1)
    r.discard(9)  # absent: no error
    assert list(r) == [2]
