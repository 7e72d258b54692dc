"""Every file of the explorer ships with the package (a node serves only what was installed)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from node.explorer import STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]


def test_package_data_covers_every_explorer_file() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "node.explorer" in cfg["packages"]
    globs = cfg["package-data"]["node.explorer"]
    pkg = STATIC_DIR.parent
    files = [p.relative_to(pkg).as_posix() for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert "static/index.html" in files and "static/app.js" in files
    # fnmatch's * crosses "/", so match segment counts as setuptools' glob does
    missed = [
        f
        for f in files
        if not any(fnmatch.fnmatch(f, g) and f.count("/") == g.count("/") for g in globs)
    ]
    assert not missed, f"not in [tool.setuptools.package-data] node.explorer: {missed}"
