/* gerhard site: the registry browser. Reads only the files beside it (data/*.js, loaded as scripts so the
   page works from file://); puts every text from a run into the DOM as text, never as HTML. */
"use strict";
(function () {
  const ROW_H = 28, OVERSCAN = 12, MAX_COMPARE = 8;
  const BASE_COLS = ["id", "phase", "verdict", "at", "name", "sha"];
  const WIDTHS = { sel: 34, id: 290, phase: 64, verdict: 80, at: 170, name: 170, sha: 90, summary: 320 };
  const LABELS = { id: "run", at: "registered", sha: "code", sel: "" };
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
  const VERDICT_COLORS = { GREEN: "#2e9d48", AMBER: "#e0a100", RED: "#d23b3b" };

  const G = (window.GERHARD = { manifest: null, rows: [], runs: new Map(), charts: [], ready: false, load: load, runData: runData });
  const S = { view: "runs", run: "", q: "", name: "", phase: "", verdict: [], from: "", to: "", where: "", sort: "-at", cols: [], sel: [] };
  let byId = new Map(), view = [], columns = [], keys = new Set(), pendingMonths = 0, waiting = new Map(), loadingParts = new Set(), loadedParts = new Set();

  // ---------- loading ----------
  function load(kind, key, data) {
    if (kind === "manifest") return onManifest(data);
    if (kind === "rows") return onRows(key, data);
    if (kind === "runs") {
      for (const id of Object.keys(data)) G.runs.set(id, data[id]);
      for (const id of [...waiting.keys()]) {
        if (!G.runs.has(id)) continue;
        waiting.get(id).forEach((f) => f(G.runs.get(id)));
        waiting.delete(id);
      }
    }
  }
  function addScript(src, onerror, onload) {
    const s = document.createElement("script");
    s.src = src;
    if (onerror) s.onerror = onerror;
    if (onload) s.onload = onload;
    document.head.appendChild(s);
  }
  // A run's comparison data is in its part (data/runs/<part>.js, many runs each), loaded once when first asked.
  function runData(id) {
    if (G.runs.has(id)) return Promise.resolve(G.runs.get(id));
    const row = byId.get(id), part = row && row.part;
    if (!part || !G.manifest.parts[part] || loadedParts.has(part)) return Promise.resolve(null);  // not in its part
    return new Promise((resolve) => {
      if (!waiting.has(id)) waiting.set(id, []);
      waiting.get(id).push(resolve);
      if (loadingParts.has(part)) return;
      loadingParts.add(part);
      const settle = () => {  // ids of this part the file did not hold: no data
        loadedParts.add(part);
        for (const [wid, fs] of [...waiting]) if (!G.runs.has(wid) && (byId.get(wid) || {}).part === part) { fs.forEach((f) => f(null)); waiting.delete(wid); }
      };
      addScript("data/runs/" + part + ".js?v=" + G.manifest.parts[part], settle, settle);
    });
  }
  function onManifest(m) {
    G.manifest = m;
    const months = Object.keys(m.months).sort();
    pendingMonths = months.length;
    if (!pendingMonths) return onAllRows();
    months.forEach((mo) => addScript("data/rows/" + mo + ".js?v=" + m.months[mo]));
  }
  function onRows(month, chunk) {
    const cols = chunk.columns;
    for (const values of chunk.rows) {
      const row = {};
      for (let i = 0; i < cols.length; i++) if (values[i] !== null) row[cols[i]] = values[i];
      G.rows.push(row);
    }
    cols.forEach((c) => keys.add(c));
    if (--pendingMonths === 0) onAllRows();
  }
  function onAllRows() {
    if (document.readyState === "loading") return document.addEventListener("DOMContentLoaded", onAllRows);
    G.rows.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : (a.seq || 0) - (b.seq || 0)));
    byId = new Map(G.rows.map((r) => [r.id, r]));
    for (const r of G.rows) r._text = [r.id, r.name, r.summary || "", r.phase, r.verdict, r.sha || ""].join(" ").toLowerCase();
    setupPage();
    G.ready = true;
    document.documentElement.setAttribute("data-ready", "1");
  }
  document.addEventListener("DOMContentLoaded", () => { if (!G.manifest) text($("#loading"), "no data: build the site with 'gerhard site'"); });

  // ---------- small helpers ----------
  function $(sel, root) { return (root || document).querySelector(sel); }
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  function text(e, t) { e.textContent = t; return e; }
  function isNonfinite(v) { return v !== null && typeof v === "object" && !Array.isArray(v) && Object.prototype.hasOwnProperty.call(v, "$nonfinite") && Object.keys(v).length === 1; }
  function numeric(v) {
    if (typeof v === "number") return v;
    if (isNonfinite(v)) return { nan: NaN, inf: Infinity, "-inf": -Infinity }[v.$nonfinite];
    return null;
  }
  function fmt(v) {
    if (v === undefined) return "";
    if (v === null) return "null";
    if (isNonfinite(v)) return v.$nonfinite;
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
    if (typeof v === "string") return v;
    return JSON.stringify(v);
  }
  function link(rel) { return G.manifest.root.replace(/\/$/, "") + "/" + rel.split("/").map(encodeURIComponent).join("/"); }
  function reportHref(id) { return "#view=report&run=" + encodeURIComponent(id); }
  function colLabel(c) { return LABELS[c] !== undefined ? LABELS[c] : c.startsWith("gates.") ? c.slice(6) : c; }
  function colWidth(c) { return WIDTHS[c] || (c.startsWith("gates.") ? 130 : 150); }

  // ---------- URL state ----------
  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    const list = (k) => (p.get(k) || "").split(",").filter(Boolean);
    Object.assign(S, { view: p.get("view") || "runs", run: p.get("run") || "", q: p.get("q") || "", name: p.get("name") || "", phase: p.get("phase") || "",
      verdict: list("verdict"), from: p.get("from") || "", to: p.get("to") || "", where: p.get("where") || "",
      sort: p.get("sort") || "-at", cols: list("cols"), sel: list("sel").slice(0, MAX_COMPARE) });
  }
  function writeHash() {
    const p = new URLSearchParams();
    for (const k of ["view", "run", "q", "name", "phase", "from", "to", "where", "sort"]) if (S[k] && !(k === "run" && S.view !== "report") && !(k === "view" && S[k] === "runs") && !(k === "sort" && S[k] === "-at")) p.set(k, S[k]);
    for (const k of ["verdict", "cols", "sel"]) if (S[k].length) p.set(k, S[k].join(","));
    const h = "#" + p.toString();
    if (location.hash !== h) history.replaceState(null, "", h === "#" ? location.pathname : h);
  }

  // ---------- the page ----------
  function setupPage() {
    const m = G.manifest;
    text($("#title"), (m.program || "gerhard") + " — registry");
    document.title = (m.program || "gerhard") + " — gerhard registry";
    text($("#built"), (m.commit ? "at " + (m.rev || "") + " " + m.commit.slice(0, 10) : "work tree") + " · " + G.rows.length.toLocaleString("en") + " runs");
    const phaseSel = $("select[name=phase]");
    const phases = [...new Set([...m.phases.map((p) => p.id), ...G.rows.map((r) => r.phase)])];
    phases.forEach((p) => phaseSel.append(el("option", { value: p, text: p })));
    const dl = $("#columns");
    [...keys].filter((k) => /^(config|metrics|gates)\./.test(k)).sort().forEach((k) => dl.append(el("option", { value: k })));
    const f = $("#filters");
    f.addEventListener("input", onFilterInput);
    f.addEventListener("change", onFilterInput);
    f.addEventListener("submit", (e) => e.preventDefault());
    $("#clear").addEventListener("click", () => { Object.assign(S, { q: "", name: "", phase: "", verdict: [], from: "", to: "", where: "" }); syncForm(); refresh(); });
    $("#compare-btn").addEventListener("click", () => { S.view = "compare"; writeHash(); render(); });
    $("#unselect").addEventListener("click", () => { S.sel = []; writeHash(); drawRows(true); updateSel(); });
    $("#tbody").addEventListener("scroll", () => { head_scroll(); requestAnimationFrame(() => drawRows(false)); });
    $("#tbody").addEventListener("change", onSelect);
    $("#thead").addEventListener("click", onSort);
    $("#tabs").addEventListener("click", (e) => { const a = e.target.closest("a[data-view]"); if (a) { e.preventDefault(); S.view = a.dataset.view; writeHash(); render(); } });
    window.addEventListener("hashchange", () => { readHash(); syncForm(); refresh(); render(); });
    window.addEventListener("resize", () => drawRows(true));
    $("#loading").hidden = true;
    readHash();
    syncForm();
    refresh();
    render();
  }
  function syncForm() {
    const f = $("#filters");
    for (const k of ["q", "name", "phase", "from", "to", "where"]) f.elements[k].value = S[k];
    f.querySelectorAll("input[name=verdict]").forEach((c) => (c.checked = S.verdict.includes(c.value)));
  }
  function onFilterInput(e) {
    const f = $("#filters");
    if (e.target.name === "addcol") {
      const v = e.target.value.trim();
      if (e.type === "change" && keys.has(v) && !S.cols.includes(v)) { S.cols.push(v); e.target.value = ""; refresh(); }
      return;
    }
    for (const k of ["q", "name", "phase", "from", "to", "where"]) S[k] = f.elements[k].value.trim();
    S.verdict = [...f.querySelectorAll("input[name=verdict]:checked")].map((c) => c.value);
    refresh();
  }
  function render() {
    for (const v of ["runs", "compare", "program", "report"]) $("#" + v).hidden = v !== S.view;
    document.querySelectorAll("#tabs a").forEach((a) => a.classList.toggle("active", a.dataset.view === S.view));
    updateSel();
    if (S.view === "runs") drawRows(true);
    if (S.view === "compare") renderCompare();
    if (S.view === "program") renderProgram();
    if (S.view === "report") renderReport();
  }

  // ---------- filter and sort ----------
  const OPS = { "<": (a, b) => a < b, "<=": (a, b) => a <= b, ">": (a, b) => a > b, ">=": (a, b) => a >= b, "==": (a, b) => a === b, "=": (a, b) => a === b, "!=": (a, b) => a !== b };
  function resolveKey(k) {
    if (keys.has(k) || BASE_COLS.includes(k) || k === "summary") return k;
    const [head, ...rest] = k.split(".");
    const tail = "." + rest.join(".");
    const found = [...keys].filter((c) => c.startsWith(head + ".") && c.endsWith(tail));
    if (found.length === 1) return found[0];
    throw new Error(found.length ? k + " is ambiguous: " + found.join(", ") : "no column " + k);
  }
  function literal(s) {
    if (/^(['"]).*\1$/.test(s)) return s.slice(1, -1);
    if (s === "true" || s === "false") return s === "true";
    if (s === "null") return null;
    const n = Number(s);
    return s !== "" && !Number.isNaN(n) ? n : s;
  }
  function parseWhere(src) {
    const conds = [];
    for (const part of src.split(/;|&&|\band\b/)) {
      if (!part.trim()) continue;
      const m = part.match(/^\s*([^\s<>=!~]+)\s*(<=|>=|==|!=|<|>|=|~)\s*(.*?)\s*$/);
      if (!m) throw new Error("cannot read '" + part.trim() + "': write KEY OP VALUE, e.g. config.lr < 0.01");
      const key = resolveKey(m[1]), want = literal(m[3]), op = m[2];
      conds.push((row) => {
        const raw = row[key];
        if (raw === undefined) return false;
        if (op === "~") return fmt(raw).toLowerCase().includes(String(want).toLowerCase());
        const v = numeric(raw);
        if (typeof want === "number" && v !== null) return OPS[op](v, want);
        if (typeof want === "number") return false;
        return OPS[op](typeof raw === "string" || typeof raw === "boolean" || raw === null ? raw : fmt(raw), want);
      });
    }
    return conds;
  }
  function refresh() {
    let conds = [];
    try { conds = parseWhere(S.where); text($("#where-error"), ""); } catch (err) { text($("#where-error"), err.message); }
    const q = S.q.toLowerCase(), name = S.name.toLowerCase(), verdicts = new Set(S.verdict);
    const to = S.to ? S.to + "T99" : "";
    view = G.rows.filter((r) =>
      (!S.phase || r.phase === S.phase) && (!verdicts.size || verdicts.has(r.verdict)) &&
      (!S.from || r.at >= S.from) && (!to || r.at <= to) && (!name || r.name.toLowerCase().includes(name)) &&
      (!q || r._text.includes(q)) && conds.every((c) => c(r)));
    sortView();
    const gates = [...new Set(G.manifest.phases.flatMap((p) => p.gates.map((g) => "gates." + g.id)))].filter((k) => keys.has(k));
    columns = ["sel", ...BASE_COLS, ...gates, ...S.cols.filter((c) => !gates.includes(c)), "summary"];
    text($("#count"), view.length.toLocaleString("en") + " of " + G.rows.length.toLocaleString("en") + " runs");
    writeHash();
    drawHead();
    drawRows(true);
  }
  function sortView() {
    const desc = S.sort.startsWith("-"), key = desc ? S.sort.slice(1) : S.sort, sign = desc ? -1 : 1;
    const val = (r) => { const v = r[key]; const n = numeric(v); return n !== null ? n : v === undefined ? undefined : typeof v === "string" ? v : fmt(v); };
    const decorated = view.map((r) => [val(r), r]);
    decorated.sort((a, b) => {
      if (a[0] === undefined || b[0] === undefined) return (a[0] === undefined) - (b[0] === undefined);
      if (typeof a[0] !== typeof b[0]) return typeof a[0] === "number" ? -1 : 1;
      return a[0] < b[0] ? -sign : a[0] > b[0] ? sign : ((a[1].seq || 0) - (b[1].seq || 0)) * sign;  // ties: registration order
    });
    view = decorated.map((d) => d[1]);
  }
  function onSort(e) {
    const h = e.target.closest("[data-col]");
    if (!h) return;
    if (e.target.closest("button.drop")) { S.cols = S.cols.filter((c) => c !== h.dataset.col); return refresh(); }
    const c = h.dataset.col;
    if (c === "sel") return;
    S.sort = S.sort === c ? "-" + c : c;
    sortView();
    writeHash();
    drawHead();
    drawRows(true);
  }

  // ---------- the table (only the rows in sight are in the DOM) ----------
  function template() { return columns.map((c) => colWidth(c) + "px").join(" "); }
  function drawHead() {
    const head = $("#thead");
    head.replaceChildren();
    head.style.gridTemplateColumns = template();
    for (const c of columns) {
      const arrow = S.sort === c ? " ▲" : S.sort === "-" + c ? " ▼" : "";
      const cell = el("div", { class: "th", "data-col": c, title: c === "sel" ? null : "sort by " + c }, colLabel(c) + arrow);
      if (S.cols.includes(c)) cell.append(el("button", { type: "button", class: "drop", title: "remove column", text: "×" }));
      head.append(cell);
    }
  }
  function drawRows(force) {
    const body = $("#tbody");
    if (!body || $("#runs").hidden) return;
    const spacer = $("#spacer");
    spacer.style.height = view.length * ROW_H + "px";
    const first = Math.max(0, Math.floor(body.scrollTop / ROW_H) - OVERSCAN);
    const last = Math.min(view.length, Math.ceil((body.scrollTop + body.clientHeight) / ROW_H) + OVERSCAN);
    if (!force && body.dataset.first === String(first) && body.dataset.last === String(last)) return;
    body.dataset.first = first;
    body.dataset.last = last;
    const tpl = template(), sel = new Set(S.sel), frag = document.createDocumentFragment();
    for (let i = first; i < last; i++) frag.append(rowEl(view[i], i, tpl, sel));
    spacer.replaceChildren(frag);
    head_scroll();
  }
  function head_scroll() { $("#thead").scrollLeft = $("#tbody").scrollLeft; }
  function rowEl(r, i, tpl, sel) {
    const row = el("div", { class: "tr" + (i % 2 ? " odd" : ""), "data-id": r.id, role: "row" });
    row.style.top = i * ROW_H + "px";
    row.style.gridTemplateColumns = tpl;
    for (const c of columns) row.append(cellEl(r, c, sel));
    return row;
  }
  function cellEl(r, c, sel) {
    if (c === "sel") {
      const box = el("input", { type: "checkbox", class: "pick", "aria-label": "select " + r.id });
      box.checked = sel.has(r.id);
      return el("div", { class: "td" }, box);
    }
    if (c === "id") {
      const cell = el("div", { class: "td id", title: r.summary || r.id }, el("span", { class: "rid", text: r.id }));
      if (r.dossier) cell.append(el("a", { class: "lnk", href: link(r.dossier), text: "dossier" }));
      if (r.report) cell.append(el("a", { class: "lnk", href: reportHref(r.id), text: "report" }));
      return cell;
    }
    if (c === "verdict") return el("div", { class: "td" }, el("span", { class: "badge " + r.verdict, text: r.verdict }));
    if (c === "sha") return el("div", { class: "td mono", title: r.sha || "", text: (r.sha || "").slice(0, 8) + (r.dirty ? "+" : "") });
    if (c === "at") return el("div", { class: "td", text: (r.at || "").replace("T", " ").replace("Z", "") });
    const v = r[c];
    const cls = "td" + (typeof numeric(v) === "number" ? " num" : "") + (c.startsWith("gates.") && v !== undefined ? (r["pass:" + c.slice(6)] ? " pass" : " fail") : "");
    return el("div", { class: cls, title: v === undefined ? null : fmt(v), text: fmt(v) });
  }
  function onSelect(e) {
    if (!e.target.classList.contains("pick")) return;
    const id = e.target.closest(".tr").dataset.id;
    if (e.target.checked && !S.sel.includes(id)) {
      if (S.sel.length >= MAX_COMPARE) { e.target.checked = false; return; }
      S.sel.push(id);
    } else if (!e.target.checked) S.sel = S.sel.filter((s) => s !== id);
    writeHash();
    updateSel();
  }
  function updateSel() {
    text($("#selcount"), S.sel.length ? "(" + S.sel.length + ")" : "");
    const btn = $("#compare-btn");
    btn.disabled = S.sel.length < 2;
    btn.textContent = "compare selected (" + S.sel.length + ")";
  }

  // ---------- the comparison: gerhard.core.compare's diff_runs, on the data it reads (from data/runs/) ----------
  function pyTruthy(v) {
    if (v === null || v === undefined) return false;
    if (typeof v === "boolean") return v;
    if (typeof v === "number") return v !== 0;
    if (typeof v === "string" || Array.isArray(v)) return v.length > 0;
    return isNonfinite(v) || Object.keys(v).length > 0;
  }
  function pyEq(x, y) {
    const nx = isNonfinite(x), ny = isNonfinite(y);
    if (nx || ny) return nx && ny && x.$nonfinite === y.$nonfinite && x.$nonfinite !== "nan";
    const sx = typeof x === "number" || typeof x === "boolean", sy = typeof y === "number" || typeof y === "boolean";
    if (sx || sy) return sx && sy && Number(x) === Number(y);
    if (x === null || y === null || typeof x !== "object" || typeof y !== "object") return x === y;
    if (Array.isArray(x) || Array.isArray(y)) return Array.isArray(x) && Array.isArray(y) && x.length === y.length && x.every((v, i) => pyEq(v, y[i]));
    const kx = Object.keys(x), ky = Object.keys(y);
    return kx.length === ky.length && kx.every((k) => Object.prototype.hasOwnProperty.call(y, k) && pyEq(x[k], y[k]));
  }
  function sameValue(x, y) {
    if (isNonfinite(x) && isNonfinite(y) && x.$nonfinite === "nan" && y.$nonfinite === "nan") return true;
    if (typeof x === "boolean" || typeof y === "boolean") return typeof x === typeof y && x === y;
    return pyEq(x, y);
  }
  function has(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }
  function get(o, k) { return has(o, k) ? o[k] : null; }
  function finite(v) { return typeof v === "number" && Number.isFinite(v); }
  function tidy(x) { return Number(x.toPrecision(12)); }
  function sortedUnion(a, b) { return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort(); }
  function configChanges(a, b) {
    const out = [];
    for (const key of sortedUnion(a, b)) {
      if (!has(b, key)) out.push({ key, change: "removed", old: a[key], new: null });
      else if (!has(a, key)) out.push({ key, change: "added", old: null, new: b[key] });
      else if (!sameValue(a[key], b[key])) out.push({ key, change: "changed", old: a[key], new: b[key] });
    }
    return out;
  }
  function metricDelta(name, a, b) {
    const va = get(a, name), vb = get(b, name);
    const missing = !has(a, name) ? "a" : !has(b, name) ? "b" : null;
    if (missing || !(finite(va) && finite(vb))) return { name, a: va, b: vb, delta: null, relative: null, missing_in: missing };
    const delta = tidy(vb - va);
    return { name, a: va, b: vb, delta, relative: va ? tidy(delta / Math.abs(va)) : null, missing_in: null };
  }
  function gateFlips(ga, gb) {
    const byId = new Map(ga.map((g) => [g.id, g]));
    const out = [];
    for (const b of gb) {
      const a = byId.get(b.id);
      if (a !== undefined && pyTruthy(a.passed) !== pyTruthy(b.passed))
        out.push({ id: b.id, passed_a: pyTruthy(a.passed), passed_b: pyTruthy(b.passed), value_a: get(a, "observed"), value_b: get(b, "observed"),
          threshold_a: get(a, "threshold"), threshold_b: get(b, "threshold"), severity: has(b, "severity") ? b.severity : "blocking" });
    }
    return out;
  }
  function evalFlips(sa, sb) {
    const key = (t) => JSON.stringify(get(t, "name"));
    const tasksA = new Map((sa.tasks || []).map((t) => [key(t), t]));
    const out = [];
    for (const b of sb.tasks || []) {
      const a = tasksA.get(key(b));
      if (a !== undefined && pyTruthy(get(a, "passed")) !== pyTruthy(get(b, "passed")))
        out.push({ id: String(b.name), passed_a: pyTruthy(get(a, "passed")), passed_b: pyTruthy(get(b, "passed")), value_a: get(a, "score"),
          value_b: get(b, "score"), threshold_a: get(a, "threshold"), threshold_b: get(b, "threshold"), severity: null });
    }
    return out;
  }
  function diffRuns(A, B) {
    return {
      a: A.run, b: B.run,
      code_changed: A.run.code_sha !== B.run.code_sha || A.run.code_dirty !== B.run.code_dirty,
      config: configChanges(A.config, B.config),
      metrics: sortedUnion(A.metrics, B.metrics).map((n) => metricDelta(n, A.metrics, B.metrics)),
      gates_flipped: gateFlips(A.gates, B.gates),
      eval_missing_in: [A.suite === null ? "a" : null, B.suite === null ? "b" : null].filter(Boolean),
      eval_flipped: A.suite !== null && B.suite !== null ? evalFlips(A.suite, B.suite) : [],
    };
  }
  G.diffRuns = diffRuns;

  function baselineOf(phase) {
    const st = G.manifest.status.phases[phase] || (G.manifest.status.removed_phases || {})[phase];
    const ph = G.manifest.phases.find((p) => p.id === phase);
    if (!st) return null;
    for (const g of ph ? ph.gates : []) {
      const b = (st.baselines || {})[g.id];
      if (g.baseline && b) { const which = g.baseline === "last_green" ? b.last : b.best; if (which && which.run_id) return which.run_id; }
    }
    return st.passed_by || null;
  }
  // ---------- a run's report: the markdown gerhard writes (reports/YYYY/MM/<run>.md, carried in the run's
  // part), drawn as DOM nodes from the few constructs its template uses; every text stays text ----------
  function renderReport() {
    const box = $("#report"), id = S.run, row = byId.get(id);
    if (!row) return box.replaceChildren(el("p", { class: "error", text: "no run " + id + " in this registry" }));
    box.replaceChildren(el("p", { class: "muted", text: "loading the report of " + id + " …" }));
    runData(id).then((d) => {
      if (S.view !== "report" || S.run !== id) return;
      const nav = el("p", { class: "muted" }, el("a", { href: "#", text: "runs" }));
      if (row.report) nav.append(" · source ", el("a", { href: link(row.report), text: row.report }));
      if (row.dossier) nav.append(" · ", el("a", { href: link(row.dossier), text: "dossier" }));
      if (!d || typeof d.report !== "string") return box.replaceChildren(nav, el("p", { class: "error", text: "no report of " + id + " in this build" }));
      box.replaceChildren(nav, markdown(d.report, row.report));
    });
  }
  function markdown(src, path) {
    const out = el("article", { class: "report" }), lines = src.replace(/\r\n?/g, "\n").split("\n");
    const isTable = (i) => lines[i].startsWith("|") && i + 1 < lines.length && /^\|(\s*:?-+:?\s*\|)+\s*$/.test(lines[i + 1]);
    for (let i = 0; i < lines.length; ) {
      const line = lines[i], h = /^(#{1,5}) (.*)$/.exec(line);
      if (!line.trim() || /^<!--.*-->\s*$/.test(line)) { i++; continue; }
      if (h) { out.append(inlineMd(el("h" + (h[1].length + 1)), h[2], path)); i++; continue; }
      if (isTable(i)) {
        const head = el("tr"), body = el("tbody");
        cells(line).forEach((c) => head.append(inlineMd(el("th"), c, path)));
        for (i += 2; i < lines.length && lines[i].startsWith("|"); i++) {
          const tr = el("tr");
          cells(lines[i]).forEach((c) => tr.append(inlineMd(el("td"), c, path)));
          body.append(tr);
        }
        out.append(el("table", { class: "cmp md" }, el("thead", {}, head), body));
        continue;
      }
      const p = el("p");
      for (let first = true; i < lines.length && lines[i].trim() && !/^#{1,5} /.test(lines[i]) && !isTable(i); i++, first = false) {
        if (!first) p.append(el("br"));
        inlineMd(p, lines[i], path);
      }
      out.append(p);
    }
    return out;
  }
  function cells(line) {  // a table row's cells: split at pipes not escaped; an escaped pipe is a pipe (also in code)
    const found = [""];
    for (let k = 0; k < line.length; k++) {
      if (line[k] === "\\" && k + 1 < line.length) { found[found.length - 1] += line[k + 1] === "|" ? "|" : line[k] + line[k + 1]; k++; }
      else if (line[k] === "|") found.push("");
      else found[found.length - 1] += line[k];
    }
    return found.slice(1, -1).map((c) => c.trim());
  }
  const ENTITIES = { lt: "<", gt: ">", amp: "&", quot: '"' };
  function inlineMd(node, s, path) {
    let buf = "";
    const flush = () => { if (buf) node.append(buf); buf = ""; };
    for (let k = 0; k < s.length; ) {
      const ch = s[k], rest = s.slice(k);
      if (ch === "\\" && /^[!-\/:-@[-`{-~]/.test(s[k + 1] || "")) { buf += s[k + 1]; k += 2; continue; }
      const ent = ch === "&" && /^&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});/.exec(rest);
      if (ent) { const n = ent[1]; buf += ENTITIES[n] || safeChar(n[1] === "x" ? parseInt(n.slice(2), 16) : parseInt(n.slice(1), 10)); k += ent[0].length; continue; }
      if (ch === "`") {
        const fence = /^`+/.exec(rest)[0], close = new RegExp("(?<!`)" + fence + "(?!`)", "g");
        close.lastIndex = k + fence.length;
        const end = close.exec(s);
        if (!end) { buf += fence; k += fence.length; continue; }
        let code = s.slice(k + fence.length, end.index);
        if (code.length > 1 && code[0] === " " && code[code.length - 1] === " " && code.trim()) code = code.slice(1, -1);
        flush(); node.append(el("code", { text: code })); k = end.index + fence.length; continue;
      }
      const strong = rest.startsWith("**") && s.indexOf("**", k + 2);
      if (strong > k + 2) { flush(); node.append(inlineMd(el("strong"), s.slice(k + 2, strong), path)); k = strong + 2; continue; }
      const a = ch === "[" && /^\[([^\]]*)\]\(([^()\s]*)\)/.exec(rest);
      if (a) { flush(); node.append(mdLink(a[1], a[2], path)); k += a[0].length; continue; }
      buf += ch; k++;
    }
    flush();
    return node;
  }
  function safeChar(n) { return n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : "\ufffd"; }
  function mdLink(label, url, path) {  // a path relative to the report, in the registry: through link(); anything else is text
    const a = inlineMd(el("a"), label, path), parts = path.split("/").slice(0, -1);
    if (/^[a-z][a-z0-9+.-]*:/i.test(url) || /^[/#?]/.test(url) || !url) return el("span", {}, ...a.childNodes);
    for (const seg of url.split("/")) {
      if (seg === "..") { if (!parts.length) return el("span", {}, ...a.childNodes); parts.pop(); }
      else if (seg && seg !== ".") parts.push(seg);
    }
    a.setAttribute("href", link(parts.join("/")) + (url.endsWith("/") ? "/" : ""));
    return a;
  }

  function renderCompare() {
    const box = $("#compare");
    G.charts.forEach((c) => c.u.destroy());
    G.charts = [];
    const ids = S.sel.filter((id) => byId.has(id));
    if (ids.length < 2) {
      box.replaceChildren(el("p", { class: "muted", text: "Select 2 to 8 runs in the Runs table (the boxes on the left), then compare them." }));
      return;
    }
    box.replaceChildren(el("p", { class: "muted", text: "loading " + ids.length + " runs …" }));
    const base = baselineOf(byId.get(ids[0]).phase);
    const want = base && !ids.includes(base) && byId.has(base) ? [...ids, base] : ids;
    Promise.all(want.map(runData)).then((details) => {
      if (S.view !== "compare") return;
      const runs = ids.map((id, i) => ({ id, d: details[i], row: byId.get(id) }));
      const missing = runs.filter((r) => !r.d);
      if (missing.length) { box.replaceChildren(el("p", { class: "error", text: "no data for " + missing.map((r) => r.id).join(", ") + ": rebuild the site" })); return; }
      const baseRun = base ? { id: base, d: details[want.indexOf(base)], row: byId.get(base) } : null;
      drawCompare(box, runs, baseRun);
    });
  }
  function drawCompare(box, runs, baseRun) {
    const ref = runs[0], diffs = runs.slice(1).map((r) => diffRuns(ref.d, r.d));
    G.lastDiffs = diffs;
    box.replaceChildren();
    box.append(el("h2", { text: "Compare " + runs.length + " runs" }), el("p", { class: "muted", text: "Each run against the first (A), as 'gerhard diff A RUN' shows it." }));
    const head = el("tr", {}, el("th", { text: "" }), ...runs.map((r, i) => el("th", { class: "run-h" }, el("span", { class: "swatch c" + i }), (i ? "" : "A: ") + r.id)));
    const summary = el("table", { class: "cmp" }, el("thead", {}, head), el("tbody", {},
      cmpRow("phase", runs.map((r) => r.d.run.phase)),
      cmpRow("verdict", runs.map((r) => r.d.run.verdict), (td, v) => td.replaceChildren(el("span", { class: "badge " + v, text: v }))),
      cmpRow("gates passed", runs.map((r) => r.d.run.gates_passed + "/" + r.d.run.gates_total)),
      cmpRow("registered", runs.map((r) => r.d.run.registered_at)),
      cmpRow("code", runs.map((r) => (r.d.run.code_sha || "unknown") + (r.d.run.code_dirty ? " (dirty)" : r.d.run.code_dirty === false ? " (clean)" : ""))),
      cmpRow("links", runs.map(() => ""), (td, _v, i) => {
        const row = runs[i].row;
        if (row.dossier) td.append(el("a", { href: link(row.dossier), text: "dossier" }), " ");
        if (row.report) td.append(el("a", { href: reportHref(row.id), text: "report" }));
      })));
    box.append(summary);
    drawConfig(box, runs, diffs);
    drawMetrics(box, runs, diffs);
    drawFlips(box, runs, diffs);
    drawCurves(box, runs, baseRun);
  }
  function cmpRow(label, values, fill) {
    const tr = el("tr", {}, el("th", { text: label }));
    values.forEach((v, i) => { const td = el("td", { text: fmt(v) }); if (fill) fill(td, v, i); tr.append(td); });
    return tr;
  }
  function drawConfig(box, runs, diffs) {
    const changed = [...new Set(diffs.flatMap((d) => d.config.map((c) => c.key)))].sort();
    box.append(el("h3", { text: "Config keys that differ (" + changed.length + ")" }));
    if (!changed.length) return box.append(el("p", { class: "muted", text: "same config" }));
    const rows = changed.map((k) => el("tr", {}, el("th", { class: "mono", text: k }), ...runs.map((r) => el("td", { class: has(r.d.config, k) ? "" : "muted", text: has(r.d.config, k) ? JSON.stringify(r.d.config[k]) : "(absent)" }))));
    box.append(el("table", { class: "cmp", id: "cmp-config" }, el("tbody", {}, ...rows)));
  }
  function deltaText(m) {
    if (m.missing_in) return "only in " + (m.missing_in === "a" ? "this run" : "A");
    if (m.delta === null) return "";
    return (m.delta >= 0 ? "+" : "") + Number(m.delta.toPrecision(6)) + (m.relative === null ? "" : " (" + (m.relative >= 0 ? "+" : "") + (m.relative * 100).toFixed(1) + "%)");
  }
  function drawMetrics(box, runs, diffs) {
    const names = [...new Set(diffs.flatMap((d) => d.metrics.map((m) => m.name)))].sort();
    box.append(el("h3", { text: "Metrics (final), deltas against A" }));
    const rows = names.map((n) => el("tr", {}, el("th", { class: "mono", text: n }),
      el("td", { class: "num", text: has(runs[0].d.metrics, n) ? fmt(runs[0].d.metrics[n]) : "missing" }),
      ...diffs.map((d) => { const m = d.metrics.find((x) => x.name === n); return el("td", { class: "num" }, has(runs[diffs.indexOf(d) + 1].d.metrics, n) ? fmt(m.b) : "missing", el("span", { class: "delta" + (m.delta > 0 ? " up" : m.delta < 0 ? " down" : ""), text: " " + deltaText(m) })); })));
    box.append(el("table", { class: "cmp", id: "cmp-metrics" }, el("tbody", {}, ...rows)));
  }
  function flipList(flips, gates) {
    return el("ul", { class: "flips" }, ...flips.map((f) => el("li", {},
      el("span", { class: "mark " + (f.passed_b ? "pass" : "fail"), text: mark(f.passed_a, f.severity) + " → " + mark(f.passed_b, f.severity) }), " ",
      el("span", { class: "mono", text: f.id }), " " + fmt(f.value_a) + " → " + fmt(f.value_b) + (gates ? "  (" + (f.threshold_a === f.threshold_b ? f.threshold_b : f.threshold_a + " → " + f.threshold_b) + ")" : ""))));
  }
  function mark(passed, severity) { return passed ? "pass" : ({ blocking: "FAIL", advisory: "WARN" })[severity || ""] || "fail"; }
  function drawFlips(box, runs, diffs) {
    box.append(el("h3", { text: "Gates and eval tasks that flipped against A" }));
    diffs.forEach((d, i) => {
      const sec = el("div", { class: "flip-run" }, el("h4", {}, el("span", { class: "swatch c" + (i + 1) }), runs[i + 1].id));
      sec.append(el("p", { text: "gates: " + (d.gates_flipped.length || "none") + " flipped" }), flipList(d.gates_flipped, true));
      if (d.eval_missing_in.length) sec.append(el("p", { class: "muted", text: "eval: no eval_suite.json in " + d.eval_missing_in.map((s) => (s === "a" ? "A" : "this run")).join(" and ") }));
      else sec.append(el("p", { text: "eval: " + (d.eval_flipped.length || "none") + " flipped" }), flipList(d.eval_flipped, false));
      box.append(sec);
    });
  }
  function axisValues(u, vals) { return vals.map((v) => (v === null ? "" : v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(1) : String(Number(v.toPrecision(4))))); }
  function chartWidth(box) { return Math.max(360, Math.min(1100, box.clientWidth - 20)); }
  function drawCurves(box, runs, baseRun) {
    const all = baseRun && !runs.some((r) => r.id === baseRun.id) ? [...runs, baseRun] : runs;
    const metrics = [...new Set(all.flatMap((r) => Object.keys(r.d.history || {})))].filter((k) => k !== "step");
    box.append(el("h3", { text: "Curves" }), el("p", { class: "muted", text: baseRun ? "Dashed: the phase's baseline run " + baseRun.id + ". Red dotted: gate thresholds." : "The phase has no baseline run yet. Red dotted: gate thresholds." }));
    if (!metrics.length) return box.append(el("p", { class: "muted", text: "no metrics.json history in these runs" }));
    const phase = G.manifest.phases.find((p) => p.id === runs[0].d.run.phase);
    for (const metric of metrics) {
      const holder = el("div", { class: "chart", "data-metric": metric }, el("h4", { class: "mono", text: metric }));
      box.append(holder);
      const tables = [], series = [{ label: "step" }];
      all.forEach((r, i) => {
        const h = r.d.history;
        if (!h || !h[metric]) return;
        const ys = h[metric].map((v) => { const n = numeric(v); return n === null || !Number.isFinite(n) ? null : n; });
        tables.push([h.step.map(Number), ys]);
        const isBase = baseRun && r.id === baseRun.id;
        const selected = i < runs.length;
        series.push({ label: (isBase ? "baseline " : "") + r.id, runId: r.id, baseline: !!isBase, stroke: selected ? COLORS[i % COLORS.length] : "#555", width: isBase ? 2 : 1.5, dash: isBase ? [8, 5] : undefined, spanGaps: true, points: { show: false } });
      });
      if (!tables.length) continue;
      const data = uPlot.join(tables);
      for (const g of phase ? phase.gates : []) {
        if (g.artifact !== "metrics.json" || g.path !== "final." + metric) continue;
        const lim = runs[0].row["limit:" + g.id];
        (lim || []).forEach((v, j) => {
          if (v === null || v === undefined || (j === 1 && lim[0] === v)) return;
          data.push(data[0].map(() => v));
          series.push({ label: "gate " + g.id + (lim[0] !== null && lim[1] !== null && lim[0] !== lim[1] ? (j ? " (high)" : " (low)") : ""), threshold: true, stroke: "#c62828", width: 1, dash: [2, 4], points: { show: false } });
        });
      }
      const u = new uPlot({ width: chartWidth(box), height: 260, series, scales: { x: { time: false } }, axes: [{ label: "step" }, { values: axisValues, size: 64 }], legend: { live: true } }, data, holder);
      G.charts.push({ metric, u, series: series.slice(1).map((s) => ({ label: s.label, runId: s.runId || null, baseline: !!s.baseline, threshold: !!s.threshold, dash: s.dash || null })) });
    }
  }

  // ---------- the program view ----------
  function renderProgram() {
    const box = $("#program"), m = G.manifest, st = m.status;
    G.charts.forEach((c) => c.u.destroy());
    G.charts = [];
    box.replaceChildren(el("h2", { text: "Program " + m.program }));
    const facts = el("dl", { class: "board" },
      el("dt", { text: "current phase" }), el("dd", { text: st.current_phase || "none (all passed)" }),
      el("dt", { text: "runs" }), el("dd", { text: String(st.run_count || 0) }),
      el("dt", { text: "latest run" }), el("dd", {}, st.latest_run ? runLink(st.latest_run) : "none", " ", st.latest_verdict ? el("span", { class: "badge " + st.latest_verdict, text: st.latest_verdict }) : ""),
      el("dt", { text: "last decision" }), el("dd", { text: st.last_decision ? st.last_decision.decision + " on " + st.last_decision.run_id + (st.last_decision.reason ? ": " + st.last_decision.reason : "") : "none" }));
    box.append(facts);
    if (st.stopped) box.append(el("p", { class: "needs", text: "The program is stopped: " + JSON.stringify(st.stopped) }));
    const needs = st.open_needs_input || [];
    const nbox = el("div", { class: needs.length ? "needs" : "muted", id: "needs-input" }, el("h3", { text: "Open needs-input (" + needs.length + ")" }));
    for (const n of needs) nbox.append(el("p", {}, runLink(n.run_id), " phase " + n.phase + ": failed " + (n.failed_gates || []).join(", ") + " — decide with 'gerhard decide " + n.run_id + " waive|advance|rerun|stop'"));
    box.append(nbox);
    const phases = el("table", { class: "cmp board-phases" }, el("thead", {}, el("tr", {}, ...["phase", "title", "state", "runs", "latest", "passed by"].map((h) => el("th", { text: h })))));
    const tb = el("tbody");
    for (const [id, p] of Object.entries({ ...st.phases, ...(st.removed_phases || {}) })) {
      const title = (m.phases.find((x) => x.id === id) || {}).title || p.title || "";
      tb.append(el("tr", { class: id === st.current_phase ? "current" : "" }, el("td", { text: id }), el("td", { text: title }), el("td", {}, el("span", { class: "state " + p.state, text: p.state })),
        el("td", { class: "num", text: String(p.runs || 0) }), el("td", {}, p.latest_run ? runLink(p.latest_run) : "", " ", p.latest_verdict ? el("span", { class: "badge " + p.latest_verdict, text: p.latest_verdict }) : ""), el("td", {}, p.passed_by ? runLink(p.passed_by) : "")));
    }
    phases.append(tb);
    box.append(phases);
    const needIds = new Set(needs.map((n) => n.run_id));
    for (const ph of m.phases.concat(Object.keys(st.removed_phases || {}).map((id) => ({ id, title: "(removed from program.yaml)", gates: [] })))) {
      const rows = G.rows.filter((r) => r.phase === ph.id);
      if (!rows.length) continue;
      const sec = el("section", { class: "phase", "data-phase": ph.id }, el("h3", { text: "Phase " + ph.id + " — " + (ph.title || "") + " (" + rows.length + " runs)" }));
      box.append(sec);
      const decisions = m.decisions.filter((d) => d.phase === ph.id);
      sec.append(strip(rows, decisions, needIds));
      for (const g of ph.gates) gateChart(sec, rows, g, decisions);
    }
  }
  function runLink(id) {
    const a = el("a", { href: "#view=runs&q=" + encodeURIComponent(id), class: "mono", text: id });
    return a;
  }
  function strip(rows, decisions, needIds) {
    const wrap = el("div", { class: "strip-wrap" });
    const canvas = el("canvas", { class: "strip", height: "36", "aria-label": "verdicts over time" });
    wrap.append(canvas, el("p", { class: "muted legend" }, "verdicts in registration order: ", ...["GREEN", "AMBER", "RED"].map((v) => el("span", { class: "badge " + v, text: v })), " ▼ decision, outlined: open needs-input"));
    requestAnimationFrame(() => {
      const w = Math.max(300, wrap.clientWidth), dpr = window.devicePixelRatio || 1;
      canvas.width = w * dpr; canvas.height = 36 * dpr; canvas.style.width = w + "px"; canvas.style.height = "36px";
      const ctx = canvas.getContext("2d");
      ctx.scale(dpr, dpr);
      const bw = w / rows.length, index = new Map(rows.map((r, i) => [r.id, i]));
      rows.forEach((r, i) => { ctx.fillStyle = VERDICT_COLORS[r.verdict] || "#999"; ctx.fillRect(i * bw, 12, Math.max(bw, 1), 22); });
      ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
      rows.forEach((r, i) => { if (needIds.has(r.id)) ctx.strokeRect(i * bw, 12, Math.max(bw, 2), 22); });
      ctx.fillStyle = "#222";
      for (const d of decisions) {
        const i = index.get(d.run_id);
        if (i === undefined) continue;
        const x = i * bw + bw / 2;
        ctx.beginPath(); ctx.moveTo(x - 5, 1); ctx.lineTo(x + 5, 1); ctx.lineTo(x, 10); ctx.fill();
      }
      canvas.dataset.runs = rows.length;
      canvas.dataset.decisions = decisions.filter((d) => index.has(d.run_id)).length;
    });
    return wrap;
  }
  function gateChart(sec, rows, g, decisions) {
    const key = "gates." + g.id;
    const pts = rows.filter((r) => typeof numeric(r[key]) === "number");
    if (!pts.length) return;
    const holder = el("div", { class: "chart", "data-gate": g.id }, el("h4", {}, el("span", { class: "mono", text: g.id }), " — " + (g.description || g.path) + " (" + g.severity + ")"));
    sec.append(holder);
    const xs = pts.map((r) => Date.parse(r.at) / 1000);
    const val = (r) => { const n = numeric(r[key]); return Number.isFinite(n) ? n : null; };
    const lo = pts.map((r) => (r["limit:" + g.id] || [null, null])[0]), hi = pts.map((r) => (r["limit:" + g.id] || [null, null])[1]);
    const dot = (color) => ({ stroke: color, width: 0, points: { show: true, size: 6, fill: color } });
    const series = [{}, { label: "passed", ...dot("#2e9d48") }, { label: "failed", ...dot("#d23b3b") }];
    const data = [xs, pts.map((r) => (r["pass:" + g.id] ? val(r) : null)), pts.map((r) => (r["pass:" + g.id] ? null : val(r)))];
    const stepped = uPlot.paths.stepped({ align: 1 });
    const line = (label) => ({ label, stroke: "#c62828", dash: [2, 4], width: 1, paths: stepped, points: { show: false } });
    if (lo.some((v) => v !== null && v !== undefined)) { data.push(lo); series.push(line("threshold (low)")); }
    if (hi.some((v) => v !== null && v !== undefined) && !hi.every((v, i) => v === lo[i])) { data.push(hi); series.push(line("threshold (high)")); }
    const all = data.slice(1).flat().filter((v) => typeof v === "number" && Number.isFinite(v));
    const ymin = Math.min(...all), ymax = Math.max(...all), pad = (ymax - ymin) * 0.08 || Math.abs(ymax) * 0.05 || 1;
    const xmin = xs[0], xmax = xs[xs.length - 1], xpad = (xmax - xmin) * 0.02 || 86400;
    const scales = { x: { range: () => [xmin - xpad, xmax + xpad] }, y: { range: () => [ymin - pad, ymax + pad] } };
    const at = new Map(rows.map((r) => [r.id, Date.parse(r.at) / 1000]));
    const marks = decisions.map((d) => ({ x: at.get(d.run_id), what: d.decision })).filter((d) => d.x !== undefined);
    const draw = (u) => {
      const ctx = u.ctx;
      ctx.save(); ctx.strokeStyle = "#6a1b9a"; ctx.fillStyle = "#6a1b9a"; ctx.lineWidth = 1; ctx.setLineDash([4, 3]); ctx.font = 11 * devicePixelRatio + "px sans-serif";
      for (const mk of marks) {
        const x = u.valToPos(mk.x, "x", true);
        ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
        ctx.fillText(mk.what, x + 3, u.bbox.top + 12 * devicePixelRatio);
      }
      ctx.restore();
    };
    const u = new uPlot({ width: chartWidth(sec), height: 200, series, scales, hooks: { draw: [draw] }, axes: [{}, { values: axisValues, size: 64 }], legend: { live: true } }, data, holder);
    G.charts.push({ gate: g.id, phase: sec.dataset.phase, u, series: series.slice(1).map((s) => ({ label: s.label, dash: s.dash || null })), decisions: marks.length });
  }

  G.state = S;
})();
