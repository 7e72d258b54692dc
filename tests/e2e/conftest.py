"""Fixtures of the end-to-end tests; the helpers live in e2e_net.py (importable by tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_net import Net, genesis_template, new_net


@pytest.fixture
def make_net(tmp_path: Path) -> Iterator[Callable[..., Net]]:
    """Factory: `make_net(n, template, config)`; all processes are killed at teardown."""
    nets: list[Net] = []

    def factory(
        n: int = 4, template: dict[str, Any] | None = None, config: dict[str, Any] | None = None
    ) -> Net:
        root = tmp_path / f"net{len(nets)}"
        root.mkdir()
        net = new_net(root, n, template or genesis_template(), config)
        nets.append(net)
        return net

    yield factory
    for net in nets:
        net.close(kill=True)
