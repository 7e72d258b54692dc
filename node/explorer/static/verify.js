// The in-browser light-client verifier of docs/protocol.md section 11: node/light.py in JS.
//
// Why: a member holding only a phone should not have to trust the node that serves the
// explorer. This module refuses exactly what node/light.py refuses, with the same check name
// at the start of each Error's message ("proof:", "header:", "commit:", "validators:",
// "answer:", "anchor:"); tests/explorer/test_verify_browser.py runs the vectors of
// tests/vectors/light_client.json through both. Signatures are libsodium's strict Ed25519
// verify (PROTOCOL.md section 2), vendored under ./vendor/crypto/ (tools/vendor_explorer_crypto.sh);
// SHA-256 is written below.
//
// Exposed as window.HuzhuVerify = { verifiedRead, verifyCase, verifySignature, pinGenesis,
// pinnedGenesis, pinnedGenesisHash, clearPin, ready }.

const HASH_LEN = 32;
const KEY_LEN = 32;
const SIG_LEN = 64;
const MAX_DEPTH = 64; // nibbles in a sha256 (state/treeproof.py)
const MAX_SIGNATURES = 10000; // node/light.py MAX_SIGNATURES
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const PRECOMMIT = 2;
const CHANGES_PAGE = 100; // validator_changes page size asked for (node/client.py)
const PIN_KEY = "huzhu.genesis.pin"; // localStorage: the pinned genesis document (JSON)
const PROOF_FIELDS = new Set(["proof", "header", "commit"]);

const enc = new TextEncoder();
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

/** Resolves once libsodium (classic scripts setting window.libsodium, window.sodium) is up. */
async function ready() {
  if (sodium) return sodium;
  if (!window.sodium) {
    if (!window.libsodium) await loadScript(vendor("libsodium.js"));
    await loadScript(vendor("libsodium-wrappers.js"));
  }
  await window.sodium.ready;
  sodium = window.sodium;
  return sodium;
}

// SHA-256 (FIPS 180-4) here: the standard libsodium.js build has no crypto_hash_sha256 and
// the sumo build would add ~1 MB to every page; every header hash and proof of the vectors
// checks it against Python's hashlib.
const K256 = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

function sha256(msg) {
  const bitLen = msg.length * 8;
  const padded = new Uint8Array(((msg.length + 9 + 63) >> 6) << 6);
  padded.set(msg);
  padded[msg.length] = 0x80;
  const dv = new DataView(padded.buffer);
  dv.setUint32(padded.length - 8, Math.floor(bitLen / 0x100000000));
  dv.setUint32(padded.length - 4, bitLen >>> 0);
  const H = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const W = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let t = 0; t < 16; t++) W[t] = dv.getUint32(off + 4 * t);
    for (let t = 16; t < 64; t++) {
      const a = W[t - 15], b = W[t - 2];
      const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
      const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
      W[t] = (W[t - 16] + s0 + W[t - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, h] = H;
    for (let t = 0; t < 64; t++) {
      const S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + K256[t] + W[t]) >>> 0;
      const S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) >>> 0;
      h = g; g = f; f = e; e = (d + t1) >>> 0;
      d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
  }
  const out = new Uint8Array(32);
  const odv = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) odv.setUint32(4 * i, H[i]);
  return out;
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

// --------------------------------------------------------------------- bytes

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

