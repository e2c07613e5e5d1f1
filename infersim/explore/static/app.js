// infersim explore: the page. Every number comes from the server's /api (the public API).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { fields: [], knobs: {}, rtFields: [], rtKnobs: {}, uploadedModel: null, uploadedSpec: null, pinned: null,
                inflight: false, pending: false, renders: 0, lastRequest: null };
window.__explore = state; // for tests and the curious

function fmt(x, unit) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  const a = Math.abs(x);
  const pre = [[1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"], [1, ""],
               [1e-3, "m"], [1e-6, "µ"], [1e-9, "n"]];
  for (const [f, p] of pre) if (a >= f) return (x / f).toPrecision(4).replace(/\.?0+$/, "") + " " + p + unit;
  return x.toPrecision(3) + " " + unit;
}

async function api(path, body) {
  const opt = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify(body) };
  const r = await fetch(path, opt);
  const j = await r.json();
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}

function showError(msg) { const e = $("error"); e.textContent = msg || ""; e.hidden = !msg; }

function fill(sel, values, selected) {
  for (const v of values) { const o = document.createElement("option"); o.value = o.textContent = v; sel.appendChild(o); }
  if (selected !== undefined) sel.value = selected;
}

function request() {
  const num = (id) => { const v = $(id).value; return v === "" ? null : Number(v); };
  const scenario = { phase: $("phase").value, batch: num("batch"), tp: num("tp"), pp: num("pp"),
                     ep: num("ep"), weights: $("weights").value,
                     activations: $("activations").value || null, kv: $("kv").value || null };
  if (scenario.phase === "prefill") scenario.prompt = num("prompt"); else scenario.context = num("context");
  const overrides = {};
  for (const [p, k] of Object.entries(state.knobs)) if (k.value !== k.base) overrides[p] = k.value;
  const runtime_knobs = {};
  for (const [n, k] of Object.entries(state.rtKnobs)) if (k.value !== k.base) runtime_knobs[n] = k.value;
  return { model: state.uploadedModel || $("model").value, hw: state.uploadedSpec ? null : $("hw").value,
           hw_yaml: state.uploadedSpec, overrides, runtime: $("runtime").value, runtime_knobs, scenario };
}

// ---------------------------------------------------------------------------------- plots
const LAYOUT = { margin: { l: 60, r: 10, t: 30, b: 45 }, font: { size: 11 } };
const CONFIG = { displaylogo: false, responsive: true };

function drawRoofline(res) {
  const roof = res.roofline, pts = res.ops.filter((o) => o.flops > 0 && o.bytes > 0);
  const xs = pts.map((o) => o.intensity);
  const lo = Math.max(1e-2, Math.min(...xs, 1) / 4), hi = Math.max(...xs, 1e4) * 4;
  const ridge = roof.peak_flops / roof.bandwidth_Bps;
  const lineX = [lo, ridge, hi], lineY = lineX.map((x) => Math.min(roof.peak_flops, roof.bandwidth_Bps * x));
  const total = res.ops.reduce((s, o) => s + o.total_time_s, 0) || 1;
  const kinds = [...new Set(pts.map((o) => o.kind))];
  const traces = kinds.map((k) => {
    const q = pts.filter((o) => o.kind === k);
    return { type: "scatter", mode: "markers", name: k, x: q.map((o) => o.intensity),
             y: q.map((o) => o.achieved_flops), marker: { size: 9 },
             text: q.map((o) => `${o.name} ×${o.count}<br>FLOPs ${fmt(o.flops, "FLOP")}, bytes ${fmt(o.bytes, "B")}` +
                                `<br>bound: ${o.bound}, time ${fmt(o.time_s, "s")}<br>share of step ${(100 * o.total_time_s / total).toFixed(1)}%`),
             hoverinfo: "text" };
  });
  traces.push({ type: "scatter", mode: "lines", name: `roofline (${roof.memory})`, x: lineX, y: lineY,
                line: { color: "#333" }, hoverinfo: "skip" });
  Plotly.react("roofline", traces, { ...LAYOUT, title: { text: `Roofline: ${res.hardware}` },
    xaxis: { type: "log", title: { text: "arithmetic intensity (FLOP/B)" } },
    yaxis: { type: "log", title: { text: "achieved FLOP/s" } }, legend: { font: { size: 9 } } }, CONFIG);
}

