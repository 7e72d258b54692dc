"""What a JSON-RPC body means and its answer: parsing, batches, checks, dispatch (PROTOCOL.md
section 6). Split out of node/rpc.py, which keeps the aiohttp wiring (HTTP, WebSocket,
subscriptions); this module never sees a socket, only a body, the WebSocket it came on (for
the methods that need one) and the client's address (for its fair share, node/rpcfair.py).

Order of checks for one call: the request object itself (-32600: ``jsonrpc`` is "2.0",
``method`` a string, ``id`` a string/integer/null), the method (-32601), then ``params``
(-32602: an object, no unknown names, required ones present, each of the right type; the
message names the parameter), then the node (-32001 not found, -32603 internal).

A batch's answer is bounded in bytes (``[rpc] max_batch_answer_bytes``): a call starts only
while the answers finished so far are under it; once they reach it, the batch's calls not
yet started are not executed and each answers -32002 (limit exceeded) naming the limit; a
notification among them is dropped. Every call that ran keeps its answer, so the answer
passes the bound by the one that crossed it plus those still running then (calls that wait,
such as commit-mode ``broadcast_tx``; at most ``batch_concurrency``), and a -32002 answer
always means "not executed: safe to send again", never "outcome unknown". Single calls are
not bounded by it (their size is bounded by each method's own limits).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from json.encoder import encode_basestring_ascii
from typing import Any

from node.api import BROADCAST_MODES, MAX_MESSAGE_CHARS, InvalidParams, NotFound, shown
from node.config import RpcConfig
from node.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    LIMIT_EXCEEDED,
    METHOD_NOT_FOUND,
    NOT_FOUND,
    PARSE_ERROR,
    RpcError,
    dumps,
)
from node.methods import BY_NAME, Method, invalid_param
from node.rpcfair import AddressBudget, call_weight
from state.errors import Code

__all__ = ["Dispatcher", "MethodStats", "batch_deadline", "error_answer"]

log = logging.getLogger("huzhu.rpc")

# The loop time by which the batch a call belongs to must be answered (None: not in a batch).
_BATCH_DEADLINE: ContextVar[float | None] = ContextVar("batch_deadline", default=None)
# What a batch waits past its deadline for calls that end at it (commit-mode timeouts).
_BATCH_GRACE_S = 0.25
# A batch call not started because the answer is over its byte bound (see the module doc).
_SKIPPED = object()


class _NotStarted(Exception):
    """A batch call given up before it ran: the batch's answer is full."""


# A batch call not finished (or not started) when the batch's time limit passed.
_PENDING = object()


def batch_deadline() -> float | None:
    """The loop time by which the batch of the running call must be answered, if any."""
    return _BATCH_DEADLINE.get()


# Each method's param names, built once rather than per call: keyed by the Method's id,
# which the entry keeps alive (so an id is never reused for another Method).
_KNOWN: dict[int, tuple[Method, frozenset[str]]] = {}

# One encoder for every answer, made once: node.jsonrpc.dumps builds a new JSONEncoder on
# each call (json.dumps does when given options). Same options, so the same text
# (tests/node/test_rpcdispatch_fast.py holds them equal).
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


# The string escaping of _ENCODER (ASCII: ensure_ascii is its default), for _tx_answer.
_escape: Callable[[str], str] = encode_basestring_ascii


def _dumps(obj: Any) -> str:
    """node.jsonrpc.dumps, with the encoder made once."""
    return _ENCODER.encode(obj)


