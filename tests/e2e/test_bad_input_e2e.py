"""Hostile input at every door of a running node: each gets its error, the node stays up and
keeps committing. Also: a node whose key is not allowed cannot join the network."""

from __future__ import annotations

import json
import os
import socket

import msgpack
import pytest
from e2e_net import TREASURY, Net, genesis_template, member, send

from state.tx import build_tx

pytestmark = pytest.mark.slow

MEMPOOL_MAX = 12  # below the per-sender bound on txs behind a nonce gap (16)


def rpc_error(net: Net, body: bytes) -> int:
    status, resp = net.post(0, body)
    assert status == 200, status
    assert "result" not in resp, resp
    return resp["error"]["code"]


def test_bad_input_every_door(make_net) -> None:
    # the flood below meets max_txs itself: no share of it kept for peers' copies
    limits = {"max_txs": MEMPOOL_MAX, "peer_reserve_pct": 0}
    net = make_net(1, genesis_template(members=4), {"mempool": limits})
    net.start_all()
    net.wait_height(0, 2)

    # --- JSON-RPC framing and params
    assert rpc_error(net, b"{not json") == -32700
    assert rpc_error(net, b'{"jsonrpc": "2.0", "id": 1, "method": "nope", "params": {}}') == -32601
    assert rpc_error(net, b'{"id": 1, "method": "status"}') == -32600
    assert rpc_error(net, b'{"jsonrpc": "2.0", "id": 1, "method": 7}') == -32600
    call = {"jsonrpc": "2.0", "id": 1, "method": "account", "params": {"address": 123}}
    assert rpc_error(net, json.dumps(call).encode()) == -32602
    call["params"] = [member(0).public_key.hex()]
    assert rpc_error(net, json.dumps(call).encode()) == -32602
    call = {"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx", "params": {"tx": "zz"}}
    assert rpc_error(net, json.dumps(call).encode()) == -32602
    call = {"jsonrpc": "2.0", "id": 1, "method": "block", "params": {"height": 10**9}}
    assert rpc_error(net, json.dumps(call).encode()) == -32001
    batch = [{"jsonrpc": "2.0", "id": i, "method": "status"} for i in range(101)]
    assert rpc_error(net, json.dumps(batch).encode()) == -32600
    status, _ = net.post(0, b" " * (1024 * 1024 + 1))
    assert status == 413

    # --- transactions: each refusal names its error
    def bt(wire: bytes) -> dict:  # type: ignore[type-arg]
        return net.call(0, "broadcast_tx", tx=wire.hex(), mode="sync")

    good = build_tx(
        member(0), "huzhu-e2e", "transfer", 0, 1, {"to": TREASURY.public_key, "amount": 3}
    )
    env = msgpack.unpackb(good.wire, raw=False)
    non_canonical = msgpack.packb({"sig": env["sig"], "body": env["body"]}, use_bin_type=True)
    assert bt(non_canonical)["error"] == "malformed"
    forged = good.wire[:-1] + bytes([good.wire[-1] ^ 0xFF])
    assert bt(forged)["error"] == "bad_signature"
    other = build_tx(
        member(0), "other-chain", "transfer", 0, 1, {"to": TREASURY.public_key, "amount": 3}
    )
    assert bt(other.wire)["error"] == "wrong_chain"
    assert bt(os.urandom(5000))["error"] == "too_large"
    assert bt(b"\x93\x01\x02")["error"] == "malformed"
    res = net.call(0, "broadcast_tx", tx=good.wire.hex(), mode="commit", timeout=40)
    assert res["code"] == 0 and res["height"] >= 1, res
    assert bt(good.wire)["error"] == "duplicate"  # replayed: same hash committed
    replay = build_tx(
        member(0), "huzhu-e2e", "transfer", 0, 1, {"to": TREASURY.public_key, "amount": 4}
    )
    assert bt(replay.wire)["error"] == "bad_nonce"  # replayed nonce, different body

    # --- garbage on the P2P port: the connection dies, the node does not
    for junk in (os.urandom(70_000), b"\x00\x00\x00\x05hello", b"\xff" * 4):
        with socket.create_connection(("127.0.0.1", net.p2p_port(0)), timeout=5) as s:
            try:
                s.sendall(junk)
                s.settimeout(2)
                s.recv(1024)
            except OSError:
                pass
    h = net.height(0)
    net.wait_height(0, h + 2)

    # --- flood past the mempool limit: nonces 1.. of one sender cannot be reaped (no nonce 0)
    codes = []
    for n in range(1, MEMPOOL_MAX + 6):
        w = build_tx(
            member(1), "huzhu-e2e", "transfer", n, 1, {"to": TREASURY.public_key, "amount": 1}
        )
        codes.append(bt(w.wire)["error"])
    assert codes[:MEMPOOL_MAX] == [None] * MEMPOOL_MAX
    assert set(codes[MEMPOOL_MAX:]) == {"mempool_full"}
    assert net.call(0, "account", address=member(1).public_key.hex())["pending_nonce"] == 0

    # still alive and committing
    h = net.height(0)
    net.wait_height(0, h + 2)
    assert net.alive(0)
    status, body = net.post(0, b'{"jsonrpc": "2.0", "id": 9, "method": "status"}')
    assert status == 200 and body["result"]["height"] >= h + 2


def test_node_with_unlisted_key_cannot_join(make_net) -> None:
    net = make_net(4)
    net.start_all()
    net.wait_height(0, 2)
    outsider_id = net.add_observer(4)  # a fresh key nobody listed
    net.start(4)
    net.wait_rpc(4)
    h = net.height(0)
    net.wait_height(0, h + 4)  # time for the outsider to try every validator, more than once
    assert net.alive(4)
    st = net.call(4, "status")
    assert st["peers"] == 0 and st["height"] == 0
    for i in range(4):
        ids = {p["node_id"] for p in net.call(i, "net_info")["peers"]}
        assert outsider_id.hex() not in ids and len(ids) == 3
    # the validators never stopped
    net.wait_height(0, net.height(0) + 2)
    res = send(net, 0, member(0), "transfer", {"to": TREASURY.public_key, "amount": 1})
    assert res["code"] == 0
    assert net.height(4) == 0
