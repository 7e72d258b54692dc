// The in-browser light-client verifier of docs/protocol.md section 11: node/light.py in JS.
//
// Why: a member holding only a phone should not have to trust the node that serves the
// explorer. This module refuses exactly what node/light.py refuses, with the same check name
// at the start of each Error's message ("proof:", "header:", "commit:", "validators:",
// "answer:", "anchor:"); tests/explorer/test_verify_browser.py runs the vectors of
// tests/vectors/light_client.json through both. Signatures are libsodium's strict Ed25519
// verify (PROTOCOL.md section 2), vendored under ./vendor/crypto/ (tools/vendor_explorer_crypto.sh);
// SHA-256 and canonical msgpack are in ./verify-codec.js.
//
// Exposed as window.HuzhuVerify = { verifiedRead, verifyCase, verifySignature, pinGenesis,
// pinnedGenesis, pinnedGenesisHash, clearPin, ready, genesisHash }; verifyCase, pin and hash calls
// return Promises (libsodium loads asynchronously).

const HASH_LEN = 32;
const KEY_LEN = 32;
const SIG_LEN = 64;
const MAX_DEPTH = 64; // nibbles in a sha256 (state/treeproof.py)
const MAX_SIGNATURES = 10000; // node/light.py MAX_SIGNATURES
const PRECOMMIT = 2;
const CHANGES_PAGE = 100; // validator_changes page size asked for (node/client.py)
const PIN_KEY = "huzhu.genesis.pin"; // localStorage: the pinned genesis document (JSON)
const PROOF_FIELDS = new Set(["proof", "header", "commit"]);

import { be64, cmp, concat, decode, enc, encode, eq, fromHex, jsonEqual, jsonForm, sha256, toHex } from "./verify-codec.js";
const fail = (msg) => new Error(msg);

// --------------------------------------------------------------------- libsodium loading

let sodium = null;
const vendor = (name) => new URL(`./vendor/crypto/${name}`, import.meta.url).href;

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.appendChild(s);
  });
}

let loading = null;

/** Resolves once libsodium (classic scripts setting window.libsodium, window.sodium) is up.
 * One load shared by every caller: two callers racing used to add the scripts twice, and the
 * second copy's start-up throws, leaving a caller waiting forever. A failed load is forgotten,
 * so a later call tries again. */
function ready() {
  if (sodium) return Promise.resolve(sodium);
  loading ??= loadSodium().then((s) => (sodium = s), (e) => { loading = null; throw e; });
  return loading;
}

async function loadSodium() {
  if (!window.sodium) {
    if (!window.libsodium) await loadScript(vendor("libsodium.js"));
    await loadScript(vendor("libsodium-wrappers.js"));
  }
  await window.sodium.ready;
  return window.sodium;
}

/** libsodium's strict verdict (the one PROTOCOL.md section 2 requires). */
function verifySignature(key, msg, sig) {
  if (key.length !== KEY_LEN || sig.length !== SIG_LEN) return false;
  try {
    return sodium.crypto_sign_verify_detached(sig, msg, key);
  } catch (e) {
    return false;
  }
}

function hex(v, what, length = null) {
  if (typeof v !== "string" || v.length % 2 || !/^[0-9a-fA-F]*$/.test(v)) throw fail(`${what}: not hex`);
  const b = fromHex(v);
  if (length !== null && b.length !== length) throw fail(`${what}: not ${length} bytes`);
  return b;
}

function int(v, what) {
  if (!Number.isSafeInteger(v) || v < 0) throw fail(`${what}: not an integer >= 0`);
  return v;
}

function obj(v, what) {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw fail(`${what}: missing or not an object`);
  return v;
}

// --------------------------------------------------------------------- headers, proofs, commits

const HEADER_BINS = ["prev_hash", "proposer", "tx_root", "state_root", "last_commit_hash", "evidence_hash", "validators_hash"];

function headerFromJson(d) {
  const m = obj(d, "header");
  if (typeof m.chain_id !== "string") throw fail("header: chain_id is not a string");
  const h = {
    chain_id: m.chain_id,
    height: int(m.height, "header: height"),
    time_ms: int(m.time_ms, "header: time_ms"),
  };
  for (const f of HEADER_BINS) h[f] = hex(m[f], `header: ${f}`, f === "proposer" ? KEY_LEN : HASH_LEN);
  return h;
}

