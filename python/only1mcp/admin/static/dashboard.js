// The dashboard's only script: renders the snapshots /api/events streams, and the playground.
// Data is put in the page with textContent only (never as HTML).
"use strict";

const $ = (id) => document.getElementById(id);
let tools = [];

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "-" : String(text);
  if (cls) td.className = cls;
  return td;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

async function act(name, action) {
  const resp = await fetch(`/api/servers/${encodeURIComponent(name)}/${action}`, { method: "POST" });
  if (!resp.ok) {
    const body = await resp.json().catch(() => ({}));
    alert(`${action} ${name}: ${body.error || resp.status}`);
  }
}

function actions(server) {
  const td = document.createElement("td");
  const verbs = server.state === "disabled" ? ["enable"] : server.enabled ? ["restart", "disable"] : [];
  for (const verb of verbs) {
    const button = document.createElement("button");
    button.textContent = verb;
    button.dataset.action = verb;
    button.addEventListener("click", () => act(server.name, verb));
    td.append(button);
  }
  return td;
}

function serverRow(server, stats, replica) {
  const tr = document.createElement("tr");
  const s = stats || {};
  tr.dataset.server = server.name;
  if (replica) tr.className = "replica";
  tr.append(
    cell(server.name),
    cell(replica ? "replica" : server.transport),
    cell(server.state, `state-${server.state}`),
    cell(server.healthy ? "yes" : "no"),
    cell(server.breaker, server.breaker ? `breaker-${server.breaker}` : ""),
    cell(server.restarts),
    cell(replica ? "" : s.calls_per_s ?? 0),
    cell(replica ? "" : s.p99_ms),
    cell(server.last_error),
    replica ? cell("") : actions(server),
  );
  return tr;
}

function renderServers(servers, stats) {
  const rows = [];
  for (const server of servers) {
    rows.push(serverRow(server, stats.servers[server.name], false));
    for (const replica of server.replicas) rows.push(serverRow(replica, null, true));
  }
  fill($("servers").tBodies[0], rows);
}

function renderTools(stats) {
  const rows = Object.entries(stats.tools).map(([name, s]) => {
    const tr = document.createElement("tr");
    tr.dataset.tool = name;
    tr.append(cell(name), cell(s.calls_per_s), cell(s.p50_ms), cell(s.p99_ms), cell(s.errors), cell(s.total));
    return tr;
  });
  fill($("tools").tBodies[0], rows);
}

function renderErrors(errors) {
  const items = errors.map((e) => {
    const li = document.createElement("li");
    const at = new Date(e.at * 1000).toLocaleTimeString();
    li.textContent = `${at} ${e.tool} (${e.server}): ${e.message}`;
    return li;
  });
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "none";
    items.push(li);
  }
  $("errors").replaceChildren(...items);
}

function renderSessions(sessions) {
  $("session-eras").textContent =
    `${sessions.count} total · handshake ${sessions.by_era.handshake} · stateless ${sessions.by_era.stateless}`;
  fill($("sessions").tBodies[0], sessions.sessions.map((s) => {
    const tr = document.createElement("tr");
    tr.append(cell(s.id), cell(s.era), cell(s.protocol_version), cell(s.client), cell(s.principal || "-"));
    return tr;
  }));
}

function render(snapshot) {
  const o = snapshot.overview;
  $("ov-servers").textContent = `${o.servers_up}/${o.servers}`;
  $("ov-sessions").textContent = o.sessions;
  $("ov-tools").textContent = o.tools;
  $("ov-level").textContent = o.log_level;
  const rate = Object.values(snapshot.stats.servers).reduce((sum, s) => sum + s.calls_per_s, 0);
  $("ov-rate").textContent = rate.toFixed(1);
  renderServers(snapshot.servers, snapshot.stats);
  renderTools(snapshot.stats);
  $("stats-off").hidden = snapshot.stats.metrics !== false;
  renderErrors(snapshot.stats.errors);
  renderSessions(snapshot.sessions);
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
}

function connect() {
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => { $("live").textContent = "live"; $("live").className = "badge on"; });
  events.addEventListener("error", () => { $("live").textContent = "reconnecting…"; $("live").className = "badge off"; });
  events.addEventListener("snapshot", (event) => render(JSON.parse(event.data)));
}

// ------------------------------------------------------------------ playground

function field(name, schema, required) {
  const label = document.createElement("label");
  label.textContent = `${name}${required ? " *" : ""} `;
  let input;
  if (Array.isArray(schema.enum)) {
    input = document.createElement("select");
    for (const value of schema.enum) {
      const option = document.createElement("option");
      option.value = JSON.stringify(value);
      option.textContent = String(value);
      input.append(option);
    }
    input.dataset.kind = "json";
  } else if (schema.type === "boolean") {
    input = document.createElement("input");
    input.type = "checkbox";
    input.dataset.kind = "boolean";
  } else if (schema.type === "integer" || schema.type === "number") {
    input = document.createElement("input");
    input.type = "number";
    input.step = schema.type === "integer" ? "1" : "any";
    input.dataset.kind = "number";
  } else if (schema.type === "string") {
    input = document.createElement("input");
    input.type = "text";
    input.dataset.kind = "string";
  } else {
    input = document.createElement("textarea");
    input.placeholder = "JSON";
    input.dataset.kind = "json";
  }
  input.name = name;
  input.title = schema.description || "";
  label.append(input);
  return label;
}

function showForm() {
  const tool = tools.find((t) => t.name === $("tool").value);
  const schema = (tool && tool.inputSchema) || {};
  const required = new Set(schema.required || []);
  $("tool-description").textContent = tool ? tool.description : "";
  const props = schema.properties || {};
  $("fields").replaceChildren(...Object.entries(props).map(([n, s]) => field(n, s, required.has(n))));
}

function argumentsOf() {
  const args = {};
  for (const input of $("fields").querySelectorAll("input, select, textarea")) {
    const kind = input.dataset.kind;
    if (kind === "boolean") args[input.name] = input.checked;
    else if (input.value === "") continue;
    else if (kind === "number") args[input.name] = Number(input.value);
    else if (kind === "json") args[input.name] = JSON.parse(input.value);
    else args[input.name] = input.value;
  }
  return args;
}

async function callTool(event) {
  event.preventDefault();
  const result = $("result");
  let args;
  try {
    args = argumentsOf();
  } catch (err) {
    result.textContent = `arguments: ${err.message}`;
    result.className = "result error";
    return;
  }
  result.textContent = "calling…";
  const resp = await fetch("/api/tools/call", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: $("tool").value, arguments: args }),
  });
  const body = await resp.json();
  const failed = !resp.ok || body.error || (body.result && body.result.isError);
  result.className = failed ? "result error" : "result ok";
  result.textContent = JSON.stringify(body.result || body.error || body, null, 2);
}

async function loadTools() {
  const resp = await fetch("/api/tools");
  tools = (await resp.json()).tools;
  const select = $("tool");
  const chosen = select.value;
  select.replaceChildren(...tools.map((t) => {
    const option = document.createElement("option");
    option.value = option.textContent = t.name;
    return option;
  }));
  if (tools.some((t) => t.name === chosen)) select.value = chosen;
  showForm();
}

document.addEventListener("DOMContentLoaded", () => {
  $("tool").addEventListener("change", showForm);
  $("playground").addEventListener("submit", callTool);
  loadTools();
  connect();
});
