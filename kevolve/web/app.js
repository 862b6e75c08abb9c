// kevolve web page: plain JS, no build step. Talks to the service's /api.
"use strict";

const COLOURS = { accepted: "#2e7d32", flagged: "#f9a825", wrong: "#c62828", failed: "#757575", "not evaluated": "#ffffff" };
let sessionId = null;

const $ = (sel) => document.querySelector(sel);
const tokenBox = $("#token");
tokenBox.value = localStorage.getItem("kevolve-token") || "";
tokenBox.addEventListener("change", () => { localStorage.setItem("kevolve-token", tokenBox.value); route(); });

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (tokenBox.value) h["Authorization"] = "Bearer " + tokenBox.value;
  return h;
}

async function api(path, opts) {
  const o = Object.assign({}, opts || {});
  o.headers = headers(o.headers);
  const res = await fetch(path, o);
  if (!res.ok) throw new Error(res.status + " " + (await res.text()));
  return res;
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function say(cls, text) {
  const log = $("#chat-log");
  log.appendChild(el("div", { class: cls }, text));
  log.scrollTop = log.scrollHeight;
}

async function send(message) {
  say("you", "> " + message);
  const res = await api("/api/chat", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ message: message, session_id: sessionId }),
  });
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
      if (line.trim()) onEvent(JSON.parse(line));
    }
  }
}

function onEvent(ev) {
  if (ev.type === "session") sessionId = ev.session_id;
  else if (ev.type === "question") say("question", ev.text);
  else if (ev.type === "answer") say("answer", ev.text);
  else if (ev.type === "note") say("note", "note: " + ev.text);
  else if (ev.type === "error") say("error", "error: " + ev.text);
  else if (ev.type === "started") say("run", "run " + ev.run_id + " started (budget " + ev.budget + ")");
  else if (ev.type === "evaluated") {
    const s = ev.speedup_vs_eager ? ev.speedup_vs_eager.toFixed(2) + "x vs eager" : (ev.correct ? "correct" : "rejected");
    say("run", "evaluated " + ev.done + "/" + ev.budget + ": " + ev.candidate_id + " " + s);
  } else if (ev.type === "finished") {
    say("run", ev.summary.message || ("run " + ev.summary.run_id + " " + ev.summary.status));
    location.hash = "#/runs/" + encodeURIComponent(ev.summary.run_id);
  }
}

$("#chat-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const msg = $("#chat-input").value.trim();
  if (!msg) return;
  $("#chat-input").value = "";
  send(msg).catch((err) => say("error", "error: " + err.message));
});

async function loadLists() {
  const runs = await (await api("/api/runs")).json();
  const rb = $("#runs tbody"); rb.textContent = "";
  for (const r of runs) {
    const tr = el("tr");
    const a = el("a", { href: "#/runs/" + encodeURIComponent(r.run_id) }, r.run_id);
    const td = el("td"); td.appendChild(a); tr.appendChild(td);
    for (const k of ["problem", "target", "status"]) tr.appendChild(el("td", {}, r[k]));
    rb.appendChild(tr);
  }
  const tickets = await (await api("/api/tickets")).json();
  const tb = $("#tickets tbody"); tb.textContent = "";
  for (const t of tickets) {
    const tr = el("tr");
    tr.appendChild(el("td", {}, t.ticket_id));
    tr.appendChild(el("td", {}, t.status + (t.question ? ": " + t.question : "")));
    tr.appendChild(el("td", {}, t.problem || ""));
    const td = el("td");
    if (t.run_id) td.appendChild(el("a", { href: "#/runs/" + encodeURIComponent(t.run_id) }, t.run_id));
    tr.appendChild(td);
    tb.appendChild(tr);
  }
}

async function authImg(img, url) {
  const blob = await (await api(url)).blob();
  img.src = URL.createObjectURL(blob);
}

