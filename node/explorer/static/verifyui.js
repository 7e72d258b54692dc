// The verified mark and the genesis pin, over window.HuzhuVerify (verify.js) when it is present.
// The explorer works without it: the mark then says "verification unavailable".
import { t } from "./i18n.js";
import { call } from "./rpc.js";

let verifier = null;

/** Load ./verify.js if this install has it; resolves to the verifier or null, never rejects. */
export async function loadVerifier() {
  if (verifier) return verifier;
  try {
    await import("./verify.js");
  } catch (e) {
    // absent or broken: the pages still work, the mark says why
  }
  verifier = window.HuzhuVerify || null;
  return verifier;
}

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

/** One sentence of what the verifier checked (its summary object), in the page's language. */
function describe(v) {
  if (v == null || typeof v !== "object") return String(v ?? "");
  const parts = [
    `${v.kind} ${v.present === false ? "absence" : "record"} @ ${v.height}`,
    v.block_hash ? `block ${v.block_hash.slice(0, 12)}…` : "",
    v.state_root ? `state_root ${v.state_root.slice(0, 12)}…` : "",
    `${v.headers_checked} header(s) signed by > 2/3 of the set followed from genesis (${v.validator_changes_followed} change(s))`,
  ].filter(Boolean);
  const out = parts.join(", ");
  return v.unverified_fields && v.unverified_fields.length ? `${out}; ${t("unverified")}: ${v.unverified_fields.join(", ")}` : out;
}

let lastMark = { key: null, text: null, cls: null, state: null };

/** Verify one read in the browser and show the outcome in `slot` (id="verify-mark").
 * A re-render of the same read keeps the previous outcome on screen until the new one is in. */
export async function verifyBox(slot, rpcUrl, method, params) {
  const key = `${method}:${JSON.stringify(params)}`;
  slot.innerHTML = `<div id="verify-mark" class="verified">${esc(t("verifying"))}</div>`;
  const mark = slot.firstElementChild;
  if (lastMark.key === key) {
    mark.className = lastMark.cls;
    mark.dataset.state = lastMark.state;
    mark.textContent = lastMark.text;
  }
  const show = (state, cls, text) => {
    lastMark = { key, state, cls, text };
    mark.className = cls;
    mark.dataset.state = state;
    mark.textContent = text;
  };
  const v = await loadVerifier();
  if (!v) return show("unavailable", "verified", t("verify_unavail"));
  if (!(await v.pinnedGenesisHash())) return show("unpinned", "verified", t("verify_unpinned"));
  const started = performance.now();
  try {
    const { verified } = await v.verifiedRead(rpcUrl, method, params);
    document.body.dataset.verifyMs = String(Math.round(performance.now() - started));
    show("ok", "verified ok", `✓ ${t("verified")} · ${describe(verified)}`);
  } catch (e) {
    show("failed", "verified bad", `✗ ${t("verify_failed", { msg: e && e.message ? e.message : String(e) })}`);
  }
}

/** The footer: the pinned genesis hash, or a button pinning the serving node's genesis. */
export async function pinFooter(el, rpcUrl) {
  const v = verifier;
  if (!v) {
    el.textContent = `${t("pin")}: ${t("verify_unavail")}`;
    return;
  }
  const pinned = await v.pinnedGenesisHash();
  if (pinned) {
    el.innerHTML = `${esc(t("pin"))}: <span class="hash" id="pinned-genesis">${esc(pinned)}</span>`;
    return;
  }
  el.innerHTML = `${esc(t("pin_none"))} <button type="button" id="pin-genesis">${esc(t("pin_this"))}</button>`;
  el.querySelector("button").addEventListener("click", async () => {
    try {
      await v.pinGenesis(await call("genesis"));
    } catch (e) {
      el.textContent = `${t("pin_refused")}: ${e.message}`;
      return;
    }
    pinFooter(el, rpcUrl);
    document.dispatchEvent(new CustomEvent("huzhu:pinned"));
  });
}
