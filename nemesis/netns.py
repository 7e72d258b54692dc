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
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CMD_TIMEOUT_S = 10.0
#: where each run records what it made (namespaces, links, mounts) and its owner process, so
#: that a later run or `huzhu nemesis --cleanup` can remove what a crashed run left behind
RECORD_DIR = Path("/run/huzhu-nemesis")
#: how long teardown waits for the processes it SIGKILLed inside a namespace to exit
KILL_WAIT_S = 5.0
#: attempts at deleting a namespace or unmounting (a just-killed process may still hold it)
REMOVE_TRIES = 5
RETRY_PAUSE_S = 0.2
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
    """Run one command to its end. In its own process group: a Ctrl-C at the terminal reaches
    the nemesis (which then tears down) but not the `ip`/`umount` it is running to do so."""
    try:
        p = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=CMD_TIMEOUT_S,
            check=False,
            process_group=0,
        )
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
    #: the ownership record kept up to date as objects are made (None: not recorded)
    record: Path | None = None
    #: each object's identity when it was made (namespace inode, ifindex, tmpfs device):
    #: a cleanup removes only objects that still have it, never a namesake made since
    ids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def pick_tag(cls, attempt: int = 0) -> int:
        """A K no run uses now, drawn by process id (and attempt), so that runs started
        together rarely draw the same; a clash makes setup fail, and the caller retries."""
        used = used_subnets()
        free = [
            k
            for k in range(1, 250)
            if k not in used
            and not Path(f"/run/netns/hz{k}n0").exists()
            and not (RECORD_DIR / f"hz{k}.json").exists()
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
        self.save_record()
        run("ip", "addr", "add", f"{self.host()}/24", "dev", self.bridge)
        for i in range(self.n):
            run("ip", "addr", "add", f"{self.relay_ip(i)}/32", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        for i in range(self.n):
            ns, outer, inner = self.ns(i), f"hz{self.tag}v{i}", f"hz{self.tag}p{i}"
            run("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            self.save_record()
            run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            self.links.append(outer)
            self.save_record()
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
        self.save_record()

    def resize_tmpfs(self, path: Path, size_bytes: int) -> None:
        run("mount", "-o", f"remount,size={size_bytes}", str(path))

    def save_record(self) -> None:
        """Write what exists so far and who owns it, replacing the file atomically: a run
        killed at any point leaves a record naming exactly what it had made."""
        if self.record is None:
            return
        self.record.parent.mkdir(parents=True, exist_ok=True)
        for name, ident in self._objects():
            if name not in self.ids and ident is not None:
                self.ids[name] = ident
        doc = {
            "pid": os.getpid(),
            "pid_start": process_start(os.getpid()),
            "tag": self.tag,
            "n": self.n,
            "namespaces": self.namespaces,
            "links": self.links,
            "mounts": [str(m) for m in self.mounts],
            "ids": self.ids,
        }
        tmp = self.record.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        tmp.replace(self.record)

    def _objects(self) -> list[tuple[str, int | None]]:
        """(name, identity now) of each object recorded; None: it does not exist now."""
        out = [(ns, _ino(Path(f"/run/netns/{ns}"))) for ns in self.namespaces]
        out += [(link, _ifindex(link)) for link in self.links]
        out += [(str(m), _dev(m) if mounted(str(m)) else None) for m in self.mounts]
        return out

    def teardown(self) -> list[str]:
        """Remove everything recorded, then look again: one line per part still there, naming
        it, why, and the command that removes it by hand (empty: everything is gone, and so
        is the record). Never raises: each part is tried whatever happened to the others.

        Processes still inside a namespace (a node the caller could not stop, a paused one
        whose owner died) are SIGKILLed first: they would keep the namespace alive."""
        left: list[str] = []
        changed = {name for name, ident in self._objects() if self.ids.get(name, ident) != ident}
        self.namespaces = [x for x in self.namespaces if x not in changed]
        self.links = [x for x in self.links if x not in changed]
        self.mounts = [x for x in self.mounts if str(x) not in changed]
        for ns in self.namespaces:
            kill_namespace_pids(ns)
        for ns in reversed(self.namespaces):
            err = _retry(("ip", "netns", "del", ns), namespace_exists, ns)
            if err is not None:
                left.append(
                    f"namespace {ns}: {err}; by hand: "
                    f"ip netns pids {ns} | xargs -r kill -9; ip netns del {ns}"
                )
        for link in reversed(self.links):
            err = _retry(("ip", "link", "del", link), link_exists, link)
            if err is not None:
                left.append(f"link {link}: {err}; by hand: ip link del {link}")
        for path in reversed(self.mounts):
            # a plain umount first: lazy detaching would hide a mount that something still uses
            err = _retry(("umount", str(path)), mounted, str(path), tries=2)
            if err is not None:
                err = _retry(("umount", "-l", str(path)), mounted, str(path))
            if err is not None:
                left.append(f"tmpfs {path}: {err}; by hand: umount -l {path}")
        if not left:
            self.namespaces.clear()
            self.links.clear()
            self.mounts.clear()
            if self.record is not None:
                self.record.unlink(missing_ok=True)
        return left


def _attempt(*argv: str) -> str:
    """Run a removal command: its error text ('' when it exited 0); never raises."""
    try:
        p = run(*argv, check=False)
    except NetnsError as exc:
        return str(exc)
    return "" if p.returncode == 0 else p.stderr.strip() or f"exit {p.returncode}"


def _retry(
    remove: tuple[str, ...], present: Callable[[str], bool], name: str, tries: int = REMOVE_TRIES
) -> str | None:
    """Run `remove` until `present(name)` is false: None once gone, else the last error."""
    err = ""
    for attempt in range(tries):
        if not present(name):
            return None
        if attempt:
            time.sleep(RETRY_PAUSE_S)
        err = _attempt(*remove) or err
    return None if not present(name) else err or "still there after removal"


def _ino(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _dev(path: Path) -> int | None:
    try:
        return path.stat().st_dev
    except OSError:
        return None


def _ifindex(link: str) -> int | None:
    try:
        return int(Path(f"/sys/class/net/{link}/ifindex").read_text())
    except (OSError, ValueError):
        return None


def namespace_exists(ns: str) -> bool:
    return Path(f"/run/netns/{ns}").exists()


def link_exists(name: str) -> bool:
    """In the nemesis's own (the host's) namespace, where the bridge and outer veths live."""
    return Path(f"/sys/class/net/{name}").exists()


def mounted(path: str) -> bool:
    """Whether `path` is a mount point in this process's mount namespace."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return False
    # field 5 is the mount point, with space, tab, newline and backslash octal-escaped
    return any(_unescape(line.split(" ")[4]) == path for line in lines if len(line.split(" ")) > 4)


def _unescape(field_: str) -> str:
    for code, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field_ = field_.replace(code, ch)
    return field_


def namespace_pids(ns: str) -> list[int]:
    try:
        out = run("ip", "netns", "pids", ns, check=False).stdout
    except NetnsError:
        return []
    return [int(w) for w in out.split() if w.isdigit()]


def kill_namespace_pids(ns: str) -> None:
    """SIGKILL every process in namespace `ns` (ours: the run made it) and wait for them to
    be gone, at most KILL_WAIT_S; SIGKILL also ends a stopped (paused) process."""
    if not namespace_exists(ns):
        return
    deadline = time.monotonic() + KILL_WAIT_S
    while (pids := namespace_pids(ns)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(RETRY_PAUSE_S)


def process_start(pid: int) -> int | None:
    """The start time of `pid` in clock ticks since boot (/proc/PID/stat field 22), None when
    no such process: with the pid it names one process, even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: count from the last ')'
    return int(stat[stat.rindex(")") + 2 :].split()[19])


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
