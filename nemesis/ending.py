"""How a run ends: the signals that stop it, and the teardown of everything it made.

SIGINT and SIGTERM are the event loop's (not Python's KeyboardInterrupt, which can land in
the middle of the teardown and skip the rest of it, as a second signal did): the first one
cancels the run, whose ``finally`` tears down; any further one while that runs is reported
and ignored. The run then raises :class:`Interrupted` with whatever could not be removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from typing import Any

from nemesis.netns import Network
from nemesis.relay import Relay
from node.localnet_harness import LocalNet


class Interrupted(Exception):
    """The run was stopped by a signal and torn down; `left` holds each part that could not
    be removed, with the command that removes it by hand (empty: everything is gone)."""

    def __init__(self, signame: str, left: list[str]) -> None:
        super().__init__(signame)
        self.signame = signame
        self.left = left


class Stopper:
    """The run's SIGINT/SIGTERM handling (see the module's docstring)."""

    def __init__(self, progress: Callable[[str], None]) -> None:
        self.progress = progress
        self.interrupted: str | None = None  # the name of the signal that stopped the run
        self.tearing_down = False

    def install(self, main: asyncio.Task[Any]) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig, main)

    def _on_signal(self, sig: int, main: asyncio.Task[Any]) -> None:
        name = signal.Signals(sig).name
        if self.interrupted is None and not self.tearing_down:
            self.interrupted = name
            self.progress(f"[nemesis] {name}: stopping; removing everything the run made")
            main.cancel()
        else:
            self.progress(f"[nemesis] {name} ignored: removing everything the run made first")


def teardown(
    local: LocalNet | None, paused: set[int], relay: Relay | None, net: Network | None
) -> list[str]:
    """Undo everything, each step whatever happened to the ones before: one line per part
    that could not be undone, with the command to do it by hand (empty: all gone)."""

    def continue_paused() -> None:
        if local is not None:
            for i in list(paused):
                with contextlib.suppress(OSError, KeyError):
                    os.kill(local.pid(i), signal.SIGCONT)
        paused.clear()

    def stop_nodes() -> None:
        if local is not None:
            local.close()

    def close_relay() -> None:
        if relay is not None:
            # the loop may be closing: the relay's sockets die with the process anyway
            for s in relay.servers:
                s.close()
            for link in list(relay.links):
                link.cancel()
                link.close()

    errors: list[str] = []
    for what, step in (
        ("continuing paused nodes", continue_paused),
        ("stopping the nodes", stop_nodes),
        ("closing the relay", close_relay),
    ):
        try:
            step()
        except Exception as exc:  # noqa: BLE001 (recorded; the next steps still run)
            errors.append(f"{what}: {exc!r}")
    if net is not None:
        # also SIGKILLs any process still inside a namespace (a node the steps above missed)
        errors += net.teardown()
    return errors
