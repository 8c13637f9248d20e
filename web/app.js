/*
 * The portal of assay serve (docs/portal.md): one page, routes in the
 * URL's fragment (#/runs/3), every datum from /api/v1. Text reaches the
 * page only through h(), which makes text nodes: nothing from the API is
 * ever parsed as HTML. Chinese first, English beside it (T()).
 */
"use strict";

/* ---- elements and words ------------------------------------------------ */

const SVG = "http://www.w3.org/2000/svg";

/* An element: h("a", {href: "#/"}, "text", child...). Strings become text
 * nodes; attributes are set with setAttribute (never on* handlers). */
function h(tag, attrs, ...kids) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "on") for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  add(e, kids);
  return e;
}
function add(e, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    e.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}
/* Chinese, with English beside it; the language switch hides one. */
function T(zh, en) {
  const f = document.createDocumentFragment();
  f.appendChild(h("span", { lang: "zh-CN" }, zh));
  f.appendChild(h("span", { lang: "en", class: "en" }, en));
  return f;
}
/* The same as plain text, for attributes (titles, labels). */
function t(zh, en) {
  const mode = document.documentElement.className;
  return mode === "zh" ? zh : mode === "en" ? en : zh + " " + en;
}
function clear(e) {
  while (e.firstChild) e.removeChild(e.firstChild);
  return e;
}
/* A table in a wrapper that scrolls sideways on a narrow screen. The
 * wrapper is a region in the tab order, so that a keyboard can scroll a
 * table that holds no link or button of its own (WCAG 2.1.1); it is named
 * by label, else by its columns. */
function table(head, rows, label) {
  const cols = head.map((x) => (x instanceof Node ? [...x.childNodes].map((n) => n.textContent).join(" ") : String(x)));
  return h("div", { class: "table-wrap", role: "region", tabindex: "0", "aria-label": label || cols.join(", ") },
    h("table", {}, h("thead", {}, h("tr", {}, head.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows)));
}
function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString("zh-CN", { hour12: false });
}
function bytes(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + " GiB";
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + " KiB";
  return n + " B";
}

const CONCLUSION = {
  certified: ["已认证", "certified", "ok"],
  "not-certified": ["未认证", "not certified", "bad"],
  failed: ["不通过", "failed", "bad"],
};
const STATE = {
  queued: ["排队中", "queued"], assigned: ["已分配", "assigned"], running: ["运行中", "running"],
  done: ["已完成", "done"], ended: ["已结束", "ended"], canceled: ["已取消", "canceled"],
};
const OUTCOME = { passed: ["通过", "passed", "ok"], failed: ["失败", "failed", "bad"], error: ["错误", "error", "bad"] };
function badge(table, key) {
  const w = table[key];
  if (!w) return h("span", { class: "badge" }, key || "—");
  return h("span", { class: "badge " + (w[2] || "") }, T(w[0], w[1]));
}

/* ---- the API --------------------------------------------------------------- */

const session = {
  user: null,
  get csrf() { return sessionStorage.getItem("assay-csrf") || ""; },
  set csrf(v) { if (v) sessionStorage.setItem("assay-csrf", v); else sessionStorage.removeItem("assay-csrf"); },
};

