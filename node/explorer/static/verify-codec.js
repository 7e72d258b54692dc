// Bytes, SHA-256 and canonical msgpack for verify.js (split out to keep each file short).
//
// Why written here: the standard libsodium.js build has no SHA-256 and the sumo build would
// add ~1 MB to every page; msgpack is the small canonical subset PROTOCOL.md section 1 fixes.
// Every header hash, vote sign bytes and proof of tests/vectors/light_client.json checks
// these against Python's hashlib and state/codec.py.

export const enc = new TextEncoder();
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

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

export function sha256(msg) {
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

// --------------------------------------------------------------------- bytes

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

export function eq(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function cmp(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

export const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

export function fromHex(s) {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
}

export function be64(n) {
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
export function encode(v) {
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
export function decode(b) {
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
export function jsonForm(v) {
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) return v.map(jsonForm);
  if (v !== null && typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v)) out[k] = jsonForm(v[k]);
    return out;
  }
  return v;
}

export function jsonEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual(a[k], b[k]));
}
