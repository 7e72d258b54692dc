"""bench/profile_node.py's reading of py-spy samples: areas, own and cumulative time, GC from
the node's log. The sampling itself needs py-spy and a running network (a manual benchmark)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.profile_node import analyse, area_of, gc_ms_in_log, parse_frame  # noqa: E402

RUN = "_run_once (asyncio/base_events.py:1)"
PEER = "_run_peer (p2p/node.py:10)"
MSG = "_on_message (node/runtime.py:20)"

RAW = "\n".join(
    [
        # a signature check under a peer's tx batch: admission, not p2p
        f"process 1:main;{RUN};{PEER};{MSG};add (state/mempool.py:5);"
        "verify (state/crypto.py:9);crypto_sign_open (/x/site-packages/nacl/bindings/"
        "crypto_sign.py:3) 6",
        # execution under a consensus step: state exec, not consensus
        f"process 1:main;{RUN};{PEER};{MSG};on_message (consensus/replica.py:3);"
        "commit (state/app.py:4);update (state/tree.py:7) 3",
        # sealing a frame: p2p
        f"{RUN};_writer_loop (p2p/node.py:30);seal (p2p/secret.py:40) 2",
        # the event loop waiting: other
        f"{RUN};select (/usr/lib/python3.11/selectors.py:451) 1",
        "garbage line without a count",
    ]
)


def test_frames_parse_with_and_without_line_numbers() -> None:
    assert parse_frame("seal (p2p/secret.py:40)") == ("seal", "p2p/secret.py")
    assert parse_frame("<module> (node/cli.py)") == ("<module>", "node/cli.py")


def test_samples_are_charged_to_the_first_matching_area() -> None:
    prof = analyse(RAW)
    assert prof["samples"] == 12
    assert prof["areas"] == {"admission": 6, "state exec": 3, "p2p": 2, "other": 1}
    assert prof["own"]["nacl/bindings/crypto_sign.py:crypto_sign_open"] == 6
    assert prof["own"]["p2p/secret.py:seal"] == 2
    # cumulative: counted once per stack wherever the function appears
    assert prof["cum"]["p2p/node.py:_run_peer"] == 9
    assert prof["cum"]["asyncio/base_events.py:_run_once"] == 12
    assert area_of([("render", "node/metrics.py"), ("seal", "p2p/secret.py")]) == "metrics"


def test_gc_is_summed_over_the_window_heights_only() -> None:
    log = "\n".join(
        f"2026-12-06T10:00:0{h}Z INFO  huzhu.node: committed height={h} txs=5 round=0 "
        f"mempool=0 mine=0 gc_ms={h * 10}"
        for h in range(1, 6)
    )
    assert gc_ms_in_log(log, (2, 4)) == (20 + 30 + 40, 3)
    assert gc_ms_in_log(log, (9, 12)) == (0, 0)