const headerHash = (h) => sha256(encode(h));

function validatorsHash(vs) {
  return sha256(encode(vs.map(([k, p]) => [k, p])));
}

function sortSet(pairs) {
  return pairs.sort((a, b) => cmp(a[0], b[0]));
}

function sameSet(a, b) {
  return a.length === b.length && a.every(([k, p], i) => eq(k, b[i][0]) && p === b[i][1]);
}

function validatorKeys(rows, what) {
  if (!Array.isArray(rows) || rows.length === 0) throw fail(`${what}: not a non-empty list`);
  const seen = new Set();
  const out = [];
  for (const r of rows) {
    const row = obj(r, what);
    const key = hex(row.consensus_key, `${what}: consensus_key`, KEY_LEN);
    const power = int(row.power, `${what}: power`);
    if (seen.has(toHex(key)) || power === 0) throw fail(`${what}: duplicate key or zero power`);
    seen.add(toHex(key));
    out.push([key, power]);
  }
  return sortSet(out);
}

function setFromRecord(raw, what) {
  let pairs;
  try {
    const infos = decode(raw);
    if (!Array.isArray(infos)) throw new Error("not a list");
    const m = new Map();
    for (const v of infos) {
      if (!(v.consensus_key instanceof Uint8Array) || !Number.isSafeInteger(v.power)) throw new Error("bad validator");
      m.set(toHex(v.consensus_key), [v.consensus_key, v.power]);
    }
    pairs = sortSet([...m.values()]);
  } catch (e) {
    throw fail(`${what}: record does not decode (${e.message})`);
  }
  if (!pairs.length) throw fail(`${what}: empty set`);
  return pairs;
}

function nibble(kh, d) {
  const b = kh[d >> 1];
  return d & 1 ? b & 0x0f : b >> 4;
}

const EMPTY_ROOT = () => sha256(enc.encode("huzhu/tree/v1/empty"));

/** state/treeproof.py verify_proof: false for any malformed or non-matching proof. */
function verifyProof(root, key, value, siblings, leaf) {
  const n = siblings.length;
  if (n > MAX_DEPTH) return false;
  const kh = sha256(key);
  let h;
  if (leaf === null) {
    if (value !== null) return false;
    h = EMPTY_ROOT();
  } else {
    const [lk, lv] = leaf;
    if (toHex(lk).slice(0, n) !== toHex(kh).slice(0, n)) return false;
    if (value === null) {
      if (eq(lk, kh)) return false;
    } else if (!eq(lk, kh) || !eq(lv, sha256(value))) return false;
    h = sha256(concat(Uint8Array.of(0), lk, lv));
  }
  for (let d = n - 1; d >= 0; d--) {
    const level = siblings[d];
    const nib = nibble(kh, d);
    h = sha256(concat(Uint8Array.of(1), ...level.slice(0, nib), h, ...level.slice(nib)));
  }
  return eq(h, root);
}

function checkProof(answerProof, key, stateRoot) {
  const p = obj(answerProof, "proof");
  for (const k of ["key", "value", "leaf", "siblings"]) if (!(k in p)) throw fail(`proof: ${k} missing`);
  const got = hex(p.key, "proof: key");
  if (!eq(got, key)) throw fail(`proof: for key ${toHex(got)}, asked ${toHex(key)}`);
  const value = p.value === null ? null : hex(p.value, "proof: value");
  if (!Array.isArray(p.siblings) || p.siblings.length > MAX_DEPTH)
    throw fail(`proof: siblings must be a list of at most ${MAX_DEPTH} levels`);
  const levels = p.siblings.map((lv) => {
    if (!Array.isArray(lv) || lv.length !== 15) throw fail("proof: each siblings level must hold 15 hashes");
    return lv.map((s) => hex(s, "proof: sibling", HASH_LEN));
  });
  let leaf = null;
  if (p.leaf !== null) {
    if (!Array.isArray(p.leaf) || p.leaf.length !== 2) throw fail("proof: leaf must be null or [key_hash, value_hash]");
    leaf = [hex(p.leaf[0], "proof: leaf", HASH_LEN), hex(p.leaf[1], "proof: leaf", HASH_LEN)];
  }
  if (!verifyProof(stateRoot, key, value, levels, leaf)) throw fail("proof: value does not match state_root");
  return value;
}

