/* Helio fleet dashboard: fleet, site and models pages drawn from the JSON API.
 * No framework and nothing from the network but this server: charts are SVG built here.
 * Live updates: server-sent events (/api/events) trigger a refresh; polling every
 * 30 s as well (gateway states change with time alone) and as the fallback. */
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const state = { sort: { key: "site", dir: 1 }, days: 2, timer: null, busy: false, again: false, clips: 0 };

// ------------------------------------------------------------------ helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  return node;
}

const pad = (n) => String(n).padStart(2, "0");
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function fmtTime(t) {
  if (t === null || t === undefined) return "–";
  const d = new Date(t * 1000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

function fmtAgo(s) {
  if (s === null || s === undefined) return "never";
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
    if (s >= size) return `${Math.round(s / size)}${unit} ago`;
  }
  return `${Math.round(s)}s ago`;
}

const fmtNum = (x, digits = 0) => (x === null || x === undefined || Number.isNaN(x)) ? "–" :
  Number(x).toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const fmtPct = (x) => (x === null || x === undefined) ? "–" : `${(100 * x).toFixed(1)}%`;
const fmtSkill = (x) => (x === null || x === undefined) ? "–" : (x >= 0 ? "+" : "") + x.toFixed(2);
const slug = (s) => String(s).toLowerCase().replace(/[^a-z0-9]+/g, "-");

async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  if (!r.ok) {
    let msg = `${r.status} ${r.statusText}`;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r.json();
}

function chip(text, cls, attrs) { return el("span", { class: `chip ${cls || ""}`, ...attrs }, text); }

function rolloutChip(ro) {
  if (!ro || ro.state === "idle") return chip("idle", "rollout-idle", { "data-rollout": "idle" });
  let text = ro.state;
  if (ro.state === "shadow" && ro.candidate) text = `shadow: ${ro.candidate}`;
  return chip(text, `rollout-${slug(ro.state)}`, { "data-rollout": ro.state, title: ro.message || "" });
}

// ---------------------------------------------------------------- charts

function niceStep(span, n) {
  const raw = span / Math.max(n, 1);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

const TIME_STEPS = [900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

/**
 * An SVG chart sized to its container.
 * spec: {unit, x0, x1, y0?, y1?, now?, series: [{kind: "line"|"band", cls, label,
 *        points: [[t, y]] | [[t, lo, hi]]}]}
 */
function chart(spec) {
  const box = el("div", { class: "chart" });
  const draw = () => {
    const W = Math.max(280, Math.floor(box.clientWidth || 600));
    const H = W < 500 ? 190 : 230;
    const m = { l: 46, r: 10, t: 8, b: 24 };
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
      "aria-label": spec.label || "chart" });
    const vals = [];
    for (const s of spec.series) for (const p of s.points) {
      for (const v of p.slice(1)) if (v !== null && v !== undefined && Number.isFinite(v)) vals.push(v);
    }
    const x0 = spec.x0, x1 = Math.max(spec.x1, spec.x0 + 1);
    if (!vals.length) {
      root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty",
        text: spec.empty || "no data yet" }));
      box.replaceChildren(root);
      return;
    }
    let y0 = spec.y0 !== undefined ? spec.y0 : Math.min(0, ...vals);
    let y1 = spec.y1 !== undefined ? spec.y1 : Math.max(...vals);
    if (y1 <= y0) y1 = y0 + 1;
    const ystep = niceStep(y1 - y0, 4);
    y0 = Math.floor(y0 / ystep) * ystep;
    y1 = Math.ceil(y1 / ystep) * ystep;
    const X = (t) => m.l + (t - x0) / (x1 - x0) * (W - m.l - m.r);
    const Y = (v) => H - m.b - (v - y0) / (y1 - y0) * (H - m.t - m.b);
    // series are clipped to the plot area (a fixed y range, e.g. skill in [-1, 1])
    const clipId = `clip${++state.clips}`;
    const clip = svg("clipPath", { id: clipId });
    clip.append(svg("rect", { x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b }));
    const defs = svg("defs", {});
    defs.append(clip);
    root.append(defs);
    const plot = svg("g", { "clip-path": `url(#${clipId})` });
    // y grid and labels
    for (let v = y0; v <= y1 + ystep / 2; v += ystep) {
      root.append(svg("line", { x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v), class: "grid" }));
      root.append(svg("text", { x: m.l - 5, y: Y(v) + 4, "text-anchor": "end", class: "tick",
        text: fmtNum(v, Math.abs(ystep) < 1 ? 2 : 0) }));
    }
    if (spec.unit) root.append(svg("text", { x: m.l - 5, y: m.t + 2, "text-anchor": "end",
      class: "tick", text: "", "data-unit": spec.unit }));
    // time ticks (UTC)
    const maxTicks = Math.max(2, Math.floor((W - m.l - m.r) / 80));
    const tstep = TIME_STEPS.find((s) => (x1 - x0) / s <= maxTicks) || 604800;
    for (let t = Math.ceil(x0 / tstep) * tstep; t <= x1; t += tstep) {
      const d = new Date(t * 1000);
      const label = (d.getUTCHours() === 0 && d.getUTCMinutes() === 0) || tstep >= 86400
        ? `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}` : `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
      root.append(svg("line", { x1: X(t), x2: X(t), y1: m.t, y2: H - m.b, class: "grid" }));
      root.append(svg("text", { x: X(t), y: H - 6, "text-anchor": "middle", class: "tick", text: label }));
    }
    root.append(svg("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: "axis" }));
    root.append(plot);
    // series
    for (const s of spec.series) {
      const pts = s.points.filter((p) => p[0] >= x0 && p[0] <= x1);
      if (!pts.length) continue;
      if (s.kind === "band") {
        const ok = pts.filter((p) => Number.isFinite(p[1]) && Number.isFinite(p[2]));
        if (!ok.length) continue;
        const up = ok.map((p) => `${X(p[0]).toFixed(1)},${Y(p[2]).toFixed(1)}`);
        const down = ok.slice().reverse().map((p) => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`);
        plot.append(svg("polygon", { points: up.concat(down).join(" "), class: s.cls,
          "data-series": s.id || s.cls, "data-n": ok.length }));
      } else {
        // a gap longer than 3 samples' spacing breaks the line
        const gap = (s.gap || 0);
        let d = "", prev = null;
        for (const p of pts) {
          if (!Number.isFinite(p[1])) { prev = null; continue; }
          const cmd = (prev === null || (gap && p[0] - prev > gap)) ? "M" : "L";
          d += `${cmd}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`;
          prev = p[0];
        }
        if (d) plot.append(svg("path", { d, class: s.cls, "data-series": s.id || s.cls, "data-n": pts.length }));
      }
    }
    if (spec.now !== undefined && spec.now >= x0 && spec.now <= x1) {
      root.append(svg("line", { x1: X(spec.now), x2: X(spec.now), y1: m.t, y2: H - m.b, class: "now" }));
    }
    box.replaceChildren(root);
  };
  box._draw = draw;
  requestAnimationFrame(draw);
  return box;
}