def _bind(method: Method, params: Any, cfg: RpcConfig) -> dict[str, Any]:
    """Check ``params`` against the method's declared params; return the typed arguments."""
    if params is None:
        params = {}
    if isinstance(params, list):
        raise RpcError(INVALID_PARAMS, "invalid params: params must be an object (by name)")
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "invalid params: params must be an object")
    entry = _KNOWN.get(id(method))
    if entry is None:
        entry = _KNOWN[id(method)] = (method, frozenset(p.name for p in method.params))
    known = entry[1]
    for name in params:
        if name not in known:
            raise invalid_param(shown(name), f"unknown parameter for {method.name}")
    args: dict[str, Any] = {}
    for p in method.params:
        if p.name not in params or (params[p.name] is None and not p.required):
            if p.required:
                raise invalid_param(p.name, "missing")
            args[p.name] = p.default  # an optional param given as null takes its default
        else:
            args[p.name] = p.check(params[p.name], cfg)
    return args


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse(body: bytes) -> Any:
    """Strict JSON (UTF-8, no NaN/Infinity); raises RpcError(-32700)."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RpcError(PARSE_ERROR, f"parse error: {exc}") from None


# broadcast_tx's method and the only params of its calls the fast path below takes.
_BROADCAST = BY_NAME["broadcast_tx"]
_BROADCAST_PARAMS = frozenset(p.name for p in _BROADCAST.params)
assert [p.name for p in _BROADCAST.params] == ["tx", "mode"], "update _broadcast_args"
_MODES = frozenset(BROADCAST_MODES)
_DEFAULT_MODE = _BROADCAST.params[1].default


def _broadcast_args(params: Any) -> dict[str, Any] | None:
    """broadcast_tx's typed arguments when its params pass every check, else None (then
    ``_bind`` finds the first failing check and its exact error). What ``_bind`` does for
    this method, without the generic loop over the table's params and kinds: 100 of these
    make the batches clients send."""
    parts = _broadcast_parts(params)
    return None if parts is None else {"tx": parts[0], "mode": parts[1]}


def _broadcast_parts(params: Any) -> tuple[bytes, str] | None:
    """The tx's bytes and the mode (the method's default when absent) when broadcast_tx's
    params pass every check, else None: the one check both the per-call and the batch path
    use."""
    if type(params) is not dict or not params.keys() <= _BROADCAST_PARAMS:
        return None
    tx = params.get("tx")
    mode = params.get("mode")
    if type(tx) is not str or not (mode is None or (type(mode) is str and mode in _MODES)):
        return None
    wire = _hex_wire(tx)
    return None if wire is None else (wire, _DEFAULT_MODE if mode is None else mode)


def _hex_wire(tx: str) -> bytes | None:
    """The bytes of a tx's hex string, None when it is not plain hex (whitespace between
    pairs, which bytes.fromhex accepts, is refused as _check_hex does)."""
    try:
        wire = bytes.fromhex(tx)
    except ValueError:
        return None
    return wire if 2 * len(wire) == len(tx) else None


def _sync_wires(calls: list[Any]) -> list[bytes] | None:
    """The txs of a batch made only of well-formed sync-mode ``broadcast_tx`` calls whose
    params pass every check (with or without an id), in order; else None (the batch is
    answered call by call). Its arguments' dict is not built: this runs for every call of
    every such batch (a refused re-offer too)."""
    wires: list[bytes] = []
    for req in calls:
        if (
            type(req) is not dict
            or req.get("method") != "broadcast_tx"
            or req.get("jsonrpc") != "2.0"
            or not _valid_id(req.get("id"))
        ):
            return None
        parts = _broadcast_parts(req.get("params"))
        if parts is None or parts[1] != "sync":
            return None
        wires.append(parts[0])
    return wires


# The keys of a broadcast_tx answer in the order the node builds them (node.api).
_TX_ANSWER_KEYS = ("hash", "code", "error", "log")


def _tx_answer(id_: Any, result: Any) -> str | None:
    """The answer of a call whose result is a broadcast_tx answer (``hash``, ``code``,
    ``error``, ``log``, of their JSON types, in that order), serialised from a template with
    the encoder's own string escaping: the text ``_dumps`` makes, at a third of its cost
    (tests/node/test_rpcdispatch_fast.py holds them equal). None for any other result."""
    if type(result) is not dict or len(result) != 4 or tuple(result) != _TX_ANSWER_KEYS:
        return None
    tx_hash, code, error, log_ = result["hash"], result["code"], result["error"], result["log"]
    if (
        type(tx_hash) is not str
        or type(code) is not int
        or not (error is None or type(error) is str)
        or type(log_) is not str
    ):
        return None
    if id_ is None:
        id_json = "null"
    elif type(id_) is int:
        id_json = int.__repr__(id_)
    else:
        id_json = _escape(id_)
    head = f'{{"jsonrpc":"2.0","id":{id_json},"result":{{"hash":{_escape(tx_hash)},'
    return head + _tail(code, error, log_)


def _tail(code: int, error: str | None, log_: str) -> str:
    """The part of a broadcast_tx answer after its hash (``"code":...}}``), from the last one
    made for `code` when its error and log are the same strings: a node under overload
    answers most calls with one refusal (mempool_full, one log per block), and an admitted
    tx's tail is always the same. One entry per code (Code is a fixed enum; any other int
    is made each time, never kept), so the memo is bounded by the enum, not by traffic."""
    last = _TAILS.get(code)
    if last is not None and last[0] == error and last[1] == log_:
        return last[2]
    tail = (
        f'"code":{int.__repr__(code)},'
        f'"error":{"null" if error is None else _escape(error)},"log":{_escape(log_)}}}}}'
    )
    if code in _CODES:
        _TAILS[code] = (error, log_, tail)
    return tail


# the result codes of PROTOCOL.md section 7 (state.errors.Code): the keys _tail may keep
_CODES = frozenset(int(c) for c in Code)
# code -> (error, log, the tail _tail made of them): one entry per code at most
_TAILS: dict[int, tuple[str | None, str, str]] = {}


def _result_answer(id_: Any, result: Any) -> str:
    """A call's serialised success answer: a broadcast_tx answer from its template, any
    other result through the encoder (the batch path and the per-call path share it)."""
    return _tx_answer(id_, result) or _encode_answer(
        {"jsonrpc": "2.0", "id": id_, "result": result}
    )


def _encode_answer(answer: dict[str, Any]) -> str:
    """Serialise one answer; a result the node made unserialisable is our bug: -32603."""
    try:
        return _dumps(answer)
    except (TypeError, ValueError):
        log.exception("unserialisable result")
        return _dumps(error_answer(answer.get("id"), RpcError(INTERNAL_ERROR, "internal error")))


def error_answer(id_: Any, err: RpcError) -> dict[str, Any]:
    """An error answer; its message at most MAX_MESSAGE_CHARS, whatever produced it."""
    return {
        "jsonrpc": "2.0",
        "id": id_,
        "error": {"code": err.code, "message": shown(err.message, MAX_MESSAGE_CHARS)},
    }


def _valid_id(v: Any) -> bool:
    """A string, an integer or null. A float is refused: JSON-RPC 2.0 advises against
    fractions, and 1e999 parses to infinity, which no JSON answer can echo."""
    return v is None or type(v) is str or type(v) is int


def _well_formed(req: Any) -> bool:
    """A call that passes the request checks (-32600), whatever its method and params."""
    return (
        isinstance(req, dict)
        and _valid_id(req.get("id"))
        and req.get("jsonrpc") == "2.0"
        and isinstance(req.get("method"), str)
    )


class MethodStats:
    """Calls of one method answered and the time they took (node/metrics.py reads them)."""

    __slots__ = ("errors", "ok", "seconds")

    def __init__(self) -> None:
        self.ok = 0
        self.errors = 0
        self.seconds = 0.0


class Dispatcher:
    """Answers bodies: one call or a batch, checked, dispatched to ``handlers`` (the node's
    methods and the server's own, node.methods.bind_handlers), each call within its
    address's share (:class:`node.rpcfair.AddressBudget`)."""

    def __init__(self, config: RpcConfig, handlers: dict[str, Callable[..., Any]]) -> None:
        self.config = config
        self._handlers = handlers
        #: per method (node.methods names; others are "unknown"): calls and time (metrics)
        self.method_stats: dict[str, MethodStats] = {}
        self.budget = AddressBudget(config.max_call_weight_per_address)
        #: batch calls answered -32002 because the batch's answer passed its byte bound
        self.calls_over_answer_bound = 0
        #: sync-mode broadcast_tx of several txs as one admission request, in order
        #: (node.service.NodeService.broadcast_txs): a batch made only of such calls takes it
        #: (`_sync_wires`), answered byte for byte as call by call; None: call by call
        self.broadcast_many: Callable[[list[bytes]], Awaitable[list[dict[str, Any]]]] | None = None

    async def handle_body(self, body: bytes, conn: Any, source: str = "") -> str | None:
        """Answer one HTTP body or WebSocket message (a call or a batch) from the client at
        `source` (its IP address); None: no answer."""
        try:
            obj = _parse(body)
        except RpcError as err:
            return _dumps(error_answer(None, err))
        if isinstance(obj, list):
            if not obj:
                return _dumps(error_answer(None, RpcError(INVALID_REQUEST, "empty batch")))
            if len(obj) > self.config.max_batch:
                msg = f"batch of {len(obj)} calls; at most {self.config.max_batch}"
                return _dumps(error_answer(None, RpcError(INVALID_REQUEST, msg)))
            answers = [a for a in await self._batch(obj, conn, source) if a is not None]
            if not answers:
                return None
            return "[" + ",".join(answers) + "]"
        return await self._call(obj, conn, source)

    async def _batch(self, calls: list[Any], conn: Any, source: str) -> list[str | None]:
        """Answer a batch's calls concurrently, at most ``batch_concurrency`` at once, within
        ``batch_timeout_ms`` and ``max_batch_answer_bytes`` (the module doc): commit-mode
        waits end by then with the timeout answer, and a call still running (or not yet
        started) at the end is -32603. Answers keep the batch's order."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        deadline = loop.time() + cfg.batch_timeout_ms / 1000
        results: list[Any] = [_PENDING] * len(calls)
        answered = 0  # bytes of the answers finished so far
        position = 0  # the next call a worker takes

        def room() -> bool:
            return answered < cfg.max_batch_answer_bytes

        async def worker() -> None:
            # batch_concurrency workers rather than a task per call: a batch puts at most
            # that many steps in one turn of the loop, not max_batch
            nonlocal answered, position
            while position < len(calls):
                k = position
                position += 1
                if not room() and _well_formed(calls[k]):
                    results[k] = _SKIPPED  # a malformed one still gets its -32600 below
                    continue
                try:
                    out = await self._call(calls[k], conn, source, room)
                except _NotStarted:
                    results[k] = _SKIPPED
                    continue
                results[k] = out
                answered += 0 if out is None else len(out)

        async def together(wires: list[bytes]) -> None:
            # the batch's calls in turns of at most batch_concurrency (as many as the workers
            # would have running at once), each turn one admission request: its calls start
            # while the answer has room and within the address's budget, weight 1 each
            nonlocal answered
            assert many is not None
            st = self._stats("broadcast_tx")
            budget = self.budget
            n = len(calls)
            k = 0
            while k < n:
                if not room():  # it never comes back: answered only grows
                    results[k:] = [_SKIPPED] * (n - k)
                    break
                want = min(cfg.batch_concurrency, n - k)
                got = budget.try_take_ones(source, want)
                if not got:
                    await budget.take(source, 1)
                    if not room():  # filled while this call waited for its turn
                        continue
                    got = 1 + budget.try_take_ones(source, want - 1)
                lo, k = k, k + got
                turn = range(lo, k)
                t0 = time.perf_counter()
                try:
                    answers = await many(wires[lo:k])
                except Exception as exc:  # noqa: BLE001 - mapped as _call maps a handler's
                    err = _rpc_error(_BROADCAST, exc)
                    for j in turn:
                        st.errors += 1
                        results[j] = (
                            _dumps(error_answer(calls[j]["id"], err)) if "id" in calls[j] else None
                        )
                    st.seconds += (time.perf_counter() - t0) * len(turn)
                    continue
                for j, result in zip(turn, answers, strict=True):
                    req = calls[j]
                    out = None if "id" not in req else _result_answer(req["id"], result)
                    results[j] = out
                    answered += 0 if out is None else len(out)
                st.ok += len(turn)
                st.seconds += (time.perf_counter() - t0) * len(turn)

        many = self.broadcast_many
        wires = None if many is None else _sync_wires(calls)
        token = _BATCH_DEADLINE.set(deadline)
        try:
            if wires is not None:
                workers = [asyncio.create_task(together(wires))]
            else:
                workers = [
                    asyncio.create_task(worker())
                    for _ in range(min(cfg.batch_concurrency, len(calls)))
                ]
        finally:
            _BATCH_DEADLINE.reset(token)
        try:
            await asyncio.wait(workers, timeout=deadline - loop.time() + _BATCH_GRACE_S)
        finally:
            late = [t for t in workers if not t.done()]
            if late:  # the usual batch has none: no gather (and its future) for nothing
                for t in late:
                    t.cancel()
                await asyncio.gather(*late, return_exceptions=True)
        for t in workers:  # a worker's own failure is a bug: let it surface, as it did
            exc = None if t.cancelled() else t.exception()
            if exc is not None:
                raise exc
        if _SKIPPED not in results and _PENDING not in results:
            return results  # every call ran and finished: its answer, or None (notification)
        answers: list[str | None] = []
        for req, out in zip(calls, results, strict=True):
            has_id = isinstance(req, dict) and "id" in req and _valid_id(req["id"])
            if out is _SKIPPED:
                if has_id:
                    self.calls_over_answer_bound += 1
                    msg = (
                        f"limit exceeded: not executed, the batch's answer reached "
                        f"max_batch_answer_bytes ({cfg.max_batch_answer_bytes}); send this "
                        "call again in a smaller batch"
                    )
                    answers.append(_dumps(error_answer(req["id"], RpcError(LIMIT_EXCEEDED, msg))))
                else:
                    answers.append(None)  # a notification is never answered
            elif out is not _PENDING:
                assert out is None or isinstance(out, str)
                answers.append(out)
            elif has_id:
                msg = (
                    f"internal error: the batch's time limit (batch_timeout_ms "
                    f"{cfg.batch_timeout_ms}) passed before this call finished"
                )
                answers.append(_dumps(error_answer(req["id"], RpcError(INTERNAL_ERROR, msg))))
            else:
                answers.append(None)  # a notification is never answered
        return answers

    async def _call(
        self, req: Any, conn: Any, source: str, may_start: Callable[[], bool] | None = None
    ) -> str | None:
        """One call's answer, serialised (None for a notification). `may_start` is asked
        once the address's turn has come (a batch whose answer filled up meanwhile says
        no): then the call raises _NotStarted, not executed."""
        if not isinstance(req, dict):
            return dumps(
                error_answer(None, RpcError(INVALID_REQUEST, "invalid request: not an object"))
            )
        id_ = req.get("id")
        if not _valid_id(id_):
            return dumps(
                error_answer(
                    None,
                    RpcError(
                        INVALID_REQUEST, "invalid request: id must be a string, an integer or null"
                    ),
                )
            )
        if req.get("jsonrpc") != "2.0":
            return dumps(
                error_answer(
                    id_, RpcError(INVALID_REQUEST, 'invalid request: jsonrpc must be "2.0"')
                )
            )
        method = req.get("method")
        if not isinstance(method, str):
            return dumps(
                error_answer(
                    id_, RpcError(INVALID_REQUEST, "invalid request: method must be a string")
                )
            )
        notification = "id" not in req
        st = self._stats(method if method in BY_NAME else "unknown")  # bounded label set
        t0 = time.perf_counter()
        try:
            params = req.get("params")
            args = _broadcast_args(params) if method == "broadcast_tx" else None
            if args is not None:  # the common call of a batch, checked in one step
                spec = _BROADCAST
                weight = 1
            else:
                spec, args = self._resolve(method, params, conn)
                weight = call_weight(method, args)
            if not self.budget.try_take(source, weight):  # a coroutine only when it waits
                await self.budget.take(source, weight)
            if may_start is not None and not may_start():
                raise _NotStarted
            result = self._start(spec, args, conn)
            if inspect.isawaitable(result):
                # awaited here, not in a coroutine of its own: one less per call
                try:
                    result = await result
                except Exception as exc:  # noqa: BLE001 - mapped as _start maps it
                    raise _rpc_error(spec, exc) from None
            # serialised in the same step: a large answer is work of the call's turn too
            answer = None if notification else _result_answer(id_, result)
        except RpcError as err:
            st.errors += 1
            st.seconds += time.perf_counter() - t0
            return None if notification else _dumps(error_answer(id_, err))
        st.ok += 1
        st.seconds += time.perf_counter() - t0
        return answer

    def _stats(self, label: str) -> MethodStats:
        st = self.method_stats.get(label)
        if st is None:
            st = self.method_stats[label] = MethodStats()
        return st

    def _resolve(self, name: str, params: Any, conn: Any) -> tuple[Method, dict[str, Any]]:
        """The method and its typed arguments, or the -32601 / -32602 error."""
        method = BY_NAME.get(name)
        if method is None or (method.ws_only and conn is None):
            hint = " (WebSocket /ws only)" if method is not None and method.ws_only else ""
            raise RpcError(METHOD_NOT_FOUND, f"method not found: {shown(name)}{hint}")
        return method, _bind(method, params, self.config)

    def _start(self, method: Method, args: dict[str, Any], conn: Any) -> Any:
        """Call the handler: its result, or the awaitable of a handler that waits (the
        caller awaits it and maps its failure with `_rpc_error`)."""
        handler = self._handlers[method.name]
        try:
            return handler(conn, **args) if method.ws_only else handler(**args)
        except Exception as exc:  # noqa: BLE001 - mapped to its JSON-RPC error, or re-raised
            raise _rpc_error(method, exc) from None


def _rpc_error(method: Method, exc: Exception) -> RpcError:
    """The JSON-RPC error a handler's exception answers: its own, -32001 not found, -32602
    invalid params, else -32603 (our bug, logged)."""
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, NotFound):
        return RpcError(NOT_FOUND, f"not found: {exc}")
    if isinstance(exc, InvalidParams):
        return invalid_param(exc.param, exc.message)
    log.error("internal error in %s", method.name, exc_info=exc)
    return RpcError(INTERNAL_ERROR, "internal error")