function drawBreakdown(res) {
  const b = res.breakdown;
  Plotly.react("breakdown", [
    { type: "bar", name: "time (ms)", x: b.map((r) => r.kind), y: b.map((r) => r.time_s * 1e3), offsetgroup: 1 },
    { type: "bar", name: "energy (J)", x: b.map((r) => r.kind), y: b.map((r) => r.energy_j), yaxis: "y2", offsetgroup: 2 },
  ], { ...LAYOUT, title: { text: "Latency and energy by operator kind" }, barmode: "group",
       yaxis: { title: { text: "time (ms)" } }, yaxis2: { title: { text: "energy (J)" }, overlaying: "y", side: "right" } }, CONFIG);
}

function drawTimeline(res) {
  const sp = res.timeline;
  const kinds = [...new Set(sp.map((s) => s.kind))];
  const traces = kinds.map((k) => {
    const q = sp.filter((s) => s.kind === k);
    return { type: "bar", orientation: "h", name: k, base: q.map((s) => s.start_s * 1e3),
             x: q.map((s) => (s.end_s - s.start_s) * 1e3), y: q.map((s) => `stage ${s.stage} ${s.lane}`),
             text: q.map((s) => s.op), textposition: "none", hoverinfo: "text+x" };
  });
  Plotly.react("timeline", traces, { ...LAYOUT, margin: { ...LAYOUT.margin, l: 130 }, barmode: "overlay",
    title: { text: "Op timeline (ms)" + (res.timeline_truncated ? " — first kernels" : "") },
    xaxis: { title: { text: "time (ms)" } }, showlegend: false }, CONFIG);
}

function render(res) {
  const r = res.result;
  $("latency").textContent = fmt(r.latency_s, "s");
  $("tps").textContent = r.tokens_per_s === null ? "–" : r.tokens_per_s.toFixed(1);
  $("tpsu").textContent = r.tokens_per_s_per_user === null ? "–" : r.tokens_per_s_per_user.toFixed(1);
  $("ept").textContent = fmt(r.energy_per_token_j, "J");
  $("fits").textContent = res.infeasible ? "no" : "yes";
  $("command").textContent = res.command;
  showError(res.infeasible);
  drawRoofline(res); drawBreakdown(res);
  state.renders += 1;
  state.lastRender = performance.now();
}

// The timeline replays the step event by event (slower): fetched after the headline views,
// latest request wins.
async function updateTimeline(req) {
  state.timelineWanted = req;
  if (state.timelineBusy) return;
  state.timelineBusy = true;
  while (state.timelineWanted) {
    const want = state.timelineWanted; state.timelineWanted = null;
    try { drawTimeline(await api("/api/timeline", want)); } catch (e) { /* shown by update() */ }
  }
  state.timelineBusy = false;
}

async function update() {
  if (state.inflight) { state.pending = true; return; }
  state.inflight = true;
  const req = request();
  state.lastRequest = req;
  try {
    $("status").textContent = "computing…";
    const res = await api("/api/evaluate", req);
    render(res);
    $("status").textContent = "ready";
    clearTimeout(state.timelineTimer);  // wait until the knobs rest: the replay is slower
    state.timelineTimer = setTimeout(() => updateTimeline(req), 300);
  } catch (e) { showError(String(e.message || e)); $("status").textContent = "error"; }
  state.inflight = false;
  if (state.pending) { state.pending = false; update(); }
}

// ---------------------------------------------------------------------------------- knobs
function showTip(ev, text) {
  const t = $("tooltip"); t.textContent = text; t.hidden = false;
  t.style.left = Math.min(ev.clientX + 12, window.innerWidth - 470) + "px"; t.style.top = (ev.clientY + 12) + "px";
}
function hideTip() { $("tooltip").hidden = true; }
function withSource(el, source) {
  el.dataset.source = source;
  el.addEventListener("mouseenter", (ev) => showTip(ev, source));
  el.addEventListener("mousemove", (ev) => showTip(ev, source));
  el.addEventListener("mouseleave", hideTip);
}

function addKnob(f) {
  if (state.knobs[f.path] || !(f.value > 0)) return;
  const steps = 64, k = { base: f.value, value: f.value };
  state.knobs[f.path] = k;
  const div = document.createElement("div"); div.className = "knob";
  const name = document.createElement("span"); name.className = "name"; name.textContent = f.path;
  withSource(name, f.source);
  const val = document.createElement("span"); val.className = "val"; val.textContent = f.value;
  const s = document.createElement("input"); s.type = "range"; s.min = 0; s.max = steps; s.value = steps / 2;
  s.dataset.path = f.path; s.title = "¼× to 4× of the spec value";
  s.addEventListener("input", () => {
    const v = f.value * Math.pow(2, (Number(s.value) - steps / 2) / (steps / 4));
    k.value = Number.isInteger(f.value) && f.value >= 8 ? Math.max(1, Math.round(v)) : Number(v.toPrecision(4));
    val.textContent = k.value; update();
  });
  div.append(name, val, s); $("knobs").appendChild(div);
}

