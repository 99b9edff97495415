// The kraken-base console: every page is a shell the base serves (with the session's CSRF
// token in a meta tag); this script fills it from the base's own API with fetch. No other
// origin is ever asked for anything (the Content-Security-Policy says so too).
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const page = document.body.dataset.page;
const guid = document.body.dataset.sentry ?? "";

// --- the API --------------------------------------------------------------------------------

async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: { Accept: "application/json" }, ...options };
  if (init.method && init.method !== "GET") {
    init.headers["X-CSRF-Token"] = csrf;
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    location.assign("/console/login");
    throw new Error("not logged in");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

async function call(sentry, method, params = []) {
  const reply = await api(`/api/sentries/${encodeURIComponent(sentry)}/call`, {
    method: "POST",
    body: JSON.stringify({ method, params }),
  });
  return reply.result;
}

// --- small DOM helpers ----------------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function show(id, ...nodes) {
  const target = document.getElementById(id);
  target.replaceChildren(...nodes);
  return target;
}

function fail(id, error) {
  show(id, el("p", { class: "error", text: String(error.message || error) }));
}

function when(ms) {
  if (!ms) return "";
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function cellText(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// A table of `rows` (objects): columns are their keys in first-seen order; a click on a header
// sorts by that column (numbers as numbers), a second click reverses.
function sortableTable(rows, className = "") {
  const columns = [];
  for (const row of rows) for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  const table = el("table", { class: `data ${className}` });
  const body = el("tbody");
  let sortedBy = null;
  let descending = false;
  const fill = (list) => {
    body.replaceChildren(
      ...list.map((row) => el("tr", {}, ...columns.map((c) => el("td", { text: cellText(row[c]) })))),
    );
  };
  const header = el(
    "tr",
    {},
    ...columns.map((column) =>
      el("th", {
        text: column,
        "data-column": column,
        onclick: () => {
          descending = sortedBy === column ? !descending : false;
          sortedBy = column;
          const sorted = [...rows].sort((a, b) => {
            const x = a[column];
            const y = b[column];
            const order =
              typeof x === "number" && typeof y === "number" ? x - y : cellText(x).localeCompare(cellText(y));
            return descending ? -order : order;
          });
          fill(sorted);
        },
      }),
    ),
  );
  table.append(el("thead", {}, header), body);
  fill(rows);
  return table;
}

// A result as tables (a list of maps, or a map of such lists, or a map) with its raw JSON one
// click away.
function resultView(result) {
  const views = [];
  if (Array.isArray(result)) {
    views.push(sortableTable(result.map((r) => (typeof r === "object" && r !== null ? r : { value: r }))));
  } else if (result && typeof result === "object") {
    const lists = Object.entries(result).filter(([, v]) => Array.isArray(v));
    if (lists.length > 0) {
      for (const [name, list] of lists) {
        views.push(el("h3", { text: `${name} (${list.length})` }), sortableTable(list));
      }
    } else {
      views.push(sortableTable(Object.entries(result).map(([key, value]) => ({ key, value }))));
    }
  } else {
    views.push(el("p", { text: cellText(result) }));
  }
  const raw = el("pre", { class: "raw", hidden: "" }, JSON.stringify(result, null, 2));
  const toggle = el("button", {
    type: "button",
    class: "raw-toggle",
    text: "raw JSON",
    onclick: () => raw.toggleAttribute("hidden"),
  });
  return el("div", { class: "result" }, toggle, ...views, raw);
}

// --- fleet ----------------------------------------------------------------------------------

const FLEET_PAGE = 50;

async function fleet() {
  const search = document.getElementById("search");
  const state = document.getElementById("state");
  let offset = 0;
  let timer = null;
  const load = async () => {
    const query = new URLSearchParams({ q: search.value, state: state.value, offset, limit: FLEET_PAGE });
    try {
      const reply = await api(`/api/sentries?${query}`);
      const rows = reply.sentries.map((s) =>
        el(
          "tr",
          { "data-guid": s.guid },
          el("td", {}, el("a", { href: `/console/sentry/${encodeURIComponent(s.guid)}`, text: s.guid })),
          el("td", { class: s.connected ? "up" : "down", text: s.connected ? "connected" : "disconnected" }),
          // Since it connected, or since it went away.
          el("td", { text: when(s.last_seen_ms) }),
          el("td", { text: s.node ?? "" }),
          el("td", { text: s.address ?? "" }),
        ),
      );
      const table = el(
        "table",
        { class: "data", id: "fleet-table" },
        el(
          "thead",
          {},
          el("tr", {}, ...["sentry", "state", "since", "node", "address"].map((h) => el("th", { text: h }))),
        ),
        el("tbody", {}, ...rows),
      );
      show("fleet", table);
      const total = reply.total ?? rows.length;
      show(
        "pager",
        el("button", { type: "button", text: "previous", disabled: offset === 0 ? "" : null, onclick: () => { offset = Math.max(0, offset - FLEET_PAGE); load(); } }),
        el("span", { text: ` ${total === 0 ? 0 : offset + 1}-${offset + rows.length} of ${total} ` }),
        el("button", { type: "button", text: "next", disabled: offset + FLEET_PAGE >= total ? "" : null, onclick: () => { offset += FLEET_PAGE; load(); } }),
      );
      const storage = reply.storage;
      show("storage", el("span", { class: storage.available ? "up" : "down", text: `${storage.kind}: ${storage.available ? "available" : `unavailable (${storage.error})`}` }));
    } catch (error) {
      fail("fleet", error);
    }
  };
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { offset = 0; load(); }, 250);
  });
  state.addEventListener("change", () => { offset = 0; load(); });
  await load();
  setInterval(load, 10_000);
}

