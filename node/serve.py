"""Running a node as a process: signals, start-up errors in one line, exit statuses.

Split from node/runtime.py (the event-loop driver of one node): this is the process around
it. Exit statuses: 0 after a clean stop, 1 when the node cannot start (an operator's mistake,
reported in one line), EXIT_FATAL (node/vitals.py) when a store write failed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable
from pathlib import Path

import plyvel

from consensus.replica import StoreCorrupt
from node.config import ConfigError, load_config
from node.keys import KeyFileError
from node.logs import setup_logging
from node.runtime import Node
from node.vitals import EXIT_FATAL, tune_gc
from state.genesis import GenesisError

log = logging.getLogger("huzhu.node")

# an operator's mistake, reported in one line: bad genesis/key/config, port in use, DB locked,
# a store of another genesis (ValueError from Chain.init_genesis)
_STARTUP_ERRORS = (
    GenesisError,
    ConfigError,
    KeyFileError,
    StoreCorrupt,
    OSError,
    plyvel.Error,
    ValueError,
)


async def _serve(home: Path, stop_requested: Callable[[], bool] = lambda: False) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # A signal that came while the process was still importing (the CLI records those) must
    # still mean "stop": a node told to stop before it started exits 0 without starting.
    if stop_requested():
        return 0
    cfg = load_config(home)
    setup_logging(cfg.log_level)
    node = Node(home, cfg)
    try:
        await node.start()
    except _STARTUP_ERRORS as exc:
        # an operator's mistake (bad genesis, key, config, port in use, DB locked): one line
        log.error("cannot start: %s: %s", type(exc).__name__, exc)
        await node.stop()
        return 1
    except Exception:
        log.exception("node failed to start")
        await node.stop()
        return 1
    # what start() built (genesis, caches filled from the store) lives as long as the process:
    # move it out of the collector's sight, so full collections do not rescan it
    gc.freeze()
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(node.failed.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for w in waits:
        w.cancel()
    if node.failed.is_set():
        await node.stop()
        return EXIT_FATAL
    log.info("signal received, shutting down")
    await node.stop()
    return 0


def run(home: Path, stop_requested: Callable[[], bool] = lambda: False) -> int:
    """Run a node in the foreground until SIGINT/SIGTERM; exit status 0 after a clean stop.

    `stop_requested` tells whether a stop signal arrived before this function installed its
    handlers (`huzhu start` records them from its first instruction on)."""
    tune_gc()
    factory = None
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is optional
        pass
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_serve(Path(home), stop_requested))
