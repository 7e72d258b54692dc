"""Section 10 through the node: the reads `event` and `events`, the new fields of `pool` and
`claim`, and ``huzhu tx attest|object|report|collect`` / ``huzhu query event|events`` end to
end. Each command runs the real CLI against a NodeService over a real Chain; a small block
producer executes whatever the mempool holds, so a command (in its default commit mode)
returns with the outcome of its transaction as the state machine decided it."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chain_net import ChainParts
from jsonschema import Draft7Validator

from node.cli import main as cli_main
from node.client import RpcClient, RpcError
from node.config import RpcConfig
from node.keys import write_key
from node.methods import BY_NAME
from node.rpc import RpcServer
from node.service import NodeService
from state.crypto import Signer
from state.devkeys import dev_signer, localnet_genesis

HOSPITAL = dev_signer("hospital")
STATIONS = [dev_signer(f"station{i}") for i in range(3)]
MEMBERS = [dev_signer(f"member{i}") for i in range(4)]
NOTICE = 3
COLLECT_WINDOW = 10
PAYOUT = 500
FEE_BPS = 800
POOLS = [
    {
        "id": "medical",
        "name": "Medical mutual aid",
        "params": {
            "claim_mode": "attested",
            "attestors": [HOSPITAL.public_key.hex()],
            "attest_quorum": 1,
            "objection_quorum": 2,
            "waiting_period": 0,
            "juror_min_age": 0,
            "notice_period": NOTICE,
            "vote_window": 20,
            "fee_bps": FEE_BPS,
        },
    },
    {
        "id": "rainfall",
        "name": "Rainfall crop cover",
        "params": {
            "attestors": [s.public_key.hex() for s in STATIONS],
            "attest_quorum": 2,
            "trigger": {"feed": "rainfall_mm", "op": ">=", "threshold": 200, "payout": PAYOUT},
            "waiting_period": 0,
            "collect_window": COLLECT_WINDOW,
            "fee_bps": FEE_BPS,
        },
    },
]


@dataclass
class Node:
    """One in-process node: its service over RPC, and `block()` to commit the next block."""

    parts: ChainParts
    service: NodeService
    url: str

    @property
    def height(self) -> int:
        return int(self.parts.chain.height)

    def block(self) -> None:
        """Execute and commit the next block with what the mempool holds (maybe nothing)."""
        from consensus.types import Block, BlockHeader
        from state.machine import BlockInput

        chain, mempool = self.parts.chain, self.parts.mempool
        h = chain.height + 1
        inp = BlockInput(
            height=h,
            time_ms=chain.genesis.genesis_time_ms + 1000 * h,
            proposer=chain.genesis.validators[0].consensus_key,
            txs=mempool.reap(1000, 1 << 22),
        )
        ex = chain.execute(inp, propose=True)
        chain.commit(ex)
        mempool.update(ex.txs)
        header = BlockHeader(
            chain_id=chain.chain_id,
            height=h,
            time_ms=inp.time_ms,
            prev_hash=b"\x00" * 32,
            proposer=inp.proposer,
            tx_root=b"\x01" * 32,
            state_root=ex.state_root,
            last_commit_hash=b"\x02" * 32,
            evidence_hash=b"\x03" * 32,
            validators_hash=b"\x04" * 32,
        )
        block = Block(header, tuple(ex.txs), None)
        self.parts.blocks[h] = block
        self.service.on_committed(h, block, results=ex.results)

    def advance_to(self, height: int) -> None:
        while self.height < height:
            self.block()


@asynccontextmanager
async def running_node(genesis: dict[str, Any]) -> AsyncIterator[Node]:
    """A node over `genesis`: a block as soon as something is pending (so a command in commit
    mode gets its answer), and no other (a test that needs blocks to pass commits them)."""
    from state.chain import Chain
    from state.genesis import parse_genesis
    from state.mempool import Mempool
    from state.store import MemoryStore

    chain = Chain.init_genesis(MemoryStore(), parse_genesis(genesis))
    parts = ChainParts(chain, mempool=Mempool(chain.view))
    service = NodeService(parts)
    server = RpcServer(service, RpcConfig(listen="127.0.0.1:0"))
    await server.start()
    n = Node(parts, service, server.url)
    stop = asyncio.Event()

    async def produce() -> None:
        while not stop.is_set():
            if len(n.parts.mempool):
                n.block()
            await asyncio.sleep(0.005)

    task = asyncio.create_task(produce())
    try:
        yield n
    finally:
        stop.set()
        await task
        await server.stop()


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    async with running_node(localnet_genesis(pools=POOLS)) as n:
        yield n


def check_schema(method: str, result: Any) -> Any:
    Draft7Validator(BY_NAME[method].result_schema).validate(result)
    return result


async def rpc(node: Node, method: str, **params: Any) -> Any:
    async with RpcClient(node.url) as c:
        return check_schema(method, await c.request(method, params))


async def send(node: Node, signer: Signer, type: str, payload: dict[str, Any]) -> dict[str, Any]:
    async with RpcClient(node.url) as c:
        res = await c.build_and_send(signer, type, payload, mode="commit")
    assert res["code"] == 0, res
    return res


@dataclass
class Cli:
    """``huzhu`` in a thread (the node's loop keeps producing blocks meanwhile)."""

    node: Node
    keys: Path
    capsys: pytest.CaptureFixture[str]

    def key(self, signer: Signer) -> str:
        path = self.keys / f"{signer.public_key.hex()[:16]}.json"
        if not path.exists():
            write_key(path, signer)
        return str(path)

    async def run(self, *argv: str, key: Signer | None = None) -> tuple[int, str, str]:
        args = [*argv, "--rpc", self.node.url]
        if key is not None:
            args += ["--key", self.key(key)]
        rc = await asyncio.to_thread(cli_main, args)
        out, err = self.capsys.readouterr()
        return rc, out, err

    async def tx(self, *argv: str, key: Signer) -> dict[str, Any]:
        rc, out, err = await self.run("tx", *argv, key=key)
        assert rc == 0, err
        res: dict[str, Any] = json.loads(out)
        assert res["code"] == 0 and res["error"] is None, res
        return res

    async def refused(self, *argv: str, key: Signer) -> str:
        rc, out, err = await self.run("tx", *argv, key=key)
        assert rc == 1, out
        return err

    async def query(self, *argv: str) -> Any:
        rc, out, err = await self.run("query", *argv)
        assert rc == 0, err
        return json.loads(out)


@pytest.fixture
def cli(node: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(node, tmp_path, capsys)


async def balance(node: Node, signer: Signer) -> int:
    return int((await rpc(node, "account", address=signer.public_key.hex()))["balance"])


async def test_hospital_attests_a_claim_through_the_cli(node: Node, cli: Cli) -> None:
    for m in MEMBERS:
        await send(node, m, "join", {"pool": "medical"})
    filed = await send(
        node, MEMBERS[0], "claim", {"pool": "medical", "amount": 300, "evidence": "ee" * 32}
    )
    cid = filed["hash"]
    claim = await rpc(node, "claim", id=cid)
    assert (claim["stage"], claim["status"], claim["objected"]) == ("attestation", "voting", False)
    assert (claim["attest_for"], claim["attest_against"], claim["attestations"]) == (0, 0, [])
    assert claim["terms"]["attestors"] == [HOSPITAL.public_key.hex()]
    pool = await rpc(node, "pool", id="medical")
    assert (pool["round"], pool["liabilities"], pool["reserve_bps"]) == (0, 0, None)

    # a member is no attestor; the hospital is, and one approval (quorum 1) decides
    err = await cli.refused(
        "attest", "--claim", cid, "--approve", "true", "--report", "ab" * 32, key=MEMBERS[1]
    )
    assert "unauthorized (code 11)" in err
    done = await cli.tx(
        "attest", "--claim", cid, "--approve", "true", "--report", "ab" * 32, key=HOSPITAL
    )
    claim = await cli.query("claim", cid)
    check_schema("claim", claim)
    assert (claim["status"], claim["attest_for"], claim["stage"]) == ("approved", 1, "attestation")
    assert claim["attestations"] == [
        {"attestor": HOSPITAL.public_key.hex(), "approve": True, "report": "ab" * 32}
    ]
    assert claim["payable_at"] == done["height"] + 1 + NOTICE
    pool = await rpc(node, "pool", id="medical")
    assert pool["liabilities"] == 300
    assert pool["reserve_bps"] == pool["balance"] * 10000 // 300

    # a member objects during the notice period (quorum 2: one objection changes nothing)
    await cli.tx("object", "--claim", cid, key=MEMBERS[1])
    err = await cli.refused("object", "--claim", cid, key=MEMBERS[1])
    assert "already_voted (code 20)" in err
    claim = await cli.query("claim", cid)
    assert claim["objections"] == [MEMBERS[1].public_key.hex()]
    assert claim["status"] == "approved"

    node.advance_to(claim["payable_at"] - 1)
    before = await balance(node, MEMBERS[0])
    await send(node, MEMBERS[2], "payout", {"claim": cid})
    fee = 300 * FEE_BPS // 10000
    assert await balance(node, MEMBERS[0]) == before + 300 - fee + 50  # the bond comes back
    pool = await rpc(node, "pool", id="medical")
    assert (pool["liabilities"], pool["reserve_bps"]) == (0, None)
    err = await cli.refused("object", "--claim", cid, key=MEMBERS[3])
    assert "voting_closed (code 18)" in err


async def test_hospital_rejects_a_claim_with_approve_false(node: Node, cli: Cli) -> None:
    for m in MEMBERS[:2]:
        await send(node, m, "join", {"pool": "medical"})
    filed = await send(
        node, MEMBERS[1], "claim", {"pool": "medical", "amount": 100, "evidence": "dd" * 32}
    )
    balance_before = (await rpc(node, "pool", id="medical"))["balance"]
    argv = ["--claim", filed["hash"], "--approve", "false", "--report", "cd" * 32]
    await cli.tx("attest", *argv, key=HOSPITAL)
    err = await cli.refused("attest", *argv, key=HOSPITAL)
    assert "voting_closed (code 18)" in err  # decided at the end of the block before
    claim = await cli.query("claim", filed["hash"])
    assert (claim["status"], claim["attest_against"], claim["payable_at"]) == ("rejected", 1, None)
    assert claim["attestations"][0]["approve"] is False
    pool = await rpc(node, "pool", id="medical")
    assert pool["balance"] == balance_before + 50 and pool["liabilities"] == 0  # the bond


async def test_stations_report_and_members_collect_through_the_cli(node: Node, cli: Cli) -> None:
    for m in MEMBERS[:3]:
        await send(node, m, "join", {"pool": "rainfall"})
    await send(node, MEMBERS[0], "pay", {"pool": "rainfall", "amount": 2000})
    assert await cli.query("events", "rainfall") == []

    await cli.tx("report", "--pool", "rainfall", "--round", "0", "--value", "250", key=STATIONS[0])
    assert (await rpc(node, "pool", id="rainfall"))["round"] == 0  # one report of two
    settled = await cli.tx(
        "report", "--pool", "rainfall", "--round", "0", "--value", "220", key=STATIONS[1]
    )
    err = await cli.refused(
        "report", "--pool", "rainfall", "--round", "0", "--value", "10", key=STATIONS[2]
    )
    assert "stale_report (code 27)" in err
    pool = await rpc(node, "pool", id="rainfall")
    assert pool["round"] == 1
    event = await cli.query("event", "rainfall", "0")
    check_schema("event", event)
    h = settled["height"]
    assert event == {
        "pool": "rainfall",
        "round": 0,
        "value": 220,  # the lower median of 220 and 250
        "height": h,
        "eligible": 3,
        "per_member": PAYOUT,
        "fee_bps": FEE_BPS,
        "collect_until": h + COLLECT_WINDOW,
        "escrow": 3 * PAYOUT,
        "collected": 0,
    }
    assert await cli.query("events", "rainfall") == [event]
    assert await cli.query("events", "rainfall", "--limit", "1") == [event]
    assert pool["balance"] == 3 * 100 + 2000 - 3 * PAYOUT  # the escrow left the pool

    before = await balance(node, MEMBERS[1])
    await cli.tx("collect", "--pool", "rainfall", "--round", "0", key=MEMBERS[1])
    assert await balance(node, MEMBERS[1]) == before - 1 + PAYOUT - PAYOUT * FEE_BPS // 10000
    err = await cli.refused("collect", "--pool", "rainfall", "--round", "0", key=MEMBERS[1])
    assert "already_paid (code 22)" in err
    err = await cli.refused("collect", "--pool", "rainfall", "--round", "0", key=MEMBERS[3])
    assert "not_eligible (code 19)" in err  # never joined the pool
    err = await cli.refused("collect", "--pool", "rainfall", "--round", "1", key=MEMBERS[0])
    assert "not_found (code 12)" in err  # round 1 is still open: no event
    event = await rpc(node, "event", pool="rainfall", round=0)
    assert (event["escrow"], event["collected"]) == (2 * PAYOUT, 1)

    # the window: a collect in block collect_until counts; the end of that block returns what
    # is left of the escrow to the pool, and a later collect is too late
    node.advance_to(h + COLLECT_WINDOW - 1)
    balance_before = (await rpc(node, "pool", id="rainfall"))["balance"]
    late = await cli.tx("collect", "--pool", "rainfall", "--round", "0", key=MEMBERS[2])
    assert late["height"] == event["collect_until"]
    event = await rpc(node, "event", pool="rainfall", round=0)
    assert (event["escrow"], event["collected"]) == (0, 2)
    pool = await rpc(node, "pool", id="rainfall")
    assert pool["balance"] == balance_before + PAYOUT  # member0's share, never collected
    err = await cli.refused("collect", "--pool", "rainfall", "--round", "0", key=MEMBERS[0])
    assert "window_closed (code 28)" in err


@pytest.mark.parametrize(
    ("method", "params", "code", "message"),
    [
        ("event", {"pool": "dental", "round": 0}, -32001, "pool 'dental' not found"),
        ("event", {"pool": "rainfall", "round": 0}, -32001, "event of pool 'rainfall' round 0"),
        ("event", {"pool": "rainfall", "round": -1}, -32602, "invalid params: round: "),
        ("event", {"pool": "rainfall", "round": 2**53}, -32602, "invalid params: round: "),
        ("event", {"pool": "rainfall", "round": True}, -32602, "invalid params: round: "),
        ("event", {"pool": "rainfall"}, -32602, "round"),
        ("events", {"pool": "dental"}, -32001, "pool 'dental' not found"),
        ("events", {"pool": "rainfall", "limit": 0}, -32602, "invalid params: limit: "),
        ("events", {"pool": "rainfall", "limit": 1001}, -32602, "invalid params: limit: "),
    ],
)
async def test_event_reads_refuse_what_does_not_exist(
    node: Node, method: str, params: dict[str, Any], code: int, message: str
) -> None:
    async with RpcClient(node.url) as c:
        with pytest.raises(RpcError) as err:
            await c.request(method, params)
    assert err.value.code == code and message in err.value.message


@pytest.mark.parametrize(
    "argv",
    [
        ["query", "event", "rainfall", "-1"],  # a round is >= 0
        ["query", "event", "rainfall", "x"],
        ["query", "event", "rainfall"],  # the round is required
        ["query", "events", "rainfall", "--limit", "0"],
        ["tx", "attest", "--claim", "ab" * 32, "--approve", "maybe", "--report", "ab" * 32],
        ["tx", "collect", "--pool", "rainfall"],  # --round missing
    ],
)
def test_usage_errors_change_nothing(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_key(tmp_path / "k.json", MEMBERS[0])
    with pytest.raises(SystemExit) as exit_:
        cli_main([*argv, "--key", str(tmp_path / "k.json"), "--rpc", "http://127.0.0.1:1"])
    assert exit_.value.code == 2 and "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("round_", "value", "field"), [("-1", "5", "round"), ("0", str(2**53), "value")]
)
async def test_a_report_out_of_range_is_refused_before_it_is_sent(
    node: Node, cli: Cli, round_: str, value: str, field: str
) -> None:
    argv = ["tx", "report", "--pool", "rainfall", "--round", round_, "--value", value]
    rc, out, err = await cli.run(*argv, key=STATIONS[0])
    assert rc != 0 and field in err and out == ""
    assert (await rpc(node, "account", address=STATIONS[0].public_key.hex()))["nonce"] == 0


async def test_events_limit_boundaries(node: Node) -> None:
    assert await rpc(node, "events", pool="rainfall", limit=1000) == []
    assert await rpc(node, "events", pool="medical", limit=1) == []  # no trigger: no events
    async with RpcClient(node.url) as c:
        with pytest.raises(RpcError) as err:  # the largest round is a valid param
            await c.request("event", {"pool": "rainfall", "round": 2**53 - 1})
    assert err.value.code == -32001


# --- the README's walkthrough ---------------------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"
WALK_START = "**Claims a hospital decides, and cover that pays itself**"
WALK_END = "The JSON-RPC interface is plain"


def walkthrough_blocks() -> list[str]:
    """The ```sh blocks of the README's section-10 walkthrough, in order."""
    text = README.read_text(encoding="utf-8")
    part = text[text.index(WALK_START) : text.index(WALK_END)]
    blocks = []
    for chunk in part.split("```sh\n")[1:]:
        blocks.append(chunk.split("```", 1)[0])
    return blocks


# where the README asks to wait, the script asks the test for WAIT_BLOCKS blocks and waits
# until they are committed: more than notice_period + 1 (payable_at) and the 10 blocks that
# make a new member active
WAIT_BLOCKS = 20
ADVANCE = """advance() {
  echo "$1" > "$T/advance.tmp" && mv "$T/advance.tmp" "$T/advance"
  while [ -e "$T/advance" ]; do sleep 0.02; done
}"""


async def serve_advances(n: Node, request: Path, stop: asyncio.Event) -> int:
    """Commit the blocks the script asks for (`advance N` writes N to `request`), then remove
    the request, which lets the script go on; returns how many requests it served."""
    served = 0
    while not stop.is_set():
        if request.exists():
            n.advance_to(n.height + int(request.read_text()))
            request.unlink()
            served += 1
        await asyncio.sleep(0.02)
    return served


@pytest.mark.slow
async def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    """Every command of the README's section-10 part, run by bash against a node with the
    localnet genesis and its keys. Blocks come only when a transaction waits or the script
    asks for them where the README says to wait: the windows are counted in blocks, so a
    loaded machine that runs the script slowly cannot close one (with an empty block every
    100 ms, the hospital's 60-block window once closed before its attestation arrived)."""
    from state.devkeys import LOCALNET_KEY_NAMES

    blocks = walkthrough_blocks()
    assert len(blocks) == 3 and all("huzhu " in b for b in blocks)
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in LOCALNET_KEY_NAMES:
        write_key(keys / f"{name}.json", dev_signer(name))
    async with running_node(localnet_genesis()) as n:
        # what the README's earlier parts left: members 0 to 3 active in the medical pool
        for m in MEMBERS:
            await send(n, m, "join", {"pool": "medical"})
        n.advance_to(n.height + 10)
        bin_dir = Path(sys.executable).parent
        script = [
            "set -euo pipefail",
            f'export PATH="{bin_dir}:$PATH"',
            f"K={keys}",
            f"RPC={n.url.rstrip('/')}",
            f"T={tmp_path}",
            ADVANCE,
        ]
        for i, block in enumerate(blocks):
            if i:  # the waits the prose between the blocks asks for
                script.append(f"advance {WAIT_BLOCKS}")
            script += [
                f"advance {WAIT_BLOCKS}" if ln.startswith("# about") else ln
                for ln in block.splitlines()
            ]
        stop = asyncio.Event()
        advances = asyncio.create_task(serve_advances(n, tmp_path / "advance", stop))
        try:
            proc = await asyncio.create_subprocess_exec(
                "bash",
                "-c",
                "\n".join(script),
                cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), 600)
        finally:
            stop.set()
            served = await advances
        assert proc.returncode == 0, err.decode()[-2000:]
        assert served == 3  # before the payout, before the first report, and the "# about" one
        [paid] = await rpc(n, "claims", pool="medical", status="paid")
        assert (paid["amount"], paid["claimant"]) == (300, MEMBERS[1].public_key.hex())
        event = await rpc(n, "event", pool="rainfall", round=0)
        assert (event["value"], event["eligible"], event["per_member"]) == (220, 3, 500)
        assert (event["collected"], event["escrow"]) == (3, 0)
        gain = 500 - 500 * 800 // 10000
        for i in (5, 6):  # joined, collected: two fees, the entry fee, one contribution
            assert await balance(n, dev_signer(f"member{i}")) == 1_000_000 - 2 - 110 + gain