// --- host -----------------------------------------------------------------------------------

const RANGES = { "15 min": 15 * 60e3, "1 h": 60 * 60e3, "6 h": 6 * 60 * 60e3, "24 h": 24 * 60 * 60e3 };
const CHART_PAGES = 5;
const CHART_PAGE = 10_000;

// The records of `logger` dated in [since, until), read from the newest back (up to
// CHART_PAGES pages: a longer range shows its newest part), in date order.
async function recordsOf(logger, since, until) {
  const all = [];
  let before = null;
  for (let n = 0; n < CHART_PAGES; n++) {
    const query = new URLSearchParams({ sentry: guid, logger, since, until, order: "newest", limit: CHART_PAGE });
    if (before !== null) query.set("before", before);
    const page = await api(`/api/logs?${query}`);
    all.push(...page.records);
    if (page.records.length < CHART_PAGE) break;
    before = page.records[page.records.length - 1].id;
  }
  return all.map((r) => ({ ...r, ms: Date.parse(r.date) })).sort((a, b) => a.ms - b.ms);
}

const charts = {};

function chart(id, title, series, data) {
  const target = document.getElementById(id);
  charts[id]?.destroy();
  target.replaceChildren();
  target.dataset.points = String(data[0].length);
  const width = Math.max(320, target.clientWidth || 600);
  charts[id] = new uPlot(
    {
      title,
      width,
      height: 220,
      scales: { x: { time: true } },
      series: [{}, ...series.map((s, i) => ({ label: s, stroke: ["#2563eb", "#dc2626", "#16a34a"][i % 3], width: 1.5 }))],
    },
    data,
    target,
  );
}

async function drawCharts() {
  const range = RANGES[document.getElementById("range").value];
  const until = Date.now() + 60e3;
  const since = until - range - 60e3;
  try {
    const cpu = await recordsOf("cpu", since, until);
    chart("chart-cpu", "cpu %", ["busy", "user", "kernel"], [
      cpu.map((r) => r.ms / 1000),
      cpu.map((r) => 100 - (r.params.idle ?? 100)),
      cpu.map((r) => r.params.user ?? null),
      cpu.map((r) => r.params.kernel ?? null),
    ]);
  } catch (error) {
    fail("chart-cpu", error);
  }
  try {
    const memory = await recordsOf("memory", since, until);
    chart("chart-memory", "memory used %", ["physical", "virtual"], [
      memory.map((r) => r.ms / 1000),
      memory.map((r) => (r.params.ptotal ? (100 * (r.params.ptotal - r.params.pfree)) / r.params.ptotal : null)),
      memory.map((r) => (r.params.vtotal ? (100 * (r.params.vtotal - r.params.vfree)) / r.params.vtotal : null)),
    ]);
  } catch (error) {
    fail("chart-memory", error);
  }
  try {
    const network = await recordsOf("network", since, until);
    // Devices' records of one run share its date: summed per date, as bytes per second.
    const byDate = new Map();
    for (const r of network) {
      if (r.params.scope !== "device" || !r.params.interval) continue;
      const point = byDate.get(r.ms) ?? { rx: 0, tx: 0 };
      point.rx += (r.params.rx_bytes_delta * 1000) / r.params.interval;
      point.tx += (r.params.tx_bytes_delta * 1000) / r.params.interval;
      byDate.set(r.ms, point);
    }
    const dates = [...byDate.keys()].sort((a, b) => a - b);
    chart("chart-network", "network bytes/s", ["received", "sent"], [
      dates.map((d) => d / 1000),
      dates.map((d) => byDate.get(d).rx),
      dates.map((d) => byDate.get(d).tx),
    ]);
  } catch (error) {
    fail("chart-network", error);
  }
}

async function facts() {
  for (const [id, method] of [["system", "getSystemInfo"], ["disks", "getDiskPartitions"], ["interfaces", "getNetworkInterfaces"]]) {
    call(guid, method).then((result) => show(id, resultView(result))).catch((error) => fail(id, error));
  }
}

