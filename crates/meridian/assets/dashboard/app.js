// Meridian dashboard: polls /api/v1/graph and draws the service graph with Cytoscape.js
// (vendored), the canary splits, the replicas and the recent errors; and
// /api/v1/cdn/distributions for a row per CloudFront distribution the edge serves.
"use strict";

const POLL_MS = 2000;
let cy = null;
let layoutDone = false;
let knownNodes = "";

function pct(v) {
  return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%";
}
function rate(v) {
  return (v || 0) < 10 ? (v || 0).toFixed(2) : (v || 0).toFixed(1);
}
function ms(v) {
  return v === null || v === undefined ? "–" : (v < 10 ? v.toFixed(2) : v.toFixed(0)) + "ms";
}
function srClass(v) {
  if (v === null || v === undefined) return "muted";
  return v >= 0.99 ? "ok" : v >= 0.9 ? "warn" : "bad";
}
function esc(s) {
  return String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
}

function edgeLabel(e) {
  // A lock glyph needs an emoji font the machine may not have; say it in words.
  const lock = e.mtls ? "mTLS · " : "";
  if (!e.requests) return lock + "idle";
  return `${lock}${rate(e.rps)} rps\n${pct(e.success_rate)} · p99 ${ms(e.p99_ms)}`;
}

function nodeLabel(n) {
  let l = n.label;
  if (n.version) l += ` (${n.version})`;
  if (n.ready) l += `\n${n.ready} ready`;
  if (n.requests) l += `\n${rate(n.rps)} rps ${pct(n.success_rate)}`;
  return l;
}

function edgeColor(e) {
  if (!e.requests) return "#3a4563";
  const sr = e.success_rate;
  return sr >= 0.99 ? "#3ecf8e" : sr >= 0.9 ? "#f5b942" : "#ef5b5b";
}

function initGraph() {
  cy = cytoscape({
    container: document.getElementById("graph"),
    wheelSensitivity: 0.2,
    style: [
      {
        selector: "node",
        style: {
          label: "data(label)",
          "text-wrap": "wrap",
          "text-valign": "bottom",
          "text-margin-y": 6,
          color: "#dfe6f3",
          "font-size": 11,
          width: 34,
          height: 34,
          "border-width": 2,
          "border-color": "#0f1420",
        },
      },
      { selector: 'node[kind = "workload"]', style: { "background-color": "#4f8cff", shape: "round-rectangle" } },
      { selector: 'node[kind = "service"]', style: { "background-color": "#9b6bff", shape: "triangle" } },
      { selector: 'node[kind = "gateway"]', style: { "background-color": "#f08c3c", shape: "diamond", width: 40, height: 40 } },
      {
        selector: "edge",
        style: {
          label: "data(label)",
          width: "data(width)",
          "line-color": "data(color)",
          "target-arrow-color": "data(color)",
          "target-arrow-shape": "triangle",
          "curve-style": "bezier",
          "font-size": 10,
          color: "#dfe6f3",
          "text-background-color": "#171e2e",
          "text-background-opacity": 0.85,
          "text-background-padding": 2,
          "text-rotation": "none",
          "text-wrap": "wrap",
          "line-style": "data(line)",
        },
      },
    ],
  });
}

function updateGraph(g) {
  const elements = [];
  // Services nobody calls are idle registry entries: left out, as Kiali hides idle nodes.
  const linked = new Set(g.edges.flatMap((e) => [e.source, e.target]));
  for (const n of g.nodes) {
    if (n.kind === "service" && !linked.has(n.id)) continue;
    elements.push({ group: "nodes", data: { id: n.id, kind: n.kind, label: nodeLabel(n) } });
  }
  for (const e of g.edges) {
    elements.push({
      group: "edges",
      data: {
        id: e.source + "->" + e.target,
        source: e.source,
        target: e.target,
        label: edgeLabel(e),
        color: edgeColor(e),
        line: e.mtls ? "solid" : "dashed",
        width: Math.max(1.5, Math.min(8, 1.5 + Math.log2(1 + (e.rps || 0)))),
        rps: e.rps || 0,
      },
    });
  }
  const ids = elements.map((e) => e.data.id).sort().join("|");
  if (ids !== knownNodes) {
    cy.elements().remove();
    cy.add(elements);
    knownNodes = ids;
    layoutDone = false;
  } else {
    for (const e of elements) cy.getElementById(e.data.id).data(e.data);
  }
  if (!layoutDone) {
    cy.layout({ name: "breadthfirst", directed: true, padding: 40, spacingFactor: 1.35 }).run();
    layoutDone = true;
  }
}

