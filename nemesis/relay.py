"""A TCP relay between the nodes (the Toxiproxy model): node i dials node j's relay address,
the relay dials j from i's relay address, and forwards both ways through "toxics" set per
node: latency with jitter, a bandwidth limit, a stall (nothing forwarded), or resets.

Why a relay: this machine's kernel has no ``netem`` qdisc, and a relay in userspace works on
any kernel. A connection gets the toxics of both its ends. Everything is bounded: a chunk is
at most CHUNK bytes, a direction queues at most QUEUE_CHUNKS chunks (then stops reading, so
TCP backpressure reaches the sender), and at most MAX_CONNECTIONS connections are open.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

CHUNK = 16 * 1024
QUEUE_CHUNKS = 64
MAX_CONNECTIONS = 256
DIAL_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Toxic:
    """What the relay does to a node's links; the default does nothing."""

    latency_ms: int = 0
    jitter_ms: int = 0
    bytes_per_s: int = 0  # 0: unlimited
    stalled: bool = False
    reset: bool = False

    def merge(self, other: Toxic) -> Toxic:
        """Both ends' toxics on one connection: the worse of each."""
        return Toxic(
            max(self.latency_ms, other.latency_ms),
            max(self.jitter_ms, other.jitter_ms),
            min(b for b in (self.bytes_per_s, other.bytes_per_s) if b)
            if (self.bytes_per_s or other.bytes_per_s)
            else 0,
            self.stalled or other.stalled,
            self.reset or other.reset,
        )


NONE = Toxic()


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with an RST (SO_LINGER 0), as a reset toxic should, not a clean FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


class _Link:
    """One relayed connection between node `a` (dialer) and node `b`."""

    def __init__(
        self,
        relay: Relay,
        a: int,
        b: int,
        down_r: asyncio.StreamReader,
        down_w: asyncio.StreamWriter,
        up_r: asyncio.StreamReader,
        up_w: asyncio.StreamWriter,
    ) -> None:
        self.relay, self.a, self.b = relay, a, b
        self.writers = (down_w, up_w)
        self.tasks = [
            asyncio.create_task(self._pipe(down_r, up_w)),
            asyncio.create_task(self._pipe(up_r, down_w)),
        ]
        for t in self.tasks:
            # held until done, so that a cancelled pipe is not collected while it unwinds
            relay.tasks.add(t)
            t.add_done_callback(relay.tasks.discard)

    def toxic(self) -> Toxic:
        return self.relay.toxic_of(self.a).merge(self.relay.toxic_of(self.b))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)

        async def read() -> None:
            last = 0.0
            while data := await reader.read(CHUNK):
                t = self.toxic()
                delay = t.latency_ms + (self.relay.rng.uniform(-1, 1) * t.jitter_ms)
                # jitter never reorders bytes of one stream
                last = max(last, time.monotonic() + max(0.0, delay) / 1000)
                await queue.put((last, data))
            await queue.put((0.0, b""))

        async def write() -> None:
            while True:
                at, data = await queue.get()
                if not data:
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                    return
                while self.toxic().stalled:
                    await asyncio.sleep(0.05)
                wait = at - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                rate = self.toxic().bytes_per_s
                if rate:
                    # the chunk arrives once the link has had time to carry it
                    await asyncio.sleep(len(data) / rate)
                writer.write(data)
                await writer.drain()

        reading = asyncio.create_task(read())
        try:
            await write()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await reading
            self.close()

    def close(self, reset: bool = False) -> None:
        for w in self.writers:
            if reset:
                _rst(w)
            else:
                w.close()
        self.relay.links.discard(self)

    def cancel(self) -> None:
        for t in self.tasks:
            t.cancel()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Node `node`: the relay listens for it at `relay_host:port`, dials it at
    `host:port`, and dials others on its behalf from `relay_host`."""

    node: int
    host: str
    port: int
    relay_host: str


class Relay:
    """The relay of a set of endpoints. ``identify(peer_host)`` maps the address a connection
    comes from to the dialing node (None: refused)."""

    def __init__(
        self,
        endpoints: list[Endpoint],
        identify: Callable[[str], int | None],
        seed: int = 0,
    ) -> None:
        self.endpoints = {e.node: e for e in endpoints}
        self.identify = identify
        self.rng = random.Random(seed)
        self.toxics: dict[int, Toxic] = {}
        self.links: set[_Link] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.servers: list[asyncio.Server] = []
        self.refused = 0
        self.bytes = 0

    def toxic_of(self, node: int) -> Toxic:
        return self.toxics.get(node, NONE)

    def set_toxic(self, node: int, toxic: Toxic) -> None:
        """Apply to `node`'s links; a reset toxic also resets its open connections now."""
        self.toxics[node] = toxic
        if toxic.reset:
            for link in [lk for lk in self.links if node in (lk.a, lk.b)]:
                link.cancel()
                link.close(reset=True)

    def clear(self, node: int | None = None) -> None:
        if node is None:
            self.toxics.clear()
        else:
            self.toxics.pop(node, None)

    async def start(self) -> None:
        for e in self.endpoints.values():

            async def accept(
                r: asyncio.StreamReader, w: asyncio.StreamWriter, target: int = e.node
            ) -> None:
                await self._accept(target, r, w)

            self.servers.append(
                await asyncio.start_server(accept, e.relay_host, e.port, reuse_address=True)
            )

    async def _accept(
        self, target: int, down_r: asyncio.StreamReader, down_w: asyncio.StreamWriter
    ) -> None:
        peer = down_w.get_extra_info("peername")
        source = self.identify(peer[0]) if peer else None
        if source is None or len(self.links) >= MAX_CONNECTIONS:
            self.refused += 1
            down_w.close()
            return
        if self.toxic_of(source).reset or self.toxic_of(target).reset:
            _rst(down_w)
            return
        dst, src = self.endpoints[target], self.endpoints[source]
        try:
            up_r, up_w = await asyncio.wait_for(
                asyncio.open_connection(dst.host, dst.port, local_addr=(src.relay_host, 0)),
                DIAL_TIMEOUT_S,
            )
        except (OSError, TimeoutError):
            down_w.close()
            return
        self.links.add(_Link(self, source, target, down_r, down_w, up_r, up_w))

    async def close(self) -> None:
        for s in self.servers:
            s.close()
        for link in list(self.links):
            link.cancel()
            link.close()
        for s in self.servers:
            with contextlib.suppress(Exception):
                await s.wait_closed()
        self.servers.clear()
