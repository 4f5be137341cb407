// The inspector page: plain JavaScript, no dependencies. Every value from a
// request is put on the page with textContent, never as HTML.
"use strict";

const body = document.body;
const keep = Number(body.dataset.keep) || 500;
const limit = Number(body.dataset.limit) || 196608;
const rows = new Map(); // id -> row
let selected = 0;

// el builds an element: el("td", {class: "x"}, "text", childNode, …).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function $(id) { return document.getElementById(id); }

function pad(n, w) { return String(n).padStart(w || 2, "0"); }

function clock(iso) {
  const d = new Date(iso);
  return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
}

function bytes(n) {
  if (n < 0) return "?";
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + " KiB";
  return (n / 1048576).toFixed(1) + " MiB";
}

// tone names the colour of a status: ok, bad (the checks refused), fault
// (injected or a server error), dropped.
function tone(r) {
  if (r.status === 0) return "dropped";
  if (r.fault || r.status >= 500) return "fault";
  if (r.status >= 200 && r.status < 300) return "ok";
  return "bad";
}

function badge(r) {
  return el("span", {class: "badge " + tone(r)}, r.status === 0 ? "drop" : r.status);
}

function sizeCell(r) {
  if (r.size < 0) {
    return r.status === 413 ? el("span", {class: "over"}, "over limit") : el("span", {class: "muted"}, "–");
  }
  if (r.size > limit) {
    return el("span", {class: "over", title: "over the 192 KiB limit"}, "over: " + r.size.toLocaleString("en") + " B");
  }
  const fill = el("span", {});
  fill.style.width = Math.max(1, Math.min(100, (r.size / limit) * 100)).toFixed(1) + "%"; // CSSOM: allowed by the CSP
  return el("span", {class: "size" + (r.size > limit ? " over" : "")}, el("span", {class: "meter"}, fill), bytes(r.size));
}

function renderRow(r) {
  const tr = el("tr", {
    "data-id": r.id, "data-request-id": r.requestId, "data-status": r.status, "data-tone": tone(r),
    class: r.id === selected ? "selected" : "", tabindex: "0",
    onclick: () => select(r.id),
    onkeydown: (e) => { if (e.key === "Enter") select(r.id); },
  },
    el("td", {class: "time"}, clock(r.time)),
    el("td", {}, badge(r)),
    el("td", {class: "verdict"},
      el("span", {class: "reason"}, r.verdict),
      r.diagnosis ? el("span", {class: "pill"}, r.diagnosis) : null),
    el("td", {class: "rid mono"}, r.requestId || "–"),
    el("td", {}, sizeCell(r)),
    el("td", {class: "mono"}, r.productId || ""));
  return tr;
}

function render() {
  const ids = [...rows.keys()].sort((a, b) => b - a);
  while (ids.length > keep) rows.delete(ids.pop());
  const tbody = $("rows");
  tbody.replaceChildren(...ids.map((id) => renderRow(rows.get(id))));
  $("empty").hidden = ids.length > 0;
  let ok = 0;
  for (const r of rows.values()) if (r.status === 202 && !r.fault) ok++;
  $("counts").replaceChildren(
    el("span", {}, el("b", {}, rows.size), " requests"),
    el("span", {class: "ok-text"}, el("b", {}, ok), " accepted"),
    el("span", {class: "bad-text"}, el("b", {}, rows.size - ok), " not"));
}

function addRow(r) {
  rows.set(r.id, r);
  render();
  const tr = document.querySelector('tr[data-id="' + r.id + '"]');
  if (tr) tr.classList.add("new");
}

async function loadList() {
  const res = await fetch("/api/requests");
  const list = await res.json();
  const top = list.length ? list[0].id : 0;
  for (const id of [...rows.keys()]) if (id <= top) rows.delete(id);
  for (const r of list) rows.set(r.id, r);
  render();
}

// Detail panel.

function section(title, ...children) {
  return el("section", {class: "part"}, el("h3", {}, title), ...children);
}

function findingBox(f) {
  return el("div", {class: "finding " + (f.ok ? "good" : "problem"), "data-kind": f.kind},
    el("div", {class: "finding-head"},
      el("span", {class: "icon"}, f.ok ? "✓" : "!"),
      el("span", {class: "finding-header"}, f.header),
      el("b", {}, f.title)),
    el("p", {}, f.detail),
    f.signed ? el("details", {}, el("summary", {}, "the bytes that were signed"), el("pre", {}, f.signed)) : null);
}