function legend(items) {
  return el("ul", { class: "legend" }, items.map(([cls, label]) => el("li", {}, el("i", { class: cls }), label)));
}

window.addEventListener("resize", () => {
  clearTimeout(state.resize);
  state.resize = setTimeout(() => document.querySelectorAll(".chart").forEach((c) => c._draw && c._draw()), 150);
});

// ---------------------------------------------------------------- fleet

const FLEET_COLS = [
  { key: "site", label: "Site" },
  { key: "gateway", label: "Gateway", opt: true },
  { key: "state", label: "State" },
  { key: "last_seen_ago_s", label: "Last seen", num: true },
  { key: "received", label: "Received", num: true, opt: true },
  { key: "lost", label: "Lost", num: true, opt: true },
  { key: "loss", label: "Loss", num: true },
  { key: "duplicates", label: "Dup", num: true, opt: true },
  { key: "model_version", label: "Model", opt: true },
  { key: "rollout", label: "Rollout", opt: true },
  { key: "skill_7d", label: "Skill 7d", num: true },
  { key: "open_alerts", label: "Alerts", num: true },
];

function sortValue(row, key) {
  const v = key === "rollout" ? (row.rollout || {}).state : row[key];
  return v === null || v === undefined ? null : v;
}

function sortRows(rows) {
  const { key, dir } = state.sort;
  return rows.slice().sort((a, b) => {
    const va = sortValue(a, key), vb = sortValue(b, key);
    if (va === vb) return (a.site + a.gateway).localeCompare(b.site + b.gateway);
    if (va === null) return 1;
    if (vb === null) return -1;
    return (typeof va === "number" ? va - vb : String(va).localeCompare(String(vb))) * dir;
  });
}