// the constants of the chosen runtime's profile (`infersim runtimes show`), each a number box
async function loadRuntime() {
  state.rtKnobs = {}; $("rt-knobs").textContent = "";
  const sel = $("add-rt-knob"); sel.length = 1;
  if (state.uploadedSpec) return;
  const { knobs } = await api("/api/runtime?hw=" + encodeURIComponent($("hw").value) +
                              "&runtime=" + encodeURIComponent($("runtime").value));
  state.rtFields = knobs;
  for (const f of knobs) {
    const o = document.createElement("option"); o.value = f.knob; o.textContent = f.knob + " = " + f.value;
    sel.appendChild(o);
  }
}

function addRuntimeKnob(f) {
  if (state.rtKnobs[f.knob]) return;
  const k = { base: f.value, value: f.value };
  state.rtKnobs[f.knob] = k;
  const div = document.createElement("div"); div.className = "knob";
  const name = document.createElement("span"); name.className = "name"; name.textContent = f.knob;
  withSource(name, f.meaning || "a constant of the runtime's profile");
  const box = document.createElement("input"); box.type = "number"; box.step = "any"; box.value = f.value;
  box.dataset.knob = f.knob; box.title = "as --runtime-set " + f.knob + "=VALUE";
  box.addEventListener("change", () => {
    const v = Number(box.value);
    if (box.value !== "" && Number.isFinite(v)) { k.value = v; update(); }
  });
  div.append(name, box); $("rt-knobs").appendChild(div);
}

async function loadSpec() {
  state.knobs = {}; $("knobs").textContent = "";
  const sel = $("add-knob"); sel.length = 1;
  const body = $("spec").tBodies[0]; body.textContent = "";
  if (state.uploadedSpec) return;
  const { fields, knobs, runtimes } = await api("/api/spec?hw=" + encodeURIComponent($("hw").value));
  // the software this kind runs; "" = its default (graph on GPUs, the newest compiled profile)
  const rt = $("runtime"), keep = rt.value;
  rt.length = 0;
  fill(rt, ["", ...runtimes], runtimes.includes(keep) ? keep : "");
  rt.options[0].textContent = "(the kind's default)";
  state.fields = fields;
  for (const f of fields) {
    const tr = body.insertRow(); tr.insertCell().textContent = f.path;
    const td = tr.insertCell(); td.className = "v"; td.textContent = f.value; withSource(td, f.source);
    const o = document.createElement("option"); o.value = o.textContent = f.path; sel.appendChild(o);
  }
  for (const path of knobs) { const f = fields.find((x) => x.path === path); if (f) addKnob(f); }
}

// ------------------------------------------------------------------------ serving, compare
async function serving() {
  $("status").textContent = "simulating serving…";
  try {
    const res = await api("/api/serving", { ...request(), output: 128 });
    const p = res.points, x = p.map((q) => q.rate);
    Plotly.react("serving", [
      { name: "TTFT p50", x, y: p.map((q) => q.ttft_p50_s) }, { name: "TTFT p99", x, y: p.map((q) => q.ttft_p99_s) },
      { name: "TPOT p50", x, y: p.map((q) => q.tpot_p50_s), yaxis: "y2" },
      { name: "TPOT p99", x, y: p.map((q) => q.tpot_p99_s), yaxis: "y2" },
      { name: "SLO TTFT 2 s", x: [x[0], x[x.length - 1]], y: [2, 2], mode: "lines", line: { dash: "dash" } },
      { name: "SLO TPOT 0.1 s", x: [x[0], x[x.length - 1]], y: [0.1, 0.1], mode: "lines", line: { dash: "dot" }, yaxis: "y2" },
    ], { ...LAYOUT, title: { text: `Latency vs load (capacity ≈ ${res.capacity_req_s.toFixed(2)} req/s)` },
         xaxis: { title: { text: "offered load (req/s)" } }, yaxis: { type: "log", title: { text: "TTFT (s)" } },
         yaxis2: { type: "log", title: { text: "TPOT (s)" }, overlaying: "y", side: "right" } }, CONFIG);
    $("status").textContent = "ready";
  } catch (e) { showError(String(e.message || e)); }
}

