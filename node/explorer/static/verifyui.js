// The verified mark and the genesis pin, over window.HuzhuVerify (verify.js) when it is present.
// The explorer works without it: the mark then says "verification unavailable".
import { t } from "./i18n.js";
import { call, pageBound } from "./rpc.js";

/** Default bound (ms) on one verification, or on the footer's reading of the pin: past it the
 * page says what it was still waiting for instead of "verifying…" forever. */
export const VERIFY_TIMEOUT_MS = 30000;
/** The range a page may ask for with ?verify_timeout_ms=N (ms); outside it the default holds. */
export const VERIFY_TIMEOUT_RANGE = [1000, 600000];

/** The bound in force: ?verify_timeout_ms=N in the page's URL (a slow phone, a test), else the default. */
export const verifyTimeoutMs = () => pageBound("verify_timeout_ms", VERIFY_TIMEOUT_MS, VERIFY_TIMEOUT_RANGE);

let loadingVerifier = null;

/** Load ./verify.js if this install has it: one load shared by every caller (the footer and
 * the mark ask at once at start-up), resolving to the verifier or null; never rejects. */
export function loadVerifier() {
  loadingVerifier ??= import("./verify.js").then(
    () => window.HuzhuVerify || null,
    () => null, // absent or broken: the pages still work, the mark says why
  );
  return loadingVerifier;
}

/** `work(step)` raced against `ms`: its value, its error, or an Error saying what it was still
 * doing (the i18n key last passed to `step`) when the time ran out. */
async function settle(work, ms) {
  let phase = "phase_load";
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(t("verify_timeout", { s: ms / 1000, what: t(phase) }))), ms);
  });
  try {
    return await Promise.race([work((p) => (phase = p)), late]);
  } finally {
    clearTimeout(timer);
  }
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

const PROOF_FIELDS = new Set(["proof", "header", "commit"]);

/** The fields of `plain` (a read without proof) that the proven `answer` says otherwise. */
function differing(plain, answer, unverified) {
  return Object.keys(plain).filter(
    (f) => !PROOF_FIELDS.has(f) && !unverified.includes(f) && f in answer && JSON.stringify(plain[f]) !== JSON.stringify(answer[f]),
  );
}

/** Does what the page shows (`shown`, the view's own read) agree with the proven answer? The
 * chain may have moved between the two reads, so a difference is asked again at the proven
 * height: still different there, the node lied in its plain answer ("shown: ..."); the same,
 * the page is merely older (true: redraw). Choice: the check name "shown" is the page's own. */
async function matchShown(method, params, shown, answer, verified) {
  const skip = verified.unverified_fields || [];
  if (!differing(shown, answer, skip).length) return false;
  const again = await call(method, { ...params, height: verified.height });
  const bad = differing(again, answer, skip);
  if (bad.length) throw new Error(`shown: the node's answer at height ${verified.height} differs from its proven one in ${bad.join(", ")}`);
  return true;
}

let lastMark = { key: null, text: null, cls: null, state: null };

/** Verify one read in the browser and show the outcome in `slot` (id="verify-mark"); `shown`,
 * the answer the view drew from, must agree with the proven one (a page that is merely older is
 * redrawn: "huzhu:stale"). A re-render of the same read keeps the previous outcome on screen
 * until the new one is in. */
export async function verifyBox(slot, rpcUrl, method, params, shown = null) {
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
  const started = performance.now();
  try {
    const [state, cls, text] = await settle(async (step) => {
      const v = await loadVerifier();
      if (!v) return ["unavailable", "verified", t("verify_unavail")];
      step("phase_pin");
      if (!(await v.pinnedGenesisHash())) return ["unpinned", "verified", t("verify_unpinned")];
      step("phase_check");
      const { answer, verified } = await v.verifiedRead(rpcUrl, method, params);
      document.body.dataset.verifyMs = String(Math.round(performance.now() - started));
      step("phase_shown");
      if (shown && (await matchShown(method, params, shown, answer, verified))) document.dispatchEvent(new CustomEvent("huzhu:stale"));
      return ["ok", "verified ok", `✓ ${t("verified")} · ${describe(verified)}`];
    }, verifyTimeoutMs());
    show(state, cls, text);
  } catch (e) {
    show("failed", "verified bad", `✗ ${t("verify_failed", { msg: e && e.message ? e.message : String(e) })}`);
  }
}

let footerSeq = 0;

/** The footer: the pinned genesis hash, or a button pinning the serving node's genesis, or why
 * neither can be shown; always settles (bounded like a verification), and only the latest call
 * writes (a language toggle and a pin may redraw it while an earlier draw still waits). */
export async function pinFooter(el, rpcUrl) {
  const seq = ++footerSeq;
  const draw = (state, html) => {
    if (seq !== footerSeq) return false;
    el.dataset.state = state;
    el.innerHTML = html;
    return true;
  };
  let v, pinned;
  try {
    [v, pinned] = await settle(async (step) => {
      const v = await loadVerifier();
      step("phase_pin");
      return [v, v ? await v.pinnedGenesisHash() : null];
    }, verifyTimeoutMs());
  } catch (e) {
    draw("unavailable", `${esc(t("pin"))}: ${esc(t("verify_unavail"))} (${esc(e && e.message ? e.message : String(e))})`);
    return;
  }
  if (!v) {
    draw("unavailable", `${esc(t("pin"))}: ${esc(t("verify_unavail"))}`);
    return;
  }
  if (pinned) {
    draw("pinned", `${esc(t("pin"))}: <span class="hash" id="pinned-genesis">${esc(pinned)}</span>`);
    return;
  }
  if (!draw("unpinned", `${esc(t("pin_none"))} <button type="button" id="pin-genesis">${esc(t("pin_this"))}</button>`)) return;
  el.querySelector("button").addEventListener("click", async () => {
    try {
      await settle(async (step) => {
        step("phase_pin");
        await v.pinGenesis(await call("genesis"));
      }, verifyTimeoutMs());
    } catch (e) {
      draw("refused", `${esc(t("pin_refused"))}: ${esc(e && e.message ? e.message : String(e))}`);
      return;
    }
    pinFooter(el, rpcUrl);
    document.dispatchEvent(new CustomEvent("huzhu:pinned"));
  });
}
