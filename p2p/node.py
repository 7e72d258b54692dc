"""P2PNode: listener, dialer and peer manager over :mod:`p2p.secret` links.

One task reads each peer (and runs the application's ``on_message`` in order), one writes
from a bounded queue (frames of the bulk channels, transaction gossip, only when nothing else
waits), one sends pings and drops the peer when it goes quiet. A slow peer
only ever fills its own queue: ``send`` then returns False and counts a drop; nobody waits.
Every failure that comes from the network ends in a log line and a closed connection (and a
ban when the peer is provably misbehaving); nothing raises into the event loop.

Frames after the handshake (see :mod:`p2p.secret`) carry ``channel(1) || payload``. Channel 0
belongs to the transport: ``0x00 kind(1) opaque(8)`` with kind 1 ping, 2 pong (echoes the 8
bytes), 3 accept. Each side's first frame after the auth frame is the accept, sent once it
has checked the peer; anything else first, or an accept later, is a violation. Kind 4 is a
bundle (:data:`p2p.peer.BUNDLE`): several small messages that were queued together, sealed
as one frame; the receiver handles them in order as if each had come alone, and refuses a
malformed bundle as it refuses a malformed frame.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Iterable

from state.crypto import Signer

from .admission import HandshakeGate, resolve_ips
from .peer import (
    ACCEPT_FRAME,
    BUNDLE,
    BUNDLE_HEADER,
    BUNDLE_ITEM_MAX,
    BUNDLE_LEN_PREFIX,
    CONTROL_LEN,
    INBOUND,
    OUTBOUND,
    PING,
    PONG,
    WRITE_BATCH_BYTES,
    Link,
    bundle_limit,
    pack_bundle,
    peer_ip,
    peername,
    split_bundle,
)
from .secret import HANDSHAKE_MAX_FRAME, NonceExhausted, SecretConnection, handshake
from .types import (
    CH_CONTROL,
    HandshakeError,
    P2PLimits,
    PeerAddr,
    PeerInfo,
    ProtocolViolation,
    Refused,
)

log = logging.getLogger("huzhu.p2p")

OnMessage = Callable[[bytes, int, bytes], "None | Awaitable[None]"]
OnPeer = Callable[[bytes, bool], "None | Awaitable[None]"]


class P2PNode:
    """The node's transport: authenticated, encrypted, permissioned links to its peers.

    ``on_message(peer_id, channel, payload)`` runs in the peer's reader task, in arrival
    order; it may return an awaitable (awaited before that peer's next frame is read, which
    is the back-pressure). Raising :class:`ProtocolViolation` from it bans the peer.
    ``on_peer(peer_id, up)`` reports a peer's link going up or down (a duplicate link that
    replaces a live one reports nothing: the peer never went away).
    """

    def __init__(
        self,
        node_key: Signer,
        chain_id: str,
        listen: tuple[str, int],
        peers: list[PeerAddr],
        is_allowed: Callable[[bytes], bool],
        limits: P2PLimits | None = None,
        on_message: OnMessage | None = None,
        on_peer: OnPeer | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._key = node_key
        self.node_id: bytes = node_key.public_key
        self._chain_id = chain_id
        self._listen = listen
        self._addrs = list(peers)
        self._is_allowed = is_allowed
        self.limits = limits or P2PLimits()
        self._on_message: OnMessage = on_message or (lambda _p, _c, _m: None)
        self._on_peer: OnPeer = on_peer or (lambda _p, _u: None)
        # Jitter only: p2p is outside the deterministic core, so OS randomness is fine.
        self._rng = rng or random.Random(os.urandom(16))
        self._peers: dict[bytes, Link] = {}
        #: plaintext bytes per channel, sent and received (read by node/metrics.py)
        self.sent_bytes: dict[int, int] = {}
        self.recv_bytes: dict[int, int] = {}
        self._bans: dict[bytes, float] = {}
        self._offences: dict[bytes, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._callback_tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._port = 0
        self.gate = HandshakeGate(self.limits, time.monotonic)
        self._stopping = False
        self.dropped_total = 0
        #: bytes queued for all peers together (bounded by limits.send_queue_total_bytes)
        self.queued_total = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def listen_port(self) -> int:
        """The port actually bound (the configured one, or the kernel's pick for port 0)."""
        return self._port

    async def start(self) -> None:
        """Bind the listener and start dialing the configured peers."""
        if self._server is not None:
            raise RuntimeError("P2PNode already started")
        host, port = self._listen
        self._server = await asyncio.start_server(self._handle_inbound, host, port)
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("p2p listening on %s:%d as %s", host, self._port, self.node_id.hex()[:16])
        self.gate.set_peer_ips(await resolve_ips(self._addrs, self.limits.handshake_timeout_s))
        self._spawn(self._refusal_log_loop(), "p2p refusal log")
        for addr in self._addrs:
            self._spawn(self._dial_loop(addr), f"dial {addr}")

    async def _refusal_log_loop(self) -> None:
        while True:
            await asyncio.sleep(self.limits.refusal_log_interval_s)
            self.gate.maybe_log()

    async def stop(self) -> None:
        """Close the listener and every link; wait for all our tasks to finish."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for peer in list(self._peers.values()):
            self._close_peer(peer, "node stopping")
        # Let the application's (async) on_peer callbacks for those closes run to completion,
        # bounded, rather than cancelling them before they even started.
        if self._callback_tasks:
            await asyncio.wait(list(self._callback_tasks), timeout=self.limits.handshake_timeout_s)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Our own bug: every loop catches what the network can cause.
            log.error("p2p task %s failed", task.get_name(), exc_info=task.exception())

    # ------------------------------------------------------------------ public API

    def send(self, peer_id: bytes, channel: int, payload: bytes) -> bool:
        """Queue ``payload`` for one peer; False when not connected or its queue is full.

        An unknown channel or a payload over ``limits.max_payload`` is a bug of the caller
        and raises ValueError.
        """
        plaintext = self._plaintext(channel, payload)
        peer = self._peers.get(peer_id)
        return peer is not None and self._enqueue(peer, plaintext)

    def broadcast(self, channel: int, payload: bytes, exclude: Iterable[bytes] = ()) -> int:
        """Queue ``payload`` for every connected peer not in ``exclude``; return how many took it."""
        plaintext = self._plaintext(channel, payload)
        skip = set(exclude)
        return sum(
            1
            for pid, peer in list(self._peers.items())
            if pid not in skip and self._enqueue(peer, plaintext)
        )

    def penalize(self, peer_id: bytes, reason: str) -> None:
        """Disconnect ``peer_id`` and refuse it for ``limits.ban_seconds``."""
        log.warning("p2p penalize %s: %s", peer_id.hex()[:16], reason)
        now = time.monotonic()
        for pid in [p for p, until in self._bans.items() if until <= now]:
            del self._bans[pid]
        self._bans[peer_id] = now + self.limits.ban_seconds
        self._offences[peer_id] = self._offences.get(peer_id, 0) + 1
        peer = self._peers.get(peer_id)
        if peer is not None:
            self._close_peer(peer, f"penalized: {reason}")

    def banned(self, peer_id: bytes) -> bool:
        return self._ban_remaining(peer_id) > 0

    def offences(self, peer_id: bytes) -> int:
        """How many times the peer was penalized since this node started."""
        return self._offences.get(peer_id, 0)

    def peers(self) -> list[PeerInfo]:
        return [
            PeerInfo(p.node_id, p.address, p.direction, p.dropped)
            for _, p in sorted(self._peers.items())
        ]

    def peer_ids(self) -> list[bytes]:
        """The connected peers' ids in peers()' order, without building a PeerInfo each (the
        tx gossip asks every 50 ms: 2 % of an idle 21-validator node)."""
        return sorted(self._peers)

    def connected(self, peer_id: bytes) -> bool:
        return peer_id in self._peers

    # ------------------------------------------------------------------ queueing

    def _plaintext(self, channel: int, payload: bytes) -> bytes:
        if channel not in self.limits.channels:
            raise ValueError(f"unknown channel {channel}")
        if len(payload) > self.limits.max_payload:
            raise ValueError(
                f"payload of {len(payload)} bytes exceeds max_payload {self.limits.max_payload}"
            )
        return bytes([channel]) + payload

    def _enqueue(self, peer: Link, plaintext: bytes) -> bool:
        lim = self.limits
        if peer.closed:
            return False
        size = len(plaintext)
        bulk = plaintext[0] in lim.bulk_channels
        share = lim.bulk_queue_share if bulk else 1.0
        if (
            peer.queued() >= lim.send_queue_len * share
            or peer.queued_bytes + size > lim.send_queue_bytes * share
            or self.queued_total + size > lim.send_queue_total_bytes * share
        ):
            peer.dropped += 1
            self.dropped_total += 1
            return False
        (peer.bulk if bulk else peer.queue).append(plaintext)
        peer.queued_bytes += size
        self.queued_total += size
        peer.wake()
        return True

    def _enqueue_control(self, peer: Link, frame: bytes) -> None:
        # Control frames jump the queue and ignore its bounds (at most one ping and one pong
        # are outstanding), so a busy link is not mistaken for a dead one.
        if peer.closed:  # its queue is gone and no longer counted
            return
        peer.queue.appendleft(frame)
        peer.queued_bytes += len(frame)
        self.queued_total += len(frame)
        peer.wake()

    # ------------------------------------------------------------------ connections

    async def _establish(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: str,
        address: str,
        expected: bytes | None,
        learn: Callable[[bytes], None] = lambda _k: None,
    ) -> Link:
        """Handshake, then the accept exchange, then registration; all within the timeout.

        After authenticating, each side checks the other (allowlist, ban, expected id, self,
        duplicate, capacity) and only then sends an encrypted ACCEPT; a link is registered
        (and reported up) only once the peer's ACCEPT arrived. So a refused dialer never sees
        its link up, not even for a moment, and the refusing side reads nothing further.
        """
        async with asyncio.timeout(self.limits.handshake_timeout_s):
            conn, peer_key = await handshake(
                reader, writer, self._key, self._chain_id, self.limits.max_frame_bytes
            )
            learn(peer_key)
            self._check_admit(peer_key, direction, expected)
            writer.write(conn.seal(ACCEPT_FRAME))
            await writer.drain()
            try:
                first = await conn.recv(HANDSHAKE_MAX_FRAME)
            except (EOFError, ConnectionError, asyncio.IncompleteReadError):
                raise Refused("peer refused the link") from None
            if first != ACCEPT_FRAME:
                raise HandshakeError("expected the peer's accept")
        return self._admit(conn, peer_key, direction, address, expected)

    def _handle_inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Run in a task of ours, not the server's: stop() cancels it, and asyncio's own
        # callback on a cancelled server task would log a spurious error.
        if self._stopping:
            writer.close()
            return
        self._spawn(self._inbound(reader, writer), "p2p inbound")

    async def _inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = peername(writer)
        ip = peer_ip(writer)
        # A refused or failed stranger is counted into the gate's summary line, not logged
        # one line each: a flood of them must not flood the log too.
        if self.gate.admit(writer, ip, writer.close, len(self._peers)) is not None:
            writer.close()
            return
        evicted = False
        try:
            try:
                peer = await self._establish(reader, writer, INBOUND, address, None)
            finally:
                evicted = not self.gate.release(writer)
        except asyncio.CancelledError:
            writer.close()
            raise
        except Exception as exc:
            writer.close()
            if not evicted:  # an evicted one was counted when it was evicted
                self.gate.failed(address, ip, exc)
            return
        try:
            await self._run_peer(peer)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._log_conn_error(address, exc)
        finally:
            writer.close()

    def _log_conn_error(self, address: str, exc: BaseException) -> None:
        if isinstance(exc, Refused | HandshakeError | ProtocolViolation):
            log.info("p2p %s: %s: %s", address, type(exc).__name__, exc)
        elif isinstance(exc, OSError | EOFError | TimeoutError | asyncio.IncompleteReadError):
            log.debug("p2p %s: connection failed: %r", address, exc)
        else:
            log.exception("p2p %s: unexpected error", address, exc_info=exc)

    def _new_link_wins(self, existing: Link, direction: str) -> bool:
        """Which of two links to the same peer survives; both ends reach the same answer.

        Links dialed by the same side: the newer wins (the dialer only redials when it
        believes the old one dead). Links dialed by different sides: a side dials only while
        it holds no link, so when our link is older than a handshake can take, the peer has
        lost it (a partition swallowed its close) and the new link wins; otherwise the two
        are a simultaneous dial and the one dialed by the smaller node id wins. (Without the
        age rule a node kept refusing a healed peer's redials until its dead link's idle
        timeout: the nemesis saw the chain nearly halt for 10 s after a partition.)
        """
        peer_id = existing.node_id
        existing_dialer = self.node_id if existing.direction == OUTBOUND else peer_id
        new_dialer = self.node_id if direction == OUTBOUND else peer_id
        if existing_dialer == new_dialer:
            return True
        if time.monotonic() - existing.established > self.limits.handshake_timeout_s:
            return True
        return new_dialer == min(self.node_id, peer_id)

    def _check_admit(self, peer_key: bytes, direction: str, expected: bytes | None) -> None:
        """Raise Refused unless an authenticated link from ``peer_key`` may be kept."""
        if peer_key == self.node_id:
            raise Refused("connection to ourselves")
        if expected is not None and peer_key != expected:
            raise Refused(f"expected node {expected.hex()[:16]}, got {peer_key.hex()[:16]}")
        if self.banned(peer_key):
            raise Refused(f"node {peer_key.hex()[:16]} is banned")
        try:
            allowed = bool(self._is_allowed(peer_key))
        except Exception:
            log.exception("p2p is_allowed raised; refusing")
            allowed = False
        if not allowed:
            raise Refused(f"node {peer_key.hex()[:16]} is not allowed")
        if self._stopping:
            raise Refused("node stopping")
        existing = self._peers.get(peer_key)
        if existing is not None:
            if not self._new_link_wins(existing, direction):
                raise Refused(f"duplicate link to {peer_key.hex()[:16]}")
        elif direction == INBOUND and len(self._peers) >= self.limits.max_peers:
            raise Refused("max_peers reached")

    def _admit(
        self,
        conn: SecretConnection,
        peer_key: bytes,
        direction: str,
        address: str,
        expected: bytes | None,
    ) -> Link:
        """Register an accepted link; the checks run again since the accept took a round trip."""
        self._check_admit(peer_key, direction, expected)
        existing = self._peers.get(peer_key)
        peer = Link(peer_key, address, direction, conn)
        self._peers[peer_key] = peer
        if existing is not None:
            # Hand over what the old link had not written yet; the new one seals it anew.
            peer.take_over(existing)
            self._close_peer(existing, "replaced by a newer link")
        peer.tasks.append(self._spawn(self._writer_loop(peer), f"p2p write {address}"))
        peer.tasks.append(self._spawn(self._keepalive_loop(peer), f"p2p ping {address}"))
        if peer.queued():
            peer.wake()
        log.info("p2p up %s %s %s", direction, address, peer_key.hex()[:16])
        if existing is None:
            self._notify_peer(peer_key, True)
        return peer

    def _close_peer(self, peer: Link, reason: str) -> None:
        """Idempotent teardown; reports the peer down only if this was its current link."""
        if peer.closed:
            return
        peer.closed = True
        current = asyncio.current_task()
        for task in peer.tasks:
            if task is not current:
                task.cancel()
        try:
            peer.conn.writer.close()
        except Exception:  # a transport already torn down by the OS
            pass
        # What it had not written is dropped with it (a replaced link handed its queue over).
        self.queued_total -= peer.clear()
        peer.done.set()
        if self._peers.get(peer.node_id) is peer:
            del self._peers[peer.node_id]
            log.info("p2p down %s %s: %s", peer.address, peer.node_id.hex()[:16], reason)
            self._notify_peer(peer.node_id, False)

    def _notify_peer(self, peer_id: bytes, up: bool) -> None:
        try:
            result = self._on_peer(peer_id, up)
            if inspect.isawaitable(result):
                task = self._spawn(_await(result), "p2p on_peer")
                self._callback_tasks.add(task)
                task.add_done_callback(self._callback_tasks.discard)
        except Exception:
            log.exception("p2p on_peer callback raised")

    # ------------------------------------------------------------------ per-peer tasks

    async def _run_peer(self, peer: Link) -> None:
        """Read frames until the link ends; the reason decides whether the peer is banned."""
        reason = "connection closed"
        try:
            while not peer.closed:
                plaintext = await peer.conn.recv()
                peer.last_recv = time.monotonic()
                if plaintext[0] == CH_CONTROL and len(plaintext) > 1 and plaintext[1] == BUNDLE:
                    try:
                        messages = split_bundle(plaintext)
                    except ValueError as exc:
                        raise ProtocolViolation(str(exc)) from None
                    for m in messages:
                        if peer.closed:
                            break
                        result = self._dispatch(peer, m)
                        if result is not None:
                            await result
                    continue
                result = self._dispatch(peer, plaintext)
                if result is not None:
                    await result
        except ProtocolViolation as exc:
            reason = f"protocol violation: {exc}"
            self.penalize(peer.node_id, str(exc))
        except asyncio.CancelledError:
            reason = "cancelled"
            raise
        except (OSError, EOFError, asyncio.IncompleteReadError, NonceExhausted) as exc:
            reason = f"connection lost: {exc!r}"
        except Exception:
            log.exception("p2p on_message raised for %s; dropping link", peer.node_id.hex()[:16])
            reason = "application error"
        finally:
            self._close_peer(peer, reason)

    def _dispatch(self, peer: Link, plaintext: bytes) -> Awaitable[None] | None:
        """Handle one message (a frame's plaintext, or one of a bundle's); return what the
        application's on_message wants awaited before the next one, if anything."""
        channel = plaintext[0]
        self.recv_bytes[channel] = self.recv_bytes.get(channel, 0) + len(plaintext)
        if channel == CH_CONTROL:
            self._on_control(peer, plaintext)
            return None
        if channel not in self.limits.channels:
            raise ProtocolViolation(f"unknown channel {channel}")
        result = self._on_message(peer.node_id, channel, plaintext[1:])
        if result is not None and inspect.isawaitable(result):
            return result
        return None

    def _on_control(self, peer: Link, plaintext: bytes) -> None:
        if len(plaintext) != CONTROL_LEN:
            raise ProtocolViolation("bad control frame length")
        kind = plaintext[1]
        if kind == PING:
            if not peer.pong_pending:
                peer.pong_pending = True
                self._enqueue_control(peer, bytes([CH_CONTROL, PONG]) + plaintext[2:])
        elif kind != PONG:
            raise ProtocolViolation(f"unknown control message {kind}")

    async def _writer_loop(self, peer: Link) -> None:
        writer = peer.conn.writer
        transport = writer.transport
        conn = peer.conn
        loop = asyncio.get_running_loop()
        limit = bundle_limit(self.limits.max_frame_bytes)
        empty = len(BUNDLE_HEADER)
        try:
            while True:
                while not peer.queued():
                    peer.waiter = loop.create_future()
                    try:
                        await peer.waiter
                    finally:
                        peer.waiter = None
                frames: list[bytes] = []
                written = 0
                # the small messages waiting together leave as one bundle frame, in queue
                # order; a large one is sealed alone (after the bundle before it)
                small: list[bytes] = []
                small_bytes = empty
                while written < WRITE_BATCH_BYTES and peer.queued():
                    item = peer.pop()
                    size = len(item)
                    peer.queued_bytes -= size
                    self.queued_total -= size
                    self.sent_bytes[item[0]] = self.sent_bytes.get(item[0], 0) + size
                    if item[0] == CH_CONTROL and item[1] == PONG:
                        peer.pong_pending = False
                    written += size
                    if size <= BUNDLE_ITEM_MAX:
                        if small and small_bytes + BUNDLE_LEN_PREFIX + size > limit:
                            frames.append(_seal_small(conn, small))
                            small = []
                            small_bytes = empty
                        small.append(item)
                        small_bytes += BUNDLE_LEN_PREFIX + size
                        continue
                    if small:
                        frames.append(_seal_small(conn, small))
                        small = []
                        small_bytes = empty
                    frames.append(conn.seal(item))
                if small:
                    frames.append(_seal_small(conn, small))
                writer.write(frames[0] if len(frames) == 1 else b"".join(frames))
                if transport.get_write_buffer_size():
                    # A peer that stops reading would block here forever; bound it.
                    async with asyncio.timeout(self.limits.idle_timeout_s):
                        await writer.drain()
                elif transport.is_closing():
                    raise ConnectionResetError("link closed")
                # else the kernel took it all: no drain (and no timer armed and cancelled
                # per write: ~10 % of a small frame's cost, bench/README many9)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            self._close_peer(peer, "write stalled")
        except (OSError, NonceExhausted) as exc:
            self._close_peer(peer, f"write failed: {exc!r}")
        except Exception:
            log.exception("p2p writer for %s failed", peer.node_id.hex()[:16])
            self._close_peer(peer, "writer error")

    async def _keepalive_loop(self, peer: Link) -> None:
        lim = self.limits
        tick = min(lim.ping_interval_s / 2, lim.idle_timeout_s / 4)
        last_ping = time.monotonic()
        while not peer.closed:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - peer.last_recv > lim.idle_timeout_s:
                self._close_peer(peer, "idle timeout")
                return
            if now - last_ping >= lim.ping_interval_s:
                last_ping = now
                self._enqueue_control(peer, bytes([CH_CONTROL, PING]) + os.urandom(8))

    # ------------------------------------------------------------------ dialing

    def _ban_remaining(self, peer_id: bytes) -> float:
        until = self._bans.get(peer_id)
        return 0.0 if until is None else max(0.0, until - time.monotonic())

    def _backoff(self, attempt: int) -> float:
        lim = self.limits
        base: float = min(lim.backoff_max_s, lim.backoff_min_s * 2 ** min(attempt, 60))
        return base * (0.5 + 0.5 * self._rng.random())

    async def _dial_loop(self, addr: PeerAddr) -> None:
        """Keep one link to ``addr``: dial, run it, back off exponentially, repeat."""
        lim = self.limits
        target = addr.node_id
        hostport = str(PeerAddr(None, addr.host, addr.port))
        attempt = 0
        while not self._stopping:
            if target == self.node_id:
                log.info("p2p not dialing %s: it is this node", addr)
                return
            if target is not None:
                peer = self._peers.get(target)
                if peer is not None:  # linked already (maybe inbound): wait for it to drop
                    await peer.done.wait()
                    await asyncio.sleep(self._backoff(0))
                    continue
                wait = self._ban_remaining(target)
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
            stable = False
            try:
                async with asyncio.timeout(lim.handshake_timeout_s):
                    reader, writer = await asyncio.open_connection(addr.host, addr.port)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._log_conn_error(str(addr), exc)
            else:
                try:

                    def learn(peer_key: bytes) -> None:
                        nonlocal target
                        if addr.node_id is None:
                            target = peer_key  # from now on we know whom this address is

                    peer = await self._establish(
                        reader, writer, OUTBOUND, hostport, addr.node_id, learn
                    )
                    started = time.monotonic()
                    await self._run_peer(peer)
                    # A remote that refuses us right after the handshake must not reset the
                    # backoff, or we would redial it in a tight loop.
                    stable = time.monotonic() - started >= lim.ping_interval_s
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._log_conn_error(str(addr), exc)
                finally:
                    writer.close()
            attempt = 0 if stable else attempt + 1
            await asyncio.sleep(self._backoff(attempt))


def _seal_small(conn: SecretConnection, messages: list[bytes]) -> bytes:
    """One frame for the small messages queued together: the message itself when alone."""
    return conn.seal(messages[0] if len(messages) == 1 else pack_bundle(messages))


async def _await(awaitable: Awaitable[None]) -> None:
    try:
        await awaitable
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("p2p on_peer callback failed")
