// JSON-RPC over HTTP to the node that served the page, and its WebSocket events.
import { t } from "./i18n.js";

export const RPC_URL = new URL("/", location.href).href;

let nextId = 1;

export class RpcFailure extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.code;
    this.data = error.data;
  }
}

/** A bound (ms) the page's URL may set (?name=N, a slow phone, a test): N when an integer in
 * [lo, hi], else `dflt`. */
export function pageBound(name, dflt, [lo, hi]) {
  const asked = Number(new URLSearchParams(location.search).get(name));
  return Number.isInteger(asked) && asked >= lo && asked <= hi ? asked : dflt;
}

/** Default longest wait (ms) for one JSON-RPC answer: past it the view shows an error, not
 * "Loading…" forever; ?rpc_timeout_ms=N within RPC_TIMEOUT_RANGE overrides it. */
export const RPC_TIMEOUT_MS = 30000;
export const RPC_TIMEOUT_RANGE = [1000, 600000];
export const rpcTimeoutMs = () => pageBound("rpc_timeout_ms", RPC_TIMEOUT_MS, RPC_TIMEOUT_RANGE);

export async function call(method, params = {}) {
  const ms = rpcTimeoutMs();
  let body;
  try {
    const resp = await fetch(RPC_URL, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }),
      signal: AbortSignal.timeout(ms),
    });
    body = await resp.json();
  } catch (e) {
    if (e && e.name === "TimeoutError") throw new Error(t("rpc_timeout", { m: method, s: ms / 1000 }));
    throw e;
  }
  if (body.error) throw new RpcFailure(body.error);
  return body.result;
}

/** Reads of a fixed past height never change: kept, at most this many (oldest dropped first). */
export const HISTORY_CACHE = 2000;
const history = new Map();

/** `call` for an answer that cannot change (a block, a state read at an explicit height). */
export async function fixed(method, params) {
  const key = `${method}:${JSON.stringify(params)}`;
  if (history.has(key)) return history.get(key);
  const answer = await call(method, params);
  history.set(key, answer);
  if (history.size > HISTORY_CACHE) history.delete(history.keys().next().value);
  return answer;
}

/** Like call, but null for "not found" (-32004 and friends) so views can probe. */
export async function maybe(method, params = {}) {
  try {
    return await call(method, params);
  } catch (e) {
    if (e instanceof RpcFailure) return null;
    throw e;
  }
}

/**
 * Subscribe to new_block and tx; reconnects with backoff (capped at 10 s) when the socket drops.
 * onEvent(kind, data); onState(connected: boolean).
 */
export function live(onEvent, onState) {
  let delay = 500;
  const open = () => {
    const ws = new WebSocket(RPC_URL.replace(/^http/, "ws") + "ws");
    ws.onopen = () => {
      delay = 500;
      onState(true);
      for (const ev of ["new_block", "tx"]) {
        ws.send(JSON.stringify({ jsonrpc: "2.0", id: nextId++, method: "subscribe", params: { event: ev } }));
      }
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.method === "event" && msg.params) onEvent(msg.params.event, msg.params.data);
    };
    ws.onclose = () => {
      onState(false);
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  open();
}