function fleetCell(row, col) {
  const attrs = { "data-col": col.key, class: (col.num ? "num " : "") + (col.opt ? "opt" : "") };
  switch (col.key) {
    case "site": return el("td", attrs, el("a", { href: `#/site/${encodeURIComponent(row.site)}` }, row.site));
    case "state": return el("td", attrs, chip(row.state, `state-${row.state}`));
    case "last_seen_ago_s": return el("td", { ...attrs, title: fmtTime(row.last_seen) }, fmtAgo(row.last_seen_ago_s));
    case "loss": return el("td", { ...attrs, class: attrs.class + (row.loss > 0.01 ? " bad" : "") }, fmtPct(row.loss));
    case "rollout": return el("td", attrs, rolloutChip(row.rollout));
    case "skill_7d": return el("td", { ...attrs, class: attrs.class + (row.skill_7d < 0 ? " bad" : row.skill_7d > 0 ? " good" : "") }, fmtSkill(row.skill_7d));
    case "open_alerts": return el("td", { ...attrs, class: attrs.class + (row.open_alerts ? " bad" : "") }, String(row.open_alerts));
    case "model_version": return el("td", attrs, row.model_version || "–");
    default: return el("td", attrs, typeof row[col.key] === "number" ? fmtNum(row[col.key]) : row[col.key]);
  }
}

async function renderFleet(main) {
  const data = await getJSON("/api/fleet");
  const rows = sortRows(data.gateways);
  const counts = {};
  for (const r of data.gateways) counts[r.state] = (counts[r.state] || 0) + 1;
  const head = el("tr", {}, FLEET_COLS.map((c) => el("th", {
    "data-sort": c.key, class: (c.num ? "num " : "") + (c.opt ? "opt" : ""), scope: "col",
    "aria-sort": state.sort.key === c.key ? (state.sort.dir > 0 ? "ascending" : "descending") : null,
    onclick: () => {
      state.sort = { key: c.key, dir: state.sort.key === c.key ? -state.sort.dir : 1 };
      refresh();
    },
  }, c.label)));
  const body = el("tbody", {}, rows.map((r) => el("tr", {
    "data-site": r.site, "data-gateway": r.gateway, "data-state": r.state,
  }, FLEET_COLS.map((c) => fleetCell(r, c)))));
  document.title = "Helio fleet";
  main.replaceChildren(
    el("h1", {}, "Fleet"),
    el("div", { class: "summary", id: "fleet-summary" },
      chip(`${data.gateways.length} gateways`, ""),
      ["online", "silent", "offline", "unknown"].filter((s) => counts[s]).map((s) =>
        chip(`${counts[s]} ${s}`, `state-${s}`, { "data-count": s })),
    ),
    el("div", { class: "card scroll" },
      data.gateways.length ? el("table", { id: "fleet" }, el("thead", {}, head), body)
        : el("p", { class: "muted", id: "fleet-empty" }, "No gateway has reported yet.")),
  );
}

// ----------------------------------------------------------------- site

function table(id, cols, rows, empty) {
  if (!rows.length) return el("p", { class: "muted", id: `${id}-empty` }, empty);
  return el("div", { class: "scroll" }, el("table", { id },
    el("thead", {}, el("tr", {}, cols.map(([label, , num]) => el("th", { class: num ? "num" : "" }, label)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, cols.map(([, f, num]) => el("td", { class: num ? "num" : "" }, f(r))))))));
}

function skillTable(skill) {
  // horizon x (live, shadow) over the window
  const byH = new Map();
  for (const w of skill.window) {
    const slot = byH.get(w.horizon_min) || { live: [], shadow: [] };
    slot[w.shadow ? "shadow" : "live"].push(w);
    byH.set(w.horizon_min, slot);
  }
  const pick = (ws) => ws.slice().sort((a, b) => b.n - a.n)[0];
  const rows = [...byH.entries()].sort((a, b) => a[0] - b[0]).map(([h, s]) => ({ h, live: pick(s.live), shadow: pick(s.shadow) }));
  const cell = (w) => w ? `${fmtSkill(w.skill)} (${w.n})` : "–";
  return table("skill", [
    ["Horizon", (r) => `${r.h} min`],
    ["Live skill (n)", (r) => cell(r.live), true],
    ["Live model", (r) => r.live ? (r.live.version || r.live.model_sha.slice(0, 8)) : "–"],
    ["Shadow skill (n)", (r) => cell(r.shadow), true],
    ["Shadow model", (r) => r.shadow ? (r.shadow.version || r.shadow.model_sha.slice(0, 8)) : "–"],
  ], rows, "No scored forecast yet (a period is scored once its telemetry has arrived).");
}