function bodyPart(d) {
  if (!d.body && d.bodyNote) return section("Body", el("p", {class: "muted"}, d.bodyNote));
  const pre = el("pre", {class: "body"}, d.bodyPretty || d.body);
  const tabs = el("div", {class: "tabs"});
  const tab = (name, text) => el("button", {type: "button", class: "tab", onclick: (e) => {
    pre.textContent = text;
    for (const b of tabs.children) b.classList.toggle("on", b === e.currentTarget);
  }}, name);
  if (d.bodyPretty) {
    tabs.append(tab("pretty", d.bodyPretty), tab("raw", d.body));
    tabs.firstChild.classList.add("on");
  }
  return section("Body", tabs, d.bodyNote ? el("p", {class: "muted"}, d.bodyNote) : null, pre);
}

function renderDetail(d) {
  const out = el("div", {class: "replay-out"});
  const replay = el("button", {type: "button", class: "primary", id: "replay", disabled: !d.replayable,
    title: d.replayable ? "Run this request through the checks again" : d.bodyNote,
    onclick: async () => {
      out.replaceChildren(el("span", {class: "muted"}, "replaying…"));
      const res = await fetch("/api/requests/" + d.id + "/replay", {method: "POST"});
      const j = await res.json();
      out.replaceChildren(j.error ? el("span", {class: "bad-text"}, j.error)
        : el("span", {}, badge(j), " ", j.verdict, el("span", {class: "muted"}, " (replayed, not added to the list)")));
    }}, "Replay");
  const panel = $("detail");
  panel.hidden = false;
  panel.replaceChildren(
    el("div", {class: "detail-head"},
      el("div", {}, badge(d), " ", el("b", {class: "mono"}, d.method + " " + d.path)),
      el("button", {type: "button", class: "link", onclick: () => { selected = 0; panel.hidden = true; render(); }}, "close")),
    el("p", {class: "verdict-line"}, d.verdict),
    el("div", {class: "meta"},
      el("span", {}, "#" + d.id), el("span", {}, new Date(d.time).toLocaleString()),
      el("span", {class: "mono"}, d.requestId || "no request id"),
      el("span", {}, d.size < 0 ? "size unknown" : bytes(d.size) + " of 192 KiB")),
    d.findings.length ? section("Diagnosis", ...d.findings.map(findingBox)) : null,
    el("div", {class: "replay"}, replay, out),
    section("Headers", el("table", {class: "headers"}, el("tbody", {},
      d.headers.map((h) => el("tr", {}, el("th", {}, h.name), el("td", {class: "mono"}, h.value)))))),
    bodyPart(d));
}

async function select(id) {
  selected = id;
  render();
  const res = await fetch("/api/requests/" + id);
  if (!res.ok) {
    $("detail").hidden = false;
    $("detail").replaceChildren(el("p", {class: "muted"}, (await res.json()).error));
    return;
  }
  if (selected === id) renderDetail(await res.json());
}

// Faults.

let faultVersion = -1;

// renderFaults shows the queued faults. States arrive both as answers and as
// events, in either order: an older one than shown is dropped.
function renderFaults(st) {
  if (st.version < faultVersion) return;
  faultVersion = st.version;
  const pending = st.pending || [];
  $("fault-pending").replaceChildren(...pending.map((p) =>
    el("span", {class: "chip", "data-kind": p.kind}, p.count + " × " + p.kind)));
  $("fault-clear").hidden = pending.length === 0;
}

async function postFaults(method, payload) {
  const res = await fetch("/api/faults", {method, headers: {"Content-Type": "application/json"},
    body: payload ? JSON.stringify(payload) : undefined});
  const j = await res.json();
  if (j.error) showBanner(j.error); else renderFaults(j);
}

function showBanner(text) {
  $("banner").textContent = text;
  $("banner").hidden = !text;
}

// Live updates.

function connect() {
  const es = new EventSource("/api/events");
  const live = (state, text) => { $("live").dataset.state = state; $("live-text").textContent = text; };
  es.onopen = () => {
    live("live", "live");
    loadList();
    fetch("/api/faults").then((r) => r.json()).then(renderFaults);
  };
  es.onerror = () => live("down", "reconnecting");
  es.addEventListener("request", (e) => addRow(JSON.parse(e.data)));
  es.addEventListener("faults", (e) => renderFaults(JSON.parse(e.data)));
  es.addEventListener("info", (e) => showBanner(JSON.parse(e.data).recordError || ""));
}

for (const o of document.querySelectorAll(".origin")) o.textContent = location.origin;
$("endpoint").textContent = location.origin + body.dataset.endpoint;
$("fault-queue").addEventListener("click", () =>
  postFaults("POST", {kind: $("fault-kind").value, count: Number($("fault-count").value) || 1}));
$("fault-clear").addEventListener("click", () => postFaults("DELETE"));
render();
connect();
