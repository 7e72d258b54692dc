"""The block explorer's static files, shipped as package data and served at /explorer/.

No build step: the files here are what the browser loads (plain ES modules), so a node needs
nothing but its own package to serve them.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR: Path = Path(__file__).resolve().parent / "static"
"""Where index.html, the modules and the stylesheet live (served as they are)."""

ROUTE_PREFIX = "/explorer/"


def static_dir() -> Path:
    """The directory the RPC server serves under /explorer/; refuses a broken install loudly."""
    if not (STATIC_DIR / "index.html").is_file():
        raise FileNotFoundError(f"explorer files missing: {STATIC_DIR / 'index.html'}")
    return STATIC_DIR
