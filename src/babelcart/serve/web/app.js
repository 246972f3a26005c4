// babelcart web page: vanilla JS, no external resources. The API key lives in sessionStorage only.
"use strict";

const KEY_NAME = "babelcart.apiKey";
const $ = (id) => document.getElementById(id);

function takeKeyFromFragment() {
  // `babelcart serve --demo` prints a URL ending in #key=...; the fragment never reaches the server.
  const m = /(?:^#|&)key=([^&]+)/.exec(window.location.hash);
  if (m) {
    sessionStorage.setItem(KEY_NAME, decodeURIComponent(m[1]));
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
}

function apiKey() { return sessionStorage.getItem(KEY_NAME) || ""; }

function showKeyStatus() {
  const k = apiKey();
  $("key-status").textContent = k ? "key set (id " + (k.split("_")[1] || "?") + ")" : "no key: paste one to start";
}

async function api(method, path, body) {
  const headers = { "X-API-Key": apiKey() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const detail = data && data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : res.statusText;
    const err = new Error(res.status + ": " + detail);
    err.status = res.status;
    throw err;
  }
  return data;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

// ---------------------------------------------------------------- search
async function doSearch(ev) {
  ev.preventDefault();
  const q = $("search-q").value.trim();
  const list = $("search-results");
  $("search-msg").textContent = "";
  list.replaceChildren();
  if (!q) return;
  try {
    const data = await api("POST", "/v1/search", { query: q, k: 10, mode: $("search-mode").value });
    if (!data.results.length) $("search-msg").textContent = "no results";
    for (const hit of data.results) {
      const li = el("li", "hit");
      li.append(el("span", "title", hit.title || hit.id));
      if (hit.lang) li.append(el("span", "tag lang", hit.lang));
      if (hit.category && hit.category !== "unknown") li.append(el("span", "tag cat", hit.category));
      li.append(el("span", "score", "score " + Number(hit.score).toFixed(4)));
      list.append(li);
    }
  } catch (e) { $("search-msg").textContent = e.message; }
}

// ---------------------------------------------------------------- dashboard
const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

// fewest star-rated reviews of a language for the panel to show their average
const MIN_RATED = 5;

function drawSentiment(summary) {
  const box = $("sentiment-chart");
  box.replaceChildren();
  const rows = summary.languages;
  if (!rows.length) { box.append(el("p", "muted", "no reviews yet")); return; }
  const W = 900, rowH = 28, left = 60, right = 300, top = 6;
  const H = top + rows.length * rowH + 6;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  const maxCount = Math.max(...rows.map((r) => r.count));
  const colors = { pos: "#16a34a", neutral: "#a3a3a3", neg: "#dc2626" };
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const label = svg("text", { x: left - 8, y: y + 17, "text-anchor": "end", "font-size": 14 });
    label.textContent = r.lang;
    root.append(label);
    const full = (W - left - right) * (r.count / maxCount);
    let x = left;
    for (const part of ["pos", "neutral", "neg"]) {
      const w = r.count ? full * (r[part] / r.count) : 0;
      const rect = svg("rect", { x, y: y + 4, width: Math.max(w, 0), height: rowH - 8, fill: colors[part],
                                 class: "bar bar-" + part, "data-lang": r.lang });
      const tip = svg("title", {}); tip.textContent = `${r.lang} ${part}: ${r[part]}`; rect.append(tip);
      root.append(rect);
      x += w;
    }
    const negShare = r.count ? (100 * r.neg / r.count).toFixed(0) : "0";
    const info = svg("text", { x: x + 8, y: y + 17, "font-size": 12, fill: "#6b7280" });
    // a star average only when enough reviews carry stars; otherwise say how few do
    const stars = r.rated >= MIN_RATED && r.avg_rating != null ? ` · ★${r.avg_rating.toFixed(2)} (${r.rated} rated)`
      : r.rated ? ` · ${r.rated} rated` : "";
    info.textContent = `${r.count} review${r.count === 1 ? "" : "s"} · ${negShare}% neg` + stars;
    root.append(info);
  });
  box.append(root);
}

async function loadDashboard() {
  $("dash-msg").textContent = "";
  try { drawSentiment(await api("GET", "/v1/reviews/summary")); }
  catch (e) { $("dash-msg").textContent = e.message; }
  const list = $("alerts");
  list.replaceChildren();
  try {
    const data = await api("GET", "/v1/alerts?limit=10");
    if (!data.alerts.length) list.append(el("li", "muted", "no alerts"));
    for (const a of data.alerts) {
      const sc = a.scope || {};
      const scope = sc.field !== undefined ? `${sc.field}=${sc.value}`
        : Object.entries(sc).map(([k, v]) => `${k}=${v}`).join(", ");
      const p = a.payload || {};
      const share = p.neg_share !== undefined ? ` neg share ${(100 * p.neg_share).toFixed(0)}%` : "";
      const li = el("li", "alert", `${(a.ts || "").slice(0, 16).replace("T", " ")} ${scope}${share} `);
      const state = a.delivered ? "delivered" : a.attempts ? `not delivered (${a.attempts} tries)` : "stored";
      li.append(el("span", a.delivered || !a.attempts ? "tag" : "tag warn", state));
      list.append(li);
    }
  } catch (e) { list.append(el("li", "msg", e.message)); }
}

// ---------------------------------------------------------------- support
async function doSupport(ev) {
  ev.preventDefault();
  $("support-err").textContent = "";
  $("support-out").hidden = true;
  const body = { message: $("support-msg").value };
  const order = $("support-order").value.trim();
  if (order) body.params = { order_id: order };
  try {
    const a = await api("POST", "/v1/support/answer", body);
    $("support-answer").textContent = a.answer || "(no answer)";
    const conf = a.confidence === null || a.confidence === undefined ? "?" : Number(a.confidence).toFixed(2);
    $("support-meta").textContent = `intent ${a.intent || "?"} · language ${a.lang || "?"} · confidence ${conf}` +
      (a.source ? ` · ${a.source}` : "");
    $("support-handover").hidden = !a.handover;
    $("support-out").hidden = false;
  } catch (e) { $("support-err").textContent = e.message; }
}

function init() {
  takeKeyFromFragment();
  showKeyStatus();
  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const k = $("api-key").value.trim();
    if (k) sessionStorage.setItem(KEY_NAME, k);
    $("api-key").value = "";
    showKeyStatus();
    loadDashboard();
  });
  $("forget-key").addEventListener("click", () => { sessionStorage.removeItem(KEY_NAME); showKeyStatus(); });
  $("search-form").addEventListener("submit", doSearch);
  $("support-form").addEventListener("submit", doSupport);
  $("refresh-dash").addEventListener("click", loadDashboard);
  if (apiKey()) loadDashboard();
}

document.addEventListener("DOMContentLoaded", init);
