"""Who may start a handshake: per-address rate and concurrency, slots kept for known peers,
and one summary log line per interval instead of one per refused stranger.

Before the auth frame nothing about a connection is known but its source address, so the
gate decides on that alone. Addresses of the configured peers (``[p2p] peers``, resolved at
start) are *peer addresses*: they skip the per-address rate and concurrency bounds, may use
``reserved_handshakes`` slots beyond ``max_pending_handshakes``, and when even those are
taken they evict the oldest pending handshake (an honest one finishes in a round trip, so
the oldest is a staller). A stranger is refused when its address is over its rate or its
concurrency bound or when the shared slots are full; it never evicts.

Choices (the spec is silent): an address is the exact IP string the socket reports (an IPv6
/64 is not grouped); the rate is a token bucket per address, and at most
``MAX_TRACKED_ADDRESSES`` buckets are kept (the least recently used is forgotten, which only
ever gives that address a full bucket again).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable

from .types import HandshakeError, P2PLimits, PeerAddr, ProtocolViolation, Refused

log = logging.getLogger("huzhu.p2p")

#: rate buckets kept at once (about 100 bytes each)
MAX_TRACKED_ADDRESSES = 4096

# refusal reasons, as counted and logged
MAX_PEERS = "max_peers"
RATE = "rate"
PER_ADDRESS = "per_address"
SLOTS_FULL = "slots_full"
EVICTED = "evicted"


class _Bucket:
    __slots__ = ("tokens", "at")

    def __init__(self, tokens: float, at: float) -> None:
        self.tokens = tokens
        self.at = at


class HandshakeGate:
    """Admission of inbound connections before authentication; counts what it refuses.

    ``close`` is how an evicted handshake is ended (the node passes a closer of its writer);
    the gate only ever holds an opaque key per pending handshake.
    """

    def __init__(self, limits: P2PLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self._clock = clock
        self.peer_ips: frozenset[str] = frozenset()
        # insertion-ordered: the first entry is the oldest pending handshake
        self._pending: OrderedDict[object, tuple[str, Callable[[], None]]] = OrderedDict()
        self._per_ip: Counter[str] = Counter()
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        #: refusals since the node started, by reason (for tests and metrics)
        self.refused_total: Counter[str] = Counter()
        self._window: Counter[str] = Counter()
        self._window_ips: set[str] = set()
        self._window_started = clock()

    def set_peer_ips(self, ips: Iterable[str]) -> None:
        self.peer_ips = frozenset(ips)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def admit(self, key: object, ip: str, close: Callable[[], None], peers: int) -> str | None:
        """Take a slot for ``key`` (None) or say why not (the reason, already counted).

        ``peers`` is the number of established links (inbound is refused at ``max_peers``).
        """
        lim = self.limits
        if peers >= lim.max_peers:
            return self._refuse(MAX_PEERS, ip)
        if ip in self.peer_ips:
            if len(self._pending) >= lim.max_pending_handshakes + lim.reserved_handshakes:
                old_key, (old_ip, old_close) = next(iter(self._pending.items()))
                self.release(old_key)
                self._count(EVICTED, old_ip)
                old_close()
        else:
            if not self._take_token(ip):
                return self._refuse(RATE, ip)
            if self._per_ip[ip] >= lim.max_handshakes_per_address:
                return self._refuse(PER_ADDRESS, ip)
            if len(self._pending) >= lim.max_pending_handshakes:
                return self._refuse(SLOTS_FULL, ip)
        self._pending[key] = (ip, close)
        self._per_ip[ip] += 1
        return None

    def release(self, key: object) -> bool:
        """The handshake of ``key`` ended (either way); False when it was evicted (or never
        admitted), whose failure is then already counted. Idempotent."""
        entry = self._pending.pop(key, None)
        if entry is None:
            return False
        ip = entry[0]
        self._per_ip[ip] -= 1
        if self._per_ip[ip] <= 0:
            del self._per_ip[ip]
        return True

    def failed(self, address: str, ip: str, exc: BaseException) -> None:
        """Count an inbound handshake that did not end in a link (garbage, timeout, refused
        after authenticating); the detail goes to the debug log only."""
        if isinstance(exc, Refused):
            self._count("refused", ip)
            log.debug("p2p %s: refused: %s", address, exc)
        elif isinstance(exc, HandshakeError | ProtocolViolation):
            self._count("bad_handshake", ip)
            log.debug("p2p %s: %s: %s", address, type(exc).__name__, exc)
        elif isinstance(exc, OSError | EOFError | TimeoutError | asyncio.IncompleteReadError):
            self._count("handshake_incomplete", ip)
            log.debug("p2p %s: handshake failed: %r", address, exc)
        else:
            log.exception("p2p %s: unexpected error", address, exc_info=exc)

    def _take_token(self, ip: str) -> bool:
        lim = self.limits
        now = self._clock()
        b = self._buckets.get(ip)
        if b is None:
            b = _Bucket(float(lim.handshake_burst_per_address), now)
            self._buckets[ip] = b
            if len(self._buckets) > MAX_TRACKED_ADDRESSES:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(ip)
            b.tokens = min(
                float(lim.handshake_burst_per_address),
                b.tokens + (now - b.at) * lim.handshake_rate_per_address,
            )
            b.at = now
        if b.tokens < 1.0:
            return False
        b.tokens -= 1.0
        return True

    def _refuse(self, reason: str, ip: str) -> str:
        self._count(reason, ip)
        return reason

    def _count(self, reason: str, ip: str) -> None:
        self.refused_total[reason] += 1
        self._window[reason] += 1
        if len(self._window_ips) < MAX_TRACKED_ADDRESSES:
            self._window_ips.add(ip)
        self.maybe_log()

    def maybe_log(self) -> str | None:
        """Log (and return) one summary line when the interval is over and something happened.

        Called on every refusal and by the node's periodic tick, so a burst is reported at
        most once per ``refusal_log_interval_s`` and its tail is not lost when it stops.
        """
        now = self._clock()
        span = now - self._window_started
        if span < self.limits.refusal_log_interval_s:
            return None
        self._window_started = now
        if not self._window:
            return None
        counts = ", ".join(f"{r}={n}" for r, n in sorted(self._window.items()))
        line = (
            f"p2p refused {sum(self._window.values())} inbound connections in {span:.1f}s "
            f"from {len(self._window_ips)} addresses ({counts})"
        )
        self._window.clear()
        self._window_ips.clear()
        log.warning("%s", line)
        return line


async def resolve_ips(addrs: Iterable[PeerAddr], timeout_s: float) -> set[str]:
    """The IPs of the configured peers: their handshakes get the kept slots.

    A name that does not resolve within ``timeout_s`` is left out (its peer is then treated
    as a stranger until the next start; our own dials to it still go out).
    """
    loop = asyncio.get_running_loop()
    ips: set[str] = set()
    for addr in addrs:
        try:
            async with asyncio.timeout(timeout_s):
                infos = await loop.getaddrinfo(addr.host, addr.port)
        except (OSError, TimeoutError):
            log.warning("p2p cannot resolve peer host %s", addr.host)
            continue
        ips.update(str(info[4][0]) for info in infos)
    return ips
