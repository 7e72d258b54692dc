// Interface text in English and Chinese; the browser's language picks one, the toggle keeps it.
const STRINGS = {
  en: {
    brand: "huzhu explorer", nav_overview: "Overview", nav_blocks: "Blocks", nav_proposals: "Proposals",
    nav_validators: "Validators", nav_elections: "Elections", nav_evidence: "Evidence",
    search: "Search", search_ph: "address, tx, claim, block height or hash", live_on: "live", live_off: "offline",
    height: "Height", block_interval: "Block interval", tx_rate: "Recent tx/s", chain: "Chain",
    validators: "Validators", missed: "Missed (last {n} blocks)", pools: "Pools", pool: "Pool",
    balance: "Balance", members: "Members", liabilities: "Liabilities", reserve: "Reserve ratio",
    waiting: "waiting", active: "active", lapsed: "lapsed", left: "left",
    recent_blocks: "Recent blocks", time: "Time", txs: "Txs", proposer: "Proposer", hash: "Hash",
    block: "Block", tx: "Transaction", type: "Type", sender: "Sender", nonce: "Nonce", fee: "Fee",
    result: "Result", payload: "Payload", account: "Account", pending_nonce: "Pending nonce",
    kyc: "KYC", memberships: "Memberships", history: "History", status: "Status", none: "none",
    claim: "Claim", claims: "Claims", amount: "Amount", evidence_hash: "Evidence hash", claimant: "Claimant",
    opened_at: "Opened at", closes_at: "Voting closes", payable_at: "Payable at", votes: "Votes",
    votes_for: "for", votes_against: "against", attestations: "Attestations", objections: "Objections",
    payout: "Payout", paid: "paid", not_paid: "not paid yet", in_blocks: "in {b} blocks (~{t})",
    passed_at: "reached at block {h}", stage: "Stage", params: "Params", changed_by: "Changed by proposals",
    balance_chart: "Balance over time", events: "Parametric events", round: "Round", value: "Value",
    per_member: "Per member", proposals: "Proposals", open_proposals: "Open proposals",
    all_proposals: "All proposals", scope: "Scope", turnout: "Turnout", quorum: "quorum", enact_at: "Enactment",
    title: "Title", changes: "Changes", power: "Power", name: "Name", operator: "Operator",
    consensus_key: "Consensus key", elections: "Elections", set_changes: "Validator set changes (effective heights)",
    candidates: "Candidates", barred_until: "Barred until", evidence: "Evidence (recent blocks)",
    no_evidence: "No evidence in the last {n} blocks.", validator: "Validator", not_found: "Not found: {q}",
    verified: "Verified", verified_what: "verified: {what}", verify_failed: "Verification failed: {msg}",
    verify_unavail: "verification unavailable", verifying: "verifying…", unverified: "not verified",
    verify_unpinned: "not verified: pin a genesis below to check what this page shows", pin: "Pinned genesis",
    pin_none: "no genesis pinned", pin_this: "Pin this node's genesis", pin_refused: "genesis differs from the pinned one: refused",
    commit_sigs: "Commit signatures", at_height: "at block {h}", older: "Older", loading: "Loading…",
    joined_at: "Joined at", voter: "Voter", attestor: "Attestor", code: "Code", index: "Index", yes: "yes", no: "no", abstain: "abstain", electorate: "electorate",
    verify_timeout: "no verdict within {s} s (still {what})", phase_load: "loading the verifier",
    phase_pin: "reading the pinned genesis", phase_check: "checking the node's answers", phase_shown: "comparing the page with the proof", rpc_timeout: "{m}: no answer within {s} s",
  },
  zh: {
    brand: "互助链浏览器", nav_overview: "概览", nav_blocks: "区块", nav_proposals: "提案",
    nav_validators: "验证人", nav_elections: "选举", nav_evidence: "作恶证据",
    search: "搜索", search_ph: "地址、交易、理赔、区块高度或哈希", live_on: "实时", live_off: "离线",
    height: "高度", block_interval: "出块间隔", tx_rate: "近期每秒交易", chain: "链",
    validators: "验证人", missed: "漏签（最近 {n} 块）", pools: "互助池", pool: "互助池",
    balance: "余额", members: "成员", liabilities: "待付负债", reserve: "准备金率",
    waiting: "等待期", active: "有效", lapsed: "失效", left: "已退出",
    recent_blocks: "最新区块", time: "时间", txs: "交易数", proposer: "出块者", hash: "哈希",
    block: "区块", tx: "交易", type: "类型", sender: "发送者", nonce: "序号", fee: "手续费",
    result: "结果", payload: "内容", account: "账户", pending_nonce: "待处理序号",
    kyc: "实名", memberships: "加入的互助池", history: "历史", status: "状态", none: "无",
    claim: "理赔", claims: "理赔", amount: "金额", evidence_hash: "证据哈希", claimant: "申请人",
    opened_at: "提交于", closes_at: "投票截止", payable_at: "可支付于", votes: "投票",
    votes_for: "赞成", votes_against: "反对", attestations: "证明", objections: "异议",
    payout: "赔付", paid: "已赔付", not_paid: "尚未赔付", in_blocks: "还有 {b} 块（约 {t}）",
    passed_at: "已于第 {h} 块到达", stage: "阶段", params: "参数", changed_by: "修改参数的提案",
    balance_chart: "余额变化", events: "参数触发事件", round: "轮次", value: "数值",
    per_member: "每人", proposals: "提案", open_proposals: "进行中的提案",
    all_proposals: "全部提案", scope: "范围", turnout: "投票率", quorum: "法定人数", enact_at: "生效",
    title: "标题", changes: "修改", power: "权重", name: "名称", operator: "运营者",
    consensus_key: "共识公钥", elections: "选举", set_changes: "验证人集合变更（生效高度）",
    candidates: "候选人", barred_until: "禁止至", evidence: "作恶证据（最近区块）",
    no_evidence: "最近 {n} 块中没有作恶证据。", validator: "验证人", not_found: "未找到：{q}",
    verified: "已验证", verified_what: "已验证：{what}", verify_failed: "验证失败：{msg}",
    verify_unavail: "无法验证", verifying: "验证中…", unverified: "未验证",
    verify_unpinned: "未验证：请先在页面底部固定创世文件", pin: "已固定的创世文件",
    pin_none: "尚未固定创世文件", pin_this: "固定此节点的创世文件", pin_refused: "创世文件与已固定的不同：拒绝",
    commit_sigs: "提交签名", at_height: "于第 {h} 块", older: "更早", loading: "加载中…",
    joined_at: "加入于", voter: "投票人", attestor: "证明人", code: "代码", index: "序号", yes: "赞成", no: "反对", abstain: "弃权", electorate: "选民",
    verify_timeout: "{s} 秒内未得出结论（仍在{what}）", phase_load: "加载验证程序",
    phase_pin: "读取已固定的创世文件", phase_check: "核对节点的回答", phase_shown: "比对页面与证明", rpc_timeout: "{m}：{s} 秒内节点未回答",
  },
};

const KEY = "huzhu.lang";
export let lang = localStorage.getItem(KEY) || ((navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en");

export function t(key, vars = {}) {
  const s = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
  return s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}

export function setLang(next) {
  lang = next;
  localStorage.setItem(KEY, next);
  applyStatic();
}

/** The fixed text of index.html (nav, search box). */
export function applyStatic() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-ph]")) el.placeholder = t(el.dataset.i18nPh);
  const btn = document.getElementById("lang");
  if (btn) btn.textContent = lang === "zh" ? "English" : "中文";
}
