"""A listed observer (not a validator) joins, block-syncs, agrees, and relays transactions."""

from __future__ import annotations

import pytest
from e2e_net import TREASURY, member, send

pytestmark = pytest.mark.slow


def test_listed_observer_syncs_and_relays(make_net) -> None:
    net = make_net(4)
    observer = net.add_observer(4)
    net.allow_observer(observer)
    net.start_all()
    net.wait_height(0, 5)
    net.start(4)
    net.wait_rpc(4)
    h = net.wait_height(4, net.height(0))  # block sync from the validators
    st = net.call(4, "status")
    assert st["validator"] is False and st["peers"] == 4
    assert st["node_id"] == observer.hex()
    assert net.call(4, "block", height=h)["hash"] == net.call(0, "block", height=h)["hash"]
    # a tx sent to the observer reaches the validators by gossip and is committed
    res = send(net, 4, member(0), "transfer", {"to": TREASURY.public_key, "amount": 2})
    assert res["code"] == 0, res
    net.wait_height(1, res["height"])
    assert net.call(1, "tx", hash=res["hash"])["height"] == res["height"]
    # the validators list it as an inbound or outbound peer
    ids = {p["node_id"] for p in net.call(2, "net_info")["peers"]}
    assert observer.hex() in ids
