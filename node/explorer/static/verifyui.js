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

function describe(verified) {
  if (verified == null) return "";
  if (typeof verified === "string") return verified;
  if (Array.isArray(verified)) return verified.join(", ");
  return Object.entries(verified).map(([k, v]) => (v === true ? k : `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)).join(", ");
}

/** Verify one read in the browser and show the outcome in `slot` (id="verify-mark"). */
export async function verifyBox(slot, rpcUrl, method, params) {
  slot.innerHTML = `<div id="verify-mark" class="verified">${esc(t("verifying"))}</div>`;
  const mark = slot.firstElementChild;
  const v = await loadVerifier();
  if (!v) {
    mark.dataset.state = "unavailable";
    mark.textContent = t("verify_unavail");
    return;
  }
  try {
    const { verified } = await v.verifiedRead(rpcUrl, method, params);
    mark.className = "verified ok";
    mark.dataset.state = "ok";
    mark.textContent = `✓ ${t("verified")} · ${t("verified_what", { what: describe(verified) })}`;
  } catch (e) {
    mark.className = "verified bad";
    mark.dataset.state = "failed";
    mark.textContent = `✗ ${t("verify_failed", { msg: e && e.message ? e.message : String(e) })}`;
  }
}

/** The footer: the pinned genesis hash, or a button pinning the serving node's genesis. */
export async function pinFooter(el, rpcUrl) {
  const v = verifier;
  if (!v) {
    el.textContent = `${t("pin")}: ${t("verify_unavail")}`;
    return;
  }
  const pinned = v.pinnedGenesisHash();
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
