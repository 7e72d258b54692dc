"""A validator whose clock is 30 s behind says so: `status` reports the offset and the
warning, its log says why, and the validators with a good clock report none.

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
def test_a_validator_30_s_behind_reports_its_clock(
    make_net: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = make_net(4)
    for i in range(3):
        net.start(i)
    with monkeypatch.context() as m:
        m.setenv("LD_PRELOAD", str(LIBFAKETIME))
        m.setenv("FAKETIME", f"-{SKEW_S}s")
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
    assert (SKEW_S - 5) * 1000 <= st["clock_offset_ms"] <= (SKEW_S + 2) * 1000, st
    assert "clock skew" in net.log_text(3) and "behind" in net.log_text(3)
    for i in range(3):
        good = net.call(i, "status")
        assert good["clock_skew_warning"] is False, (i, good)
        assert good["clock_offset_ms"] is None or abs(good["clock_offset_ms"]) < 2500, good