/* A failed request, with the server's words (an RFC 9457 problem). */
class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(method, path, body, type) {
  const opt = { method, credentials: "same-origin", headers: {} };
  if (method !== "GET") opt.headers["X-CSRF-Token"] = session.csrf;
  if (body !== undefined) {
    opt.body = typeof body === "string" || body instanceof Blob ? body : JSON.stringify(body);
    opt.headers["Content-Type"] = type || "application/json";
  }
  let r;
  try {
    r = await fetch(path, opt);
  } catch (e) {
    throw new ApiError(0, t("无法连接服务器", "the server cannot be reached") + ": " + e.message);
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  if (!r.ok) throw new ApiError(r.status, (data && data.detail) || r.status + " " + r.statusText);
  return data;
}

/* A request that failed, as readable text where the page would be. */
function failure(e, what) {
  const box = h("div", { class: "error-box", role: "alert" },
    h("strong", {}, what || T("请求失败", "The request failed")), ": ", e.message || String(e));
  if (e.status === 401 && location.hash !== "#/login")
    add(box, [" ", h("a", { href: "#/login" }, T("请登录", "please sign in"))]);
  return box;
}

/* ---- pages ------------------------------------------------------------------ */

const view = () => document.getElementById("view");
let leaving = []; /* what the current page must close when another opens */

function page(title, ...kids) {
  const v = clear(view());
  add(v, [h("h1", {}, title), kids]);
  document.title = t(title.zh || "", title.en || "") || document.title;
  return v;
}
function titled(zh, en) {
  const f = T(zh, en);
  f.zh = zh;
  f.en = en;
  return f;
}

const routes = [
  [/^#?\/?$/, home],
  [/^#\/login$/, login],
  [/^#\/packages$/, packages],
  [/^#\/packages\/([0-9a-f]{8,64})$/, packageShow],
  [/^#\/runs$/, runs],
  [/^#\/runs\/(\d+)$/, runShow],
  [/^#\/jobs\/(\d+)$/, jobShow],
  [/^#\/hosts$/, hosts],
  [/^#\/registry$/, registry],
  [/^#\/registry\/(\d+)$/, certificate],
  [/^#\/verify$/, verifyPage],
];

async function route() {
  for (const f of leaving) f();
  leaving = [];
  const hash = location.hash || "#/";
  /* The view says which page it shows once that page is drawn (and is busy until then),
     so what reads it, a screen reader or a test, never takes the last page for this one. */
  view().setAttribute("aria-busy", "true");
  view().removeAttribute("data-shown");
  nav(hash);
  const done = () => {
    if ((location.hash || "#/") !== hash) return;
    view().setAttribute("aria-busy", "false");
    view().setAttribute("data-shown", hash);
  };
  for (const [re, f] of routes) {
    const m = hash.match(re);
    if (m) {
      try {
        await f(...m.slice(1));
      } catch (e) {
        clear(view()).appendChild(failure(e));
      }
      view().focus({ preventScroll: true });
      done();
      return;
    }
  }
  page(titled("找不到页面", "No such page"), h("a", { href: "#/" }, T("返回首页", "Back to the start")));
  done();
}

function nav(hash) {
  const u = session.user, staff = u && u.role !== "vendor";
  const links = [["#/registry", "证书查询", "Registry"], ["#/verify", "核验报告", "Verify a report"]];
  if (u) links.unshift(["#/packages", "软件包", "Packages"], ["#/runs", "测试任务", "Runs"]);
  if (staff) links.push(["#/hosts", "主机", "Hosts"]);
  const n = clear(document.getElementById("nav"));
  for (const [href, zh, en] of links)
    n.appendChild(h("a", { href, "aria-current": hash.startsWith(href) ? "page" : null }, T(zh, en)));
  const who = clear(document.getElementById("who"));
  if (u) {
    add(who, [h("span", { class: "muted" }, u.name + (u.org ? " · " + u.org : "") + " (" + u.role + ")"), " ",
      h("button", { type: "button", on: { click: logout } }, T("退出", "Sign out"))]);
  } else {
    who.appendChild(h("a", { href: "#/login" }, T("登录", "Sign in")));
  }
}

async function whoami() {
  try {
    session.user = await api("GET", "/api/v1/whoami");
  } catch (e) {
    session.user = null;
  }
}

async function logout() {
  try { await api("POST", "/api/v1/logout"); } catch (e) { /* the session is gone either way */ }
  session.user = null;
  session.csrf = "";
  location.hash = "#/";
  route();
}

function home() {
  const u = session.user;
  const cards = [];
  if (u && u.role === "vendor")
    cards.push(["#/packages", "上传软件包", "Upload a submission", "上传、检查清单、查看预检结果。", "Upload, check the manifest, see preflight."],
      ["#/runs", "我的测试任务", "My runs", "实时状态与报告。", "Live status and reports."]);
  if (u && u.role !== "vendor")
    cards.push(["#/runs", "队列与运行", "Queue and running jobs", "实时步骤进度、日志、取消。", "Live step progress, logs, cancel."],
      ["#/packages", "提交测试", "Submit a run", "按 CPU 与操作系统选择目标。", "Pick targets by CPU and OS."],
      ["#/hosts", "主机", "Hosts", "健康状态与配置。", "Health and profiles."]);
  cards.push(["#/registry", "证书查询", "Certificate registry", "本中心公布的适配报告。", "Reports this centre has published."],
    ["#/verify", "核验报告", "Verify a report", "核验签名报告并说明其含义。", "Check a signed report and what it means."]);
  if (!u) cards.unshift(["#/login", "登录", "Sign in", "厂商与测试工程师。", "Vendors and test engineers."]);
  page(titled("适配测试门户", "Adaptation test portal"),
    h("div", { class: "grid" }, cards.map(([href, zh, en, dzh, den]) =>
      h("div", { class: "card" }, h("h2", {}, h("a", { href }, T(zh, en))), h("p", {}, T(dzh, den))))));
}

function login() {
  const msg = h("div", { "aria-live": "assertive" });
  const name = h("input", { id: "name", name: "name", autocomplete: "username", required: true });
  const pw = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "card", on: { submit: async (ev) => {
    ev.preventDefault();
    clear(msg);
    try {
      const r = await api("POST", "/api/v1/login", { name: name.value, password: pw.value });
      session.csrf = r.csrf;
      session.user = { name: r.name, role: r.role, org: r.org };
      location.hash = r.role === "vendor" ? "#/packages" : "#/runs";
    } catch (e) {
      msg.appendChild(failure(e, T("登录失败", "Sign-in failed")));
    }
  } } },
  h("label", { for: "name" }, T("用户名", "Name")), name,
  h("label", { for: "password" }, T("密码", "Password")), pw,
  h("p", {}, h("button", { class: "primary", type: "submit" }, T("登录", "Sign in"))), msg);
  page(titled("登录", "Sign in"), form);
  name.focus();
}

/* ---- vendor: upload, manifest checker, packages ---------------------------------- */

/* An upload with a real progress bar (XMLHttpRequest's upload events:
 * fetch cannot report them). Resolves with the JSON answer; rejects with
 * the server's problem. */
function upload(file, onprogress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("POST", "/api/v1/packages?name=" + encodeURIComponent(file.name));
    x.setRequestHeader("X-CSRF-Token", session.csrf);
    x.setRequestHeader("Content-Type", "application/octet-stream");
    x.upload.addEventListener("progress", (e) => e.lengthComputable && onprogress(e.loaded, e.total));
    x.addEventListener("load", () => {
      let d = null;
      try { d = JSON.parse(x.responseText); } catch (e) { d = null; }
      if (x.status >= 200 && x.status < 300) resolve(d);
      else reject(new ApiError(x.status, (d && d.detail) || x.status + " " + x.statusText));
    });
    x.addEventListener("error", () => reject(new ApiError(0, t("上传中断", "the upload was cut"))));
    x.send(file);
  });
}

/* A refusal of ingest or of the manifest, one line per field it names
 * ("manifest.json: tests[1].timeout: must be ..." -> field and words). */
function refusal(e, zh, en) {
  const box = h("div", { class: "error-box", role: "alert" }, h("strong", {}, T(zh, en)));
  const parts = String(e.message).split(/;\s+/);
  const ul = h("ul", {});
  for (const p of parts) {
    const m = p.match(/^((?:manifest\.json: )?[A-Za-z_][\w.\[\]]*|entry '[^']*'|artifact '[^']*'): (.*)$/);
    ul.appendChild(m ? h("li", {}, h("code", { class: "field" }, m[1]), " — ", m[2]) : h("li", {}, p));
  }
  box.appendChild(ul);
  if (e.status) box.appendChild(h("p", { class: "muted" }, "HTTP " + e.status));
  return box;
}

function dropZone(id, accept, labelZh, labelEn, onfile) {
  const input = h("input", { id, type: "file", accept, class: "sr" });
  const zone = h("div", { class: "drop", tabindex: "0", role: "button", "aria-describedby": id + "-help" },
    h("p", {}, T(labelZh, labelEn)),
    h("p", { id: id + "-help", class: "muted" }, T("拖放文件到此处，或按回车选择文件", "Drop a file here, or press Enter to choose one")));
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) onfile(e.dataTransfer.files[0]);
  });
  input.addEventListener("change", () => input.files.length && onfile(input.files[0]));
  return h("div", {}, h("label", { for: id }, T(labelZh, labelEn)), input, zone);
}

async function packages() {
  const staff = session.user && session.user.role !== "vendor";
  const status = h("div", { id: "upload-status", "aria-live": "polite" });
  const bar = h("progress", { id: "upload-progress", max: "100", value: "0", hidden: true, "aria-label": t("上传进度", "Upload progress") });
  const list = h("div", {}, h("p", { class: "loading" }, T("加载中…", "Loading…")));
  const checked = h("div", { id: "manifest-result", "aria-live": "polite" });

  const up = dropZone("submission", ".tar.gz,.tgz,.tar.xz,.tar.zst,.zip,.rpm,.deb", "上传提交包", "Upload a submission",
    async (file) => {
      clear(status).appendChild(h("p", {}, T("上传中", "Uploading"), " ", file.name, " (" + bytes(file.size) + ")"));
      bar.hidden = false;
      bar.value = 0;
      bar.dataset.events = 0;
      try {
        const r = await upload(file, (n, total) => {
          bar.value = Math.round((100 * n) / total);
          bar.dataset.events = (+bar.dataset.events || 0) + 1; /* the browser test counts them */
        });
        bar.value = 100;
        const pf = r.preflight || {};
        clear(status).appendChild(h("div", { class: "notice", role: "status" },
          r.added ? T("已接收", "Accepted") : T("此文件此前已上传", "This file was uploaded before"), ": ",
          h("a", { href: "#/packages/" + r.id }, h("code", {}, r.id.slice(0, 12))), " · ",
          T("预检", "preflight"), ": ", String(pf.errors || 0), " ", T("错误", "errors"), ", ",
          String(pf.warnings || 0), " ", T("警告", "warnings")));
        loadList();
      } catch (e) {
        bar.hidden = true;
        clear(status).appendChild(refusal(e, "提交包被拒绝", "The submission was refused"));
      }
    });
  const mf = dropZone("manifest", ".json,application/json", "检查 manifest.json", "Check a manifest.json", async (file) => {
    clear(checked);
    try {
      const r = await api("POST", "/api/v1/manifest/check", await file.text());
      checked.appendChild(h("div", { class: "notice", role: "status" },
        h("span", { class: "ok" }, T("清单有效", "The manifest is valid")), ": ", r.product, " ", r.version, " · ", r.vendor,
        h("ul", {}, r.artifacts.map((a) => h("li", {}, h("code", {}, a.file), " — ", a.arch, a.abi ? " (" + a.abi + ")" : "")))));
    } catch (e) {
      checked.appendChild(refusal(e, "清单有误", "The manifest is refused"));
    }
  });

  async function loadList() {
    try {
      const l = await api("GET", "/api/v1/packages");
      clear(list).appendChild(l.length ? table(
        [T("产品", "Product"), T("版本", "Version"), T("厂商", "Vendor"), T("文件", "File"), T("大小", "Size"), T("上传时间", "Added")],
        l.map((p) => h("tr", {},
          h("td", {}, h("a", { href: "#/packages/" + p.id }, p.product)), h("td", {}, p.version), h("td", {}, p.vendor),
          h("td", {}, h("code", {}, p.file_name)), h("td", { class: "num" }, bytes(p.size)), h("td", {}, when(p.added_at)))))
        : h("p", { class: "muted" }, T("还没有软件包。", "No packages yet.")));
    } catch (e) {
      clear(list).appendChild(failure(e));
    }
  }
  page(titled(staff ? "软件包" : "我的软件包", staff ? "Packages" : "My packages"),
    h("div", { class: "grid" }, h("div", { class: "card" }, up, bar, status), h("div", { class: "card" }, mf, checked)),
    h("h2", {}, T("已上传", "Uploaded")), list);
  await loadList();
}

function findingsOf(pf) {
  const out = [];
  for (const f of pf.files || [])
    for (const x of f.findings || []) out.push(Object.assign({ path: f.path }, x));
  for (const x of pf.findings || []) out.push(x);
  return out;
}

async function packageShow(id) {
  const p = await api("GET", "/api/v1/packages/" + id);
  const staff = session.user && session.user.role !== "vendor";
  const pre = (p.preflight && p.preflight.profiles) || [];
  const rows = pre.map((x) => {
    const fs = findingsOf(x);
    return h("tr", {},
      h("td", {}, h("code", {}, x.profile)),
      h("td", { class: "num " + (x.errors ? "bad" : "") }, String(x.errors || 0)),
      h("td", { class: "num " + (x.warnings ? "warn" : "") }, String(x.warnings || 0)),
      h("td", {}, fs.length ? h("details", {}, h("summary", {}, T("详情", "Details"), " (" + fs.length + ")"),
        h("ul", {}, fs.map((f) => h("li", { class: f.severity === "error" ? "bad" : "warn" },
          "[" + (f.severity || "") + "] ", f.check || "", f.path ? " " + f.path : "", ": ",
          f.message || [f.found && "found " + f.found, f.expected && "expected " + f.expected].filter(Boolean).join("; ")))))
        : h("span", { class: "ok" }, T("无问题", "nothing found"))));
  });
  page(titled("软件包", "Package"),
    h("dl", { class: "facts card" },
      h("dt", {}, T("产品", "Product")), h("dd", {}, p.product + " " + p.version),
      h("dt", {}, T("厂商", "Vendor")), h("dd", {}, p.vendor),
      h("dt", {}, T("文件", "File")), h("dd", {}, h("code", {}, p.file_name), " · " + bytes(p.size || 0)),
      h("dt", {}, "SHA-256"), h("dd", {}, h("code", {}, p.id))),
    h("h2", {}, T("各目标的预检", "Preflight per target profile")),
    h("div", { id: "preflight" }, rows.length ? table([T("目标", "Profile"), T("错误", "Errors"), T("警告", "Warnings"), T("发现", "Findings")], rows)
      : h("p", { class: "muted" }, T("没有预检结果。", "No preflight results."))),
    staff ? await submitForm(p.id) : null);
}

/* The profile picker: 鲲鹏/飞腾/龙芯/兆芯 × 麒麟/统信/openEuler, from the
 * server's own profiles. */
async function submitForm(pkg) {
  const data = await api("GET", "/api/v1/profiles");
  const msg = h("div", { "aria-live": "polite" });
  const boxes = [];
  const sets = data.families.map((f) => h("fieldset", {},
    h("legend", {}, T(f.name_zh, f.name)),
    f.oses.map((os) => h("div", {}, h("p", { class: "muted" }, T(os.name_zh, os.name)),
      h("div", { class: "picker" }, os.profiles.map((p) => {
        const b = h("input", { type: "checkbox", value: p.id, id: "pf-" + p.id });
        boxes.push(b);
        return h("label", { for: "pf-" + p.id }, b, h("span", {}, T(p.name_zh || p.name, p.model + " / " + os.name + " " + p.os_version)));
      }))))));
  const allow = h("input", { type: "checkbox", id: "allow-missing" });
  const form = h("form", { class: "card", on: { submit: async (ev) => {
    ev.preventDefault();
    clear(msg);
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    if (!chosen.length) {
      msg.appendChild(h("div", { class: "error-box", role: "alert" }, T("请至少选择一个目标", "Choose at least one target")));
      return;
    }
    try {
      const r = await api("POST", "/api/v1/runs", { package: pkg, profiles: chosen.join(","), allow_missing: allow.checked });
      location.hash = "#/runs/" + r.run;
    } catch (e) {
      msg.appendChild(refusal(e, "提交被拒绝", "The run was refused"));
    }
  } } },
  h("h2", {}, T("提交测试任务", "Submit a run")), sets,
  h("label", { for: "allow-missing" }, allow, " ", T("记录无制品的目标为“未提供”", "record targets with no artifact as not provided")),
  h("p", {}, h("button", { class: "primary", type: "submit" }, T("提交", "Submit"))), msg);
  return form;
}

/* ---- runs ------------------------------------------------------------------------- */

const PAGE = 50;

async function runs() {
  const body = h("tbody", {});
  const more = h("button", { type: "button", hidden: true }, T("更早的任务", "Older runs"));
  const status = h("p", { class: "muted", "aria-live": "polite" });
  let oldest = 0;
  /* The queue and what runs now, or every run: ?state= of the API. */
  const filter = h("select", { id: "state" }, h("option", { value: "" }, t("全部", "all")),
    ["queued", "running", "done", "canceled"].map((x) => h("option", { value: x }, t(STATE[x][0], STATE[x][1]))));
  const q = () => (filter.value ? "&state=" + filter.value : "");
  const row = (r) => h("tr", { "data-run": r.id, "data-state": r.state },
    h("td", { class: "num" }, h("a", { href: "#/runs/" + r.id }, String(r.id))),
    h("td", {}, r.product), h("td", { class: "hide-narrow" }, r.version), h("td", { class: "hide-narrow" }, r.vendor),
    h("td", {}, badge(STATE, r.state)),
    h("td", { class: "num" }, r.done + "/" + r.jobs),
    h("td", { class: "hide-narrow" }, when(r.submitted_at)));
  async function load(before) {
    const l = await api("GET", "/api/v1/runs?limit=" + PAGE + q() + (before ? "&before=" + before : ""));
    for (const r of l) body.appendChild(row(r));
    if (l.length) oldest = l[l.length - 1].id;
    more.hidden = l.length < PAGE;
    if (!body.childNodes.length) status.textContent = t("还没有测试任务。", "No runs yet.");
  }
  more.addEventListener("click", () => load(oldest).catch((e) => status.replaceWith(failure(e))));
  filter.addEventListener("change", () => {
    clear(body);
    status.textContent = "";
    load(0).catch((e) => status.replaceWith(failure(e)));
  });
  page(titled("测试任务", "Runs"),
    h("form", { class: "inline", on: { submit: (e) => e.preventDefault() } }, h("label", { for: "state" }, T("状态", "State")), filter),
    status,
    h("div", { class: "table-wrap" }, h("table", { id: "runs" },
      h("thead", {}, h("tr", {}, [T("编号", "Run"), T("产品", "Product"), T("版本", "Version"), T("厂商", "Vendor"),
        T("状态", "State"), T("完成", "Done"), T("提交时间", "Submitted")].map((x, i) =>
        h("th", { scope: "col", class: i === 2 || i === 3 || i === 6 ? "hide-narrow" : null }, x)))), body)), more);
  const t0 = performance.now();
  await load(0);
  window.assayRunsFirstScreenMs = performance.now() - t0;
  /* Live status: the runs on screen that are not over are asked again. */
  const timer = setInterval(async () => {
    const live = body.querySelectorAll('tr:not([data-state="done"]):not([data-state="canceled"])');
    if (!live.length) return;
    try {
      const l = await api("GET", "/api/v1/runs?limit=" + PAGE + q());
      for (const r of l) {
        const old = body.querySelector('tr[data-run="' + r.id + '"]');
        if (old) old.replaceWith(row(r));
      }
    } catch (e) { /* shown on the next page load */ }
  }, 5000);
  leaving.push(() => clearInterval(timer));
}

async function runShow(n) {
  const staff = session.user && session.user.role !== "vendor";
  const run = await api("GET", "/api/v1/runs/" + n);
  const jobsBody = h("tbody", {});
  const steps = {}; /* job id -> its step list */
  const live = h("p", { class: "muted", "aria-live": "polite" });
  const actions = h("p", {});
  const report = h("div", {});
  function jobRows(jobs) {
    clear(jobsBody);
    for (const j of jobs) {
      steps[j.id] = steps[j.id] || h("ol", { class: "steps" });
      jobsBody.appendChild(h("tr", {},
        h("td", { class: "num" }, h("a", { href: "#/jobs/" + j.id }, String(j.id))),
        h("td", {}, h("code", {}, j.profile)), h("td", {}, j.host || "—"),
        h("td", {}, badge(STATE, j.state), " ", j.outcome ? badge(OUTCOME, j.outcome) : null),
        h("td", {}, steps[j.id])));
    }
  }
  jobRows(run.job_list || []);
  if (staff && run.state !== "done" && run.state !== "canceled")
    actions.appendChild(h("button", { type: "button", on: { click: async (ev) => {
      ev.target.disabled = true;
      try { await api("POST", "/api/v1/runs/" + n + "/cancel", {}); live.textContent = t("已请求取消", "cancel requested"); }
      catch (e) { actions.appendChild(failure(e)); }
    } } }, T("取消任务", "Cancel run")));
  page(titled("测试任务 " + n, "Run " + n),
    h("dl", { class: "facts card" },
      h("dt", {}, T("产品", "Product")), h("dd", {}, run.product + " " + run.version + " · " + run.vendor),
      h("dt", {}, T("状态", "State")), h("dd", { id: "run-state" }, badge(STATE, run.state)),
      h("dt", {}, T("结论", "Conclusion")), h("dd", { id: "run-conclusion" },
        run.verification ? badge(CONCLUSION, run.verification.summary.status) : "—")),
    actions, live,
    h("h2", {}, T("作业与步骤", "Jobs and steps")),
    h("div", { class: "table-wrap" }, h("table", { id: "jobs" },
      h("thead", {}, h("tr", {}, [T("作业", "Job"), T("目标", "Profile"), T("主机", "Host"), T("状态", "State"), T("步骤", "Steps")].map((x) =>
        h("th", { scope: "col" }, x)))), jobsBody)),
    report);

  /* The report of a done run as the server made and checked it (the
   * run's "verification" and "conclusion"): nothing is asked twice. */
  function showReport(r) {
    clear(report);
    const formats = [["json", "签名 JSON", "signed JSON"], ["html", "HTML", "HTML"], ["md", "Markdown", "Markdown"], ["junit", "JUnit XML", "JUnit XML"], ["pdf", "PDF", "PDF"]];
    report.appendChild(h("h2", {}, T("报告", "Report")));
    report.appendChild(h("p", {}, formats.map(([f, zh, en]) => [h("a", {
      class: "button", href: "/api/v1/runs/" + n + "/report?format=" + f, download: "report-" + n + "." + (f === "junit" ? "xml" : f),
    }, T(zh, en)), " "])));
    const v = h("div", { id: "verification", "aria-live": "polite" });
    report.appendChild(v);
    const ver = r.verification;
    if (!ver || !ver.valid) {
      v.appendChild(h("div", { class: "error-box", role: "alert" }, T("无法核验报告", "The report could not be verified")));
      return;
    }
    v.appendChild(h("div", { class: "notice" }, h("span", { class: "ok" }, T("签名有效", "Signature valid")), " · ",
      ver.algorithm, " · ", T("密钥", "key"), " ", h("code", {}, ver.keyid)));
    if (staff)
      v.appendChild(h("p", {}, h("button", { type: "button", id: "publish", on: { click: async (ev) => {
        ev.target.disabled = true;
        try {
          await api("POST", "/api/v1/runs/" + n + "/publish");
          ev.target.replaceWith(h("a", { href: "#/registry/" + n }, T("已公布：查看证书", "Published: see the certificate")));
        } catch (e) { v.appendChild(failure(e)); }
      } } }, T("公布到证书查询", "Publish in the registry"))));
    charts(report, ver.comparison || []);
  }

  const es = new EventSource("/api/v1/runs/" + n + "/events");
  leaving.push(() => es.close());
  /* One line per step; a benchmark's repeated runs count on one line. */
  const onStep = (ev) => {
    const d = JSON.parse(ev.data), e = d.event || {};
    const ol = steps[d.job];
    if (!ol) return;
    const name = e.name || e.step;
    let li = ol.lastChild;
    if (!li || li.dataset.step !== String(e.step)) {
      li = h("li", { "data-step": e.step, "data-runs": "0", "data-failed": "0" });
      ol.appendChild(li);
    }
    if (ev.type === "step-end") {
      li.dataset.runs = +li.dataset.runs + 1;
      if (e.verdict !== "pass") li.dataset.failed = +li.dataset.failed + 1;
    }
    const runs = +li.dataset.runs, bad = +li.dataset.failed > 0;
    clear(li);
    if (ev.type === "step-start") add(li, ["▶ ", name, runs ? " ×" + runs : "", " ", h("span", { class: "muted" }, t("运行中", "running"))]);
    else add(li, [h("span", { class: bad ? "bad" : "ok" }, bad ? "✘ " : "✔ "), name, runs > 1 ? " ×" + runs : "", " ",
      h("span", { class: "muted" }, bad ? e.verdict || "fail" : "pass")]);
  };
  es.addEventListener("step-start", onStep);
  es.addEventListener("step-end", onStep);
  es.addEventListener("jobs", (ev) => {
    const jobs = JSON.parse(ev.data);
    jobRows(jobs);
    if (jobs.some((j) => j.state === "running" || j.state === "assigned"))
      clear(document.getElementById("run-state")).appendChild(badge(STATE, "running"));
  });
  es.addEventListener("end", async () => {
    es.close();
    live.textContent = t("任务已结束", "The run has ended");
    try {
      const r = await api("GET", "/api/v1/runs/" + n);
      clear(document.getElementById("run-state")).appendChild(badge(STATE, r.state));
      if (r.verification) clear(document.getElementById("run-conclusion")).appendChild(badge(CONCLUSION, r.verification.summary.status));
      if (r.state === "done") showReport(r);
      actions.hidden = true;
    } catch (e) { live.replaceWith(failure(e)); }
  });
  watchStream(es, live);
  live.textContent = run.state === "done" || run.state === "canceled" ? "" : t("实时更新中", "Updating live");
}

/* An event stream's trouble in words, in `el`: a lost connection is
 * retried by the browser; a refused one (the server answers 429 when one
 * account holds too many streams, 503 when the server does) is not. */
function watchStream(es, el) {
  es.addEventListener("error", () => {
    if (es.readyState === EventSource.CONNECTING)
      el.textContent = t("连接中断，正在重连…", "Connection lost, reconnecting…");
    else if (es.readyState === EventSource.CLOSED)
      el.textContent = t("实时更新已停止：服务器拒绝了事件流（同一账号打开的实时页面过多？）。关闭其他页面后刷新本页。",
        "Live updates stopped: the server refused the event stream (too many live pages open for this account?). Close some and reload this page.");
  });
}

/* Each benchmark across targets: the median as a dot, its confidence
 * interval as a line (ci_lo to ci_hi; reports before intervals carry min
 * and max), emulated targets as hollow dots. */
function charts(into, comparison) {
  if (!comparison.length) return;
  into.appendChild(h("h2", {}, T("性能对比", "Benchmarks across targets")));
  const lo = (r) => (r.ci_lo ?? r.min ?? r.median), hi = (r) => (r.ci_hi ?? r.max ?? r.median);
  for (const b of comparison) {
    const rows = (b.targets || []).filter((r) => typeof r.median === "number");
    if (!rows.length) continue;
    const max = Math.max(...rows.map(hi)) || 1;
    const narrow = window.innerWidth < 600; /* a phone: fewer, larger units */
    const W = narrow ? 420 : 720, L = narrow ? 170 : 250, R = 60, RH = 28, H = 30 + rows.length * RH;
    const x = (v) => L + ((W - L - R) * v) / max;
    const svg = h("svg:svg", { class: "chart", viewBox: "0 0 " + W + " " + H, role: "img",
      "aria-label": b.name + " (" + b.unit + "): " + rows.map((r) => r.profile + " " + r.median).join(", ") });
    svg.appendChild(h("svg:title", {}, b.name + " (" + b.unit + ", " + (b.better === "lower" ? t("越低越好", "lower is better") : t("越高越好", "higher is better")) + ")"));
    svg.appendChild(h("svg:line", { class: "axis", x1: L, y1: 20, x2: L, y2: H - 4 }));
    svg.appendChild(h("svg:text", { x: L, y: 14 }, "0"));
    svg.appendChild(h("svg:text", { x: W - R, y: 14, "text-anchor": "end" }, +max.toPrecision(3) + " " + b.unit));
    rows.forEach((r, i) => {
      const y = 34 + i * RH;
      svg.appendChild(h("svg:text", { x: L - 8, y: y + 4, "text-anchor": "end" }, r.profile + (r.emulated ? " *" : "")));
      svg.appendChild(h("svg:line", { class: "range", x1: x(lo(r)), y1: y, x2: x(hi(r)), y2: y }));
      svg.appendChild(h("svg:circle", { class: r.emulated ? "emu" : "median", cx: x(r.median), cy: y, r: 5 }));
      svg.appendChild(h("svg:text", { x: x(hi(r)) + 8, y: y + 4 }, String(+r.median.toPrecision(4)) + (r.stability === "unstable" ? " ~" : "")));
    });
    into.appendChild(h("figure", { class: "card" }, h("figcaption", {}, h("strong", {}, b.name), " (" + b.unit + ") — ",
      T("点为中位数，线为置信区间；* 为模拟目标（空心点）；~ 为不稳定", "dot: median; line: confidence interval; * emulated target (hollow dot); ~ unstable")), svg));
  }
}

/* ---- jobs: the log viewer ---------------------------------------------------------- */

async function jobShow(id) {
  const j = await api("GET", "/api/v1/jobs/" + id);
  const pick = h("select", { id: "log-pick" }, (j.logs || []).map((l) => h("option", { value: l.path }, l.path + " (" + bytes(l.size) + ")")));
  /* The first log with something in it, standard output first. */
  const first = (j.logs || []).find((l) => l.size > 0 && /stdout$/.test(l.path)) || (j.logs || []).find((l) => l.size > 0);
  if (first) pick.value = first.path;
  const search = h("input", { id: "log-search", type: "search", placeholder: t("搜索", "Search") });
  const out = h("pre", { class: "log", id: "log", tabindex: "0", role: "log", "aria-label": t("日志", "Log") });
  const info = h("p", { class: "muted", "aria-live": "polite" });
  let text = "";
  function show() {
    clear(out);
    const q = search.value;
    if (!q) { out.textContent = text; return; }
    const lines = text.split("\n").filter((l) => l.toLowerCase().includes(q.toLowerCase()));
    for (const l of lines) {
      const i = l.toLowerCase().indexOf(q.toLowerCase());
      add(out, [l.slice(0, i), h("mark", {}, l.slice(i, i + q.length)), l.slice(i + q.length), "\n"]);
    }
    info.textContent = lines.length + " " + t("行匹配", "lines match");
  }
  async function load() {
    if (!pick.value) { out.textContent = t("（还没有日志）", "(no logs yet)"); return; }
    const r = await fetch("/api/v1/jobs/" + id + "/log?path=" + encodeURIComponent(pick.value), { credentials: "same-origin" });
    if (!r.ok) throw new ApiError(r.status, r.statusText);
    text = await r.text();
    show();
    if (!text) out.textContent = t("（空）", "(empty)");
    if (j.state === "running" || j.state === "assigned") out.scrollTop = out.scrollHeight;
  }
  pick.addEventListener("change", () => load().catch((e) => out.replaceWith(failure(e))));
  search.addEventListener("input", show);
  page(titled("作业 " + id, "Job " + id),
    h("dl", { class: "facts card" },
      h("dt", {}, T("任务", "Run")), h("dd", {}, h("a", { href: "#/runs/" + j.run }, String(j.run))),
      h("dt", {}, T("目标", "Profile")), h("dd", {}, h("code", {}, j.profile)),
      h("dt", {}, T("主机", "Host")), h("dd", { id: "job-host" }, j.host || "—"),
      h("dt", {}, T("状态", "State")), h("dd", { id: "job-state" }, badge(STATE, j.state), " ", j.outcome ? badge(OUTCOME, j.outcome) : "")),
    h("form", { class: "inline", id: "log-form", on: { submit: (e) => e.preventDefault() } },
      h("label", { for: "log-pick" }, T("日志", "Log")), pick, h("label", { for: "log-search" }, T("搜索", "Search")), search),
    info, out);
  await load();
  if (j.state !== "ended" && j.state !== "canceled") {
    /* No logs before the job ends: no empty viewer either, until then. */
    if (!(j.logs || []).length) document.getElementById("log-form").hidden = out.hidden = true;
    /* Follow the running job: its events as they are stored (the step
     * that runs, each verdict) and what the running step prints ("output"
     * events: the first 64 KiB of each stream of each step run, benchmarks
     * excepted); the whole logs reach the store when the job ends, and the
     * page then loads them. */
    const live = h("ol", { id: "job-events", class: "steps", "aria-live": "polite" });
    const outputs = h("div", { id: "live-output" });
    out.before(h("h2", {}, T("实时事件", "Live events")), live,
      h("h2", {}, T("步骤输出（实时）", "Step output (live)")),
      h("p", { class: "muted" }, T("每个步骤每个输出流的前 64 KiB 实时显示（整个作业至多 4 MiB；基准测试除外，以免干扰测量）；完整日志在作业结束时载入。",
        "The first 64 KiB of each stream of each step are shown as they come (4 MiB in a job at most; not a benchmark's, so as not to disturb its measurement); the whole logs load when the job ends.")),
      outputs);
    const es = new EventSource("/api/v1/jobs/" + id + "/events");
    leaving.push(() => es.close());
    info.textContent = t("跟随运行中的作业；日志在作业结束时载入", "Following the running job; its logs load when it ends");
    watchStream(es, info);
    /* One box per step run; bytes are decoded per stream as a stream, so a
       character cut between two chunks is whole again. */
    const boxes = new Map();
    es.addEventListener("output", (ev) => {
      /* The id is ATTEMPT.SEQ: a retried job's runs are boxes of their own. */
      const e = JSON.parse(ev.data), attempt = ev.lastEventId.split(".")[0];
      const name = e.step + " #" + e.run + (attempt !== "1" ? " (" + t("第 " + attempt + " 次尝试", "attempt " + attempt) + ")" : "");
      let b = boxes.get(attempt + "/" + e.step + "/" + e.run);
      if (!b) {
        for (const d of outputs.querySelectorAll("details")) d.open = false;
        b = { pre: h("pre", { class: "log", role: "log", tabindex: "0", "aria-label": name }), dec: [new TextDecoder(), new TextDecoder()] };
        boxes.set(attempt + "/" + e.step + "/" + e.run, b);
        outputs.appendChild(h("details", { open: true, "data-step": e.step, "data-run": String(e.run) }, h("summary", {}, name), b.pre));
      }
      const k = e.stream === "stderr" ? 1 : 0;
      const text = b.dec[k].decode(Uint8Array.from(atob(e.data), (c) => c.charCodeAt(0)), { stream: true });
      b.pre.appendChild(k ? h("span", { class: "stderr" }, text) : document.createTextNode(text));
      b.pre.scrollTop = b.pre.scrollHeight;
    });
    for (const type of ["job-start", "step-start", "step-end", "job-end"])
      es.addEventListener(type, (ev) => {
        const e = JSON.parse(ev.data);
        /* The page was opened before the job started: its state and host
           are the store's now (from= past any event: none of them again). */
        if (type === "job-start")
          api("GET", "/api/v1/jobs/" + id + "?from=1000000000").then((n) => {
            clear(document.getElementById("job-state")).append(badge(STATE, n.state));
            document.getElementById("job-host").textContent = n.host || "—";
          }, () => {});
        live.appendChild(h("li", {}, h("span", { class: "muted" }, (e.ts || "").slice(11, 19)), " ", type, " ",
          e.name || e.step || "", e.verdict ? " — " + e.verdict : "", e.outcome ? " — " + e.outcome : ""));
        live.lastChild.scrollIntoView({ block: "nearest" });
      });
    es.addEventListener("end", () => { es.close(); route(); });
  }
}

/* ---- engineer: hosts -------------------------------------------------------------- */

/* The fields `assay host check` compares (assay_profile_compare_facts). */
const FACT_FIELDS = {
  arch: ["架构", "Architecture"], "cpu.family": ["CPU 系列", "CPU family"], "cpu.model": ["CPU 型号", "CPU model"],
  "os.id": ["操作系统", "Operating system"], "os.version": ["系统版本", "OS version"],
  kernel: ["内核系列", "Kernel series"], glibc: ["glibc", "glibc"], page_size: ["内存页大小", "Page size"],
  loongarch_world: ["LoongArch 新旧世界", "LoongArch world"], emulation: ["运行方式", "Hardware or emulation"],
};

/* A host's measured facts against its profile (GET /api/v1/hosts/NAME). */
async function hostFacts(name) {
  const x = await api("GET", "/api/v1/hosts/" + encodeURIComponent(name));
  if (!x.facts) return h("p", { class: "muted" }, T("尚无实测数据：还没有作业在这台主机上开始。", "No facts yet: no job has started on this host."));
  const job = () => h("a", { href: "#/jobs/" + x.facts_from.job }, String(x.facts_from.job));
  const box = h("div", { class: "host-facts", "data-host": name },
    h("p", { class: "muted" }, T(["作业 ", job(), " 开始时实测"], ["measured when job ", job(), " started"]),
      x.facts_from.ts ? " (" + when(x.facts_from.ts) + ")" : ""));
  if (!x.comparison) return add(box, [failure(new Error(x.comparison_error || ""), T("无法与目标配置比较", "Cannot compare with the profile"))]);
  const verdict = (c) => c.match ? h("span", { class: "badge ok" }, T("一致", "match"))
    : h("span", { class: "badge " + (c.severity === "error" ? "bad" : "warn") }, T("不一致", "mismatch"));
  return add(box, [table(
    [T("项目", "Field"), T("目标配置", "Profile"), T("实测", "Measured"), T("比较", "Comparison")],
    x.comparison.map((c) => h("tr", { "data-field": c.field, "data-match": String(c.match) },
      h("th", { scope: "row" }, FACT_FIELDS[c.field] ? T(...FACT_FIELDS[c.field]) : c.field),
      h("td", {}, h("code", {}, c.profile)), h("td", {}, c.host === null ? T("未测得", "not measured") : h("code", {}, c.host)),
      h("td", {}, verdict(c)))))]);
}

async function hosts() {
  const l = await api("GET", "/api/v1/hosts");
  const health = (x) => {
    if (!x.enabled) return h("span", { class: "bad" }, T("停用", "disabled"), ": ", x.disabled);
    if (x.quarantined) return h("span", { class: "bad" }, T("隔离", "quarantined"), ": ", x.quarantined);
    if (x.drained) return h("span", { class: "warn" }, T("维护中（不接新作业）", "drained (takes no new job)"));
    if (x.failures) return h("span", { class: "warn" }, T("连续故障 ", "failures in a row: "), String(x.failures));
    return h("span", { class: "ok" }, T("正常", "healthy"));
  };
  /* A host's row opens its facts in a row below it (and closes them). */
  const open = async (ev) => {
    const b = ev.currentTarget, row = b.closest("tr");
    if (b.getAttribute("aria-expanded") === "true") {
      row.nextSibling.remove();
      b.setAttribute("aria-expanded", "false");
      return;
    }
    b.setAttribute("aria-expanded", "true");
    const cell = h("td", { colspan: 5 }, T("载入中…", "Loading…"));
    row.after(h("tr", { class: "facts-row" }, cell));
    let got;
    try { got = await hostFacts(b.dataset.host); } catch (e) { got = failure(e); }
    clear(cell).appendChild(got);
  };
  page(titled("主机", "Hosts"), l.length ? table(
    [T("主机", "Host"), T("目标配置", "Profile"), T("健康", "Health"), T("最近故障", "Last failure"), T("主机密钥", "Host key")],
    l.map((x) => h("tr", {},
      h("td", {}, h("button", { type: "button", class: "link", "data-host": x.name, "aria-expanded": "false",
        title: t("实测与目标配置的比较", "measured facts against the profile"), on: { click: open } }, x.name)),
      h("td", {}, h("code", {}, x.profile)), h("td", {}, health(x)),
      h("td", {}, x.last_error || "—"), h("td", {}, h("code", {}, x.hostkey)))))
    : h("p", { class: "muted" }, T("没有主机。", "No hosts.")),
    h("p", { class: "muted" }, T("点主机名，看它最近一次实测与目标配置的比较（与 assay host check 同一规则）。",
      "Choose a host to see the facts it last measured against its profile (the rules of assay host check).")));
}

/* ---- public: registry, certificate, verify ---------------------------------------- */

const CPUS = [["kunpeng", "鲲鹏", "Kunpeng"], ["phytium", "飞腾", "Phytium"], ["loongson", "龙芯", "Loongson"], ["zhaoxin", "兆芯", "Zhaoxin"], ["any", "任意 CPU", "any CPU"]];
const OSES = [["kylin", "麒麟", "Kylin"], ["uos", "统信", "UOS"], ["openEuler", "欧拉", "openEuler"]];
function named(list, id) {
  const x = list.find((n) => n[0].toLowerCase() === id.toLowerCase());
  return x ? t(x[1], x[2]) : id;
}
function listOf(ids, names) {
  return (Array.isArray(ids) ? ids : []).map((x) => named(names, x)).join("、");
}

async function registry() {
  const q = h("input", { id: "q", type: "search", name: "q" });
  const sel = (id, opts) => h("select", { id, name: id }, h("option", { value: "" }, t("全部", "any")),
    opts.map(([v, zh, en]) => h("option", { value: v }, t(zh, en))));
  const cpu = sel("cpu", CPUS), os = sel("os", OSES),
    verdict = sel("verdict", [["certified", "已认证", "certified"], ["not-certified", "未认证", "not certified"]]);
  const results = h("div", { "aria-live": "polite" });
  async function search(ev) {
    if (ev) ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, e] of [["q", q], ["cpu", cpu], ["os", os], ["verdict", verdict]]) if (e.value) p.set(k, e.value);
    try {
      const l = await api("GET", "/api/v1/registry?" + p);
      clear(results).appendChild(l.length ? table(
        [T("产品", "Product"), T("结论", "Conclusion"), T("版本", "Version"), T("提交单位", "Submitted by"), T("厂商（清单所述）", "Vendor (manifest)"), "CPU", T("操作系统", "OS"), T("日期", "Date")],
        l.map((e) => h("tr", {}, h("td", {}, h("a", { href: "#/registry/" + e.run }, e.product)),
          h("td", {}, badge(CONCLUSION, e.conclusion)), h("td", {}, e.version),
          h("td", {}, submitters(e)), h("td", {}, e.vendor), h("td", {}, listOf(e.cpus, CPUS)), h("td", {}, listOf(e.oses, OSES)),
          h("td", {}, when(e.report_date)))))
        : h("p", { class: "muted" }, T("没有符合条件的报告。", "No published report matches.")));
    } catch (e) {
      clear(results).appendChild(failure(e));
    }
  }
  page(titled("证书查询", "Certificate registry"),
    h("p", {}, T("本中心公布的适配测试报告。每份报告都由本中心签名，可在证书页重新核验。",
      "The adaptation reports this centre has published. Each is signed by the centre and re-verified on its certificate page.")),
    h("form", { class: "inline card", role: "search", on: { submit: search } },
      h("div", {}, h("label", { for: "q" }, T("关键词", "Search")), q),
      h("div", {}, h("label", { for: "cpu" }, "CPU"), cpu),
      h("div", {}, h("label", { for: "os" }, T("操作系统", "OS")), os),
      h("div", {}, h("label", { for: "verdict" }, T("结论", "Conclusion")), verdict),
      h("button", { class: "primary", type: "submit" }, T("查询", "Search"))),
    results);
  await search();
}

/* What a report proves and what it does not, in plain words, from the
 * summary of what the server verified (sum: its "summary"): emulated
 * targets and conditions are named. Nothing here reads the file itself. */
function meaning(sum) {
  const targets = sum.targets || [];
  const emulated = targets.filter((x) => x.emulated);
  const reasons = sum.reasons || [];
  const prod = sum.product || {};
  return h("div", { class: "card", id: "meaning" },
    h("h2", {}, T("这份报告证明什么", "What this report proves")),
    h("ul", {},
      h("li", {}, T("它由本中心的签名密钥签发，内容自签名以来未被改动。", "It was issued with this centre's signing key and has not been changed since it was signed.")),
      h("li", {}, T("在报告所列的主机上，", "On the hosts it lists, "), prod.name || "", " ", prod.version || "",
        T(" 的安装、测试与性能结果如报告所述，由测试工具自行判定。", " installed, tested and performed as the report says, each verdict decided by the harness itself."))),
    h("h2", {}, T("它不证明什么", "What it does not prove")),
    h("ul", {},
      h("li", {}, T("它不保证报告未覆盖的版本、配置或硬件上的行为。", "Nothing about versions, configurations or hardware it does not list.")),
      emulated.length ? h("li", { class: "warn" }, T("以下目标在 CPU 模拟器上运行，不代表真实硬件：", "These targets ran under CPU emulation, not on the real hardware: "),
        emulated.map((x) => x.profile).join(", ")) : null,
      reasons.length ? h("li", { class: "warn" }, T("结论列出的每个条件（见下表各目标）。", "Any condition its conclusion names (target by target below).")) : null),
    h("h2", {}, T("各目标", "Target by target")),
    table([T("目标", "Target"), T("结果", "Result"), T("是否认证该目标", "Certifies it"), T("条件", "Conditions")],
      targets.map((x) => h("tr", {},
        h("td", {}, h("code", {}, x.profile)),
        h("td", {}, x.verdict),
        h("td", {}, x.certifies ? h("span", { class: "ok" }, T("是", "yes")) : h("span", { class: "bad" }, T("否", "no"))),
        h("td", {}, h("ul", {}, (x.conditions || []).map((k) => h("li", {}, T(k.zh || "", k.en || ""))))))),
      t("各目标", "Target by target")),
    (sum.notes || []).map((n) => h("p", { class: "muted" }, n)),
    h("p", {}, T("结论：", "Conclusion: "), badge(CONCLUSION, sum.status)));
}

/* Who is behind a registry entry: the organisations that submitted it
 * (the centre's accounts) and the vendor its manifest names (a claim). */
function submitters(e) {
  return e.submitted_by && e.submitted_by.length ? e.submitted_by.join("、") : t("本中心录入", "added by the centre");
}

async function certificate(n) {
  const c = await api("GET", "/api/v1/registry/" + n);
  const e = c.entry;
  page(titled("证书 " + e.report_number, "Certificate " + e.report_number),
    c.valid
      ? h("div", { class: "notice", role: "status", id: "cert-check" }, h("strong", { class: "ok" }, T("服务器刚刚重新核验了签名", "The server has just re-verified the signature")),
        " · ", c.algorithm, " · ", T("密钥 ID", "key id"), " ", h("code", { id: "keyid" }, c.keyid))
      : h("div", { class: "error-box", role: "alert", id: "cert-check" },
        h("strong", {}, T("此证书的签名报告未能通过核验", "This certificate's signed report does not verify")), ": ", c.error || ""),
    h("dl", { class: "facts card" },
      h("dt", {}, T("产品", "Product")), h("dd", {}, e.product + " " + e.version),
      h("dt", {}, T("提交单位", "Submitted by")), h("dd", {}, h("span", { id: "submitted-by" }, submitters(e)), " ",
        h("span", { class: "muted" }, T("（本中心的账户）", "(an account of this centre)"))),
      h("dt", {}, T("厂商", "Vendor")), h("dd", {}, h("span", { id: "vendor" }, e.vendor), " ",
        h("span", { class: "muted" }, T("（软件包清单所述，未经核实）", "(as the package's manifest claims it, not checked)"))),
      h("dt", {}, "CPU"), h("dd", {}, listOf(e.cpus, CPUS)),
      h("dt", {}, T("操作系统", "OS")), h("dd", {}, listOf(e.oses, OSES)),
      h("dt", {}, T("结论", "Conclusion")), h("dd", {}, badge(CONCLUSION, e.conclusion)),
      h("dt", {}, T("报告日期", "Report date")), h("dd", {}, when(e.report_date)),
      c.valid ? [h("dt", {}, T("载荷 SHA-256", "Payload SHA-256")), h("dd", {}, h("code", {}, c.payload_sha256))] : null),
    h("p", {}, h("a", { class: "button", id: "signed-json", href: "/api/v1/registry/" + n + "/report", download: "report-" + e.report_number + ".json" },
      T("下载公布的签名 JSON", "Download the signed JSON as published"))),
    c.valid ? meaning(c.summary) : null);
  if (c.valid) charts(view(), (c.statement && c.statement.predicate && c.statement.predicate.comparison) || []);
}

function verifyPage() {
  const result = h("div", { id: "verify-result", "aria-live": "polite" });
  const zone = dropZone("report", ".json,application/json", "选择签名报告（JSON）", "Choose a signed report (JSON)", async (file) => {
    clear(result);
    try {
      const r = await api("POST", "/api/v1/verify", await file.text());
      /* Drawn from what the server verified (its summary), never from
       * the file: a payload it refused is never shown as a report. */
      result.appendChild(h("div", { class: "notice", role: "status" },
        h("strong", { class: "ok" }, T("签名有效：由本中心签发", "Valid: signed by this centre")), " · ", T("报告编号", "report"), " ", r.summary.report_number,
        " · ", r.algorithm, " · ", T("密钥 ID", "key id"), " ", h("code", {}, r.keyid)));
      result.appendChild(meaning(r.summary));
    } catch (e) {
      result.appendChild(h("div", { class: "error-box", role: "alert" },
        h("strong", {}, T("无法证明此报告由本中心签发", "This report cannot be shown to come from this centre")), ": ", e.message));
    }
  });
  page(titled("核验报告", "Verify a report"),
    h("p", {}, T("选择一份签名报告（.json）。服务器用本中心的公钥核验它，并说明它证明什么、不证明什么。",
      "Choose a signed report (.json). The server checks it with this centre's public key and says what it proves and what it does not.")),
    h("div", { class: "card" }, zone), result);
}

/* ---- start ----------------------------------------------------------------------------- */

function setLang(mode) {
  document.documentElement.className = mode;
  localStorage.setItem("assay-lang", mode);
  document.getElementById("lang-now").textContent = { both: "中文与英文", zh: "中文", en: "English" }[mode];
}

document.addEventListener("DOMContentLoaded", async () => {
  setLang(localStorage.getItem("assay-lang") || "both");
  document.getElementById("lang").addEventListener("click", () => {
    const next = { both: "zh", zh: "en", en: "both" }[document.documentElement.className] || "both";
    setLang(next);
    route();
  });
  window.addEventListener("hashchange", route);
  await whoami();
  route();
});
