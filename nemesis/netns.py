"""Network namespaces, the bridge and its veth pairs, iptables rules and tmpfs mounts: every
kernel object a run creates, recorded as it is created so that :meth:`Network.teardown`
removes exactly those (at the end, on Ctrl-C, and when setup fails halfway).

Addresses (subnet 10.77.K.0/24, K chosen free at start so that two runs do not collide):
.1 the host side of the bridge (the nemesis's RPC clients come from there), .10+i node i,
.100+i node i's relay address (the relay listens there for peers dialing i, and dials others
from there on i's behalf). The namespaces get no default route: their traffic cannot leave
the subnet. Rules live in a chain NEMESIS of each namespace's own filter table, jumped to
from INPUT and OUTPUT, so healing is one flush, and a namespace's deletion drops them all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

CMD_TIMEOUT_S = 10.0
SUBNET_PREFIX = "10.77"
NODE_OFFSET, RELAY_OFFSET = 10, 100
CHAIN = "NEMESIS"
FAKETIME_LIBS = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
)


class NetnsError(RuntimeError):
    """A command of the setup failed; the message has the command and its stderr."""


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=CMD_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetnsError(f"{' '.join(argv)}: {exc}") from None
    if check and p.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def why_unavailable() -> str | None:
    """Why namespaces cannot be made here (None: they can): the skip reason of the CI run."""
    if os.name != "posix" or not Path("/proc/self/ns/net").exists():
        return "no Linux network namespaces on this system"
    if os.geteuid() != 0:
        return "not root: creating network namespaces needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2) to create namespaces"
    probe = f"hzprobe{os.getpid()}"
    p = run("ip", "netns", "add", probe, check=False)
    if p.returncode != 0:
        return f"`ip netns add` fails: {p.stderr.strip()}"
    run("ip", "netns", "del", probe, check=False)
    return None


def faketime_lib() -> str | None:
    return next((p for p in FAKETIME_LIBS if Path(p).exists()), None)


def used_subnets() -> set[int]:
    out = run("ip", "-o", "-4", "addr", "show", check=False).stdout
    used = set()
    for word in out.split():
        if word.startswith(SUBNET_PREFIX + "."):
            with contextlib.suppress(ValueError, IndexError):
                used.add(int(word.split(".")[2]))
    return used


@dataclass
class Network:
    """The namespaces of `n` nodes on one bridge, and what was made for them."""

    n: int
    tag: int  # the K of 10.77.K.0/24 and of every name
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    mounts: list[Path] = field(default_factory=list)
    iptables: bool = False
    bridge: str = ""

    @classmethod
    def pick_tag(cls, attempt: int = 0) -> int:
        """A K no run uses now, drawn by process id (and attempt), so that runs started
        together rarely draw the same; a clash makes setup fail, and the caller retries."""
        used = used_subnets()
        free = [
            k for k in range(1, 250) if k not in used and not Path(f"/run/netns/hz{k}n0").exists()
        ]
        if not free:
            raise NetnsError(f"no free {SUBNET_PREFIX}.K.0/24 subnet")
        return free[(os.getpid() + attempt * 7919) % len(free)]

    def ns(self, i: int) -> str:
        return f"hz{self.tag}n{i}"

    def host(self) -> str:
        return f"{SUBNET_PREFIX}.{self.tag}.1"

    def node_ip(self, i: int) -> str:
        return f"{SUBNET_PREFIX}.{self.tag}.{NODE_OFFSET + i}"

    def relay_ip(self, i: int) -> str:
        return f"{SUBNET_PREFIX}.{self.tag}.{RELAY_OFFSET + i}"

    def identify(self, addr: str) -> int | None:
        """The node a relayed connection comes from (its own address), else None."""
        for i in range(self.n):
            if addr == self.node_ip(i):
                return i
        return None

    def setup(self) -> None:
        """Bridge, namespaces, veths, addresses, the NEMESIS chains; on failure what was
        made is removed before the error propagates."""
        try:
            self._setup()
        except BaseException:
            self.teardown()
            raise

    def _setup(self) -> None:
        self.bridge = f"hz{self.tag}br"
        run("ip", "link", "add", self.bridge, "type", "bridge")
        self.links.append(self.bridge)
        run("ip", "addr", "add", f"{self.host()}/24", "dev", self.bridge)
        for i in range(self.n):
            run("ip", "addr", "add", f"{self.relay_ip(i)}/32", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        for i in range(self.n):
            ns, outer, inner = self.ns(i), f"hz{self.tag}v{i}", f"hz{self.tag}p{i}"
            run("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            self.links.append(outer)
            run("ip", "link", "set", outer, "master", self.bridge, "up")
            run("ip", "link", "set", inner, "netns", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "-n", ns, "addr", "add", f"{self.node_ip(i)}/24", "dev", inner)
            run("ip", "-n", ns, "link", "set", inner, "up")
        self.iptables = self._iptables_chains()

    def _iptables_chains(self) -> bool:
        if shutil.which("iptables") is None:
            return False
        for i in range(self.n):
            ns = self.ns(i)
            if run("ip", "netns", "exec", ns, "iptables", "-N", CHAIN, check=False).returncode:
                return False
            for hook in ("INPUT", "OUTPUT"):
                run("ip", "netns", "exec", ns, "iptables", "-A", hook, "-j", CHAIN)
        return True

    def ipt(self, i: int, *rule: str) -> None:
        run("ip", "netns", "exec", self.ns(i), "iptables", *rule)

    def block(self, a: int, b: int) -> None:
        """Drop every packet between nodes a and b, direct or through the relay, both ways;
        the nemesis's own RPC traffic (from .1) is untouched."""
        for x, y in ((a, b), (b, a)):
            for addr in (self.node_ip(y), self.relay_ip(y)):
                self.ipt(x, "-A", CHAIN, "-s", addr, "-j", "DROP")
                self.ipt(x, "-A", CHAIN, "-d", addr, "-j", "DROP")

    def lose(self, i: int, probability: float) -> None:
        """Drop each incoming and outgoing peer packet of node i with `probability`."""
        p = f"{probability:.3f}"
        stat = ("-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP")
        self.ipt(i, "-A", CHAIN, "-p", "tcp", "!", "-s", self.host(), *stat)
        self.ipt(i, "-A", CHAIN, "-p", "tcp", "!", "-d", self.host(), *stat)

    def heal_rules(self) -> None:
        if self.iptables:
            for i in range(self.n):
                self.ipt(i, "-F", CHAIN)

    def mount_tmpfs(self, path: Path, size_bytes: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        run("mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0700", "nemesis", str(path))
        self.mounts.append(path)

    def resize_tmpfs(self, path: Path, size_bytes: int) -> None:
        run("mount", "-o", f"remount,size={size_bytes}", str(path))

    def teardown(self) -> list[str]:
        """Remove everything recorded; the errors (there should be none) as lines."""
        errors = []
        for ns in reversed(self.namespaces):
            # deleting a namespace destroys its veth end (and so the pair) and its rules
            p = run("ip", "netns", "del", ns, check=False)
            if p.returncode:
                errors.append(f"ip netns del {ns}: {p.stderr.strip()}")
        self.namespaces.clear()
        for link in reversed(self.links):
            if run("ip", "link", "show", link, check=False).returncode == 0:
                p = run("ip", "link", "del", link, check=False)
                if p.returncode:
                    errors.append(f"ip link del {link}: {p.stderr.strip()}")
        self.links.clear()
        for path in reversed(self.mounts):
            p = run("umount", "-l", str(path), check=False)
            if p.returncode:
                errors.append(f"umount {path}: {p.stderr.strip()}")
        self.mounts.clear()
        return errors


def tmpfs_used(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def fill(path: Path, limit_bytes: int) -> int:
    """Write `path` until the filesystem is full (or `limit_bytes`): bytes written."""
    written = 0
    block = b"\0" * (1 << 20)
    with contextlib.suppress(OSError), open(path, "wb") as f:
        while written < limit_bytes:
            f.write(block)
            f.flush()
            written += len(block)
    return written
