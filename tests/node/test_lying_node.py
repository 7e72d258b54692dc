"""A lying node: the light client behind a tampering proxy refuses every lie, each with its own
message, and accepts the honest answers (issue 12, PROTOCOL.md section 11).

The node is a real RPC server (node/rpc.py + node/service.py) over a chain built in process
with real execution and signed commits (light_chain.py), whose validator set changed by
elections and a jailing before the height read, so following the set from genesis is part of
every verification. tamper_proxy.py sits in front of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from light_chain import ElectionStory, LightChain, election_chain
from tamper_proxy import HONEST, Tamper, TamperProxy

from node.client import RpcClient
from node.config import RpcConfig
from node.rpc import RpcServer
from node.service import NodeService


@dataclass
class Served:
    story: ElectionStory
    server: RpcServer
    other: RpcServer  # another chain (same validator keys, another chain_id)
    proxy: TamperProxy


async def serve(lc: LightChain) -> RpcServer:
    server = RpcServer(NodeService(lc.parts()), RpcConfig(listen="127.0.0.1:0"))
    await server.start()
    return server


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    story = election_chain()
    other = election_chain("huzhu-other")
    s1 = await serve(story.lc)
    s2 = await serve(other.lc)
    try:
        async with TamperProxy(s1.url) as proxy:
            yield Served(story, s1, s2, proxy)
    finally:
        await s1.stop()
        await s2.stop()


async def test_the_proxy_passes_honest_answers_and_tells_each_lie(served: Served) -> None:
    """The harness itself: honest answers are the node's, a rewrite reaches the client and is
    counted, a rerouted call answers from the other upstream."""
    addr = served.story.members[1].address.hex()
    async with RpcClient(served.server.url) as direct, RpcClient(served.proxy.url) as c:
        served.proxy.tamper = HONEST
        assert await c.account(addr) == await direct.account(addr)
        assert HONEST.told == 0

        def richer(method: str, params: dict[str, Any], result: Any) -> Any:
            return dict(result, balance=result["balance"] + 1)

        lie = Tamper("balance", rewrite=richer, methods=frozenset({"account"}))
        served.proxy.tamper = lie
        assert (await c.account(addr))["balance"] == (await direct.account(addr))["balance"] + 1
        assert (await c.status())["chain_id"] == "huzhu-light"  # other methods untouched
        assert lie.told == 1
        other = served.other.url
        served.proxy.tamper = Tamper("chain", route=lambda m, p: (m, p, other))
        assert (await c.status())["chain_id"] == "huzhu-other"