function eq(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function cmp(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

function fromHex(s) {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
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

function be64(n) {
  const out = new Uint8Array(8);
  let x = BigInt(n);
  for (let i = 7; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

// --------------------------------------------------------------------- canonical msgpack

/** Canonical msgpack (PROTOCOL.md section 1): maps sorted by UTF-8 key bytes, shortest ints;
 * Uint8Array is bin, string is str. Only what headers, votes and validator sets need. */
function encode(v) {
  const out = [];
  const u = (n, bytes) => {
    for (let i = bytes - 1; i >= 0; i--) out.push(Number((BigInt(n) >> BigInt(8 * i)) & 0xffn));
  };
  const len = (n, fix, fixMax, c8, c16, c32) => {
    if (fix !== null && n <= fixMax) out.push(fix | n);
    else if (c8 !== null && n < 0x100) out.push(c8, n);
    else if (n < 0x10000) (out.push(c16), u(n, 2));
    else (out.push(c32), u(n, 4));
  };
  const go = (x) => {
    if (x === null || x === undefined) out.push(0xc0);
    else if (x === false) out.push(0xc2);
    else if (x === true) out.push(0xc3);
    else if (typeof x === "number") {
      if (!Number.isSafeInteger(x)) throw new Error(`cannot encode ${x}`);
      if (x >= 0) {
        if (x < 0x80) out.push(x);
        else if (x < 0x100) out.push(0xcc, x);
        else if (x < 0x10000) (out.push(0xcd), u(x, 2));
        else if (x < 0x100000000) (out.push(0xce), u(x, 4));
        else (out.push(0xcf), u(x, 8));
      } else if (x >= -32) out.push(x & 0xff);
      else if (x >= -0x80) out.push(0xd0, x & 0xff);
      else if (x >= -0x8000) (out.push(0xd1), u(x & 0xffff, 2));
      else if (x >= -0x80000000) (out.push(0xd2), u(x >>> 0, 4));
      else (out.push(0xd3), u(BigInt.asUintN(64, BigInt(x)), 8));
    } else if (typeof x === "string") {
      const b = enc.encode(x);
      len(b.length, 0xa0, 31, 0xd9, 0xda, 0xdb);
      out.push(...b);
    } else if (x instanceof Uint8Array) {
      len(x.length, null, 0, 0xc4, 0xc5, 0xc6);
      for (const c of x) out.push(c);
    } else if (Array.isArray(x)) {
      len(x.length, 0x90, 15, null, 0xdc, 0xdd);
      x.forEach(go);
    } else if (typeof x === "object") {
      const keys = Object.keys(x).map((k) => [enc.encode(k), k]);
      keys.sort((a, b) => cmp(a[0], b[0]));
      len(keys.length, 0x80, 15, null, 0xde, 0xdf);
      for (const [, k] of keys) (go(k), go(x[k]));
    } else throw new Error(`cannot encode ${typeof x}`);
  };
  go(v);
  return new Uint8Array(out);
}

/** Decode msgpack of a proven record: bin -> Uint8Array, str -> string, ints -> number. */
function decode(b) {
  let i = 0;
  const dec = new TextDecoder("utf-8", { fatal: true });
  const need = (n) => {
    if (i + n > b.length) throw new Error("truncated");
  };
  const uint = (n) => {
    need(n);
    let x = 0n;
    for (let k = 0; k < n; k++) x = (x << 8n) | BigInt(b[i++]);
    return x;
  };
  const num = (x) => {
    if (x > BigInt(MAX_SAFE) || x < -BigInt(MAX_SAFE)) throw new Error("integer out of range");
    return Number(x);
  };
  const bytes = (n) => (need(n), b.slice(i, (i += n)));
  const str = (n) => dec.decode(bytes(n));
  const arr = (n) => Array.from({ length: n }, () => go());
  const map = (n) => {
    const m = {};
    for (let k = 0; k < n; k++) {
      const key = go();
      if (typeof key !== "string") throw new Error("map key is not a str");
      m[key] = go();
    }
    return m;
  };
  const go = () => {
    need(1);
    const t = b[i++];
    if (t < 0x80) return t;
    if (t >= 0xe0) return t - 0x100;
    if ((t & 0xf0) === 0x80) return map(t & 0x0f);
    if ((t & 0xf0) === 0x90) return arr(t & 0x0f);
    if ((t & 0xe0) === 0xa0) return str(t & 0x1f);
    switch (t) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bytes(Number(uint(1)));
      case 0xc5: return bytes(Number(uint(2)));
      case 0xc6: return bytes(Number(uint(4)));
      case 0xcc: return num(uint(1));
      case 0xcd: return num(uint(2));
      case 0xce: return num(uint(4));
      case 0xcf: return num(uint(8));
      case 0xd0: return num(BigInt.asIntN(8, uint(1)));
      case 0xd1: return num(BigInt.asIntN(16, uint(2)));
      case 0xd2: return num(BigInt.asIntN(32, uint(4)));
      case 0xd3: return num(BigInt.asIntN(64, uint(8)));
      case 0xd9: return str(Number(uint(1)));
      case 0xda: return str(Number(uint(2)));
      case 0xdb: return str(Number(uint(4)));
      case 0xdc: return arr(Number(uint(2)));
      case 0xdd: return arr(Number(uint(4)));
      case 0xde: return map(Number(uint(2)));
      case 0xdf: return map(Number(uint(4)));
      default: throw new Error(`type byte 0x${t.toString(16)} is not allowed`);
    }
  };
  const v = go();
  if (i !== b.length) throw new Error("trailing bytes");
  return v;
}

/** A decoded record in its JSON form: bins as hex, recursively. */
function jsonForm(v) {
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) return v.map(jsonForm);
  if (v !== null && typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v)) out[k] = jsonForm(v[k]);
    return out;
  }
  return v;
}

function jsonEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual(a[k], b[k]));
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