const VOTE_DOMAIN = enc.encode("huzhu/vote/v1\0");

function checkCommit(chainId, header, commit, vset) {
  const c = obj(commit, "commit");
  if (c.height !== header.height) throw fail(`commit: for height ${c.height}, header is ${header.height}`);
  const blockId = hex(c.block_id, "commit: block_id", HASH_LEN);
  if (!eq(blockId, headerHash(header))) throw fail("commit: block_id is not the header's hash");
  const rnd = int(c.round, "commit: round");
  const sigs = c.signatures;
  if (!Array.isArray(sigs) || sigs.length > MAX_SIGNATURES)
    throw fail(`commit: signatures must be a list of at most ${MAX_SIGNATURES}`);
  const powers = new Map(vset.map(([k, p]) => [toHex(k), p]));
  const total = vset.reduce((n, [, p]) => n + p, 0);
  const signBytes = concat(
    VOTE_DOMAIN,
    encode({ chain_id: chainId, type: PRECOMMIT, height: header.height, round: rnd, block_id: blockId }),
  );
  const seen = new Set();
  let signed = 0;
  for (const s of sigs) {
    const entry = obj(s, "commit: signature");
    const key = hex(entry.validator, "commit: validator", KEY_LEN);
    const sig = hex(entry.signature, "commit: signature", SIG_LEN);
    const kh = toHex(key);
    if (seen.has(kh)) throw fail(`commit: ${kh} signs twice`);
    seen.add(kh);
    const power = powers.get(kh);
    if (power === undefined) throw fail(`commit: signer ${kh} is not a validator of height ${header.height}`);
    if (!verifySignature(key, signBytes, sig)) throw fail(`commit: bad signature by ${kh}`);
    signed += power;
  }
  if (signed * 3 <= total * 2)
    throw fail(`commit: signatures of ${Math.floor((signed * 100) / total)}% of voting power, need > 2/3`);
  return [signed, total];
}

function checkHeader(chainId, height, headerJson, commit, vset) {
  const header = headerFromJson(headerJson);
  if (header.chain_id !== chainId)
    throw fail(`header: chain_id '${header.chain_id}' is not the trusted '${chainId}'`);
  if (header.height !== height) throw fail(`header: height ${header.height}, expected ${height}`);
  if (!eq(header.validators_hash, validatorsHash(vset)))
    throw fail(`validators: hash at height ${height} does not match header`);
  checkCommit(chainId, header, commit, vset);
  return header;
}

// --------------------------------------------------------------------- the reads

const lp = (s) => {
  const b = enc.encode(s);
  return concat(Uint8Array.of(b.length), b);
};
const K = (p) => enc.encode(p);
const addr = (a, name = "address") => hex(a[name], `query: ${name}`, KEY_LEN);

function memberStatus(rec, h) {
  if (rec.left_at !== null && rec.left_at !== undefined) return "left";
  if (h > rec.paid_through) return "lapsed";
  if (h >= rec.active_from) return "active";
  return "waiting";
}

const MAX_RESERVE_BPS = 1e9; // state/model.py MAX_RESERVE_BPS

/** A pool record plus its derived reserve_bps (state/model.py Pool.reserve_bps). */
function poolForm(rec) {
  const owed = rec.liabilities;
  const reserve = owed ? Math.min(Math.floor((rec.balance * 10000) / owed), MAX_RESERVE_BPS) : null;
  return { ...rec, reserve_bps: reserve };
}

/** A claim record's lists in their JSON form (state/model.py Claim.to_json). */
function claimForm(rec) {
  const out = { ...rec };
  if (Array.isArray(rec.voters)) out.voters = rec.voters.map(([address, approve]) => ({ address, approve }));
  if (Array.isArray(rec.attestations))
    out.attestations = rec.attestations.map(([attestor, approve, report]) => ({ attestor, approve, report }));
  return out;
}

/** Each provable read: its state key from the query, and the JSON the proven record implies.
 * Choice: account and member are rebuilt exactly as the node's to_json does (account zeros
 * when absent, member status at the height); the other records are compared field by field
 * with the record's stored form (bins as hex), and an answer field the record holds in
 * another form (pool params, claim terms, proposal changes) is listed as unverified. */
