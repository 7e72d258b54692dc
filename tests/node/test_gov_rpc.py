"""The governance reads of node/methods.py (`proposal`, `proposals`, `params`): their checks
through the server (fake node), NodeService's answers and errors over a stand-in state view,
and their ``huzhu query`` forms."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import PARAMS, PROPOSAL
from jsonschema import Draft7Validator
from rpc_helpers import call, error_of

from node.api import NotFound
from node.cli import main
from node.config import RpcConfig
from node.jsonrpc import RpcError
from node.methods import BY_NAME
from node.rpc import RpcServer
from node.service import NodeService
from state.model import PROPOSAL_STATUSES
from state.params import ChainParams

PID = PROPOSAL["id"]


# --- through the server (fake node) --------------------------------------------------------------


async def test_proposal_by_id_in_either_case(rpc_server: RpcServer) -> None:
    body = await call(rpc_server, "proposal", {"id": PID.upper()})
    assert body["result"] == PROPOSAL
    Draft7Validator(BY_NAME["proposal"].result_schema).validate(body["result"])
    assert error_of(await call(rpc_server, "proposal", {"id": "00" * 32}))[0] == -32001


@pytest.mark.parametrize(
    ("method", "params", "param"),
    [
        ("proposal", {"id": "ab" * 31}, "id"),
        ("proposal", {}, "id"),
        ("proposals", {}, "scope"),
        ("proposals", {"scope": 5}, "scope"),
        ("proposals", {"scope": "chain", "status": "approved"}, "status"),  # a claim status
        ("proposals", {"scope": "chain", "limit": 0}, "limit"),
        ("proposals", {"scope": "chain", "limit": 1001}, "limit"),
        ("proposals", {"scope": "chain", "limit": True}, "limit"),
        ("params", {"height": "3"}, "height"),
        ("params", {"height": 1.5}, "height"),
    ],
)
async def test_invalid_params_name_the_parameter(
    rpc_server: RpcServer, method: str, params: dict[str, Any], param: str
) -> None:
    code, msg = error_of(await call(rpc_server, method, params))
    assert code == -32602 and f"{param}:" in msg


async def test_proposals_limit_boundary_default_and_statuses(
    rpc_server: RpcServer, fake_node: Any
) -> None:
    assert (await call(rpc_server, "proposals", {"scope": "medical", "limit": 1000}))["result"] == [
        PROPOSAL
    ]
    assert (await call(rpc_server, "proposals", {"scope": "chain"}))["result"] == []
    for status in PROPOSAL_STATUSES:
        await call(rpc_server, "proposals", {"scope": "medical", "status": status, "limit": 1})
    assert fake_node.calls[: 2 + len(PROPOSAL_STATUSES)] == [
        ("proposals", ("medical", None, 1000)),
        ("proposals", ("chain", None, 100)),
        *[("proposals", ("medical", s, 1)) for s in PROPOSAL_STATUSES],
    ]
    assert error_of(await call(rpc_server, "proposals", {"scope": "dental"}))[0] == -32001


async def test_params_latest_or_refused(rpc_server: RpcServer) -> None:
    assert (await call(rpc_server, "params"))["result"] == PARAMS.to_json()
    assert (await call(rpc_server, "params", {"height": 3}))["result"]["min_fee"] == 2
    assert error_of(await call(rpc_server, "params", {"height": 2}))[0] == -32001


async def test_discover_lists_the_governance_reads(fake_node: Any) -> None:
    server = RpcServer(fake_node, RpcConfig(listen="127.0.0.1:0", max_claims_limit=50))
    await server.start()
    try:
        doc = (await call(server, "rpc.discover"))["result"]
    finally:
        await server.stop()
    by_name = {m["name"]: m for m in doc["methods"]}
    assert {"proposal", "proposals", "params"} <= by_name.keys()
    proposals = by_name["proposals"]
    assert [p["name"] for p in proposals["params"]] == ["scope", "status", "limit"]
    assert proposals["params"][1]["schema"]["enum"] == list(PROPOSAL_STATUSES)
    assert proposals["params"][2]["schema"]["maximum"] == 50  # the server's limit
    assert any(e["code"] == -32001 for e in by_name["params"]["errors"])
    assert by_name["params"]["params"][0]["required"] is False
    member = by_name["member"]["result"]["schema"]["anyOf"][0]  # [1], [2]: with prove
    assert {"active_from", "left_at"} <= set(member["required"])


# --- NodeService over a stand-in view ------------------------------------------------------------


@dataclass(frozen=True)
class _Proposal:
    id: bytes
    scope: str
    status: str

    def to_json(self) -> dict[str, Any]:
        return {**PROPOSAL, "id": self.id.hex(), "scope": self.scope, "status": self.status}


class _View:
    """The StateView reads the governance methods use, with two proposals in pool "medical"."""

    height = 7
    params = ChainParams(treasury=b"\x05" * 32, min_fee=3)

    def __init__(self) -> None:
        self.items = [
            _Proposal(b"\x01" * 32, "medical", "voting"),
            _Proposal(b"\x02" * 32, "medical", "enacted"),
        ]
        self.asked: list[tuple[str, str | None, int]] = []

    def proposal(self, id: bytes) -> _Proposal | None:
        return next((p for p in self.items if p.id == id), None)

    def proposals(self, scope: str, status: str | None, limit: int) -> list[_Proposal] | None:
        self.asked.append((scope, status, limit))
        if scope not in ("chain", "medical"):
            return None
        found = [p for p in self.items if p.scope == scope and status in (None, p.status)]
        return found[:limit]


class _Parts:
    node_id = b"\x07" * 32

    def __init__(self) -> None:
        self.v = _View()

    def view(self, height: int | None = None) -> _View:
        if height is not None and height != self.v.height:
            raise ValueError("pruned")  # a stand-in that keeps only its latest state
        return self.v


async def test_service_proposal_and_proposals() -> None:
    parts = _Parts()
    service = NodeService(parts)  # a stand-in: only view() is read
    assert (await service.proposal(b"\x02" * 32))["status"] == "enacted"
    with pytest.raises(NotFound, match="proposal 0303"):
        await service.proposal(b"\x03" * 32)
    got = await service.proposals("medical", None, 100)
    assert [p["id"] for p in got] == ["01" * 32, "02" * 32]  # the view's order, oldest first
    assert [p["id"] for p in await service.proposals("medical", "enacted", 100)] == ["02" * 32]
    assert await service.proposals("medical", None, 1) == [got[0]]
    assert await service.proposals("chain", None, 100) == []  # the chain scope always exists
    with pytest.raises(NotFound, match="'dental'"):
        await service.proposals("dental", None, 100)
    assert parts.v.asked[-1] == ("dental", None, 100)


async def test_service_params_only_at_the_latest_height() -> None:
    service = NodeService(_Parts())  # a stand-in: only view() is read
    latest = await service.params(None)
    assert latest == _View.params.to_json() and latest["min_fee"] == 3
    Draft7Validator(BY_NAME["params"].result_schema).validate(latest)
    assert await service.params(7) == latest
    with pytest.raises(RpcError, match="pruned"):
        await service.params(6)
    for h in (8, 0, -1):
        with pytest.raises(NotFound, match="not committed"):
            await service.params(h)


# --- huzhu query ---------------------------------------------------------------------------------


async def _cli(argv: list[str]) -> int:
    return await asyncio.to_thread(main, argv)


async def test_query_governance_commands(
    rpc_server: RpcServer, fake_node: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rpc = ["--rpc", rpc_server.url]
    assert await _cli(["query", "proposal", PID, *rpc]) == 0
    assert json.loads(capsys.readouterr().out) == PROPOSAL
    assert await _cli(["query", "proposals", "medical", "--status", "voting", *rpc]) == 0
    assert json.loads(capsys.readouterr().out) == [PROPOSAL]
    assert fake_node.calls[-1] == ("proposals", ("medical", "voting", 100))
    assert await _cli(["query", "proposals", "dental", *rpc]) == 1
    assert "(code -32001)" in capsys.readouterr().err
    assert await _cli(["query", "params", *rpc]) == 0
    assert json.loads(capsys.readouterr().out) == PARAMS.to_json()
    assert await _cli(["query", "params", "2", *rpc]) == 1
    assert "(code -32001)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["query", "proposals", "chain", "--status", "approved"],
        ["query", "proposals", "chain", "--limit", "0"],
        ["query", "proposal", "ab" * 31],
        ["query", "params", "x"],
    ],
)
def test_query_governance_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and "error:" in capsys.readouterr().err


# --- over a real chain ---------------------------------------------------------------------------


async def test_governance_reads_over_a_real_chain() -> None:
    """A chain-scope proposal filed, voted, tallied and enacted by the state machine; the
    service answers every step as the result schemas say, and `params` follows enactment."""
    from node.client import RpcClient
    from state.chain import Chain
    from state.devkeys import dev_signer, localnet_genesis
    from state.genesis import parse_genesis
    from state.machine import BlockInput
    from state.mempool import Mempool
    from state.store import MemoryStore
    from state.tx import build_tx

    gov = {"gov_voting_period": 10, "gov_timelock": 10}
    pools = [{"id": "medical", "name": "Medical", "params": {"waiting_period": 0, **gov}}]
    genesis = parse_genesis(localnet_genesis(pools=pools, params={"min_fee": 1, **gov}))
    chain = Chain.init_genesis(MemoryStore(), genesis)
    m0, m1 = dev_signer("member0"), dev_signer("member1")
    cid = genesis.chain_id

    def block(*txs: bytes) -> None:
        h = chain.height + 1
        ex = chain.execute(
            BlockInput(
                height=h,
                time_ms=genesis.genesis_time_ms + 1000 * h,
                proposer=genesis.validators[0].consensus_key,
                txs=list(txs),
            )
        )
        assert all(r.code == 0 for r in ex.results), [r.log for r in ex.results]
        chain.commit(ex)

    block(*(build_tx(m, cid, "join", 0, 1, {"pool": "medical"}).wire for m in (m0, m1)))
    changes = {"min_fee": 3, "registrars": [m1.public_key]}
    payload = {"scope": "chain", "changes": changes, "title": "fees", "text_hash": b"\x09" * 32}
    propose = build_tx(m0, cid, "propose", 1, 1, payload)
    block(propose.wire)  # height 2: opens, closes_at 12
    pid = propose.hash.hex()
    block(build_tx(m1, cid, "ballot", 1, 1, {"proposal": propose.hash, "choice": "yes"}).wire)

    class Parts:
        node_id = b"\x07" * 32
        genesis = chain.genesis
        mempool = Mempool(chain.view)

        def view(self, height: int | None = None) -> Any:
            return chain.view(height)

    service = NodeService(Parts())  # the reads need view() only
    server = RpcServer(service, RpcConfig(listen="127.0.0.1:0"))
    await server.start()
    try:
        async with RpcClient(server.url) as c:

            async def checked(method: str, **params: Any) -> Any:
                result = await c.call(method, **params)
                Draft7Validator(BY_NAME[method].result_schema).validate(result)
                return result

            p = await checked("proposal", id=pid)
            assert (p["status"], p["opened_at"], p["closes_at"], p["electorate"]) == (
                "voting",
                2,
                12,
                2,
            )
            assert p["changes"] == {"min_fee": 3, "registrars": [m1.public_key.hex()]}
            assert (p["yes"], p["no"], p["abstain"], p["enact_at"]) == (1, 0, 0, None)
            assert p["gov"]["gov_timelock"] == 10 and p["text_hash"] == "09" * 32
            assert [x["id"] for x in await checked("proposals", scope="chain")] == [pid]
            assert await checked("proposals", scope="medical") == []
            assert await checked("proposals", scope="chain", status="passed") == []
            while chain.height < 11:  # block 11 tallies (closes_at 12 == 11 + 1)
                block()
            p = await checked("proposal", id=pid)
            assert (p["status"], p["enact_at"]) == ("passed", 22)
            assert (await checked("params"))["min_fee"] == 1
            while chain.height < 21:  # block 21 enacts (enact_at 22 == 21 + 1)
                block()
            assert (await checked("proposal", id=pid))["status"] == "enacted"
            now = await checked("params", height=21)
            assert now["min_fee"] == 3 and now["registrars"] == [m1.public_key.hex()]
            assert now["gov_voting_period"] == 10 and "gov_max_open" in now
            before = await checked("params", height=20)  # the state after block 20 is kept
            assert before["min_fee"] == 1 and m1.public_key.hex() not in before["registrars"]
    finally:
        await server.stop()