function drawTree(nodes, bestId) {
  const svg = $("#tree");
  svg.textContent = "";
  const NS = "http://www.w3.org/2000/svg";
  const gens = {};
  for (const n of nodes) (gens[n.generation] = gens[n.generation] || []).push(n);
  const maxGen = Math.max(0, ...nodes.map((n) => n.generation));
  const W = svg.clientWidth || 1000, H = 320;
  const pos = {};
  for (const [g, ns] of Object.entries(gens)) {
    ns.forEach((n, i) => { pos[n.id] = [40 + (W - 300) * (maxGen ? g / maxGen : 0.5), 20 + (H - 40) * (i + 0.5) / ns.length]; });
  }
  for (const n of nodes) for (const p of n.parent_ids) if (pos[p]) {
    const l = document.createElementNS(NS, "line");
    l.setAttribute("class", "edge");
    l.setAttribute("x1", pos[p][0]); l.setAttribute("y1", pos[p][1]);
    l.setAttribute("x2", pos[n.id][0]); l.setAttribute("y2", pos[n.id][1]);
    svg.appendChild(l);
  }
  for (const n of nodes) {
    const g = document.createElementNS(NS, "g");
    g.setAttribute("class", "node" + (n.id === bestId ? " best" : ""));
    g.setAttribute("data-outcome", n.outcome);
    g.setAttribute("data-id", n.id);
    const c = document.createElementNS(NS, "circle");
    const s = n.speedup_vs_eager || 0;
    c.setAttribute("cx", pos[n.id][0]); c.setAttribute("cy", pos[n.id][1]);
    c.setAttribute("r", 6 + 8 * Math.min(s, 4) / 2);
    c.setAttribute("fill", COLOURS[n.outcome] || "#fff");
    const title = document.createElementNS(NS, "title");
    title.textContent = n.id + " [" + n.memory_mode + ", " + n.language + "] " + (n.transformation || "initial") +
      (s ? " — " + s.toFixed(2) + "x vs eager" : "") + " (" + n.outcome + ")";
    c.appendChild(title);
    const t = document.createElementNS(NS, "text");
    t.setAttribute("x", pos[n.id][0] + 12); t.setAttribute("y", pos[n.id][1] + 4);
    const change = n.transformation || "initial";
    t.textContent = n.memory_mode + (s ? " " + s.toFixed(2) + "x" : "") + " · " +
      (change.length > 32 ? change.slice(0, 31) + "…" : change);
    g.appendChild(c); g.appendChild(t);
    g.addEventListener("click", () => { $("#node-detail").textContent = title.textContent; });
    svg.appendChild(g);
  }
}

async function showRun(runId) {
  const v = await (await api("/api/runs/" + encodeURIComponent(runId))).json();
  const s = v.summary || {};
  const best = s.best || {};
  $("#run-title").textContent = "run " + v.info.run_id;
  const facts = [v.info.problem + " on " + v.info.target, v.info.status,
    v.nodes.filter((n) => n.outcome !== "not evaluated").length + " evaluations"];
  if (best.candidate_id) facts.push("best " + best.candidate_id + " (" + best.language + "): " +
    (best.speedup_vs_eager || 0).toFixed(2) + "x vs eager, " +
    (best.speedup_vs_compile ? best.speedup_vs_compile.toFixed(2) + "x" : "n/a") + " vs torch.compile, " +
    (best.measured_on === "modeled" ? "modeled" : "measured on " + best.measured_on));
  $("#run-facts").textContent = facts.join(" · ");
  $("#run-report").href = "/api/runs/" + encodeURIComponent(runId) + "/files/report.html";
  drawTree(v.nodes, best.candidate_id);
  const base = "/api/runs/" + encodeURIComponent(runId) + "/files/";
  if (v.figures.includes("speedup.png")) authImg($("#fig-speedup"), base + "speedup.png");
  if (v.figures.includes("roofline.png")) authImg($("#fig-roofline"), base + "roofline.png");
  $("#kernel-code").textContent = v.best_kernel || "(no best kernel yet)";
  const ul = $("#knowledge"); ul.textContent = "";
  if (!v.knowledge.length) ul.appendChild(el("li", {}, "none: the run did not retrieve chip documents"));
  for (const k of v.knowledge) {
    const where = [k.chip, k.source, k.section, k.page ? "p. " + k.page : ""].filter(Boolean).join(" · ");
    ul.appendChild(el("li", {}, k.title + (where ? " (" + where + ")" : "")));
  }
  document.body.setAttribute("data-run-rendered", runId);
}

async function route() {
  const m = location.hash.match(/^#\/runs\/(.+)$/);
  $("#home").hidden = !!m;
  $("#run-page").hidden = !m;
  try {
    if (m) await showRun(decodeURIComponent(m[1]));
    else await loadLists();
  } catch (err) { say("error", "error: " + err.message); }
}

window.addEventListener("hashchange", route);
route();
