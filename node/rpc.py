"""The JSON-RPC 2.0 server of PROTOCOL.md section 6 (aiohttp): ``POST /``, ``/ws``, ``/health``.

This module is the boundary where client bytes enter the node (DESIGN.md principle 5): every
malformed input becomes its exact JSON-RPC error here, and the node behind ``NodeAPI`` only
ever sees well-typed arguments. What a body means (parsing, batches, the order of checks,
dispatch) is :mod:`node.rpcdispatch`; this module is the aiohttp wiring around it: HTTP,
``/ws`` and its subscriptions, ``/health``, the explorer's pages. Calls without ``id`` are
notifications: executed, never answered. Which methods exist, their params and each param's check are node/methods.py's table; this module applies
them and answers ``broadcast_tx`` (with its commit wait), ``subscribe``, ``unsubscribe`` and
``rpc.discover`` itself; every other method is the node's method of the same name.

Every resource a client can hold is bounded by RpcConfig: body size (HTTP 413), batch size
and a batch's answer in bytes (node.rpcdispatch), the weight of calls one IP address has
being answered at once (node.rpcfair),
open TCP connections in total and per IP address (HTTP 503 beyond, before any JSON is
parsed, /health still 200: :mod:`node.listener`), the time to send request headers and the
idle time of a keep-alive connection or of a WebSocket without subscriptions,
subscriptions per WebSocket, each WebSocket's send queue (in messages and in bytes) and
all of them together (``node.wsconn.WS_SEND_TOTAL_BYTES``: the longest queues are dropped):
events are enqueued without waiting, and a subscriber whose queue is full is disconnected
(close code 1013, reason "subscriber too slow") so that a slow reader can never stall the
node's event loop; the defaults hold every event of a block of max_block_txs transactions.

Choices where PROTOCOL.md section 6 is silent (pinned by tests/e2e/test_conformance_e2e.py):

- an unknown parameter name is -32602 naming it (a typo must not silently take a default);
- ``limit`` below 1 is -32602 like above 1000; a height that is an integer but outside the
  method's range (negative included) is -32001, a non-integer height -32602;
- an optional parameter given as null takes its default;
- ``subscribe``/``unsubscribe`` over HTTP are -32601 (they need a connection to notify);
  subscription ids are strings; ``unsubscribe`` of an unknown id is -32001;
- a batch of notifications only is answered by HTTP 204 without body; an empty batch is
  -32600; the 413 answer carries a -32600 error object;
- ``net_info`` directions are ``"in"`` (the peer dialed us) and ``"out"``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from node.api import BroadcastMode, NodeAPI, shown
from node.config import RpcConfig, split_host_port
from node.explorer import ROUTE_PREFIX, static_dir
from node.jsonrpc import INVALID_REQUEST, LIMIT_EXCEEDED, NOT_FOUND, RpcError, dumps
from node.listener import LimitedSite
from node.methods import bind_handlers, openrpc_document
from node.rpcdispatch import Dispatcher, MethodStats, batch_deadline, error_answer
from node.wsconn import LingeringWebSocket, SendBudget, WsConn, notification

__all__ = ["MethodStats", "RpcServer"]

log = logging.getLogger("huzhu.rpc")


# How long stop() waits for WebSocket clients to answer the close handshake.
_STOP_WAIT_S = 2.0


class RpcServer:
    """The JSON-RPC server over a NodeAPI; ``start()`` binds, ``stop()`` closes everything."""

    def __init__(
        self,
        api: NodeAPI,
        config: RpcConfig | None = None,
        ws_send_total_bytes: int | None = None,
    ) -> None:
        self.api = api
        self.config = config or RpcConfig()
        self._runner: web.AppRunner | None = None
        self._site: LimitedSite | None = None
        self._conns: set[WsConn] = set()
        total = (
            self.config.ws_send_total_bytes if ws_send_total_bytes is None else ws_send_total_bytes
        )
        self._send_budget = SendBudget(total)
        self.dropped_subscribers = 0
        #: GET /metrics on this port when the node serves it here ([metrics] listen empty)
        self.metrics_handler: Callable[[web.Request], Any] | None = None
        self._unsubscribe_events: Callable[[], None] | None = None
        self._openrpc = openrpc_document(self.config)
        # The methods the server answers itself; every other one is the node's (node.methods).
        handlers = bind_handlers(
            api,
            {
                "broadcast_tx": self._broadcast_tx,
                "subscribe": self._subscribe,
                "unsubscribe": self._unsubscribe,
                "rpc.discover": self._discover,
            },
        )
        self._dispatcher = Dispatcher(self.config, handlers)
        many = getattr(api, "broadcast_txs", None)  # a batch's sync broadcasts, as one request
        self._dispatcher.broadcast_many = many if callable(many) else None
        #: per method (node.methods names; others are "unknown"): calls and time (metrics)
        self.method_stats: dict[str, MethodStats] = self._dispatcher.method_stats

    # -- lifecycle --

    def make_app(self) -> web.Application:
        # Bodies are read by hand (streamed, counted): client_max_size is only a backstop.
        app = web.Application(
            client_max_size=self.config.max_body_bytes + 1, middlewares=[self._request_seen]
        )
        app.router.add_post("/", self._http)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/health", self._health)
        if self.config.explorer:
            app.router.add_get("/explorer", self._explorer_redirect)
            app.router.add_get(ROUTE_PREFIX, self._explorer_index)
            app.router.add_static(ROUTE_PREFIX, static_dir(), show_index=False)
        if self.metrics_handler is not None:
            app.router.add_get("/metrics", self.metrics_handler)
        return app

    @web.middleware
    async def _request_seen(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Tell the listener the connection sent a whole request head (header timeout)."""
        if self._site is not None:
            self._site.note_request(request.protocol)
        resp: web.StreamResponse = await handler(request)
        return resp

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        """Listen on ``config.listen`` (or the given host/port; port 0 picks a free one)."""
        h, p = split_host_port(self.config.listen)
        host = h if host is None else host
        port = p if port is None else port
        cfg = self.config
        self._runner = web.AppRunner(
            self.make_app(),
            access_log=None,
            shutdown_timeout=1.0,
            keepalive_timeout=cfg.keepalive_timeout_ms / 1000,
        )
        await self._runner.setup()
        self._site = LimitedSite(
            self._runner,
            host,
            port,
            cfg.max_connections,
            per_address=cfg.max_connections_per_address,
            header_timeout_s=cfg.header_timeout_ms / 1000,
            reserved=cfg.reserved_connections,
            reserved_per_address=cfg.reserved_per_address,
        )
        try:
            await self._site.start()
        except OSError:  # e.g. the port is taken: leave nothing half-open behind
            await self._runner.cleanup()
            self._runner = None
            raise
        self._unsubscribe_events = self.api.subscribe_events(
            self._on_event, wants=self._wants_event
        )

    @property
    def host(self) -> str:
        assert self._site is not None, "not started"
        return self._site.host

    @property
    def port(self) -> int:
        assert self._site is not None, "not started"
        return self._site.port

    @property
    def websocket_count(self) -> int:
        """Open WebSocket connections (subscribers and callers)."""
        return len(self._conns)

    @property
    def calls_deferred(self) -> int:
        """Calls that waited for a later turn of the loop: their address had started its
        max_call_weight_per_address in the turn (node.rpcfair)."""
        return self._dispatcher.budget.deferred

    @property
    def calls_over_answer_bound(self) -> int:
        """Batch calls answered -32002 unexecuted: the batch's answer had reached
        max_batch_answer_bytes (node.rpcdispatch)."""
        return self._dispatcher.calls_over_answer_bound

    def open_connections(self, source: str | None = None) -> int:
        """Accepted connections now open, in total or from one IP address."""
        return 0 if self._site is None else self._site.open_connections(source)

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    async def stop(self) -> None:
        """Close every WebSocket (code 1001) and the listener; bounded by _STOP_WAIT_S so a
        client that never answers the close handshake cannot hold up the node's shutdown."""
        if self._unsubscribe_events is not None:
            self._unsubscribe_events()
            self._unsubscribe_events = None
        closing = [
            asyncio.ensure_future(
                conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
            )
            for conn in list(self._conns)
        ]
        if closing:
            _, late = await asyncio.wait(closing, timeout=_STOP_WAIT_S)
            for task in late:
                task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- HTTP --

    async def _explorer_redirect(self, request: web.Request) -> web.StreamResponse:
        """/explorer without the slash: the page's relative module paths need the slash."""
        raise web.HTTPMovedPermanently(ROUTE_PREFIX)

    async def _explorer_index(self, request: web.Request) -> web.StreamResponse:
        """The single page; every view is a hash route of it."""
        return web.FileResponse(static_dir() / "index.html")

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The body, or None when it is over the limit (checked before and while reading)."""
        limit = self.config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await request.content.read(64 * 1024)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)

    async def _http(self, request: web.Request) -> web.StreamResponse:
        try:
            if request.content.is_eof():
                # The whole body has arrived (a client's usual request): reading it cannot
                # wait, so no timer (arming and cancelling one is ~5 us of a ~190 us request).
                body = await self._read_body(request)
            else:
                async with asyncio.timeout(self.config.read_timeout_ms / 1000):
                    body = await self._read_body(request)
        except TimeoutError:  # a body trickled in to hold the connection (slowloris)
            resp = web.json_response(
                error_answer(None, RpcError(INVALID_REQUEST, "request body not received in time")),
                status=408,
            )
            resp.force_close()
            return resp
        if body is None:
            resp = web.json_response(
                error_answer(
                    None,
                    RpcError(
                        INVALID_REQUEST,
                        f"request body exceeds {self.config.max_body_bytes} bytes",
                    ),
                ),
                status=413,
            )
            resp.force_close()
            return resp
        out = await self.handle_body(body, None, request.remote or "")
        if out is None:
            return web.Response(status=204)
        return web.Response(text=out, content_type="application/json")

    # -- JSON-RPC --

    async def handle_body(self, body: bytes, conn: WsConn | None, source: str = "") -> str | None:
        """Answer one HTTP body or WebSocket message from `source` (node.rpcdispatch)."""
        return await self._dispatcher.handle_body(body, conn, source)

    # -- the methods the server answers itself --

    def _broadcast_tx(self, tx: bytes, mode: BroadcastMode) -> Any:
        """The node's, with the commit wait this server is configured for, cut short to the
        deadline of the batch the call is in (commit mode only: no other mode waits, and
        the batch's deadline costs as much as the rest of the call's dispatch)."""
        timeout = self.config.commit_timeout_ms / 1000
        if mode != "commit":
            return self.api.broadcast_tx(tx, mode, timeout)
        deadline = batch_deadline()
        if deadline is not None:
            timeout = max(0.0, min(timeout, deadline - asyncio.get_running_loop().time()))
        return self.api.broadcast_tx(tx, mode, timeout)

    def _discover(self) -> dict[str, Any]:
        """The OpenRPC document of the table, with this server's limits (built once)."""
        return self._openrpc

    # -- WebSocket --

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = LingeringWebSocket(max_msg_size=self.config.max_body_bytes, heartbeat=30.0)
        await ws.prepare(request)
        conn = WsConn(
            ws, self.config.ws_send_queue, self.config.ws_send_queue_bytes, self._send_budget
        )
        self._conns.add(conn)
        source = request.remote or ""
        writer = conn.task = asyncio.create_task(conn.writer())
        # Calls run concurrently (a commit-mode broadcast must not hold up a status call), at
        # most ws_max_pending at once: beyond that we stop reading, which slows the client.
        slots = asyncio.Semaphore(self.config.ws_max_pending)
        calls: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        idle_s = self.config.ws_idle_timeout_ms / 1000
        last_active = loop.time()

        def active(_: object = None) -> None:
            nonlocal last_active
            last_active = loop.time()

        try:
            while True:
                try:
                    msg = await ws.receive(timeout=max(0.0, last_active + idle_s - loop.time()))
                except TimeoutError:
                    if conn.subs or calls or loop.time() < last_active + idle_s:
                        active()  # subscribed or answering: waiting for us, not idle
                        continue
                    await ws.close(code=WSCloseCode.OK, message=b"idle")
                    break
                active()
                if msg.type == WSMsgType.TEXT:
                    body: bytes = msg.data.encode("utf-8")
                elif msg.type == WSMsgType.BINARY:
                    body = msg.data
                else:
                    break
                await slots.acquire()
                task = asyncio.create_task(self._ws_call(conn, body, slots, source))
                calls.add(task)
                task.add_done_callback(calls.discard)
                task.add_done_callback(active)
        finally:
            self._conns.discard(conn)
            conn.subs.clear()
            for task in (*calls, writer):
                task.cancel()
            await asyncio.gather(*calls, writer, return_exceptions=True)
            conn.clear()  # its backlog no longer counts against the server's send budget
            if not ws.closed:
                await ws.close()
        await ws.linger(request)  # after a 1009: the client may still be writing (wsconn.py)
        return ws

    async def _ws_call(
        self, conn: WsConn, body: bytes, slots: asyncio.Semaphore, source: str
    ) -> None:
        try:
            out = await self.handle_body(body, conn, source)
            if out is not None and not conn.dropped:
                await conn.put(out)
        finally:
            slots.release()

    def _subscribe(self, conn: WsConn, event: str) -> str:
        if len(conn.subs) >= self.config.max_ws_subscriptions:
            raise RpcError(
                LIMIT_EXCEEDED,
                f"subscription limit reached ({self.config.max_ws_subscriptions} per connection)",
            )
        sub_id = str(conn.next_sub)
        conn.next_sub += 1
        conn.subs[sub_id] = event
        return sub_id

    def _unsubscribe(self, conn: WsConn, subscription: str) -> bool:
        if conn.subs.pop(subscription, None) is None:
            raise RpcError(NOT_FOUND, f"not found: subscription {shown(subscription)!r}")
        return True

    def _wants_event(self, kind: str) -> bool:
        """Whether any WebSocket subscribes to `kind` now: the node skips building the
        events nobody reads (a `tx` event per committed transaction, usually for nobody)."""
        return any(kind in c.subs.values() for c in self._conns)

    def _on_event(self, kind: str, data: dict[str, Any]) -> None:
        """NodeAPI listener: fan out without awaiting; drop subscribers that lag."""
        try:
            kind_json = dumps(kind)
            data_json: str | None = None
            for conn in list(self._conns):
                for sub_id, sub_kind in list(conn.subs.items()):
                    if sub_kind != kind or conn.dropped:
                        continue
                    if data_json is None:
                        data_json = dumps(data)
                    msg = notification(dumps(sub_id), kind_json, data_json)
                    if not conn.offer(msg):
                        self._drop(conn)
                    elif self._send_budget.over():
                        self._shed()
        except Exception:  # a listener must never raise into the node
            log.exception("event fan-out failed for %s", kind)

    def _shed(self) -> None:
        """All WebSockets together queue more than their budget: drop the subscribers with
        the longest queues (those that read least) until they fit again."""
        while self._send_budget.over():
            worst = max(self._conns, key=lambda c: c.queued_bytes, default=None)
            if worst is None or worst.queued_bytes == 0:
                return
            self._drop(worst, f"longest of {self._send_budget.queued} bytes queued in all")

    def _drop(self, conn: WsConn, why: str = "full") -> None:
        log.warning(
            "dropping a WebSocket subscriber whose send queue is %s (%d messages, %d bytes)",
            why,
            conn.queued_messages,
            conn.queued_bytes,
        )
        conn.dropped = True
        self.dropped_subscribers += 1
        conn.subs.clear()
        self._conns.discard(conn)
        if conn.task is not None:
            # Stop sending the backlog first: the close frame must not queue behind it, and
            # cancelling between frames (a frame is written whole) leaves the stream intact.
            conn.task.cancel()
        conn.clear()  # frees any call waiting to queue its answer
        asyncio.get_running_loop().create_task(
            conn.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"subscriber too slow")
        )
