"""Across elections on real processes: four `huzhu start` nodes elect three new validator sets
(a candidate without a node joins, a genesis validator leaves, it comes back), and
`huzhu query account --prove --genesis` run as a command verifies a read after the last change
from genesis, directly and through a tampering proxy that is honest (accepted), then hides one
of the changes, changes the balance, or drops signatures to 2/3 (each refused, exit 1, with the
failed check named). The jailing of a double-signer needs a Byzantine validator, which real processes do
not have: test_light_elections.py covers it in process.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from e2e_net import Net, genesis_template, member, send

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "node"))

from tamper_proxy import Tamper, TamperProxy  # noqa: E402

from state.devkeys import dev_signer  # noqa: E402

EPOCH = 6
CANDIDATE = dev_signer("e2e-light-operator")
CANDIDATE_KEY = dev_signer("e2e-light-validator").public_key  # no node holds it


def _ok(res: dict[str, Any]) -> None:
    assert res["code"] == 0, res


async def _call(net: Net, method: str, **params: Any) -> Any:
    return await asyncio.to_thread(net.call, 0, method, 20.0, **params)


async def _elect(net: Net, operators: list[str], changes_before: int) -> int:
    """Vote for `operators`; wait until the set they make took effect. Its height."""
    payload = {"candidates": [bytes.fromhex(op) for op in operators]}
    _ok(await asyncio.to_thread(send, net, 0, member(0), "elect", payload))
    want = sorted(operators)
    for _ in range(600):
        changes = await _call(net, "validator_changes")
        status = await _call(net, "status")
        if len(changes) > changes_before and status["height"] >= changes[-1]:
            got = await _call(net, "validators", height=changes[-1])
            assert sorted(v["operator"] for v in got["validators"]) == want
            return int(changes[-1])
        await asyncio.sleep(0.2)
    raise AssertionError(f"no set change after electing {operators}: {net.dump_logs()}")


async def _query(argv: list[str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "node.cli",
        "query",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.slow
async def test_real_elections_are_followed_and_a_hidden_one_is_caught(make_net: Any) -> None:
    template = genesis_template(
        members=2, params={"epoch_length": EPOCH, "operators": [CANDIDATE.public_key.hex()]}
    )
    template["accounts"].append({"address": CANDIDATE.public_key.hex(), "balance": 1_000})
    net: Net = make_net(4, template)
    await asyncio.to_thread(net.start_all)
    await asyncio.to_thread(net.wait_height, 0, 1)
    genesis_ops = [v["operator"] for v in (await _call(net, "validators", height=1))["validators"]]
    a, b, c, d = genesis_ops
    e = CANDIDATE.public_key.hex()
    payload = {"consensus_key": CANDIDATE_KEY, "name": "no-node"}
    _ok(await asyncio.to_thread(send, net, 0, CANDIDATE, "register_candidate", payload))

    changes = [await _elect(net, [a, b, c, d, e], 1)]  # 4 of 5 sign: still > 2/3
    changes.append(await _elect(net, [a, b, c, e], 2))  # d leaves: 3 of 4 sign
    changes.append(await _elect(net, [a, b, c, d], 3))  # e leaves, d is back
    await asyncio.to_thread(net.wait_height, 0, changes[-1] + 2)

    genesis = str(net.home(0) / "genesis.json")
    addr = member(1).public_key.hex()
    rc, out, err = await _query(
        ["account", addr, "--prove", "--genesis", genesis, "--rpc", net.rpc_url(0)]
    )
    assert rc == 0, err
    verified = json.loads(out)["verified"]
    assert verified["height"] > changes[-1]
    assert verified["validator_changes_followed"] >= 3

    hidden = changes[1]

    def hide(method: str, params: dict[str, Any], result: Any) -> Any:
        return [h for h in result if h != hidden]

    def richer(method: str, params: dict[str, Any], result: Any) -> Any:
        if params.get("prove"):
            result["balance"] += 1
        return result

    def fewer(method: str, params: dict[str, Any], result: Any) -> Any:
        if params.get("prove"):
            sigs = result["commit"]["signatures"]
            result["commit"]["signatures"] = sigs[: (2 * len(sigs)) // 3]
        return result

    lies = [
        (Tamper("hide", hide, methods=frozenset({"validator_changes"})), "validators: hash at"),
        (Tamper("value", richer, methods=frozenset({"account"})), "answer: account field"),
        (Tamper("fewer", fewer, methods=frozenset({"account"})), "need > 2/3"),
    ]
    async with TamperProxy(net.rpc_url(0)) as proxy:
        rc, out, err = await _query(
            ["account", addr, "--prove", "--genesis", genesis, "--rpc", proxy.url]
        )
        assert rc == 0, err  # the proxy itself is honest until told to lie
        for tamper, refusal in lies:
            proxy.tamper = tamper
            rc, out, err = await _query(
                ["account", addr, "--prove", "--genesis", genesis, "--rpc", proxy.url]
            )
            assert rc == 1 and out == "", (tamper.name, out)
            assert "error: verification failed: " in err and refusal in err, (tamper.name, err)
            assert tamper.told >= 1, tamper.name
