"""One WebSocket connection of the JSON-RPC server (node/rpc.py): its subscriptions and its
send queue, bounded in messages and in bytes and drained by one writer task, and the
notification an event becomes. Split out of node/rpc.py, which decides what to send."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from aiohttp import WSCloseCode, web
from aiohttp.http_websocket import WebSocketError

from node.jsonrpc import dumps

__all__ = [
    "WS_SEND_TOTAL_BYTES",
    "LINGER_S",
    "LingeringWebSocket",
    "SendBudget",
    "WsConn",
    "event_message",
    "notification",
]

#: Seconds a connection closed for a message over max_body_bytes stays open after the close
#: frame, its incoming bytes read and discarded, for the client to finish writing and answer.
LINGER_S = 2.0

#: Bytes queued over all WebSockets of one server before the longest queues are dropped.
#: Without it the per-connection bound multiplies: 256 connections x 16 MiB is 4 GiB, and
#: 128 subscribers that never read pushed a node past 500 MB during a 1,000 tx/s flood
#: (tests/redteam/test_tx_flood.py). Every event of a 5,000-tx block for ~20 readers fits.
WS_SEND_TOTAL_BYTES = 64 * 1024 * 1024


def event_message(sub_id: str, kind: str, data: Any) -> str:
    """The notification of one event to one subscription (ASCII: its length is its size)."""
    return notification(dumps(sub_id), dumps(kind), dumps(data))


def notification(sub_json: str, kind_json: str, data_json: str) -> str:
    return (
        '{"jsonrpc":"2.0","method":"event","params":{"subscription":'
        f'{sub_json},"event":{kind_json},"data":{data_json}}}}}'
    )


class LingeringWebSocket(web.WebSocketResponse):
    """A WebSocket that, closing with 1009 (message too big), does not close the socket at
    once: the client is usually still writing that message, and a socket closed with unread
    bytes sends a TCP reset, which can discard the close frame before the client reads it
    (it then saw 1006, abnormal closure, instead of 1009). The handler calls `linger`, which
    keeps the connection open, discarding what arrives, until the client closes or LINGER_S.

    aiohttp closes the transport through `_close_transport` (3.10 and later); with an older
    aiohttp this override is never called and the socket closes at once, as before."""

    _lingering = False

    def _close_transport(self) -> None:
        exc = self.exception()
        if isinstance(exc, WebSocketError) and exc.code == WSCloseCode.MESSAGE_TOO_BIG:
            self._lingering = True  # aiohttp's parser stopped: later bytes are discarded
            return
        super()._close_transport()

    async def linger(self, request: web.Request, seconds: float = LINGER_S) -> None:
        """After the 1009 close: wait for the client to close its side, at most `seconds`,
        then close the socket (the request's protocol reads and drops its bytes meanwhile)."""
        if not self._lingering:
            return
        transport = request.transport
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while transport is not None and not transport.is_closing() and loop.time() < end:
            await asyncio.sleep(0.05)
        if transport is not None:
            transport.close()


class SendBudget:
    """The bytes queued across every WsConn of one server, against one bound (``max_bytes``);
    the server drops the longest queues when an event takes it over."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.queued = 0

    def over(self) -> bool:
        return self.queued > self.max_bytes


class WsConn:
    """One WebSocket: its subscriptions and its send queue, drained by one writer task.

    The queue is bounded by ``max_messages`` and by ``max_bytes`` (the sum of the queued
    messages' lengths; every message is ASCII JSON, so that is their size). An empty queue
    takes any one message, so a single answer larger than the bound still goes out."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        max_messages: int,
        max_bytes: int,
        budget: SendBudget | None = None,
    ) -> None:
        self.ws = ws
        self.budget = budget or SendBudget(max_bytes)
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.subs: dict[str, str] = {}  # subscription id -> event kind
        self.next_sub = 1
        self.dropped = False
        self.task: asyncio.Task[None] | None = None  # the writer
        self.queued_bytes = 0
        self._msgs: deque[str] = deque()
        self._ready = asyncio.Event()  # something to send
        self._room = asyncio.Event()  # the writer took a message (or the queue was cleared)

    @property
    def queued_messages(self) -> int:
        return len(self._msgs)

    def _fits(self, msg: str) -> bool:
        if not self._msgs:
            return True
        return (
            len(self._msgs) < self.max_messages and self.queued_bytes + len(msg) <= self.max_bytes
        )

    def _push(self, msg: str) -> None:
        self._msgs.append(msg)
        self.queued_bytes += len(msg)
        self.budget.queued += len(msg)
        self._ready.set()

    def offer(self, msg: str) -> bool:
        """Queue an event without waiting; False when it does not fit (the caller drops)."""
        if not self._fits(msg):
            return False
        self._push(msg)
        return True

    async def put(self, msg: str) -> None:
        """Queue an answer, waiting for room: the client reads at its own pace."""
        while not self._fits(msg):
            self._room.clear()
            await self._room.wait()
        self._push(msg)

    def clear(self) -> None:
        self._msgs.clear()
        self.budget.queued -= self.queued_bytes
        self.queued_bytes = 0
        self._room.set()

    async def writer(self) -> None:
        while True:
            while not self._msgs:
                self._ready.clear()
                await self._ready.wait()
            msg = self._msgs.popleft()
            self.queued_bytes -= len(msg)
            self.budget.queued -= len(msg)
            self._room.set()
            await self.ws.send_str(msg)
