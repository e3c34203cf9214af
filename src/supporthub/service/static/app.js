// The Support Aggregation Hub's page: a table over /search, rows that expand
// through /aggregated-cases/{id}, and a Refresh button explained by /health.
//
// CRM text is untrusted: every value reaches the page through textContent or
// an attribute set on an element we created, never through innerHTML.
"use strict";

const PAGE_SIZE = 50;
const TOKEN_KEY = "supporthub.token";
const HEALTH_POLL_MS = 30000;

const $ = (id) => document.getElementById(id);

const state = {
  filters: new URLSearchParams(),
  cursor: null,
  loading: false,
  // Each reset load gets a new number; an answer for an older one is dropped,
  // so quick successive filter submissions show the last one's result.
  generation: 0,
  health: null,
  refreshing: false,
  refreshedAt: null,
  // Server clock minus browser clock, so countdowns follow the server's times.
  clockOffsetMs: 0,
  retry: null, // what to run again once a token is given
};

// -- talking to the service ---------------------------------------------------

class HttpError extends Error {
  constructor(status, body) {
    super((body && body.error) || `the service answered ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json" };
  const saved = token();
  if (saved) headers.Authorization = `Bearer ${saved}`;
  const response = await fetch(path, { ...options, headers });
  noteServerClock(response);
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = null;
  }
  if (!response.ok) throw new HttpError(response.status, body);
  return body;
}

function noteServerClock(response) {
  const date = Date.parse(response.headers.get("Date") || "");
  if (Number.isNaN(date)) return;
  const offset = date - Date.now();
  // The Date header has whole seconds: correct only a real skew.
  state.clockOffsetMs = Math.abs(offset) > 5000 ? offset : 0;
}

function serverNow() {
  return Date.now() + state.clockOffsetMs;
}

// -- the token ----------------------------------------------------------------

function askForToken(reason, retry) {
  state.retry = retry;
  $("token-reason").textContent = reason;
  $("token-form").hidden = false;
  $("token-input").focus();
}

function onTokenSubmit(event) {
  event.preventDefault();
  const value = $("token-input").value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  $("token-input").value = "";
  $("token-form").hidden = true;
  const retry = state.retry;
  state.retry = null;
  if (retry) retry();
}

// Returns true when the error was a 401 and the page now asks for a token.
function handledAuth(error, reason, retry) {
  if (!(error instanceof HttpError) || error.status !== 401) return false;
  askForToken(token() ? `That token was not accepted. ${reason}` : reason, retry);
  return true;
}

// -- formatting ---------------------------------------------------------------

function formatTime(iso) {
  if (!iso) return "—";
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

function formatDuration(seconds) {
  seconds = Math.max(0, Math.ceil(seconds));
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = String(seconds % 60).padStart(2, "0");
  if (hours) return `${hours} h ${String(minutes).padStart(2, "0")} min`;
  return minutes ? `${minutes} min ${rest} s` : `${seconds % 60} s`;
}

function formatAge(iso) {
  const seconds = (serverNow() - Date.parse(iso)) / 1000;
  if (seconds < 60) return "less than a minute ago";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min ago`;
  return `${Math.floor(seconds / 86400)} days ago`;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function showAge() {
  const age = $("data-age");
  if (!state.refreshedAt) {
    if (state.health) age.textContent = "No data fetched yet.";
    return;
  }
  age.textContent = `Data refreshed ${formatAge(state.refreshedAt)} (${formatTime(state.refreshedAt)}).`;
  age.dataset.refreshedAt = state.refreshedAt;
}

// -- the table ----------------------------------------------------------------

function readFilters() {
  const params = new URLSearchParams();
  const provider = $("filter-provider").value.trim();
  const errorCode = $("filter-error-code").value.trim();
  const status = $("filter-status").value;
  if (provider) params.append("provider", provider);
  if (errorCode) params.append("errorCode", errorCode);
  if (status) params.append("status", status);
  return params;
}

async function loadPage(reset) {
  if (!reset && state.loading) return; // "Load more" while a page is on its way
  const generation = reset ? ++state.generation : state.generation;
  state.loading = true;
  const params = new URLSearchParams(state.filters);
  params.set("casesLimit", "0");
  params.set("limit", String(PAGE_SIZE));
  if (!reset && state.cursor) params.set("cursor", state.cursor);
  const table = $("aggregated-cases");
  table.setAttribute("aria-busy", "true");
  $("load-error").hidden = true;
  try {
    const page = await api(`/search?${params}`);
    if (generation !== state.generation) return;
    const body = table.tBodies[0];
    if (reset) body.replaceChildren();
    for (const aggregated of page.aggregatedCases) body.append(...aggregatedRows(aggregated));
    state.cursor = page.nextCursor;
    $("load-more").hidden = !page.nextCursor;
    const shown = body.querySelectorAll("tr.aggregated").length;
    $("summary").textContent = page.total === 0
      ? "No aggregated case matches."
      : `Showing ${shown} of ${page.total} aggregated cases.`;
    state.refreshedAt = page.refreshedAt;
    showAge();
  } catch (error) {
    if (generation !== state.generation) return;
    if (handledAuth(error, "Reading the data needs the access token.", () => loadPage(reset))) return;
    const message = $("load-error");
    message.textContent = error.message;
    message.hidden = false;
  } finally {
    if (generation === state.generation) {
      state.loading = false;
      table.removeAttribute("aria-busy");
    }
  }
}

function aggregatedRows(aggregated) {
  const row = element("tr", null, "aggregated");
  row.dataset.id = aggregated.id;
  const detailId = `cases-${aggregated.id}`;

  const toggle = element("button", "Show cases", "toggle");
  toggle.type = "button";
  toggle.setAttribute("aria-expanded", "false");
  toggle.setAttribute("aria-controls", detailId);
  toggle.setAttribute(
    "aria-label",
    `Show the cases of ${aggregated.provider || "no provider"} ${aggregated.errorCode || "no error code"}`,
  );
  const toggleCell = element("td");
  toggleCell.append(toggle);

  row.append(
    toggleCell,
    element("td", aggregated.provider ?? "(no provider)", aggregated.provider ? "" : "muted"),
    element("td", aggregated.errorCode ?? "(no error code)", aggregated.errorCode ? "" : "muted"),
    element("td", aggregated.status, `status status-${aggregated.status}`),
    element("td", aggregated.caseCount, "number"),
    element("td", aggregated.openCaseCount, "number"),
    element("td", formatTime(aggregated.lastUpdatedAt)),
  );

  const detail = element("tr", null, "detail");
  detail.id = detailId;
  detail.hidden = true;
  const detailCell = element("td");
  detailCell.colSpan = 7;
  detail.append(detailCell);

  toggle.addEventListener("click", () => toggleCases(aggregated.id, toggle, detail, detailCell));
  return [row, detail];
}

async function toggleCases(id, toggle, detail, cell) {
  const open = toggle.getAttribute("aria-expanded") === "true";
  if (open) {
    toggle.setAttribute("aria-expanded", "false");
    toggle.textContent = "Show cases";
    detail.hidden = true;
    return;
  }
  toggle.setAttribute("aria-expanded", "true");
  toggle.textContent = "Hide cases";
  detail.hidden = false;
  if (cell.dataset.loaded) return;
  cell.replaceChildren(element("p", "Loading the cases…", "muted"));
  try {
    const aggregated = await api(`/aggregated-cases/${encodeURIComponent(id)}`);
    cell.replaceChildren(casesTable(aggregated));
    cell.dataset.loaded = "true";
  } catch (error) {
    if (handledAuth(error, "Reading the data needs the access token.", () => {
      toggle.setAttribute("aria-expanded", "false");
      toggleCases(id, toggle, detail, cell);
    })) return;
    cell.replaceChildren(element("p", error.message, "error"));
  }
}

// Only links a browser follows safely: never javascript:, data: or vbscript:.
function safeLink(url) {
  if (!url) return null;
  try {
    const parsed = new URL(url, window.location.href);
    return ["javascript:", "data:", "vbscript:"].includes(parsed.protocol) ? null : parsed.href;
  } catch (_) {
    return null;
  }
}

function casesTable(aggregated) {
  const table = element("table", null, "cases");
  const caption = element(
    "caption",
    `${aggregated.caseCount} cases of ${aggregated.provider ?? "(no provider)"} / ${aggregated.errorCode ?? "(no error code)"}`,
  );
  const head = element("thead");
  const headRow = element("tr");
  for (const title of ["CRM", "Number", "Subject", "Status", "Priority", "Updated"]) {
    const th = element("th", title);
    th.scope = "col";
    headRow.append(th);
  }
  head.append(headRow);
  const body = element("tbody");
  for (const item of aggregated.cases) {
    const number = element("td");
    const href = safeLink(item.url);
    if (href) {
      const link = element("a", item.number ?? item.id);
      link.href = href;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      number.append(link);
    } else {
      number.textContent = item.number ?? item.id;
    }
    const row = element("tr", null, "case");
    row.append(
      element("td", item.source),
      number,
      element("td", item.subject ?? ""),
      element("td", item.status, `status status-${item.status}`),
      element("td", item.priority ?? ""),
      element("td", formatTime(item.updatedAt)),
    );
    body.append(row);
  }
  table.append(caption, head, body);
  return table;
}

// -- the Refresh button ---------------------------------------------------------

// The rule of the contract: enabled exactly when some enabled source's
// refreshableAt has passed. Returns {enabled, reason, waitMs}.
function refreshState(health) {
  if (!health) return { enabled: false, reason: "Checking whether a refresh is possible…" };
  if (health.database !== "ok") {
    return { enabled: false, reason: "The database is unavailable; refreshing is not possible now." };
  }
  const times = Object.values(health.sources || {})
    .filter((source) => source.enabled !== false && source.refreshableAt)
    .map((source) => ({ at: Date.parse(source.refreshableAt), failing: !!source.lastError }));
  if (times.length === 0) {
    return { enabled: false, reason: "No CRM source is configured." };
  }
  const now = serverNow();
  if (times.some((t) => t.at <= now)) {
    const running = health.refreshing ? " A refresh is running; a click waits for it." : "";
    return { enabled: true, reason: `Fetches what changed in the CRMs that are due.${running}` };
  }
  const first = Math.min(...times.map((t) => t.at));
  const minutes = Math.round(health.minRefreshAgeSeconds / 60);
  const backoff = times.some((t) => t.failing) ? " A failing CRM is given a pause." : "";
  return {
    enabled: false,
    reason: `The data is fresh: CRMs are fetched again once their data is ${minutes} min old.${backoff} Refresh possible in ${formatDuration((first - now) / 1000)}.`,
    waitMs: first - now,
  };
}

function showRefreshState() {
  if (state.refreshing) return;
  const { enabled, reason, waitMs } = refreshState(state.health);
  const button = $("refresh-button");
  button.disabled = !enabled;
  $("refresh-status").textContent = reason;
  // At the end of the countdown ask the service again, so the button
  // follows what /refresh would answer rather than the browser's clock alone.
  if (waitMs !== undefined && waitMs <= 1000) setTimeout(loadHealth, Math.max(waitMs, 0) + 250);
}

async function loadHealth() {
  try {
    state.health = await api("/health");
  } catch (error) {
    state.health = error instanceof HttpError ? error.body : null;
    if (!state.health || !state.health.sources) {
      state.health = { database: "unavailable", sources: {} };
    }
  }
  if (state.health.refreshedAt && !state.refreshedAt) state.refreshedAt = state.health.refreshedAt;
  showRefreshState();
  showAge();
}

function showResult(report) {
  const list = $("refresh-result");
  list.replaceChildren();
  for (const [name, source] of Object.entries(report.sources)) {
    let text;
    if (!source.ok) text = `${name}: error — ${source.error}`;
    else if (source.due === false) text = `${name}: not due (its data is still fresh)`;
    else text = `${name}: ok — fetched ${source.fetched}, skipped ${source.skipped}`;
    list.append(element("li", text, source.ok ? "ok" : "error"));
  }
  list.hidden = false;
}

async function onRefresh() {
  const button = $("refresh-button");
  const status = $("refresh-status");
  const progress = $("refresh-progress");
  state.refreshing = true;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  progress.hidden = false;
  $("refresh-result").hidden = true;
  $("refresh-outcome").textContent = "";
  const started = Date.now();
  const tick = () => {
    status.textContent = `Refreshing… ${formatDuration((Date.now() - started) / 1000)}`;
  };
  tick();
  const ticker = setInterval(tick, 1000);
  let after = null;
  try {
    const report = await api("/refresh", { method: "POST" });
    showResult(report);
    after = report.ok ? "Refresh finished." : "Refresh finished; a CRM failed (see below).";
    await loadPage(true);
  } catch (error) {
    if (!handledAuth(error, "Refreshing needs the API token.", onRefresh)) {
      if (error.status === 429) {
        after = `Not refreshed: ${error.message}`;
      } else if (error.status === 409) {
        after = "Another refresh is still running; its result will show here shortly.";
      } else {
        after = `Refresh failed: ${error.message}`;
      }
    }
  } finally {
    clearInterval(ticker);
    progress.hidden = true;
    button.removeAttribute("aria-busy");
    state.refreshing = false;
  }
  $("refresh-outcome").textContent = after || "";
  await loadHealth();
}

// -- start ----------------------------------------------------------------------

function start() {
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.filters = readFilters();
    state.cursor = null;
    loadPage(true);
  });
  $("filters").addEventListener("reset", () => {
    state.filters = new URLSearchParams();
    state.cursor = null;
    setTimeout(() => loadPage(true));
  });
  // A select does not submit its form on Enter by itself.
  $("filter-status").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      $("filters").requestSubmit();
    }
  });
  $("load-more").addEventListener("click", () => loadPage(false));
  $("refresh-button").addEventListener("click", onRefresh);
  $("token-form").addEventListener("submit", onTokenSubmit);

  loadPage(true);
  loadHealth();
  setInterval(() => {
    showRefreshState();
    showAge();
  }, 1000);
  setInterval(loadHealth, HEALTH_POLL_MS);
}

document.addEventListener("DOMContentLoaded", start);
