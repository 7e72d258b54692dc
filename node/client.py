"""The Python JSON-RPC client shared by the CLI, the tests and the benchmarks.

``RpcClient`` is async (aiohttp); ``SyncRpcClient`` wraps it for the command line, one event
loop per call, because a CLI invocation makes a handful of calls and must not keep a loop
around. JSON-RPC errors raise ``RpcError(code, message)``; a node that cannot be reached
raises ``RpcUnavailable``. Binary arguments may be given as ``bytes`` or hex strings. There is
one client method per method of node/methods.py ``METHODS``, generated from it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import aiohttp

from node.jsonrpc import RpcError
from node.light import Follower, VerifyError, genesis_anchor, parse_trust
from node.methods import METHODS, Method, check_signature
from state.crypto import Signer
from state.tx import build_tx, payload_from_json

DEFAULT_TIMEOUT_S = 60.0  # above the server's 30 s commit wait
_CHANGES_PAGE = 100  # validator_changes asked per call while following


class RpcUnavailable(ConnectionError):
    """The node could not be reached, or answered something that is not JSON-RPC."""


def normalize_url(url: str) -> str:
    """The node's base URL with a scheme and a trailing slash: people type
    ``127.0.0.1:26657`` or ``localhost:26657`` as often as ``http://127.0.0.1:26657``, and
    without a scheme aiohttp fails with an error that names nothing useful."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    return url if url.endswith("/") else url + "/"


def _ws_url(url: str) -> str:
    base = url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://") :]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://") :]
    return base + "/ws"


