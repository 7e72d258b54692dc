// The explorer: a single page, one view per hash route, re-rendered as blocks land.
import { t, lang, setLang, applyStatic } from "./i18n.js";
import { call, fixed, maybe, live, RPC_URL } from "./rpc.js";
import { verifyBox, pinFooter } from "./verifyui.js";

/** How many recent blocks the overview, validators and evidence views look back over. */
export const RECENT_BLOCKS = 50;
/** Points of the pool balance chart (one provable read each). */
const CHART_POINTS = 24;

const view = document.getElementById("view");
let genesis = null;
let stats = { intervalMs: null, txRate: null };
let renderSeq = 0;

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const short = (h) => (h && h.length > 16 ? `${h.slice(0, 8)}…${h.slice(-6)}` : h ?? "");
const link = (route, text, cls = "hash") => `<a class="${cls}" href="#/${route}">${esc(text)}</a>`;
const acct = (a) => link(`account/${a}`, short(a));
const badge = (s) => `<span class="badge st-${esc(s)}">${esc(t(s))}</span>`;
const num = (n) => (n == null ? "—" : Number(n).toLocaleString(lang === "zh" ? "zh-CN" : "en"));
const when = (iso) => (iso ? new Date(iso).toLocaleString(lang === "zh" ? "zh-CN" : "en") : "");
const kv = (rows) => `<table class="kv">${rows.map(([k, v]) => `<tr><th>${esc(t(k))}</th><td>${v}</td></tr>`).join("")}</table>`;
const table = (heads, rows, cls = "wide") =>
  `<div class="scroll"><table class="${cls}"><tr>${heads.map((h) => `<th>${esc(t(h))}</th>`).join("")}</tr>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`)
    .join("")}</table></div>`;

function duration(ms) {
  if (ms == null || !isFinite(ms)) return "?";
  const s = Math.round(ms / 1000);
  if (s < 90) return `${s}s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** "in N blocks (~time)" against the measured block interval, or "reached at block H". */
function countdown(target, height) {
  if (target == null) return "—";
  if (target <= height) return `${num(target)} · ${esc(t("passed_at", { h: num(target) }))}`;
  const b = target - height;
  return `${num(target)} · <span class="countdown">${esc(t("in_blocks", { b, t: duration(b * (stats.intervalMs ?? 1000)) }))}</span>`;
}

async function recentBlocks(n) {
  const head = await call("block", {});
  const from = Math.max(1, head.height - n + 1);
  const rest = [];
  for (let h = head.height - 1; h >= from; h--) rest.push(fixed("block", { height: h }));
  return [head, ...(await Promise.all(rest))];
}

function measure(blocks) {
  if (blocks.length < 2) return;
  const first = blocks[blocks.length - 1], last = blocks[0];
  const span = Date.parse(last.time) - Date.parse(first.time);
  stats.intervalMs = span / (blocks.length - 1);
  const txs = blocks.slice(0, -1).reduce((a, b) => a + b.txs.length, 0);
  stats.txRate = span > 0 ? (txs * 1000) / span : 0;
}

async function pools() {
  genesis ??= await call("genesis", {});
  return (genesis.pools || []).map((p) => p.id);
}

// -- views --