function fmtEnergy(q) {
  if (!q) return "–";
  return `${fmtNum(q.p50)} Wh (P10 ${fmtNum(q.p10)}, P90 ${fmtNum(q.p90)})`;
}

function fmtDuration(s) {
  if (s === null || s === undefined) return "–";
  const sign = s < 0 ? "−" : "";
  const m = Math.round(Math.abs(s) / 60);
  return m >= 60 ? `${sign}${Math.floor(m / 60)} h ${pad(m % 60)} min` : `${sign}${m} min`;
}

/** The newest plan's SOC fan (P10–P90, P50) with the measured SOC over it, the reserve
 * line and how earlier plans did (P50 3 h ahead), plus its figures and metrics. */
function planCard(plan) {
  const p = plan.latest;
  if (!p) {
    return el("section", { class: "card", id: "plan-card" }, el("h2", {}, "Energy plan"),
      el("p", { class: "muted", id: "plan-empty" }, "No plan received yet."));
  }
  const t = p.times;
  const zip = (...cols) => t.map((x, i) => [x, ...cols.map((c) => c[i])]);
  const x0 = p.issued - 24 * 3600;
  const x1 = Math.max(p.horizon_end, ...plan.measured.map((m) => m[0]));
  const fan = chart({ label: "Battery SOC plan", unit: "%", x0, x1, y0: 0, y1: 100, now: p.issued,
    series: [
      { kind: "band", cls: "s-fan", id: "plan-band", points: zip(p.soc.p10, p.soc.p90) },
      { kind: "line", cls: "s-fan-p50", id: "plan-p50", points: zip(p.soc.p50) },
      { kind: "line", cls: "s-reserve", id: "plan-reserve", points: [[x0, p.reserve], [x1, p.reserve]] },
      // when P10 SOC reaches the reserve: a vertical mark
      { kind: "line", cls: "s-reserve-at", id: "plan-reserve-at",
        points: p.reserve_at ? [[p.reserve_at, 0], [p.reserve_at, 100]] : [] },
      { kind: "line", cls: "s-past", id: "plan-past", points: plan.past.map((r) => [r[0], r[1]]), gap: 3 * 900 },
      { kind: "line", cls: "s-soc", id: "plan-measured", points: plan.measured, gap: 3 * 900 },
    ] });
  const bal = p.balance_to_sunrise_wh;
  const night = bal ? (bal.p50 < 0 ? `deficit ${fmtEnergy({ p10: -bal.p10, p50: -bal.p50, p90: -bal.p90 })}`
    : `surplus ${fmtEnergy(bal)}`) : "–";
  const facts = el("dl", { class: "facts", id: "plan-facts" },
    el("dt", {}, "Issued"), el("dd", { "data-fact": "issued" }, fmtTime(p.issued)),
    el("dt", {}, "Reserve"), el("dd", { "data-fact": "reserve" }, `${fmtNum(p.reserve)} %`),
    el("dt", {}, "Reserve reached (P10)"), el("dd", { "data-fact": "reserve-at" }, p.reserve_at ? fmtTime(p.reserve_at) : "not within the plan"),
    el("dt", {}, "Reserve reached (P50)"), el("dd", { "data-fact": "reserve-at-p50" }, p.reserve_at_p50 ? fmtTime(p.reserve_at_p50) : "not within the plan"),
    el("dt", {}, "Until next sunrise"), el("dd", { "data-fact": "night" }, `${night} (sunrise ${fmtTime(p.next_sunrise)})`),
    el("dt", {}, "Surplus today"), el("dd", { "data-fact": "surplus" }, fmtEnergy(p.surplus_today_wh)),
    el("dt", {}, "Methods"), el("dd", {}, `load ${p.load_method || "–"}, PV ${p.pv_method || "–"}, spread ${p.spread_source || "–"}`),
  );
  const rows = plan.horizons.slice().sort((a, b) => a.horizon_min - b.horizon_min);
  const metrics = table("plan-metrics", [
    ["Horizon", (r) => `${r.horizon_min / 60} h`],
    ["SOC MAE [%-pt] (n)", (r) => r.soc_mae === null ? "–" : `${(100 * r.soc_mae).toFixed(1)} (${r.n_soc})`, true],
    ["P10–P90 coverage", (r) => r.coverage === null ? "–" : r.coverage.toFixed(2), true],
    ["Load MAE [W]", (r) => fmtNum(r.load_mae), true],
    ["Yesterday's MAE [W]", (r) => fmtNum(r.load_mae_persistence), true],
    ["Load skill (n)", (r) => r.load_skill === null ? "–" : `${fmtSkill(r.load_skill)} (${r.n_load})`, true],
  ], rows, "No plan scored yet (a plan is scored once its 24 hours have passed).");
  const reserve = table("plan-reserve", [
    ["Plans judged", (r) => fmtNum(r.n), true],
    ["Reserve time error P10 (n)", (r) => `${fmtDuration(r.mae_s)} (${r.both})`, true],
    ["P50 (n)", (r) => `${fmtDuration(r.mae_p50_s)} (${r.both_p50})`, true],
    ["False alarms P10", (r) => fmtNum(r.false_alarms), true],
    ["Misses P10", (r) => fmtNum(r.misses), true],
  ], plan.reserve, "No plan judged on its reserve yet.");
  return el("section", { class: "card", id: "plan-card" },
    el("h2", {}, "Energy plan: battery SOC [%], plan vs measured"), fan,
    legend([["s-fan", "P10–P90 of the newest plan"], ["s-fan-p50", "P50"], ["s-soc", "measured SOC"],
      ["s-reserve", "reserve (mark: P10 reaches it)"], ["s-past", "earlier plans, P50 3 h ahead"]]),
    facts, el("h3", {}, "Plan accuracy (7 days)"), metrics, reserve);
}