async function loggers() {
  try {
    const [list, wanted] = await Promise.all([
      call(guid, "getLoggers"),
      api(`/api/sentries/${encodeURIComponent(guid)}/wanted-loggers`),
    ]);
    const rows = list.map((info) => {
      const name = info.logger_name;
      const interval = el("input", { type: "number", min: "1000", step: "1000", value: info.interval || 5000, class: "interval", "aria-label": `${name} interval (ms)` });
      const act = (method, params) => async () => {
        try {
          await call(guid, method, params);
        } catch (error) {
          alert(`${method} ${name}: ${error.message}`);
        }
        await loggers();
      };
      const connected = wanted.loggers.includes(name);
      return el(
        "tr",
        { "data-logger": name },
        el("td", { text: name }),
        el("td", { text: info.factory_name }),
        el("td", { class: info.is_running ? "up" : "down", "data-state": info.is_running ? "running" : "stopped", text: info.is_running ? "running" : "stopped" }),
        el("td", {}, interval),
        el("td", { text: connected ? "connected" : "" }),
        el(
          "td",
          {},
          info.is_running
            ? el("button", { type: "button", class: "stop", text: "stop", onclick: act("stopLogger", [name, 5000]) })
            : el("button", { type: "button", class: "start", text: "start", onclick: () => act("startLogger", [name, Number(interval.value)])() }),
          connected
            ? el("button", { type: "button", text: "disconnect", onclick: act("disconnectLogger", [name]) })
            : el("button", { type: "button", text: "connect", onclick: act("connectLogger", [name]) }),
        ),
      );
    });
    show(
      "loggers",
      el(
        "table",
        { class: "data", id: "logger-table" },
        el("thead", {}, el("tr", {}, ...["logger", "factory", "state", "interval (ms)", "to this base", ""].map((h) => el("th", { text: h })))),
        el("tbody", {}, ...rows),
      ),
    );
  } catch (error) {
    fail("loggers", error);
  }
}

async function tail() {
  const lines = [];
  let after = 0;
  const poll = async () => {
    try {
      if (after === 0) {
        // Start with the newest records: ask for the last minute's.
        const since = Date.now() - 60e3;
        const first = await api(`/api/logs?${new URLSearchParams({ sentry: guid, since, limit: 200 })}`);
        first.records.forEach((r) => lines.push(r));
        after = first.records.at(-1)?.id ?? 0;
      } else {
        const next = await api(`/api/logs?${new URLSearchParams({ sentry: guid, after, limit: 200 })}`);
        next.records.forEach((r) => lines.push(r));
        if (next.records.length > 0) after = next.records.at(-1).id;
      }
      lines.splice(0, Math.max(0, lines.length - 100));
      show(
        "tail",
        el(
          "table",
          { class: "data" },
          el("thead", {}, el("tr", {}, ...["date", "logger", "seq", "message"].map((h) => el("th", { text: h })))),
          el("tbody", {}, ...[...lines].reverse().map((r) => el("tr", {}, el("td", { text: r.date }), el("td", { text: r.logger }), el("td", { text: cellText(r.seq) }), el("td", { text: r.msg ?? cellText(r.params) })))),
        ),
      );
    } catch (error) {
      fail("tail", error);
    }
  };
  await poll();
  setInterval(poll, 2000);
}

async function host() {
  document.getElementById("range").addEventListener("change", drawCharts);
  document.getElementById("refresh-charts").addEventListener("click", drawCharts);
  await Promise.all([facts(), drawCharts(), loggers(), tail()]);
}

// --- commands -------------------------------------------------------------------------------

function commands() {
  for (const button of document.querySelectorAll("button[data-method]")) {
    button.addEventListener("click", async () => {
      const method = button.dataset.method;
      show("command-result", el("p", { text: `running ${method}...` }));
      try {
        const started = performance.now();
        const result = await call(guid, method);
        const took = Math.round(performance.now() - started);
        show("command-result", el("p", { class: "note", text: `${method}: ${took} ms` }), resultView(result));
        document.getElementById("command-result").dataset.method = method;
      } catch (error) {
        fail("command-result", error);
      }
    });
  }
}

// --- events ---------------------------------------------------------------------------------

async function events() {
  try {
    const [reply, drops] = await Promise.all([
      api(`/api/sentries/${encodeURIComponent(guid)}/events?limit=500`),
      api(`/api/logs?${new URLSearchParams({ sentry: guid, logger: "sentry-spool", limit: 500 })}`),
    ]);
    show("events", sortableTable(reply.events.map((e) => ({ received: when(e.received_ms), kind: e.kind, logger: e.logger, detail: e.detail }))));
    show("drops", drops.records.length === 0 ? el("p", { text: "none reported" }) : sortableTable(drops.records.map((r) => ({ date: r.date, message: r.msg, dropped: r.params.dropped, dropped_total: r.params.dropped_total, base: r.params.base }))));
  } catch (error) {
    fail("events", error);
  }
}

const pages = { fleet, host, commands, events };
pages[page]?.();