const READS = {
  account: {
    key: (a) => concat(K("s/a/"), addr(a)),
    fields: (rec, a) => {
      const r = rec || { balance: 0, nonce: 0, kyc: false };
      return { exact: { address: toHex(addr(a)), balance: r.balance, nonce: r.nonce, kyc: r.kyc } };
    },
  },
  pool: { key: (a) => concat(K("s/p/"), enc.encode(String(a.id))), fields: (rec) => rec && { stored: poolForm(rec) } },
  member: {
    key: (a) => concat(K("s/m/"), lp(String(a.pool)), addr(a)),
    fields: (rec, a, h) =>
      rec && {
        exact: {
          pool: rec.pool,
          address: toHex(rec.address),
          joined_at: rec.joined_at,
          paid_through: rec.paid_through,
          status: memberStatus(rec, h),
          active_from: rec.active_from,
          left_at: rec.left_at,
        },
      },
  },
  claim: { key: (a) => concat(K("s/c/"), addr(a, "id")), fields: (rec) => rec && { stored: claimForm(rec) } },
  proposal: { key: (a) => concat(K("s/g/"), addr(a, "id")), fields: (rec) => rec && { stored: rec } },
  event: {
    key: (a) => concat(K("s/w/"), lp(String(a.pool)), be64(Number.isSafeInteger(a.round) ? a.round : 0)),
    fields: (rec) => rec && { stored: rec },
  },
  params: { key: () => K("s/params"), fields: (rec) => rec && { stored: rec } },
};

function decodeRecord(raw) {
  if (raw === null) return null;
  try {
    return decode(raw);
  } catch (e) {
    throw fail(`answer: proven record does not decode (${e.message})`);
  }
}

/** Unverified field names of `a`; throws at the first field the record contradicts. */
function compareAnswer(kind, fields, a) {
  const unverified = [];
  if (fields.exact) {
    // node/light.py's order: a contradicted field first, then a missing one
    for (const [name, want] of Object.entries(fields.exact))
      if (name in a && !jsonEqual(a[name], want)) throw fail(`answer: ${kind} field '${name}' does not match the proven record`);
    for (const name of Object.keys(fields.exact))
      if (!(name in a)) throw fail(`answer: ${kind} lacks the proven field '${name}'`);
    for (const n of Object.keys(a)) if (!(n in fields.exact) && !PROOF_FIELDS.has(n)) unverified.push(n);
  } else {
    const stored = jsonForm(fields.stored);
    for (const n of Object.keys(a)) {
      if (PROOF_FIELDS.has(n)) continue;
      if (!(n in stored)) unverified.push(n);
      else if (jsonEqual(a[n], stored[n])) continue;
      else throw fail(`answer: ${kind} field '${n}' does not match the proven record`);
    }
  }
  return unverified.sort();
}

// --------------------------------------------------------------------- anchors, following

/** The anchor of a genesis document the member holds: its chain_id and validators
 * (node/light.py genesis_anchor reads only those). */
function genesisAnchor(doc) {
  if (doc === null || typeof doc !== "object" || typeof doc.chain_id !== "string")
    throw fail("anchor: genesis file has no chain_id");
  return { chainId: doc.chain_id, height: 1, validators: validatorKeys(doc.validators, "anchor: genesis validators") };
}

function parseTrust(text) {
  const i = text.indexOf(":");
  const h = i < 0 ? "" : text.slice(0, i);
  if (i < 0 || !/^[0-9]+$/.test(h) || Number(h) < 1) throw fail("anchor: --trust wants HEIGHT:BLOCKHASH with HEIGHT >= 1");
  return [Number(h), hex(text.slice(i + 1).toLowerCase(), "anchor: BLOCKHASH", HASH_LEN)];
}

class Follower {
  constructor(anchor) {
    this.anchor = anchor;
    this.changes = new Map([[anchor.height, anchor.validators]]);
    this.headersChecked = 0;
  }

  static fromTrust(height, blockHash, readAnswer, validatorsAnswer) {
    const header = headerFromJson(obj(readAnswer, "anchor").header);
    if (header.height !== height || !eq(headerHash(header), blockHash))
      throw fail(`anchor: header of height ${height} does not hash to the trusted hash`);
    const vs = validatorKeys(obj(validatorsAnswer, "anchor").validators, "validators");
    if (!eq(validatorsHash(vs), header.validators_hash))
      throw fail(`validators: hash at height ${height} does not match header`);
    return new Follower({ chainId: header.chain_id, height, validators: vs });
  }

