"""Four validator processes agree; one killed keeps liveness; two killed halt it safely."""

from __future__ import annotations

import time

import pytest
from e2e_net import TREASURY, Net, member, send, wait_for

pytestmark = pytest.mark.slow


def blocks_agree(net: Net, nodes: list[int], upto: int) -> None:
    """Every node in `nodes` has identical block hashes and state roots for 1..upto."""
    for h in range(1, upto + 1):
        seen = {
            (b["hash"], b["state_root"]) for b in (net.call(i, "block", height=h) for i in nodes)
        }
        assert len(seen) == 1, f"height {h}: {seen}"


def test_four_validators_commit_identical_blocks(make_net) -> None:
    net = make_net(4)
    net.start_all()
    for i in range(4):
        net.wait_height(i, 5)
    st = net.call(0, "status")
    assert st["chain_id"] == "huzhu-e2e" and st["validator"] is True and st["peers"] == 3
    # a transfer through node 0 is seen by every node after its block
    res = send(net, 0, member(0), "transfer", {"to": TREASURY.public_key, "amount": 5})
    assert res["code"] == 0 and res["error"] is None, res
    top = min(net.wait_height(i, res["height"] + 1) for i in range(4))
    blocks_agree(net, list(range(4)), top)
    for i in range(4):
        tx = net.call(i, "tx", hash=res["hash"])
        assert tx["height"] == res["height"] and tx["type"] == "transfer"
    # clean shutdown: SIGTERM gives exit status 0
    assert net.stop(3) == 0


def _load(net: Net, nodes: list[int], senders: range, count: int) -> list[str]:
    """Send `count` transfers per sender round-robin over `nodes` (sync mode); the hashes."""
    hashes = []
    for k in range(count):
        for s in senders:
            node = nodes[(s + k) % len(nodes)]
            r = send(
                net,
                node,
                member(s),
                "transfer",
                {"to": TREASURY.public_key, "amount": 1},
                mode="sync",
            )
            assert r["code"] == 0, r
            hashes.append(r["hash"])
    return hashes


def test_kill9_one_validator_under_load_then_catch_up(make_net) -> None:
    net = make_net(4)
    net.start_all()
    net.wait_height(0, 2)
    sent = _load(net, [0, 1, 2, 3], range(4), 3)
    net.kill9(3)
    sent += _load(net, [0, 1, 2], range(4), 5)
    h = net.wait_height(0, net.height(0) + 5)

    # every acknowledged tx commits on the surviving nodes
    def all_committed() -> bool:
        for hx in sent:
            try:
                net.call(0, "tx", hash=hx)
            except Exception:
                return False
        return True

    wait_for(all_committed, 30, "all sent txs committed", net)
    h = net.height(0)
    net.start(3)
    net.wait_rpc(3)
    t0 = time.monotonic()
    net.wait_height(3, h, timeout=60)
    catch_up_s = time.monotonic() - t0
    print(f"catch-up of {h} blocks took {catch_up_s:.2f}s")
    blocks_agree(net, [0, 1, 2, 3], h)
    for hx in sent:
        assert net.call(3, "tx", hash=hx)["code"] == 0
    # and it takes part again: the chain goes on with all four
    net.wait_height(3, h + 3)


def test_two_of_four_down_halts_then_resumes(make_net) -> None:
    net = make_net(4)
    net.start_all()
    net.wait_height(0, 3)
    net.kill9(2)
    net.kill9(3)
    time.sleep(1.0)  # let any in-flight block finish
    h = net.height(0)
    time.sleep(3.0)  # many block times: without 2/3 of the power nothing may commit
    assert net.height(0) == h and net.height(1) == h
    net.start(2)
    net.start(3)
    for i in range(4):
        net.wait_height(i, h + 3, timeout=60)
    blocks_agree(net, [0, 1, 2, 3], h + 3)