async function overview() {
  const [status, blocks, vals, ids] = await Promise.all([call("status"), recentBlocks(RECENT_BLOCKS), call("validators", {}), pools()]);
  measure(blocks);
  const signed = new Map();
  for (const b of blocks) for (const s of b.commit?.signatures || []) signed.set(s.validator, (signed.get(s.validator) || 0) + 1);
  const withCommit = blocks.filter((b) => b.commit).length;
  const ps = await Promise.all(ids.map((id) => call("pool", { id })));
  const members = ["waiting", "active", "lapsed", "left"];
  const totals = Object.fromEntries(members.map((m) => [m, ps.reduce((a, p) => a + p.members[m], 0)]));
  const liab = ps.reduce((a, p) => a + p.liabilities, 0);
  const bal = ps.reduce((a, p) => a + p.balance, 0);
  return `<h1>${esc(status.chain_id)}</h1>
  <div class="cards">
    <div class="card"><b id="height">${num(status.height)}</b><span>${esc(t("height"))}</span></div>
    <div class="card"><b>${duration(stats.intervalMs)}</b><span>${esc(t("block_interval"))}</span></div>
    <div class="card"><b>${stats.txRate == null ? "—" : stats.txRate.toFixed(2)}</b><span>${esc(t("tx_rate"))}</span></div>
    ${members.map((m) => `<div class="card"><b>${num(totals[m])}</b><span>${esc(t("members"))} · ${esc(t(m))}</span></div>`).join("")}
    <div class="card"><b>${num(liab)}</b><span>${esc(t("liabilities"))}</span></div>
    <div class="card"><b>${liab ? ((bal * 100) / liab).toFixed(0) + "%" : "—"}</b><span>${esc(t("reserve"))}</span></div>
  </div>
  <h2>${esc(t("pools"))}</h2>
  ${table(["pool", "balance", "active", "waiting", "liabilities", "reserve"], ps.map((p) => [link(`pool/${p.id}`, p.name, ""), num(p.balance), num(p.members.active), num(p.members.waiting), num(p.liabilities), p.reserve_bps == null ? "—" : (p.reserve_bps / 100).toFixed(0) + "%"]))}
  <h2>${esc(t("validators"))}</h2>
  ${table(["name", "power", "missed"], vals.validators.map((v) => [esc(v.name) + ` <span class="hash muted">${short(v.consensus_key)}</span>`, num(v.power), num(withCommit - (signed.get(v.consensus_key) || 0))]), "").replace(esc(t("missed")), esc(t("missed", { n: withCommit })))}
  <h2>${esc(t("recent_blocks"))}</h2>${blockTable(blocks.slice(0, 10))}`;
}

const blockTable = (bs) => table(["height", "time", "txs", "proposer", "hash"], bs.map((b) => [link(`block/${b.height}`, b.height, ""), esc(when(b.time)), num(b.txs.length), `<span class="hash">${short(b.proposer)}</span>`, link(`block/${b.height}`, short(b.hash))]));

async function blocksView() {
  const bs = await recentBlocks(RECENT_BLOCKS);
  measure(bs);
  return `<h1>${esc(t("nav_blocks"))}</h1>${blockTable(bs)}`;
}

async function blockView(h) {
  const b = await call("block", { height: Number(h) });
  const txs = await Promise.all(b.txs.map((x) => maybe("tx", { hash: x })));
  return `<h1>${esc(t("block"))} ${num(b.height)}</h1>
  ${kv([["hash", `<span class="hash">${b.hash}</span>`], ["time", esc(when(b.time))], ["proposer", `<span class="hash">${b.proposer}</span>`], ["commit_sigs", b.commit ? num(b.commit.signatures.length) : "—"]])}
  <h2>${esc(t("txs"))}</h2>${txTable(txs.filter(Boolean))}
  ${b.evidence.length ? `<h2>${esc(t("evidence"))}</h2>${evidenceTable(b.evidence.map((e) => ({ ...e, in: b.height })))}` : ""}`;
}

const txTable = (txs) => table(["hash", "type", "sender", "height", "result"], txs.map((x) => [link(`tx/${x.hash}`, short(x.hash)), esc(x.type), acct(x.sender), link(`block/${x.height}`, x.height, ""), x.code === 0 ? "ok" : `<span class="error">${esc(x.error)}</span>`]));