function dayButtons() {
  return el("div", { class: "toolbar" }, el("span", { class: "muted" }, "History:"),
    [1, 2, 7, 30].map((d) => el("button", {
      "aria-pressed": String(state.days === d), "data-days": d,
      onclick: () => { state.days = d; refresh(); },
    }, `${d} d`)));
}

async function renderSite(main, site) {
  const data = await getJSON(`/api/site/${encodeURIComponent(site)}?days=${state.days}`);
  document.title = `${site} · Helio`;
  const x0 = data.since;
  const latest = data.pv.latest.points;
  const x1 = Math.max(data.until, ...latest.map((p) => p[0]));
  const gap = 3 * data.bucket_s;
  const h = data.band_horizon_min;
  const pv = chart({
    label: "PV power", unit: "W", x0, x1, now: data.until, series: [
      { kind: "band", cls: "s-band", id: "pv-band", points: data.pv.band.map((p) => [p[0], p[1], p[3]]) },
      { kind: "line", cls: "s-p50", id: "pv-p50", points: data.pv.band.map((p) => [p[0], p[2]]), gap: 3 * 3600 },
      { kind: "band", cls: "s-band-now", id: "pv-latest-band", points: latest.map((p) => [p[0], p[1], p[3]]) },
      { kind: "line", cls: "s-p50-now", id: "pv-latest-p50", points: latest.map((p) => [p[0], p[2]]) },
      { kind: "line", cls: "s-measured", id: "pv-measured", points: data.pv.measured, gap },
    ],
  });
  const ghiLatest = data.ghi.latest.points;
  const ghi = chart({
    label: "GHI", unit: "W/m²", x0, x1, now: data.until, series: [
      { kind: "band", cls: "s-band", id: "ghi-band", points: data.ghi.band.map((p) => [p[0], p[1], p[3]]) },
      { kind: "line", cls: "s-p50", id: "ghi-p50", points: data.ghi.band.map((p) => [p[0], p[2]]), gap: 3 * 3600 },
      { kind: "band", cls: "s-band-now", id: "ghi-latest-band", points: ghiLatest.map((p) => [p[0], p[1], p[3]]) },
      { kind: "line", cls: "s-p50-now", id: "ghi-latest-p50", points: ghiLatest.map((p) => [p[0], p[2]]) },
      { kind: "line", cls: "s-measured", id: "ghi-measured", points: data.ghi.measured, gap },
    ],
  });
  const soc = chart({ label: "Battery SOC", unit: "%", x0, x1: data.until, y0: 0, y1: 100,
    empty: "no battery state of charge reported",
    series: [{ kind: "line", cls: "s-soc", id: "soc", points: data.battery.soc, gap }] });
  const bat = chart({ label: "Battery power", unit: "W", x0, x1: data.until,
    empty: "no battery power reported",
    series: [{ kind: "line", cls: "s-bat", id: "battery-power", points: data.battery.power, gap }] });
  const horizons = [...new Set(data.skill.series.map((s) => s.horizon_min))].sort((a, b) => a - b);
  const skillChart = chart({ label: "Skill by horizon", x0, x1: data.until, y0: -1, y1: 1,
    empty: "no scored forecast yet",
    series: data.skill.series.map((s) => ({
      kind: "line", cls: `${s.shadow ? "s-shadow" : "s-live"} h${horizons.indexOf(s.horizon_min) % 6}`,
      id: `skill-${s.horizon_min}-${s.shadow ? "shadow" : "live"}`,
      points: s.points.map((p) => [p[0], p[1]]), gap: 3 * data.skill.bucket_s,
    })) });
  const gw = data.gateways;
  main.replaceChildren(
    el("p", {}, el("a", { href: "#/" }, "← Fleet")),
    el("h1", { id: "site-title", "data-site": site }, `Site ${site}`),
    el("div", { class: "summary", id: "site-summary" }, gw.map((g) => [
      chip(`${g.gateway}: ${g.state}`, `state-${g.state}`, { "data-gateway": g.gateway, "data-state": g.state }),
      chip(`model ${g.model_version || "–"}`, ""), rolloutChip(g.rollout),
      chip(`skill 7d ${fmtSkill(g.skill_7d)}`, ""), chip(`loss ${fmtPct(g.loss)}`, ""),
      Object.entries(g.devices).map(([d, s]) => chip(`${d} ${s.connected ? (s.stale ? "stale" : "ok") : "down"}`,
        s.connected && !s.stale ? "state-online" : "state-offline", { "data-device": d })),
    ])),
    dayButtons(),
    el("div", { class: "grid" },
      el("section", { class: "card", id: "pv-card" },
        el("h2", {}, "PV power [W]: measured vs forecast"), pv,
        legend([["s-measured", "measured"], ["s-band", `P10–P90, ${h ?? "–"} min ahead`],
          ["s-p50", "P50"], ["s-band-now", "newest forecast (next 3 h)"]])),
      el("section", { class: "card", id: "ghi-card" },
        el("h2", {}, "GHI [W/m²]"), ghi,
        legend([data.ghi.measured.length ? ["s-measured", "measured (pyranometer)"] : ["", "no pyranometer: forecast only"],
          ["s-band", `P10–P90, ${h ?? "–"} min ahead`], ["s-band-now", "newest forecast"]])),
      el("section", { class: "card", id: "soc-card" },
        el("h2", {}, `Battery state of charge [%]${data.battery.device ? ` (${data.battery.device})` : ""}`), soc),
      el("section", { class: "card", id: "battery-card" },
        el("h2", {}, "Battery power [W] (+ charging)"), bat),
    ),
    planCard(data.plan),
    el("section", { class: "card", id: "skill-card" },
      el("h2", {}, "Skill against smart persistence by horizon: live and shadow"), skillChart,
      legend(horizons.map((hz, i) => [`h${i % 6}`, `${hz} min`]).concat([["", "solid: live, dashed: shadow"]])),
      skillTable(data.skill)),
    el("div", { class: "grid" },
      el("section", { class: "card", id: "alerts-card" }, el("h2", {}, "Alerts"),
        table("alerts", [
          ["Raised", (a) => fmtTime(a.raised)], ["Level", (a) => a.level], ["Code", (a) => a.code],
          ["Device", (a) => a.device], ["Cleared", (a) => a.cleared ? fmtTime(a.cleared) : "open"],
          ["Message", (a) => a.message],
        ], data.alerts, "No alert.")),
      el("section", { class: "card", id: "rollout-card" }, el("h2", {}, "Rollout events"),
        table("rollout", [
          ["Time", (e) => fmtTime(e.ts)], ["Gateway", (e) => e.device], ["Event", (e) => e.code],
          ["Message", (e) => e.message],
        ], data.rollout, "No model change yet.")),
    ),
    el("p", { class: "muted" }, `Window ${fmtTime(data.since)} – ${fmtTime(data.until)} (ends at the newest reading), ${data.bucket_s / 60}-minute means.`),
  );
}

