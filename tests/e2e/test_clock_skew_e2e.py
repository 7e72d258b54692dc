"""A validator whose clock is 30 s behind, or ahead, says so: `status` reports the offset and
the warning, its log says which way, and the validators with a good clock report none.

The skewed process runs under libfaketime (LD_PRELOAD, Debian's `faketime` package): only its
wall clock moves, its monotonic clock (asyncio's timers) stays real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from e2e_net import wait_for

pytestmark = pytest.mark.slow

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
SKEW_S = 30


@pytest.mark.skipif(not LIBFAKETIME.exists(), reason="libfaketime is not installed")
@pytest.mark.parametrize(("sign", "word"), [(-1, "behind"), (1, "ahead")])
def test_a_validator_30_s_off_reports_its_clock(
    make_net: Any, monkeypatch: pytest.MonkeyPatch, sign: int, word: str
) -> None:
    net = make_net(4)
    for i in range(3):
        net.start(i)
    with monkeypatch.context() as m:
        m.setenv("LD_PRELOAD", str(LIBFAKETIME))
        m.setenv("FAKETIME", f"{'+' if sign > 0 else '-'}{SKEW_S}s")
        m.setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        m.setenv("FAKETIME_NO_CACHE", "1")
        net.start(3)
    for i in range(4):
        net.wait_rpc(i)
    net.wait_height(3, 6, timeout=90)

    def skew_seen() -> bool:
        st = net.call(3, "status")
        return st["clock_skew_warning"] is True

    wait_for(skew_seen, 90, "node3 reports its clock skew", net)
    st = net.call(3, "status")
    # the chain's clock minus this node's: +30 s when it is behind, -30 s when ahead (a sample
    # reads low by the time from a block's proposal to its commit here)
    expected = -sign * SKEW_S * 1000
    assert abs(st["clock_offset_ms"] - expected) <= 5000, st
    log = net.log_text(3)
    assert "clock skew" in log and f"clock is {word}" in log
    for i in range(3):
        good = net.call(i, "status")
        assert good["clock_skew_warning"] is False, (i, good)
        assert good["clock_offset_ms"] is None or abs(good["clock_offset_ms"]) < 2500, good