async function txView(hash) {
  const x = await call("tx", { hash });
  const p = x.payload || {};
  const claimLink = x.type === "claim" ? link(`claim/${x.hash}`, t("claim"), "") : p.claim ? link(`claim/${p.claim}`, t("claim"), "") : "";
  return `<h1>${esc(t("tx"))} <span class="hash">${x.hash}</span></h1>
  ${kv([["type", esc(x.type) + " " + claimLink], ["block", link(`block/${x.height}`, x.height, "")], ["index", num(x.index)], ["sender", acct(x.sender)], ["nonce", num(x.nonce)], ["fee", num(x.fee)], ["result", x.code === 0 ? "ok" : `<span class="error">${esc(x.error)}: ${esc(x.log)}</span>`]])}
  <h2>${esc(t("payload"))}</h2><pre class="hash">${esc(JSON.stringify(p, null, 2))}</pre>`;
}

async function accountView(address) {
  const ids = await pools();
  const [a, hist, mem] = await Promise.all([
    call("account", { address }),
    call("txs", { address, limit: 50 }),
    Promise.all(ids.map((pool) => maybe("member", { pool, address }))),
  ]);
  const ms = mem.filter(Boolean);
  return { shown: a, html: `<h1>${esc(t("account"))} <span class="hash" id="account-address">${esc(a.address)}</span></h1>
  <div id="verify-slot"></div>
  ${kv([["balance", `<span id="account-balance">${num(a.balance)}</span>`], ["nonce", num(a.nonce)], ["pending_nonce", num(a.pending_nonce)], ["kyc", a.kyc ? "✓" : "—"]])}
  <h2>${esc(t("memberships"))}</h2>${ms.length ? table(["pool", "status", "joined_at"], ms.map((m) => [link(`pool/${m.pool}`, m.pool, ""), badge(m.status), num(m.joined_at)]), "") : `<p class="muted">${esc(t("none"))}</p>`}
  <h2>${esc(t("history"))}</h2>${txTable(hist)}` };
}

let seenPayouts = new Map(); // claim id -> payout tx hash, from the live tx feed

async function claimView(id) {
  const [c, status] = await Promise.all([call("claim", { id }), call("status")]);
  if (stats.intervalMs == null) measure(await recentBlocks(10));
  const h = status.height;
  let payout = seenPayouts.get(id);
  if (!payout && c.status === "paid") {
    const mine = await call("txs", { address: c.claimant, limit: 100 });
    payout = mine.find((x) => x.type === "payout" && x.payload.claim === id && x.code === 0)?.hash;
  }
  const paid = c.status === "paid" ? `<span id="claim-payout">${esc(t("paid"))}: ${num(c.amount)}${payout ? " · " + link(`tx/${payout}`, short(payout)) : ""}</span>` : `<span id="claim-payout" class="muted">${esc(t("not_paid"))}</span>`;
  return { shown: c, html: `<h1>${esc(t("claim"))} <span class="hash">${esc(c.id)}</span></h1>
  <div id="verify-slot"></div>
  ${kv([
    ["status", `<span id="claim-status">${badge(c.status)}</span>`],
    ["pool", link(`pool/${c.pool}`, c.pool, "")],
    ["claimant", acct(c.claimant)],
    ["amount", `<span id="claim-amount">${num(c.amount)}</span>`],
    ["evidence_hash", `<span class="hash">${esc(c.evidence)}</span>`],
    ["stage", esc(c.stage)],
    ["opened_at", `${link(`block/${c.opened_at}`, c.opened_at, "")} · ${link(`tx/${c.id}`, short(c.id))}`],
    ["closes_at", countdown(c.closes_at, h)],
    ["payable_at", countdown(c.payable_at, h)],
    ["votes", `<span id="claim-votes">${esc(t("votes_for"))} ${num(c.votes_for)} · ${esc(t("votes_against"))} ${num(c.votes_against)}</span>`],
    ["payout", paid],
  ])}
  <h2>${esc(t("votes"))}</h2>${c.voters.length ? table(["voter", "result"], c.voters.map((v) => [acct(v.address), esc(v.approve ? t("votes_for") : t("votes_against"))]), "") : `<p class="muted">${esc(t("none"))}</p>`}
  <h2>${esc(t("attestations"))} (${num(c.attest_for)} / ${num(c.attest_against)})</h2>${c.attestations.length ? table(["attestor", "result", "hash"], c.attestations.map((a) => [acct(a.attestor), esc(a.approve ? t("votes_for") : t("votes_against")), `<span class="hash">${short(a.report)}</span>`]), "") : `<p class="muted">${esc(t("none"))}</p>`}
  <h2>${esc(t("objections"))}</h2>${c.objections.length ? `<ul>${c.objections.map((o) => `<li>${acct(o)}</li>`).join("")}</ul>` : `<p class="muted">${esc(t("none"))}</p>`}` };
}