// ---------------------------------------------------------------- models

async function renderModels(main) {
  const data = await getJSON("/api/models");
  document.title = "Models · Helio";
  main.replaceChildren(
    el("h1", {}, "Models"),
    el("section", { class: "card", id: "running-card" }, el("h2", {}, "Which model runs where"),
      table("running", [
        ["Site", (r) => el("a", { href: `#/site/${encodeURIComponent(r.site)}` }, r.site)],
        ["Gateway", (r) => r.gateway], ["Version", (r) => r.version || "–"],
        ["SHA-256", (r) => (r.sha256 || "").slice(0, 12)],
        ["Blessed", (r) => r.blessed === null ? "–" : r.blessed ? "yes" : "no"],
        ["Rollout", (r) => rolloutChip(r.rollout)],
      ], data.running, "No gateway has reported its model yet.")),
    el("section", { class: "card", id: "results-card" }, el("h2", {}, "Live and shadow results (7 days, all horizons)"),
      table("results", [
        ["Site", (r) => r.site], ["Version", (r) => r.version || r.model_sha.slice(0, 8)],
        ["Role", (r) => r.shadow ? "shadow" : "live"], ["Periods", (r) => fmtNum(r.n), true],
        ["RMSE [W]", (r) => fmtNum(r.rmse, 1), true],
        ["Persistence RMSE [W]", (r) => fmtNum(r.rmse_persistence, 1), true],
        ["Skill", (r) => fmtSkill(r.skill), true],
      ], data.results, "Nothing scored yet.")),
    el("section", { class: "card", id: "history-card" }, el("h2", {}, "Promotion and rollback history"),
      table("history", [
        ["Time", (e) => fmtTime(e.ts)], ["Site", (e) => e.site], ["Gateway", (e) => e.device],
        ["Event", (e) => e.code], ["Message", (e) => e.message],
      ], data.history, "No model change yet.")),
  );
}

