"""``huzhu tx propose`` and ``huzhu tx ballot`` against the fake node: the flags the field
kinds give them, VALUE read as JSON (a bare word a string), the text file hashed, and the
signed transaction that reaches the node."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from node.cli import main
from node.keys import write_key
from node.rpc import RpcServer
from state.crypto import Signer, sha256
from state.tx import decode_tx

PROPOSER = Signer(sha256(b"cli proposer"))
A, B = "ab" * 32, "CD" * 32
TEXT = "Raise the claim limit: hospital costs rose.\n本文\n".encode()


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "proposer.json"
    write_key(path, PROPOSER)
    return path


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "proposal.md"
    path.write_bytes(TEXT)
    return path


async def _sent(
    rpc_server: RpcServer, fake_node: Any, key: Path, argv: list[str]
) -> tuple[str, dict[str, Any]]:
    """Run `huzhu tx ...` and decode the one transaction the node received."""
    rc = await asyncio.to_thread(main, ["tx", *argv, "--key", str(key), "--rpc", rpc_server.url])
    assert rc == 0
    [wire] = fake_node.received
    tx = decode_tx(wire, chain_id=fake_node.chain_id, params=fake_node.chain_params)
    assert tx.sender == PROPOSER.public_key
    return tx.type, tx.payload


@pytest.mark.parametrize(
    ("sets", "changes"),
    [
        (["max_claim=8000"], {"max_claim": 8000}),
        (["admission=kyc"], {"admission": "kyc"}),  # a bare word is a string
        (['admission="open"'], {"admission": "open"}),  # so is a JSON string
        (["min_fee=0", "gov_quorum_bps=1000"], {"min_fee": 0, "gov_quorum_bps": 1000}),
        ([f'registrars=["{A}","{B}"]'], {"registrars": [bytes.fromhex(A), bytes.fromhex(B)]}),
        (["operators=[]"], {"operators": []}),
        (["title=a=b"], {"title": "a=b"}),  # the first = splits name from value
        (["max_claim=1", "max_claim=2"], {"max_claim": 2}),  # the last one given wins
    ],
)
async def test_propose_reads_values_as_json(
    rpc_server: RpcServer,
    fake_node: Any,
    key: Path,
    text_file: Path,
    sets: list[str],
    changes: dict[str, Any],
) -> None:
    argv = ["propose", "--scope", "chain", "--title", "more cover", "--text", str(text_file)]
    for s in sets:
        argv += ["--set", s]
    tx_type, payload = await _sent(rpc_server, fake_node, key, argv)
    assert tx_type == "propose"
    assert payload == {
        "scope": "chain",
        "changes": changes,
        "title": "more cover",
        "text_hash": sha256(TEXT),  # the file's bytes, hashed: the text is not sent
    }


@pytest.mark.parametrize("choice", ["yes", "no", "abstain"])
async def test_ballot(
    rpc_server: RpcServer,
    fake_node: Any,
    key: Path,
    capsys: pytest.CaptureFixture[str],
    choice: str,
) -> None:
    argv = ["ballot", "--proposal", "EF" * 32, "--choice", choice]
    assert await _sent(rpc_server, fake_node, key, argv) == (
        "ballot",
        {"proposal": b"\xef" * 32, "choice": choice},
    )
    assert json.loads(capsys.readouterr().out)["code"] == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["ballot", "--proposal", "ef" * 32, "--choice", "maybe"],
        ["ballot", "--proposal", "ef" * 31, "--choice", "yes"],
        ["ballot", "--choice", "yes"],
        ["propose", "--scope", "chain", "--title", "t", "--text", "TEXT"],  # no --set
        ["propose", "--scope", "chain", "--set", "max_claim", "--title", "t", "--text", "F"],
        ["propose", "--scope", "chain", "--set", "=5", "--title", "t", "--text", "F"],
        ["propose", "--set", "min_fee=2", "--title", "t", "--text", "F"],  # no --scope
    ],
)
def test_usage_errors(argv: list[str], key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["tx", *argv, "--key", str(key), "--rpc", "http://127.0.0.1:1"])
    assert exit_.value.code == 2 and "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("sets", "title", "named"),
    [
        (['registrars=["zz"]'], "t", "registrars"),
        (["min_fee=1"], "", "title"),
        (["min_fee=1"], "x" * 121, "title"),
    ],
)
async def test_bad_values_are_named_and_not_sent(
    rpc_server: RpcServer,
    fake_node: Any,
    key: Path,
    text_file: Path,
    capsys: pytest.CaptureFixture[str],
    sets: list[str],
    title: str,
    named: str,
) -> None:
    argv = ["tx", "propose", "--scope", "chain", "--title", title, "--text", str(text_file)]
    for s in sets:
        argv += ["--set", s]
    argv += ["--key", str(key), "--rpc", rpc_server.url]
    assert await asyncio.to_thread(main, argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: invalid payload") and named in err
    assert fake_node.received == []


async def test_missing_text_file_is_an_error(
    rpc_server: RpcServer,
    fake_node: Any,
    key: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["tx", "propose", "--scope", "chain", "--set", "min_fee=2", "--title", "t"]
    argv += ["--text", str(tmp_path / "absent.md"), "--key", str(key), "--rpc", rpc_server.url]
    assert await asyncio.to_thread(main, argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "absent.md" in err
    assert fake_node.received == []


async def test_default_fee_is_the_min_fee_in_force_not_genesis(
    rpc_server: RpcServer, fake_node: Any, key: Path
) -> None:
    """After a proposal raised min_fee, `huzhu tx` without --fee pays the new one."""
    in_force = {**fake_node.chain_params.to_json(), "min_fee": 7}  # genesis says 2

    async def params(height: int | None, prove: bool = False) -> dict[str, Any]:
        return in_force

    fake_node.params = params
    argv = ["ballot", "--proposal", "ef" * 32, "--choice", "no"]
    rc = await asyncio.to_thread(main, ["tx", *argv, "--key", str(key), "--rpc", rpc_server.url])
    assert rc == 0
    [wire] = fake_node.received
    assert decode_tx(wire, chain_id=fake_node.chain_id, params=fake_node.chain_params).fee == 7