function chart(points) {
  if (points.length < 2) return "";
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x) => ((x - x0) / (x1 - x0 || 1)) * 590 + 5, sy = (y) => 150 - ((y - y0) / (y1 - y0 || 1)) * 140;
  return `<svg class="chart" viewBox="0 0 600 160" preserveAspectRatio="none" role="img" aria-label="${esc(t("balance_chart"))}">
  <polyline points="${points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ")}"/></svg>
  <p class="muted">${esc(t("height"))} ${num(x0)}–${num(x1)} · ${esc(t("balance"))} ${num(y0)}–${num(y1)}</p>`;
}

async function poolView(id) {
  const [p, status, claims, events, props] = await Promise.all([call("pool", { id }), call("status"), call("claims", { pool: id, limit: 100 }), call("events", { pool: id, limit: 50 }), call("proposals", { scope: id, limit: 100 })]);
  const h = status.height, step = Math.max(1, Math.ceil(Math.min(h, 500) / CHART_POINTS));
  const hs = [];
  // multiples of step, so the reads of past heights are the same from one block to the next
  hs.push(h);
  for (let x = Math.floor(h / step) * step; x >= 1 && hs.length < CHART_POINTS; x -= step) if (x !== h) hs.push(x);
  const pts = (await Promise.all(hs.map((x) => fixed("pool", { id, height: x }).then((r) => [x, r.balance], () => null)))).filter(Boolean).reverse();
  const byStatus = {};
  for (const c of claims) byStatus[c.status] = (byStatus[c.status] || 0) + 1;
  const changed = props.filter((q) => q.status === "enacted");
  return `<h1>${esc(p.name)} <span class="muted">${esc(p.id)}</span></h1>
  ${kv([["balance", num(p.balance)], ["members", ["waiting", "active", "lapsed", "left"].map((m) => `${esc(t(m))} ${num(p.members[m])}`).join(" · ")], ["liabilities", num(p.liabilities)], ["reserve", p.reserve_bps == null ? "—" : (p.reserve_bps / 100).toFixed(1) + "%"], ["round", num(p.round)]])}
  <h2>${esc(t("balance_chart"))}</h2>${chart(pts)}
  <h2>${esc(t("claims"))}</h2><p>${Object.entries(byStatus).map(([s, n]) => `${badge(s)} ${num(n)}`).join(" ") || esc(t("none"))}</p>
  ${table(["hash", "amount", "status", "opened_at"], claims.slice().reverse().slice(0, 30).map((c) => [link(`claim/${c.id}`, short(c.id)), num(c.amount), badge(c.status), num(c.opened_at)]))}
  <h2>${esc(t("events"))}</h2>${events.length ? table(["round", "value", "height", "per_member"], events.map((e) => [num(e.round), num(e.value), link(`block/${e.height}`, e.height, ""), num(e.per_member)])) : `<p class="muted">${esc(t("none"))}</p>`}
  <h2>${esc(t("params"))}</h2>${kv(Object.entries(p.params).map(([k, v]) => [k, `<span class="hash">${esc(JSON.stringify(v))}</span>`]))}
  <h2>${esc(t("changed_by"))}</h2>${changed.length ? proposalTable(changed, h) : `<p class="muted">${esc(t("none"))}</p>`}`;
}

