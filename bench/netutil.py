"""What every benchmark needs to bring up a real localnet: the node tree and free ports.

Benchmarks go through the public command line (`huzhu testnet`), exactly as an operator
would, so what they measure is the node people run.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def write_testnet(n: int, template: dict[str, Any], base_port: int, workdir: Path) -> Path:
    """`huzhu testnet` for `n` validators from `template`; returns the tree's directory."""
    tpl = workdir / "template.json"
    tpl.write_text(json.dumps(template))
    out = workdir / "net"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "node.cli",
            "testnet",
            "--validators",
            str(n),
            "--out",
            str(out),
            "--genesis-template",
            str(tpl),
            "--base-port",
            str(base_port),
        ],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    return out


def port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:`port` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
