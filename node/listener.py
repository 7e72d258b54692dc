"""The RPC server's listening socket: connection limits, in total and per address, and slots
kept for addresses that hold few connections.

Split out of :mod:`node.rpc` (DESIGN.md: a file past ~600 lines is two files): the JSON-RPC
server decides what a request means; this module decides whether a connection is accepted
at all. Each accepted socket first meets a gate that knows the peer's address: over
``limit`` open connections, or over ``per_address`` from one IP address, the connection is
handed to a bare protocol that answers HTTP 503 and hangs up before aiohttp (or any JSON
parsing) sees it, so idle keep-alive connections and open WebSockets count too, which a
middleware could not do. That bare protocol still answers ``GET /health`` with 200: the
node runs, and PROTOCOL.md section 6 says /health answers 200 while it does, so a health
check cannot be locked out by whoever holds the connections. A connection that has not
sent the headers of its first request within ``header_timeout_s`` is closed (slowly sent
headers); later requests on it are bounded by aiohttp's keep-alive timeout.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiohttp import web

__all__ = ["LimitedSite"]

# How long a refused connection may take to send its request line before we answer 503.
_REFUSE_LINGER_S = 1.0
# The most of a refused connection's request we read to find its request line.
_REQUEST_LINE_MAX = 256


def _address(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer)  # e.g. a Unix socket: one "address" for all


class _Refuse(asyncio.Protocol):
    """A connection over a limit: 200 to ``GET /health``, else 503; then hang up."""

    _UNAVAILABLE = (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 25\r\nConnection: close\r\n\r\ntoo many open connections"
    )
    _HEALTHY = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b'Content-Length: 16\r\nConnection: close\r\n\r\n{"status": "ok"}'
    )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._head = b""
        self._done = False
        self._timer = asyncio.get_running_loop().call_later(_REFUSE_LINGER_S, self._answer)

    def data_received(self, data: bytes) -> None:
        self._head += data[: _REQUEST_LINE_MAX - len(self._head)]
        if b"\r\n" in self._head or len(self._head) >= _REQUEST_LINE_MAX:
            self._answer()

    def _answer(self) -> None:
        if self._done:
            return
        self._done = True
        self._timer.cancel()
        parts = self._head.split(b"\r\n", 1)[0].split(b" ")
        healthy = parts[:2] == [b"GET", b"/health"]
        self._transport.write(self._HEALTHY if healthy else self._UNAVAILABLE)
        self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._done = True
        self._timer.cancel()


class _Gate(asyncio.Protocol):
    """The first protocol of every accepted socket: hands it to aiohttp or to _Refuse."""

    def __init__(self, site: LimitedSite) -> None:
        self._site = site

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        proto = self._site._admit(transport)
        transport.set_protocol(proto)
        proto.connection_made(transport)


class LimitedSite(web.BaseSite):
    """A TCP site that refuses connections beyond ``limit`` in total or ``per_address`` from
    one IP address before aiohttp sees them, and closes those that do not send their first
    request's headers within ``header_timeout_s``.

    The last ``reserved`` of the ``limit`` slots go only to an address holding fewer than
    ``reserved_per_address`` connections: a few addresses that each stay under
    ``per_address`` can together fill the shared slots, but not these, so a client with a
    connection or two (an operator's CLI, a member's wallet, the explorer) still gets in."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        limit: int,
        per_address: int | None = None,
        header_timeout_s: float | None = None,
        reserved: int = 0,
        reserved_per_address: int = 0,
    ) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._limit = limit
        self._per_address_limit = limit if per_address is None else per_address
        self._shared = max(0, limit - reserved)
        self._reserved_per_address = reserved_per_address
        self._header_timeout_s = header_timeout_s
        self._live: dict[Any, str] = {}  # aiohttp handler -> the peer's address
        self._by_address: Counter[str] = Counter()
        self._started: set[Any] = set()  # handlers that have had a request

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    def open_connections(self, source: str | None = None) -> int:
        """Connections handed to aiohttp, in total or from one address."""
        return len(self._live) if source is None else self._by_address[source]

    def note_request(self, handler: Any) -> None:
        """The connection of `handler` has sent a complete request head (the server's
        middleware calls this): the header timeout no longer applies to it."""
        if handler in self._live:
            self._started.add(handler)

    def _admit(self, transport: asyncio.BaseTransport) -> asyncio.Protocol:
        server = self._runner.server
        assert server is not None
        addr = _address(transport)
        held = self._by_address[addr]
        if len(self._live) >= self._limit or held >= self._per_address_limit:
            return _Refuse()
        if len(self._live) >= self._shared and held >= self._reserved_per_address:
            return _Refuse()  # the reserved slots are for addresses holding few connections
        handler = server()
        self._live[handler] = addr
        self._by_address[addr] += 1
        if self._header_timeout_s is not None:
            asyncio.get_running_loop().call_later(
                self._header_timeout_s, self._header_deadline, handler, transport
            )
        return handler

    def _header_deadline(self, handler: Any, transport: asyncio.BaseTransport) -> None:
        if handler in self._live and handler not in self._started:
            transport.close()

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        lost = server.connection_lost

        def on_lost(handler: Any, exc: BaseException | None = None) -> None:
            addr = self._live.pop(handler, None)
            if addr is not None:
                self._by_address[addr] -= 1
                if self._by_address[addr] <= 0:
                    del self._by_address[addr]
            self._started.discard(handler)
            lost(handler, exc)

        server.connection_lost = on_lost  # type: ignore[method-assign]  # wrapped to count connections

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Gate(self), self._host, self._port, backlog=self._backlog, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]