const proposalTable = (ps, h) => table(["title", "scope", "status", "turnout", "enact_at"], ps.map((q) => {
  const cast = q.yes + q.no + q.abstain, need = Math.ceil((q.electorate * (q.gov?.gov_quorum_bps ?? 0)) / 10000);
  return [`${esc(q.title)}<br><span class="hash muted">${esc(JSON.stringify(q.changes))}</span>`, esc(q.scope), badge(q.status), `${num(cast)} / ${num(q.electorate)} (${esc(t("quorum"))} ${num(need)}) · ${esc(t("yes"))} ${num(q.yes)} ${esc(t("no"))} ${num(q.no)}`, q.status === "voting" ? `${esc(t("closes_at"))} ${countdown(q.closes_at, h)}` : countdown(q.enact_at, h)];
}));

async function proposalsView() {
  const [ids, status] = await Promise.all([pools(), call("status")]);
  const all = (await Promise.all(["chain", ...ids].map((s) => call("proposals", { scope: s, limit: 100 })))).flat();
  const open = all.filter((q) => q.status === "voting" || q.status === "passed");
  return `<h1>${esc(t("open_proposals"))}</h1>${open.length ? proposalTable(open, status.height) : `<p class="muted">${esc(t("none"))}</p>`}
  <h2>${esc(t("all_proposals"))}</h2>${proposalTable(all.slice().reverse(), status.height)}`;
}

async function validatorsView() {
  const [vals, blocks] = await Promise.all([call("validators", {}), recentBlocks(RECENT_BLOCKS)]);
  const signed = new Map();
  for (const b of blocks) for (const s of b.commit?.signatures || []) signed.set(s.validator, (signed.get(s.validator) || 0) + 1);
  const n = blocks.filter((b) => b.commit).length;
  return `<h1>${esc(t("validators"))} <span class="muted">${esc(t("at_height", { h: vals.height }))}</span></h1>
  ${table(["name", "power", "operator", "consensus_key", "missed"], vals.validators.map((v) => [esc(v.name), num(v.power), acct(v.operator), `<span class="hash">${short(v.consensus_key)}</span>`, num(n - (signed.get(v.consensus_key) || 0))]))}
  <p class="muted">${esc(t("missed", { n }))}</p>`;
}

async function electionsView() {
  const [changes, cands] = await Promise.all([call("validator_changes", { limit: 100 }), call("candidates")]);
  return `<h1>${esc(t("elections"))}</h1><h2>${esc(t("set_changes"))}</h2><p>${changes.map((h) => link(`block/${Math.max(1, h - 2)}`, h, "")).join(" · ")}</p>
  <h2>${esc(t("candidates"))}</h2>${table(["name", "votes", "operator", "barred_until"], cands.map((c) => [esc(c.name), num(c.votes), acct(c.operator), num(c.barred_until)]))}`;
}

const evidenceTable = (es) => table(["validator", "height", "round", "type", "block"], es.map((e) => [`<span class="hash">${short(e.validator)}</span>`, num(e.height), num(e.round), esc(e.type), link(`block/${e.in}`, e.in, "")]));

async function evidenceView() {
  const bs = await recentBlocks(RECENT_BLOCKS);
  const es = bs.flatMap((b) => b.evidence.map((e) => ({ ...e, in: b.height })));
  return `<h1>${esc(t("evidence"))}</h1>${es.length ? evidenceTable(es) : `<p class="muted">${esc(t("no_evidence", { n: bs.length }))}</p>`}`;
}

// -- search --

/**
 * Where a search goes: digits are a block height; 64 hex digits are tried as a transaction (a
 * claim's id is the hash of the transaction that filed it: that one opens the claim page, which
 * links the transaction), a claim, a block hash among the last RECENT_BLOCKS blocks (no RPC
 * looks a block up by hash), and otherwise an account (every address reads, unseen ones as zeros).
 */