function updateSplits(g) {
  const el = document.getElementById("splits");
  if (!g.splits.length) {
    el.textContent = "no weighted routes";
    el.className = "muted";
    return;
  }
  el.className = "";
  el.innerHTML = g.splits
    .map((s) => {
      const bar = s.destinations
        .map((d, i) => {
          const w = d.share !== null && d.share !== undefined ? d.share * 100 : d.weight;
          return `<div class="s${i % 4}" style="width:${w}%" title="${esc(d.cluster)}">${esc(d.subset)} ${w.toFixed(0)}%</div>`;
        })
        .join("");
      const detail = s.destinations
        .map((d) => `${esc(d.subset)}: weight ${d.weight}%, observed ${pct(d.share)} at ${rate(d.rps)} rps, success <span class="${srClass(d.success_rate)}">${pct(d.success_rate)}</span>`)
        .join("<br>");
      return `<div class="split" data-vs="${esc(s.virtual_service)}"><div class="title">${esc(s.virtual_service)} → ${esc(s.host)} (rule ${s.rule})</div><div class="bar">${bar}</div><div class="detail">${detail}</div></div>`;
    })
    .join("");
}

function updateReplicas(g) {
  const body = document.querySelector("#replicas tbody");
  body.innerHTML = g.replicas
    .map((r) => {
      const state = r.ready ? `<span class="ok">${esc(r.state)}</span>` : `<span class="warn">${esc(r.state)}</span>`;
      const ejected = r.ejected ? '<span class="bad">ejected</span>' : '<span class="muted">no</span>';
      return `<tr title="${esc(r.last_error || "")}"><td>${esc(r.replica)}</td><td>${esc(r.version || "")}</td><td>${state}</td><td>${rate(r.rps)}</td><td class="${srClass(r.success_rate)}">${pct(r.success_rate)}</td><td>${r.restarts}</td><td>${ejected}</td></tr>`;
    })
    .join("");
}

function updateErrors(g) {
  const body = document.querySelector("#errors tbody");
  if (!g.errors.length) {
    body.innerHTML = '<tr><td colspan="5" class="muted">none</td></tr>';
    return;
  }
  body.innerHTML = g.errors
    .map((e) => {
      const t = new Date(e.time_ms).toLocaleTimeString();
      return `<tr><td>${t}</td><td>${esc(e.source)} → ${esc(e.destination)}</td><td>${esc(e.method)} ${esc(e.authority)}${esc(e.path)}</td><td class="bad">${e.status}</td><td>${esc(e.flags)}</td></tr>`;
    })
    .join("");
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n || 0;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return (u === 0 ? v.toFixed(0) : v.toFixed(1)) + " " + units[u];
}

async function pollDistributions() {
  const panel = document.getElementById("cdn-panel");
  let list = [];
  try {
    const r = await fetch("/api/v1/cdn/distributions", { cache: "no-store" });
    if (r.ok) list = await r.json();
  } catch (err) {
    list = [];
  }
  panel.hidden = !list.length;
  document.querySelector("#cdn tbody").innerHTML = list
    .map((d) => {
      const answered = d.hits + d.refresh_hits + d.misses + d.errors;
      const ratio = answered ? pct(d.hit_ratio) : "–";
      const stored = `${d.memory_objects + d.disk_objects} · ${bytes(d.memory_bytes + d.disk_bytes)}`;
      const errors = `<span class="${d.errors ? "bad" : "muted"}">${d.errors}</span>`;
      return `<tr data-id="${esc(d.id)}" title="${esc(d.domain)}"><td>${esc(d.id)}</td><td>${esc(d.origin)}</td><td>${ratio}</td><td>${d.hits + d.refresh_hits} / ${d.misses} / ${errors}</td><td>${bytes(d.bytes_served)}</td><td>${bytes(d.bytes_saved)}</td><td>${stored}</td></tr>`;
    })
    .join("");
}

async function poll() {
  pollDistributions();
  const w = document.getElementById("window").value;
  try {
    const r = await fetch(`/api/v1/graph?window=${w}`, { cache: "no-store" });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const g = await r.json();
    updateGraph(g);
    updateSplits(g);
    updateReplicas(g);
    updateErrors(g);
    const total = g.edges.filter((e) => e.source.startsWith("wl:")).reduce((a, e) => a + (e.rps || 0), 0);
    document.getElementById("status").textContent =
      `revision ${g.revision} · ${g.nodes.length} nodes · ${rate(total)} rps · updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.ready = "true";
  } catch (err) {
    document.getElementById("status").textContent = `cannot reach the admin API: ${err.message}`;
  }
}

initGraph();
poll();
setInterval(poll, POLL_MS);
document.getElementById("window").addEventListener("change", poll);
