"""A lying node: an aiohttp reverse proxy in front of a real node's JSON-RPC that rewrites answers.

A light client must refuse whatever a node makes up (PROTOCOL.md section 11). The proxy
forwards every JSON-RPC call (POST /, single or batch) to an honest upstream node and hands
the answer's `result` to a chosen `Tamper` before sending it back, so a test can point the
verifier (the client library or `huzhu query --prove`) at the proxy and see each lie refused.
It listens on 127.0.0.1 only.

A `Tamper` can also change where and what the proxy asks (`route`): to answer with the honest
proof of another key (the request is rewritten, the answer passed back as if it were the
asked one), or with the honest answers of another chain (another upstream).

The mutations are written against the JSON forms only through small helpers that look the
parts up by name (`proof`, `header`, `commit`, `signatures`, `validators`), so the same
mutation serves every read kind.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

#: (method, params) -> (method, params, upstream URL or None for the default upstream)
Route = Callable[[str, dict[str, Any]], tuple[str, dict[str, Any], str | None]]
#: (method, params as asked, result) -> the result to send back
Rewrite = Callable[[str, dict[str, Any], Any], Any]


def _keep(method: str, params: dict[str, Any], result: Any) -> Any:
    return result


def _same(method: str, params: dict[str, Any]) -> tuple[str, dict[str, Any], str | None]:
    return method, params, None


@dataclass
class Tamper:
    """One lie: which answers it touches (`methods`, empty = all) and how."""

    name: str
    rewrite: Rewrite = _keep
    route: Route = _same
    methods: frozenset[str] = frozenset()
    #: answers actually rewritten so far (a test asserts the lie was told)
    told: int = 0

    def applies(self, method: str) -> bool:
        return not self.methods or method in self.methods


HONEST = Tamper("honest")


@dataclass
class TamperProxy:
    """`async with TamperProxy(upstream) as p:` then `p.tamper = ...`; `p.url` for clients."""

    upstream: str
    tamper: Tamper = field(default_factory=lambda: HONEST)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    _port: int = 0

    async def __aenter__(self) -> TamperProxy:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # a TCP server has sockets
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/"

    async def _handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        if isinstance(body, list):
            answers = [await self._one(req) for req in body]
            return web.json_response(answers)
        return web.json_response(await self._one(body))

    async def _one(self, req: dict[str, Any]) -> Any:
        method = req.get("method", "")
        params = dict(req.get("params") or {})
        self.calls.append((method, params))
        tamper = self.tamper
        target = None
        asked = params
        if tamper.applies(method):
            method_up, params_up, target = tamper.route(method, copy.deepcopy(params))
        else:
            method_up, params_up = method, params
        up_req = dict(req, method=method_up, params=params_up)
        assert self._session is not None
        async with self._session.post(target or self.upstream, json=up_req) as r:
            answer = await r.json(content_type=None)
        if not tamper.applies(method):
            return answer
        lied = target is not None or method_up != method or params_up != asked
        if isinstance(answer, dict) and "result" in answer:
            before = answer["result"]
            answer["result"] = tamper.rewrite(method, asked, copy.deepcopy(before))
            lied = lied or answer["result"] != before
        tamper.told += lied
        return answer


# ---------------------------------------------------------------------- mutation helpers


def flip_hex(h: str, at: int = -1) -> str:
    """`h` with one hex digit changed (the last by default)."""
    i = at % len(h)
    c = "0" if h[i] != "0" else "1"
    return h[:i] + c + h[i + 1 :]


def first_hash_in(obj: Any, skip: frozenset[str] = frozenset()) -> list[Any] | None:
    """Path (keys and indexes) of the first 64-hex string in `obj`, depth first."""
    if isinstance(obj, str) and len(obj) == 64 and all(c in "0123456789abcdef" for c in obj):
        return []
    if isinstance(obj, dict):
        for k in sorted(obj):
            if k in skip:
                continue
            p = first_hash_in(obj[k], skip)
            if p is not None:
                return [k, *p]
    if isinstance(obj, list):
        for i, x in enumerate(obj):
            p = first_hash_in(x, skip)
            if p is not None:
                return [i, *p]
    return None


def get_path(obj: Any, path: list[Any]) -> Any:
    for p in path:
        obj = obj[p]
    return obj


def set_path(obj: Any, path: list[Any], value: Any) -> None:
    for p in path[:-1]:
        obj = obj[p]
    obj[path[-1]] = value