export async function resolve(q) {
  q = q.trim().toLowerCase();
  if (/^\d+$/.test(q)) return `block/${Number(q)}`;
  if (!/^[0-9a-f]{64}$/.test(q)) return null;
  const tx = await maybe("tx", { hash: q });
  if (tx) return tx.type === "claim" && tx.code === 0 ? `claim/${q}` : `tx/${q}`;
  if (await maybe("claim", { id: q })) return `claim/${q}`;
  const bs = await recentBlocks(RECENT_BLOCKS);
  const b = bs.find((x) => x.hash === q);
  if (b) return `block/${b.height}`;
  return `account/${q}`;
}

// -- router --

const ROUTES = [
  [/^$/, overview], [/^blocks$/, blocksView], [/^block\/(\d+)$/, blockView], [/^tx\/([0-9a-f]{64})$/, txView],
  [/^account\/([0-9a-f]{64})$/, accountView], [/^claim\/([0-9a-f]{64})$/, claimView], [/^pool\/([\w.-]+)$/, poolView],
  [/^proposals$/, proposalsView], [/^validators$/, validatorsView], [/^elections$/, electionsView], [/^evidence$/, evidenceView],
];

async function render() {
  const seq = ++renderSeq;
  const route = location.hash.replace(/^#\/?/, "");
  const hit = ROUTES.map(([re, fn]) => [route.match(re), fn]).find(([m]) => m);
  let html, shown = null; // a view returns its HTML, or {html, shown: the read the verified mark checks}
  try {
    const out = hit ? await hit[1](...hit[0].slice(1)) : `<p class="error">${esc(t("not_found", { q: route }))}</p>`;
    ({ html, shown = null } = typeof out === "string" ? { html: out } : out);
  } catch (e) {
    html = `<p class="error">${esc(e.message)}</p>`;
  }
  if (seq !== renderSeq) return; // a newer render started meanwhile
  view.innerHTML = html;
  view.dataset.route = route;
  if (!performance.getEntriesByName("huzhu:first-render").length) performance.mark("huzhu:first-render");
  const slot = document.getElementById("verify-slot");
  if (slot) {
    const [kind, arg] = route.split("/");
    verifyBox(slot, RPC_URL, kind === "claim" ? "claim" : "account", kind === "claim" ? { id: arg } : { address: arg }, shown);
  }
  document.dispatchEvent(new CustomEvent("huzhu:rendered", { detail: { route } }));
}

/** Live re-renders at most this often (ms): fast chains commit several blocks a second. */
export const LIVE_MIN_INTERVAL_MS = 1000;
let pending = null;
let lastLive = 0;
function rerenderSoon() {
  if (pending) return;
  const wait = Math.max(150, lastLive + LIVE_MIN_INTERVAL_MS - Date.now());
  pending = setTimeout(() => { pending = null; lastLive = Date.now(); render(); }, wait);
}

document.getElementById("search").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const q = document.getElementById("q").value;
  const to = await resolve(q);
  if (to) location.hash = `#/${to}`;
  else view.innerHTML = `<p class="error" id="search-miss">${esc(t("not_found", { q }))}</p>`;
});
const footer = () => pinFooter(document.getElementById("pin"), RPC_URL); // never rejects
document.getElementById("lang").addEventListener("click", () => { setLang(lang === "zh" ? "en" : "zh"); render(); footer(); });
window.addEventListener("hashchange", render);
document.addEventListener("huzhu:pinned", render);
document.addEventListener("huzhu:stale", rerenderSoon);

// Start-up: the static text, the footer and the view draw independently, none waiting on another
// (the footer once waited on the verifier's load and never drew when that load failed).
applyStatic();
footer();
render();
live(
  (kind, data) => {
    if (kind === "tx" && data.type === "payout" && data.code === 0 && data.payload) seenPayouts.set(data.payload.claim, data.hash);
    if (kind === "new_block" && view.dataset.route !== undefined) rerenderSoon();
  },
  (on) => {
    const el = document.getElementById("live");
    el.className = `live ${on ? "on" : "off"}`;
    el.dataset.i18n = on ? "live_on" : "live_off";
    el.textContent = t(el.dataset.i18n);
  },
);
