"""The RPC server's listening socket, capped at ``max_connections`` open TCP connections.

Split out of :mod:`node.rpc` (DESIGN.md: a file past ~600 lines is two files): the JSON-RPC
server decides what a request means; this module decides whether a connection is accepted
at all. A connection over the limit gets HTTP 503 from a bare protocol and is closed before
aiohttp (or any JSON parsing) ever sees it, so idle keep-alive connections and open
WebSockets count too, which a middleware could not do.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

__all__ = ["LimitedSite"]

# A connection that never finishes its TCP/HTTP setup is forgotten after this long.
_PENDING_CONNECTION_TTL_S = 10.0
# How long a refused connection may take to send its request before we hang up.
_REFUSE_LINGER_S = 1.0


class _Refuse(asyncio.Protocol):
    """Answers HTTP 503 to a connection over the limit and hangs up."""

    _RESPONSE = (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 25\r\nConnection: close\r\n\r\ntoo many open connections"
    )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._RESPONSE)
        # Wait for the request before closing: closing on unread data would reset the
        # connection and the client might never see the 503.
        asyncio.get_running_loop().call_later(_REFUSE_LINGER_S, transport.close)

    def data_received(self, data: bytes) -> None:
        self._transport.close()


class LimitedSite(web.BaseSite):
    """A TCP site that refuses connections beyond ``limit`` before aiohttp sees them.

    aiohttp has no connection cap; counting here (rather than in a middleware) also covers
    idle keep-alive connections and open WebSockets."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, limit: int) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._limit = limit
        self._pending: dict[Any, float] = {}  # handler -> creation time, until connection_made
        self._live: set[Any] = set()

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    def open_connections(self) -> int:
        return len(self._live) + len(self._pending)

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        made, lost = server.connection_made, server.connection_lost

        def on_made(handler: Any, transport: asyncio.Transport) -> None:
            if self._pending.pop(handler, None) is not None:
                self._live.add(handler)
            made(handler, transport)

        def on_lost(handler: Any, exc: BaseException | None = None) -> None:
            self._live.discard(handler)
            self._pending.pop(handler, None)
            lost(handler, exc)

        server.connection_made = on_made  # type: ignore[method-assign]  # wrapped to count connections
        server.connection_lost = on_lost  # type: ignore[method-assign]  # wrapped to count connections

        def factory() -> asyncio.Protocol:
            now = time.monotonic()
            for h, t in list(self._pending.items()):
                if now - t > _PENDING_CONNECTION_TTL_S:  # its transport never came up
                    del self._pending[h]
            if self.open_connections() >= self._limit:
                return _Refuse()
            handler = server()
            self._pending[handler] = now
            return handler

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            factory, self._host, self._port, backlog=self._backlog, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]
