"""What a crashed run left behind: each run keeps a record of what it made and who owns it
(:meth:`nemesis.netns.Network.save_record`); a record whose owner process is gone names
leftovers, which :func:`cleanup` removes. A record whose owner still runs, and anything no
record names (another tool's namespaces, a run of an older nemesis), is never touched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nemesis.netns import RECORD_DIR, Network, process_start


@dataclass
class Cleanup:
    """What :func:`cleanup` did: records cleared, runs still alive, parts it could not remove."""

    removed: list[str] = field(default_factory=list)
    alive: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


def owner_alive(doc: dict[str, object]) -> bool:
    """The record's owner runs: its pid exists and started when the record says (not a reuse)."""
    pid, start = doc.get("pid"), doc.get("pid_start")
    return isinstance(pid, int) and start is not None and process_start(pid) == start


def cleanup(
    record_dir: Path | None = None, progress: Callable[[str], None] = lambda line: None
) -> Cleanup:
    """Remove what every run whose owner is dead left behind (records in `record_dir`, by
    default RECORD_DIR); keep the records of parts that could not be removed (a later
    cleanup tries again)."""
    record_dir = RECORD_DIR if record_dir is None else record_dir
    out = Cleanup()
    for path in sorted(record_dir.glob("hz*.json")) if record_dir.is_dir() else []:
        try:
            doc = json.loads(path.read_text())
            net = Network(
                int(doc["n"]),
                int(doc["tag"]),
                namespaces=[str(x) for x in doc["namespaces"]],
                links=[str(x) for x in doc["links"]],
                mounts=[Path(x) for x in doc["mounts"]],
                record=path,
                ids={str(k): int(v) for k, v in doc.get("ids", {}).items()},
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            out.left.append(f"record {path}: unreadable ({exc}); inspect it, then delete it")
            continue
        if owner_alive(doc):
            out.alive.append(f"hz{net.tag} (pid {doc['pid']})")
            continue
        what = net.namespaces + net.links + [str(m) for m in net.mounts]
        progress(f"[nemesis] removing what run hz{net.tag} (pid {doc['pid']}, gone) left: {what}")
        left = net.teardown()
        out.left += left
        if not left:
            out.removed.append(f"hz{net.tag}: {', '.join(what) or 'nothing left'}")
    return out