  get lastFollowed() {
    return Math.max(...this.changes.keys());
  }

  setAt(height) {
    if (height < this.anchor.height) throw fail(`anchor: height ${height} is below the trust anchor ${this.anchor.height}`);
    return this.changes.get(Math.max(...[...this.changes.keys()].filter((e) => e <= height)));
  }

  header(height, a) {
    const h = checkHeader(this.anchor.chainId, height, a.header, a.commit, this.setAt(height));
    this.headersChecked += 1;
    return h;
  }

  follow(effective, answer) {
    if (effective <= this.lastFollowed) throw fail(`validators: change at ${effective} is not after ${this.lastFollowed}`);
    const a = obj(answer, "validators");
    const at = Math.max(effective - 1, this.anchor.height);
    if (a.effective_height !== effective)
      throw fail(`validators: answer is for change ${a.effective_height}, asked ${effective}`);
    const header = this.header(at, a);
    const raw = checkProof(a.proof, concat(K("s/V/"), be64(effective)), header.state_root);
    if (raw === null) throw fail(`validators: no set change at height ${effective}`);
    const vs = setFromRecord(raw, "validators");
    if (a.validators !== null && a.validators !== undefined && !sameSet(validatorKeys(a.validators, "validators"), vs))
      throw fail(`validators: answer differs from the proven set of ${effective}`);
    this.changes.set(effective, vs);
  }

  verifyRead(kind, args, height, answer) {
    if (kind === "validators") return this.verifyValidators(height, answer);
    const read = READS[kind];
    if (!read) throw fail(`query: ${kind} has no proof`);
    const a = obj(answer, "answer");
    const header = this.header(height, a);
    const key = read.key(args);
    const raw = checkProof(a.proof, key, header.state_root);
    const fields = read.fields(decodeRecord(raw), args, height);
    let unverified = [];
    if (fields) unverified = compareAnswer(kind, fields, a);
    else if (Object.keys(a).some((n) => !PROOF_FIELDS.has(n)))
      throw fail(`answer: ${kind} states a record that is proven absent`);
    return this.summary(kind, height, header, key, raw, unverified);
  }

  verifyValidators(height, answer) {
    const a = obj(answer, "answer");
    if (a.height !== height) throw fail(`answer: validators for height ${a.height}, asked ${height}`);
    const vs = validatorKeys(a.validators, "validators");
    if (!sameSet(vs, this.setAt(height))) throw fail(`validators: set of height ${height} is not the followed one`);
    return this.summary("validators", height, null, null, null, ["name", "operator"]);
  }

  summary(kind, height, header, key, raw, unverified) {
    const out = {
      kind,
      height,
      chain_id: this.anchor.chainId,
      anchor_height: this.anchor.height,
      validator_changes_followed: this.changes.size - 1,
      headers_checked: this.headersChecked,
      unverified_fields: unverified,
    };
    if (header) {
      out.block_hash = toHex(headerHash(header));
      out.state_root = toHex(header.state_root);
      out.key = toHex(key);
      out.present = raw !== null;
    }
    return out;
  }
}

// --------------------------------------------------------------------- vectors

/** Run one case of tests/vectors/light_client.json: {valid: true, summary} or
 * {valid: false, check, message} (check: the word before the first colon). */
async function verifyCase(doc, c) {
  await ready();
  try {
    let f;
    if (c.anchor.genesis) f = new Follower(genesisAnchor(doc.genesis));
    else {
      const [h, bh] = parseTrust(c.anchor.trust);
      f = Follower.fromTrust(h, bh, c.anchor.read, c.anchor.validators);
    }
    const steps = typeof c.follow === "string" ? doc.follow[c.follow] : c.follow;
    for (const s of steps) f.follow(s.effective, s.answer);
    const r = c.read;
    return { valid: true, summary: f.verifyRead(r.kind, r.args, r.height, r.answer) };
  } catch (e) {
    return { valid: false, check: String(e.message).split(":")[0], message: e.message };
  }
}

// --------------------------------------------------------------------- genesis pin

/** sha256 of the canonical msgpack of the genesis document: the parsed document, as
 * genesis_anchor reads it, so whitespace and key order do not matter. It is the chain's own
 * genesis hash (state/genesis.py Genesis.hash, block 1's prev_hash) for a file whose hex is
 * lower-case, as the node's `genesis` answer always is. */
