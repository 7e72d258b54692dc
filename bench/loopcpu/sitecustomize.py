"""Loop-thread CPU per asyncio callback, for bench/loop_cpu.py (a bench hook, not node code).

Python imports `sitecustomize` at start-up from sys.path; bench/loop_cpu.py puts this
directory on the nodes' PYTHONPATH and names an output directory in HUZHU_LOOP_CPU_DIR.
Without that variable this module does nothing. With it, every callback the event loop runs
(asyncio.events.Handle._run: task steps, I/O callbacks, timers) is charged the thread CPU
time (time.thread_time) it took, by the coroutine of its task or the callback's own name,
and a thread writes the running totals, with each thread's CPU from /proc, once a second (and
once more at exit) to DIR/<pid>.jsonl. Thread CPU, unlike a sampler's wall clock, is not inflated when the loop is
preempted on a busy machine, so two load phases compare by what each callback costs.

HUZHU_LOOP_CPU_FUNCS (optional, comma-separated `module:Qualified.name`) also charges each
named synchronous function the thread CPU of its calls, inclusive of what it calls, apart
from the callbacks ("fns" in the snapshots): to place a callback's growth within it.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

#: seconds between snapshots
PERIOD_S = 1.0


def callback_key(cb: Any) -> str:
    """A task step by its coroutine's qualified name; any other callback by its own."""
    owner = getattr(cb, "__self__", None)
    get_coro = getattr(owner, "get_coro", None)
    if get_coro is not None:
        coro = get_coro()
        return "task " + (getattr(coro, "__qualname__", None) or type(coro).__name__)
    fn = getattr(cb, "__func__", None) or getattr(cb, "func", None) or cb
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    module = getattr(fn, "__module__", None) or ""
    return f"{module}:{name}" if module else name


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds (user + system) of each thread of this process: 'loop' for the main one,
    the others summed by their name."""
    out: dict[str, float] = {}
    pid = os.getpid()
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            raw = (task / "stat").read_text()
        except OSError:
            continue
        fields = raw.rsplit(")", 1)[1].split()
        name = "loop" if task.name == str(pid) else raw[raw.index("(") + 1 : raw.rindex(")")]
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def timed(fn: Any, key: str, cpu: dict[str, float], calls: dict[str, int]) -> Any:
    """`fn` charging each call's thread CPU to `key`."""
    clock = time.thread_time

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            cpu[key] = cpu.get(key, 0.0) + clock() - t0
            calls[key] = calls.get(key, 0) + 1

    return wrapper


def wrap_functions(spec: str, cpu: dict[str, float], calls: dict[str, int]) -> None:
    """Replace each `module:Qualified.name` of `spec` (comma-separated) by a timed
    wrapper, where it is defined: callers that look it up at call time (methods, a module's
    globals) see the wrapper; a name imported elsewhere before now keeps the original. A name
    that cannot be found is said on stderr, once, and the others are wrapped all the same."""
    import importlib

    for item in filter(None, (part.strip() for part in spec.split(","))):
        module, _, qualname = item.partition(":")
        try:
            owner: Any = importlib.import_module(module)
            *path, attr = qualname.split(".")
            for name in path:
                owner = getattr(owner, name)
            fn = getattr(owner, attr)
        except (ImportError, AttributeError, ValueError) as exc:
            print(f"HUZHU_LOOP_CPU_FUNCS: {item}: {exc!r}", file=sys.stderr, flush=True)
            continue
        setattr(owner, attr, timed(fn, item, cpu, calls))


def install(out_dir: Path, funcs: str = "") -> None:
    """Wrap Handle._run (and the functions `funcs` names) and start the snapshot thread."""
    from asyncio import events

    cpu: dict[str, float] = {}
    calls: dict[str, int] = {}
    fns: dict[str, float] = {}
    fn_calls: dict[str, int] = {}
    # wrapped at the loop's first callback, not now: at start-up sys.path does not hold the
    # node's directory yet (Python adds it after site runs)
    pending = [funcs] if funcs else []
    run = events.Handle._run
    clock = time.thread_time

    def _run(self: Any) -> None:
        if pending:
            wrap_functions(pending.pop(), fns, fn_calls)
        t0 = clock()
        try:
            run(self)
        finally:
            key = callback_key(self._callback)
            cpu[key] = cpu.get(key, 0.0) + clock() - t0
            calls[key] = calls.get(key, 0) + 1

    events.Handle._run = _run  # type: ignore[method-assign]
    path = out_dir / f"{os.getpid()}.jsonl"

    def snapshot() -> None:
        row = {
            "t": time.time(),
            "cpu": dict(cpu),
            "calls": dict(calls),
            "threads": thread_cpu_s(),
            "fns": dict(fns),
            "fn_calls": dict(fn_calls),
        }
        with path.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def snapshots() -> None:
        while True:
            time.sleep(PERIOD_S)
            snapshot()

    threading.Thread(target=snapshots, name="loop-cpu", daemon=True).start()
    atexit.register(snapshot)  # the last totals of a process that stops cleanly


_dir = os.environ.get("HUZHU_LOOP_CPU_DIR")
if _dir:
    install(Path(_dir), os.environ.get("HUZHU_LOOP_CPU_FUNCS", ""))