async function compare() {
  try {
    const res = await api("/api/compare", { a: state.pinned, b: request() });
    const rows = res.spec_diff.map((d) => `<tr><td>${esc(d.path)}</td><td>${esc(d.a)}</td><td>${esc(d.b)}</td></tr>`).join("");
    const keys = Object.keys(res.a);
    const rr = keys.map((k) => `<tr><td>${k}</td><td>${esc(res.a[k])}</td><td>${esc(res.b[k])}</td></tr>`).join("");
    $("compare-out").innerHTML = `<table class="cmp"><tr><th>field</th><th>A</th><th>B</th></tr>${rows}${rr}</table>`;
  } catch (e) { showError(String(e.message || e)); }
}

function esc(v) { return String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }

async function pareto() {
  const res = await api("/api/pareto");
  if (!res.rows.length) return;
  $("pareto").hidden = false;
  const x = res.x, y = res.y, rows = res.rows, f = res.front;
  Plotly.react("pareto", [
    { type: "scatter", mode: "markers", name: "design points", x: rows.map((r) => r[x]), y: rows.map((r) => r[y]),
      marker: { color: "#9ab" } },
    { type: "scatter", mode: "lines+markers", name: "Pareto front", x: f.map((i) => rows[i][x]), y: f.map((i) => rows[i][y]),
      customdata: f, marker: { color: "#c33", size: 9 } },
  ], { ...LAYOUT, title: { text: "Sweep results: click a point to open it" },
       xaxis: { title: { text: x } }, yaxis: { title: { text: y } } }, CONFIG);
  $("pareto").on("plotly_click", (ev) => {
    const p = ev.points[0], row = rows[p.curveNumber === 1 ? p.customdata : p.pointIndex];
    $("pareto-point").innerHTML = `<table class="cmp">${Object.entries(row).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("")}</table>`;
  });
}

function download(name, text, type) {
  const a = document.createElement("a"); a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name; a.click(); setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// ----------------------------------------------------------------------------------- init
async function init() {
  const cat = await api("/api/catalog");
  fill($("model"), cat.models, "llama-3.1-8b"); fill($("hw"), cat.hardware, "h100-sxm");
  fill($("phase"), ["decode", "prefill"], "decode");
  for (const sel of document.querySelectorAll("select.dtype")) fill(sel, cat.dtypes);
  $("weights").value = "bf16";
  for (const id of ["model", "phase", "batch", "context", "prompt", "tp", "pp", "ep", "weights", "activations", "kv"])
    $(id).addEventListener("change", update);
  $("hw").addEventListener("change", async () => { state.uploadedSpec = null; await loadSpec(); await loadRuntime(); update(); });
  $("runtime").addEventListener("change", async () => { await loadRuntime(); update(); });
  $("add-rt-knob").addEventListener("change", (e) => { const f = state.rtFields.find((x) => x.knob === e.target.value); if (f) addRuntimeKnob(f); e.target.value = ""; });
  $("add-knob").addEventListener("change", (e) => { const f = state.fields.find((x) => x.path === e.target.value); if (f) addKnob(f); e.target.value = ""; });
  $("model-file").addEventListener("change", async (e) => {
    try { state.uploadedModel = JSON.parse(await e.target.files[0].text()); update(); }
    catch (err) { showError("config.json: " + err.message); }
  });
  $("hw-file").addEventListener("change", async (e) => { state.uploadedSpec = await e.target.files[0].text(); await loadSpec(); await loadRuntime(); update(); });
  $("pin").addEventListener("click", () => { state.pinned = request(); $("compare").disabled = false; });
  $("compare").addEventListener("click", compare);
  $("serving-go").addEventListener("click", serving);
  $("png").addEventListener("click", () => Plotly.downloadImage("roofline", { format: "png", filename: "roofline" }));
  $("svg").addEventListener("click", () => Plotly.downloadImage("roofline", { format: "svg", filename: "roofline" }));
  $("yaml").addEventListener("click", async () => {
    try { const d = await api("/api/design", request()); download("design.yaml", d.yaml, "text/yaml"); }
    catch (e) { showError(String(e.message || e)); }
  });
  await loadSpec();
  await loadRuntime();
  await update();
  pareto().catch(() => {});
}

init().catch((e) => showError(String(e.message || e)));