function genesisHash(doc) {
  return toHex(sha256(encode(doc)));
}

async function pinGenesis(doc) {
  await ready();
  if (typeof doc === "string") doc = JSON.parse(doc);
  genesisAnchor(doc); // refuse a document without chain or validators before keeping it
  localStorage.setItem(PIN_KEY, JSON.stringify(doc));
  return genesisHash(doc);
}

function pinnedGenesis() {
  const s = localStorage.getItem(PIN_KEY);
  return s === null ? null : JSON.parse(s);
}

async function pinnedGenesisHash() {
  await ready();
  const doc = pinnedGenesis();
  return doc === null ? null : genesisHash(doc);
}

function clearPin() {
  localStorage.removeItem(PIN_KEY);
}

// --------------------------------------------------------------------- live reads

async function rpc(url, method, params) {
  const resp = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = await resp.json();
  if (body.error) throw new Error(`rpc ${method}: ${body.error.message} (${body.error.code})`);
  return body.result;
}

async function followTo(url, f, height) {
  let after = f.lastFollowed;
  while (after < height) {
    const page = await rpc(url, "validator_changes", { after, limit: CHANGES_PAGE });
    if (!Array.isArray(page)) throw fail("validators: validator_changes is not a list");
    const todo = page.filter((e) => Number.isSafeInteger(e) && after < e && e <= height);
    for (const e of todo) {
      const at = Math.max(e - 1, f.anchor.height);
      f.follow(e, await rpc(url, "validators", { height: e, prove: true, at }));
    }
    if (page.length < CHANGES_PAGE || todo.length < page.length) return;
    after = todo[todo.length - 1];
  }
}

/** `method` answered with proofs by the node at `rpcUrl` and checked from the pinned
 * genesis: {answer, verified}. Throws an Error whose message names the failed check; a node
 * whose genesis differs from the pinned one is refused ("anchor: ...") before anything else.
 * Choice: the pin is required (no trust-on-first-use), so a page must pin first. */
async function verifiedRead(rpcUrl, method, params = {}) {
  await ready();
  const pinned = pinnedGenesis();
  if (pinned === null) throw fail("anchor: no genesis pinned in this browser");
  const theirs = await rpc(rpcUrl, "genesis", {});
  if (genesisHash(theirs) !== genesisHash(pinned))
    throw fail(`anchor: the node's genesis ${genesisHash(theirs)} is not the pinned ${genesisHash(pinned)}`);
  const f = new Follower(genesisAnchor(pinned));
  const latest = Number((await rpc(rpcUrl, "status", {})).height);
  const asked = params.height;
  if (method === "validators") {
    const height = asked === undefined || asked === null ? latest + 1 : Number(asked);
    await followTo(rpcUrl, f, height);
    const answer = await rpc(rpcUrl, "validators", { height });
    const verified = f.verifyRead("validators", params, height, answer);
    const checked = Math.min(height, latest);
    await followTo(rpcUrl, f, checked);
    f.verifyRead("params", {}, checked, await rpc(rpcUrl, "params", { height: checked, prove: true }));
    // as node/client.py: the summary counts the steps taken after the set's own check too
    verified.headers_checked = f.headersChecked;
    verified.validator_changes_followed = f.changes.size - 1;
    if (height > latest)
      verified.unverified_fields = [...verified.unverified_fields, `changes decided after the header of height ${checked}`];
    return { answer, verified };
  }
  const height = asked === undefined || asked === null ? latest : Number(asked);
  await followTo(rpcUrl, f, height);
  const answer = await rpc(rpcUrl, method, { ...params, height, prove: true });
  return { answer, verified: f.verifyRead(method, params, height, answer) };
}

const HuzhuVerify = {
  ready,
  verifiedRead,
  verifyCase,
  verifySignature: async (keyHex, msgHex, sigHex) => (await ready(), verifySignature(fromHex(keyHex), fromHex(msgHex), fromHex(sigHex))),
  pinGenesis,
  pinnedGenesis,
  pinnedGenesisHash,
  clearPin,
  genesisHash: async (doc) => (await ready(), genesisHash(doc)),
};
window.HuzhuVerify = HuzhuVerify;
export default HuzhuVerify;