// --------------------------------------------------------------- routing

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const m = hash.match(/^\/site\/(.+)$/);
  if (m) return { page: "site", site: decodeURIComponent(m[1]) };
  if (hash === "/models") return { page: "models" };
  return { page: "fleet" };
}

async function refresh() {
  if (state.busy) { state.again = true; return; }
  state.busy = true;
  const main = document.getElementById("main");
  const r = route();
  document.querySelectorAll("nav a[data-nav]").forEach((a) =>
    a.classList.toggle("current", a.dataset.nav === r.page));
  try {
    if (r.page === "site") await renderSite(main, r.site);
    else if (r.page === "models") await renderModels(main);
    else await renderFleet(main);
    document.body.dataset.page = r.page;
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
    const now = new Date();
    document.getElementById("updated").textContent =
      `updated ${pad(now.getUTCHours())}:${pad(now.getUTCMinutes())}:${pad(now.getUTCSeconds())}`;
  } catch (err) {
    main.replaceChildren(el("p", { class: "error", id: "error" }, `Could not load: ${err.message}`));
  } finally {
    state.busy = false;
    if (state.again) { state.again = false; setTimeout(refresh, 0); }
  }
}

function scheduleRefresh() {
  if (state.timer) return;
  state.timer = setTimeout(() => { state.timer = null; refresh(); }, 500);
}

function connectLive() {
  const live = document.getElementById("live");
  if (!window.EventSource) { live.dataset.state = "polling"; live.textContent = "polling"; return; }
  const es = new EventSource("/api/events");
  es.addEventListener("hello", () => { live.dataset.state = "live"; live.textContent = "live"; });
  es.addEventListener("change", () => { live.dataset.state = "live"; live.textContent = "live"; scheduleRefresh(); });
  es.onerror = () => { live.dataset.state = "polling"; live.textContent = "reconnecting"; };
}

window.addEventListener("hashchange", refresh);
document.addEventListener("DOMContentLoaded", () => {
  refresh();
  connectLive();
  setInterval(refresh, 30000);
});
