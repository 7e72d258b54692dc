"""Raw JSON-RPC calls for the node tests: over HTTP (status and body as sent back) and over a
WebSocket (the answer to one id, skipping notifications)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from node.rpc import RpcServer


async def post(server: RpcServer, body: Any, *, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else json.dumps(body).encode()
    async with aiohttp.ClientSession() as s:
        async with s.post(server.url, data=data) as r:
            text = await r.text()
            return r.status, (json.loads(text) if text else None)


async def call(server: RpcServer, method: str, params: Any = None, **extra: Any) -> Any:
    req: dict[str, Any] = {"jsonrpc": "2.0", "id": 7, "method": method, **extra}
    if params is not None:
        req["params"] = params
    status, body = await post(server, req)
    assert status == 200
    return body


def error_of(body: Any) -> tuple[int, str]:
    assert "result" not in body, body
    return body["error"]["code"], body["error"]["message"]


async def ws_call(ws: aiohttp.ClientWebSocketResponse, method: str, params: Any, id_: int) -> Any:
    await ws.send_json({"jsonrpc": "2.0", "id": id_, "method": method, "params": params})
    while True:
        msg = await asyncio.wait_for(ws.receive_json(), 5)
        if msg.get("id") == id_:
            return msg