def _hexify(obj: Any) -> Any:
    """bytes -> hex, recursively: lets build_and_send take wire-form payloads too."""
    if isinstance(obj, bytes | bytearray):
        return bytes(obj).hex()
    if isinstance(obj, list | tuple):
        return [_hexify(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _hexify(v) for k, v in obj.items()}
    return obj


class RpcClient:
    """Async client of one node: ``async with RpcClient(url) as c: await c.status()``."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = normalize_url(url)
        self.timeout = timeout
        self._session = session
        self._own_session = session is None
        self._ids = itertools.count(1)
        self._genesis: dict[str, Any] | None = None

    async def __aenter__(self) -> RpcClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, payload: Any) -> Any:
        try:
            async with self._get_session().post(self.url, json=payload) as r:
                text = await r.text()
                if r.status == 204:
                    return None
                if r.status != 200:
                    try:
                        err = json.loads(text)["error"]
                    except (ValueError, KeyError, TypeError):
                        raise RpcUnavailable(f"{self.url}: HTTP {r.status}: {text[:200]}") from None
                    raise RpcError(err["code"], err["message"])
        except aiohttp.ClientError as exc:
            raise RpcUnavailable(f"{self.url}: {exc}") from None
        except TimeoutError:
            raise RpcUnavailable(f"{self.url}: no answer within {self.timeout} s") from None
        try:
            return json.loads(text)
        except ValueError:
            raise RpcUnavailable(f"{self.url}: answer is not JSON: {text[:200]}") from None

    @staticmethod
    def _unwrap(answer: Any) -> Any:
        if not isinstance(answer, dict):
            raise RpcUnavailable(f"not a JSON-RPC answer: {answer!r:.200}")
        if "error" in answer:
            err = answer["error"]
            raise RpcError(err.get("code", 0), err.get("message", ""))
        return answer.get("result")

    async def call(self, method: str, **params: Any) -> Any:
        """Call ``method`` with named params; params that are None are left out."""
        return await self.request(method, params)

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        """Like ``call``, with the params as one dict (a param may be named ``method``)."""
        req = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": method,
            "params": {k: v for k, v in params.items() if v is not None},
        }
        return self._unwrap(await self._post(req))

    async def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        """One HTTP request; each item is the result or the RpcError of that call, in order."""
        first = next(self._ids)
        reqs = [
            {"jsonrpc": "2.0", "id": first + i, "method": m, "params": p}
            for i, (m, p) in enumerate(calls)
        ]
        self._ids = itertools.count(first + len(calls))
        answers = await self._post(reqs)
        if isinstance(answers, dict):  # the batch itself was refused
            self._unwrap(answers)
        by_id = {a.get("id"): a for a in answers}
        out: list[Any] = []
        for r in reqs:
            try:
                out.append(self._unwrap(by_id.get(r["id"])))
            except RpcError as exc:
                out.append(exc)
        return out

    # -- the methods of section 6: generated from node.methods.METHODS below the class --

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]: ...

    async def genesis(self) -> dict[str, Any]:
        """The genesis document (cached: it never changes for a node)."""
        if self._genesis is None:
            self._genesis = await self.call("genesis")
        return self._genesis

    async def subscribe(self, event: str) -> AsyncGenerator[dict[str, Any], None]:
        """Yield the ``data`` of each ``event`` notification, over a WebSocket of its own."""
        try:
            async with self._get_session().ws_connect(_ws_url(self.url)) as ws:
                await ws.send_json(
                    {"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"event": event}}
                )
                self._unwrap(await ws.receive_json())
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    note = json.loads(msg.data)
                    if note.get("method") == "event":
                        yield note["params"]["data"]
                if ws.close_code not in (None, 1000):
                    raise RpcUnavailable(f"subscription closed by the node ({ws.close_code})")
        except aiohttp.ClientError as exc:
            raise RpcUnavailable(f"{self.url}: {exc}") from None

    # -- verified reads (section 11) --

    async def follower(
        self, *, genesis: dict[str, Any] | None = None, trust: str | None = None
    ) -> Follower:
        """A light-client follower anchored where the caller says: `genesis` (the document
        the caller holds) or `trust` ("HEIGHT:BLOCKHASH"); nothing the node says replaces
        it. Raises VerifyError when the node's answers do not bind to the anchor."""
        if (genesis is None) == (trust is None):
            raise ValueError("give exactly one trust anchor: genesis or trust")
        if genesis is not None:
            return Follower(genesis_anchor(genesis))
        assert trust is not None
        height, block_hash = parse_trust(trust)
        read = await self.request("params", {"height": height, "prove": True})
        vals = await self.request("validators", {"height": height})
        return Follower.from_trust(height, block_hash, read, vals)

    async def follow_to(self, follower: Follower, height: int) -> None:
        """Follow every validator-set change after the follower's last one up to `height`,
        in order, each proven under the header of the last block the previous set signs."""
        after = follower.last_followed
        while after < height:
            page = await self.request("validator_changes", {"after": after, "limit": _CHANGES_PAGE})
            if not isinstance(page, list):
                raise VerifyError("validators: validator_changes is not a list")
            todo = [e for e in page if isinstance(e, int) and after < e <= height]
            for e in todo:
                at = max(e - 1, follower.anchor.height)
                answer = await self.request("validators", {"height": e, "prove": True, "at": at})
                follower.follow(e, answer)
            if len(page) < _CHANGES_PAGE or len(todo) < len(page):
                return
            after = todo[-1]

    async def verified_request(
        self,
        method: str,
        params: dict[str, Any],
        *,
        genesis: dict[str, Any] | None = None,
        trust: str | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """``method`` answered with proofs and checked from the anchor: (the answer, what
        was verified). Raises VerifyError naming the failed check."""
        follower = await self.follower(genesis=genesis, trust=trust)
        latest = int((await self.status())["height"])
        asked = params.get("height")
        if method == "validators":
            height = latest + 1 if asked is None else int(asked)
            await self.follow_to(follower, height)
            answer = await self.request("validators", {"height": height})
            verified = follower.verify_read("validators", params, height, answer)
            # a hidden change up to the header checked here is refused by its validators_hash
            checked = min(height, latest)
            await self.follow_to(follower, checked)
            read = await self.request("params", {"height": checked, "prove": True})
            follower.verify_read("params", {}, checked, read)
            summary = verified.summary(follower)
            if height > latest:
                summary["unverified_fields"] = [
                    *summary["unverified_fields"],
                    f"changes decided after the header of height {checked}",
                ]
            return answer, summary
        height = latest if asked is None else int(asked)
        await self.follow_to(follower, height)
        answer = await self.request(method, {**params, "height": height, "prove": True})
        verified = follower.verify_read(method, params, height, answer)
        return answer, verified.summary(follower)

    # -- transactions --

    async def build_and_send(
        self,
        signer: Signer,
        type: str,
        payload: dict[str, Any],
        *,
        fee: int | None = None,
        nonce: int | None = None,
        mode: str = "sync",
    ) -> dict[str, Any]:
        """Build, sign and submit a transaction.

        ``payload`` is in JSON form (hex for binary fields; bytes are accepted too) and is
        checked against the type's schema first (ValueError naming the field). ``fee``
        defaults to the chain's ``min_fee`` in force, ``nonce`` to the account's ``pending_nonce``
        (so several transactions can be sent without waiting for blocks)."""
        genesis = await self.genesis()
        # the params in force, not genesis's: governance may have changed min_fee since
        params = await self.params()
        wire_payload = payload_from_json(
            type, _hexify(payload), max_votes=params.get("max_votes_per_elector")
        )
        if fee is None:
            fee = int(params.get("min_fee", 1))
        if nonce is None:
            nonce = int((await self.account(signer.public_key))["pending_nonce"])
        tx = build_tx(signer, genesis["chain_id"], type, nonce, fee, wire_payload)
        return await self.broadcast_tx(tx.wire, mode=mode)


def _client_method(m: Method) -> Callable[..., Awaitable[Any]]:
    """``RpcClient.<m.py_name>``: the method's params positionally or by name, in table order;
    optional ones default to None, which leaves them out (the node applies its default)."""
    sig = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [
            inspect.Parameter(
                p.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=inspect.Parameter.empty if p.required else None,
            )
            for p in m.params
        ]
    )

    async def method(self: RpcClient, *args: Any, **kwargs: Any) -> Any:
        given = sig.bind(self, *args, **kwargs).arguments
        params = {p.name: p.kind.to_json(given.get(p.name)) for p in m.params}
        return await self.request(m.name, params)

    method.__signature__ = sig  # type: ignore[attr-defined]  # what help() and inspect show
    method.__name__ = method.__qualname__ = m.py_name
    method.__doc__ = f"{m.summary}: {m.result_doc}"
    return method


# methods of the table written out in RpcClient by hand (genesis: cached)
_HAND_WRITTEN = frozenset(("genesis",))


def add_client_methods(cls: type, methods: Iterable[Method]) -> None:
    """One RpcClient method per HTTP method of the table; a method written out by hand must
    take the table's params, and no method may shadow a helper (``call``, ``close``...):
    both checked here, at import."""
    for m in methods:
        if m.ws_only:
            continue
        own = vars(cls).get(m.py_name)
        if own is None:
            setattr(cls, m.py_name, _client_method(m))
        elif m.py_name in _HAND_WRITTEN:
            check_signature(m, own, skip=1)
        else:
            raise ValueError(f"RPC method {m.name!r} clashes with {cls.__name__}.{m.py_name}")


add_client_methods(RpcClient, METHODS)

#: what SyncRpcClient offers: every method RpcClient has but the WebSocket ones
SYNC_METHODS = frozenset(
    ["call", "request", "batch", "build_and_send", "verified_request"]
    + [m.py_name for m in METHODS if not m.ws_only]
)


class SyncRpcClient:
    """Blocking wrapper of RpcClient with the same methods (except ``subscribe``).

    Each call runs in a fresh event loop with a fresh session: simple and safe for a CLI,
    not meant for throughput (use RpcClient there)."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = url
        self.timeout = timeout

    def _run(self, name: str, *args: Any, **kwargs: Any) -> Any:
        async def go() -> Any:
            async with RpcClient(self.url, timeout=self.timeout) as client:
                return await getattr(client, name)(*args, **kwargs)

        return asyncio.run(go())

    def __getattr__(self, name: str) -> Any:
        if name in SYNC_METHODS:
            return functools.partial(self._run, name)
        raise AttributeError(name)
