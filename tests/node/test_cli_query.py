"""``huzhu query``: one subcommand per read of node/methods.py, against the fake node of
conftest.py; flags and output as before the table drove them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from node.cli import main
from node.client import RpcClient, RpcError
from node.methods import METHODS, Method
from node.rpc import RpcServer

OTHER = "cd" * 32


async def run_cli(argv: list[str]) -> int:
    return await asyncio.to_thread(main, argv)


async def test_query_commands(rpc_server: RpcServer, capsys: pytest.CaptureFixture[str]) -> None:
    rpc = ["--rpc", rpc_server.url]
    assert await run_cli(["query", "status", *rpc]) == 0
    assert json.loads(capsys.readouterr().out)["height"] == 3
    assert await run_cli(["query", "account", OTHER, *rpc]) == 0
    assert json.loads(capsys.readouterr().out)["address"] == OTHER
    assert await run_cli(["query", "block", "2", *rpc]) == 0
    assert json.loads(capsys.readouterr().out)["height"] == 2
    assert await run_cli(["query", "pool", "dental", *rpc]) == 1
    assert "-32001" in capsys.readouterr().err


@pytest.mark.parametrize("m", [m for m in METHODS if m.query], ids=lambda m: m.cli_name)
async def test_every_read_of_the_table_is_a_query_command(
    m: Method, rpc_server: RpcServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """`huzhu query` answers what the RPC method answers, with every param given."""
    argv = ["query", m.cli_name, "--rpc", rpc_server.url]
    params: dict[str, Any] = {}
    for p in m.params:
        if p.kind.flag:
            continue  # a switch (--prove): its verified form is tests/node/test_proofs_cli.py
        text = p.kind.example
        argv += [text] if p.cli_positional else [f"--{p.name.replace('_', '-')}", text]
        params[p.name] = p.kind.cli(text) if p.kind.cli else text
    async with RpcClient(rpc_server.url) as client:
        try:
            expected: Any = await client.request(m.name, params)
        except RpcError as err:
            expected = err
    rc = await run_cli(argv)
    out, err_out = capsys.readouterr()
    if isinstance(expected, RpcError):  # e.g. the fake node knows no claim: -32001
        assert rc == 1 and err_out.startswith("error: ") and f"(code {expected.code})" in err_out
    else:
        assert rc == 0 and json.loads(out) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["query", "broadcast-tx", "00"],  # a write: `huzhu tx`
        ["query", "subscribe", "tx"],  # WebSocket only
        ["query", "claims", "medical", "--status", "open"],  # not a claim status
        ["query", "claims", "medical", "--limit", "0"],
        ["query", "block", "x"],
        ["query", "claim", "ab" * 31],
        ["query", "member", "medical"],  # address missing
    ],
)
def test_query_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and "error:" in capsys.readouterr().err


def test_unreachable_node_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "status", "--rpc", "http://127.0.0.1:1"]) == 1
    assert capsys.readouterr().err.startswith("error: ")
