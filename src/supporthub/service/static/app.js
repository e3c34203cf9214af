// The Support Aggregation Hub's page: a table over /search, rows that expand
// through /aggregated-cases/{id} (with its explanation), a Refresh button
// explained by /health, and the steering section: overrides with undo,
// suggestions to accept, merge and move-out from an expanded row.
//
// CRM text is untrusted: every value reaches the page through textContent or
// an attribute set on an element we created, never through innerHTML.
"use strict";

const PAGE_SIZE = 50;
const TOKEN_KEY = "supporthub.token";
const OPERATOR_KEY = "supporthub.operator";
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
  retries: [], // what to run again once a token is given
  // The aggregated cases shown in the table, by id: the choices for a merge.
  shown: new Map(),
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
  const headers = { Accept: "application/json", ...(options.headers || {}) };
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
  // Several requests may be refused at once (the table and the overrides):
  // each runs again once the token is given.
  state.retries.push(retry);
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
  const retries = state.retries;
  state.retries = [];
  for (const retry of retries) retry();
  redrawWriteGates(); // triage.js: the write controls, now that a token is given
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

// A search that finds nothing says how the search box matches.
function showSearchHint(q, total) {
  const hint = $("filter-q-hint");
  hint.hidden = !q || total !== 0;
  hint.textContent = hint.hidden ? "" : `Nothing matches “${q}”. Type the start of each word ` +
    "of a provider, in order (“naka trad” finds Nakatomi Trading), or part of an error code.";
}

function readFilters() {
  const params = new URLSearchParams();
  const q = $("filter-q").value.trim();
  const errorCode = $("filter-error-code").value.trim();
  const status = $("filter-status").value;
  const lifecycle = $("filter-lifecycle").value;
  if (q) params.append("q", q);
  if (errorCode) params.append("errorCode", errorCode);
  if (status) params.append("status", status);
  if (lifecycle) params.append("lifecycle", lifecycle);
  const sort = $("filter-sort").value;
  if (sort) params.append("sort", sort);
  addViewFilter(params); // triage.js
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
    if (reset) {
      body.replaceChildren();
      state.shown.clear();
    }
    for (const aggregated of page.aggregatedCases) {
      state.shown.set(aggregated.id, aggregated);
      body.append(...aggregatedRows(aggregated));
    }
    state.cursor = page.nextCursor;
    $("load-more").hidden = !page.nextCursor;
    const shown = body.querySelectorAll("tr.aggregated").length;
    $("summary").textContent = page.total === 0
      ? "No aggregated case matches."
      : `Showing ${shown} of ${page.total} aggregated cases.`;
    showSearchHint(params.get("q"), page.total);
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
    providerCell(aggregated), // triage.js: isolated from bidi controls
    element("td", aggregated.errorCode ?? "(no error code)", aggregated.errorCode ? "" : "muted"),
    element("td", aggregated.status, `status status-${aggregated.status}`),
    element("td", aggregated.caseCount, "number"),
    element("td", aggregated.openCaseCount, "number"),
    element("td", formatTime(aggregated.lastUpdatedAt)),
    lifecycleCell(aggregated),
    ...triageCells(aggregated), // triage.js
  );
  labelCells(row); // triage.js: each cell names its column, for the phone's cards

  const detail = element("tr", null, "detail");
  detail.id = detailId;
  detail.hidden = true;
  const detailCell = element("td");
  detailCell.colSpan = 12;
  detail.append(detailCell);

  toggle.addEventListener("click", () => toggleCases(aggregated.id, toggle, detail, detailCell));
  return [row, detail];
}

function lifecycleCell(aggregated) {
  const cell = element("td", null, "lifecycle");
  const lifecycle = aggregated.lifecycle;
  if (lifecycle) cell.append(element("span", lifecycle, `badge badge-${lifecycle}`));
  return cell;
}

function describeGroup(aggregated) {
  return `${aggregated.provider ?? "(no provider)"} / ${aggregated.errorCode ?? "(no error code)"}`;
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
    const path = `/aggregated-cases/${encodeURIComponent(id)}`;
    const [aggregated, explanation] = await Promise.all([
      api(`${path}?casesLimit=${CASES_PAGE}`),
      api(`${path}/explain`),
    ]);
    // The cases first, paged; the explanation folded (triage.js).
    cell.replaceChildren(
      pagedCases(aggregated, casesTable),
      sparkline(id),
      workControls(aggregated),
      folded("Why these cases are together", explanationBlock(explanation)),
      mergeForm(aggregated),
      // replies.js adds the reply form, when loaded
      ...(typeof replyPanel === "function" ? [replyPanel(aggregated)] : []),
    );
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
  const caption = element("caption", `${aggregated.caseCount} cases of `);
  caption.append(providerText(aggregated.provider), ` / ${aggregated.errorCode ?? "(no error code)"}`);
  const head = element("thead");
  const headRow = element("tr");
  for (const title of ["CRM", "Number", "Subject", "Status", "Priority", "Updated", "Steer"]) {
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
    const steer = element("td");
    if (aggregated.caseCount > 1) {
      const moveOut = element("button", "Move out", "move-out");
      moveOut.type = "button";
      moveOut.setAttribute("aria-label", `Move case ${item.number ?? item.id} out of this aggregated case`);
      moveOut.addEventListener("click", () => moveCaseOut(aggregated, item));
      steer.append(moveOut);
    }
    row.append(
      element("td", item.source),
      number,
      element("td", item.subject ?? ""),
      element("td", item.status, `status status-${item.status}`),
      element("td", item.priority ?? ""),
      element("td", formatTime(item.updatedAt)),
      steer,
    );
    body.append(row);
  }
  table.append(caption, head, body);
  return table;
}

// -- explanations -----------------------------------------------------------------

function describeKey(key) {
  const provider = key.providerKey === null ? "(no provider)" : `“${key.providerKey}”`;
  const code = key.errorCodeKey === null ? "(no error code)" : `“${key.errorCodeKey}”`;
  const extra = key.extra.map(([name, value]) => ` ${name}=${value}`).join("");
  return `${provider} / ${code}${extra}`;
}

function describeOverride(override) {
  if (override.kind === "alias") return `Alias: “${override.subject}” means “${override.target}”`;
  const target = describeKey(override.target);
  if (override.kind === "merge") return `Merge ${describeKey(override.subject)} into ${target}`;
  return `Move case ${override.subject.source}/${override.subject.id} to ${target}`;
}

function decidedBy(override) {
  return `by ${override.createdBy}, ${formatTime(override.createdAt)}: ${override.reason}`;
}

function explanationBlock(explanation) {
  const block = element("section", null, "explanation");
  block.setAttribute("aria-label", "Why these cases are together");
  block.append(
    element("h4", "Why these cases are together"),
    element("p", `Key ${describeKey(explanation.key)}, made by the rules ${explanation.madeBy} (in force now: ${explanation.rules.join(" → ")}).`),
  );
  const values = element("ul");
  for (const value of explanation.values) {
    const raw = `${value.provider === null ? "(no provider)" : `“${value.provider}”`} / ${value.errorCode === null ? "(no error code)" : `“${value.errorCode}”`}`;
    const steps = value.steps.map((step) => `${step.rule}: ${describeKey(step.key)}`).join(" → ");
    values.append(element("li", `${raw} in ${value.caseCount} case${value.caseCount === 1 ? "" : "s"} → ${steps}`));
  }
  block.append(values);
  if (explanation.overrides.length) {
    const overrides = element("ul", null, "explanation-overrides");
    for (const override of explanation.overrides) {
      overrides.append(element("li", `${describeOverride(override)} (${decidedBy(override)})`));
    }
    block.append(element("p", "Operators' overrides that shape it:"), overrides);
  }
  return block;
}

// -- steering -------------------------------------------------------------------

let formCount = 0;

function labelled(labelText, control) {
  const wrapper = element("div");
  control.id = `steer-${++formCount}`;
  const label = element("label", labelText);
  label.htmlFor = control.id;
  wrapper.append(label, control);
  return wrapper;
}

function operatorName() {
  const name = $("operator-name").value.trim();
  if (!name) {
    steeringOutcome("Say who you are first: fill in “Your name”.", true);
    $("operator-name").focus();
  }
  return name;
}

function steeringOutcome(text, isError = false) {
  const outcome = $("steering-outcome");
  outcome.textContent = text;
  outcome.className = isError ? "error" : "";
}

function describeChange(change) {
  const diff = change.diff;
  const parts = [`${diff.movedCases} case${diff.movedCases === 1 ? "" : "s"} regrouped`];
  if (diff.vanished.length) parts.push(`${diff.vanished.length} aggregated case(s) merged away`);
  if (diff.appeared.length) parts.push(`${diff.appeared.length} new aggregated case(s)`);
  return parts.join(", ");
}

// Sends one write; asks for the API token on 401 and tries again with it.
async function write(path, method, body, done) {
  const options = { method };
  if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers = { "Content-Type": "application/json" };
  }
  try {
    const change = await api(path, options);
    steeringOutcome(`${done}: ${describeChange(change)}.`);
    await Promise.all([loadPage(true), loadOverrides()]);
    if (!$("suggestions").hidden && $("suggestions").childElementCount) await loadSuggestions();
  } catch (error) {
    if (handledAuth(error, "Changing the grouping needs the API token.", () => write(path, method, body, done))) {
      steeringOutcome("Waiting for the API token…");
      return;
    }
    steeringOutcome(`Not changed: ${error.message}`, true);
  }
}

function mergeForm(aggregated) {
  const form = element("form", null, "steer");
  form.setAttribute("aria-label", `Merge ${describeGroup(aggregated)} into another aggregated case`);
  const target = element("select");
  target.required = true;
  target.append(element("option", "choose…"));
  target.options[0].value = "";
  for (const other of state.shown.values()) {
    if (other.id === aggregated.id) continue;
    const option = element("option", `${describeGroup(other)} (${other.caseCount} cases)`);
    option.value = other.id;
    target.append(option);
  }
  const reason = element("input");
  reason.required = true;
  reason.maxLength = 1000;
  reason.autocomplete = "off";
  reason.className = "reason";
  const submit = element("button", "Merge");
  submit.type = "submit";
  form.append(
    element("h4", "Steer"),
    labelled("Merge into", target),
    labelled("Why (for a merge or a move)", reason),
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const by = operatorName();
    if (!by) return;
    write(
      "/overrides",
      "POST",
      { kind: "merge", from: aggregated.id, into: target.value, by, reason: reason.value.trim() },
      "Merged",
    );
  });
  return form;
}

function moveCaseOut(aggregated, item) {
  const cell = $(`cases-${aggregated.id}`);
  const reason = cell ? cell.querySelector("input.reason") : null;
  if (!reason || !reason.value.trim()) {
    steeringOutcome("Say why first, in the “Why” field of the expanded row.", true);
    if (reason) reason.focus();
    return;
  }
  const by = operatorName();
  if (!by) return;
  write(
    "/overrides",
    "POST",
    { kind: "move", source: item.source, caseId: item.id, by, reason: reason.value.trim() },
    "Moved out",
  );
}

async function loadOverrides() {
  let answer;
  try {
    answer = await api("/overrides");
  } catch (error) {
    if (handledAuth(error, "Reading the data needs the access token.", loadOverrides)) return;
    steeringOutcome(error.message, true);
    return;
  }
  const list = $("overrides");
  list.replaceChildren();
  for (const override of answer.overrides) {
    const item = element("li", `${describeOverride(override)} — ${decidedBy(override)}`);
    item.dataset.id = override.id;
    const undo = element("button", "Undo", "small");
    undo.type = "button";
    undo.setAttribute("aria-label", `Undo: ${describeOverride(override)}`);
    undo.addEventListener("click", () => {
      const by = operatorName();
      if (!by) return;
      write(`/overrides/${override.id}?${new URLSearchParams({ by })}`, "DELETE", undefined, "Undone");
    });
    item.append(undo);
    list.append(item);
  }
  $("overrides-empty").hidden = answer.overrides.length > 0;
}

function describeSuggestion(suggestion) {
  if (suggestion.spelling !== undefined) {
    return `“${suggestion.spelling}” is probably “${suggestion.provider}” (${suggestion.caseCount} cases, similarity ${suggestion.score})`;
  }
  const into = suggestion.intoId && state.shown.has(suggestion.intoId)
    ? `into ${describeGroup(state.shown.get(suggestion.intoId))}`
    : suggestion.intoId ? "into an existing aggregated case" : "into one of their own";
  return `${suggestion.cases.length} cases without an error code like “${suggestion.subject}”, ${into}`;
}

async function loadSuggestions() {
  const button = $("find-suggestions");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  let answer;
  try {
    answer = await api("/suggestions");
  } catch (error) {
    if (!handledAuth(error, "Reading the data needs the access token.", loadSuggestions)) {
      steeringOutcome(error.message, true);
    }
    return;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
  const list = $("suggestions");
  list.replaceChildren();
  for (const suggestion of [...answer.aliases, ...answer.groups]) {
    const text = describeSuggestion(suggestion);
    const item = element("li", text);
    const accept = element("button", "Accept", "small");
    accept.type = "button";
    accept.setAttribute("aria-label", `Accept: ${text}`);
    accept.addEventListener("click", () => {
      const by = operatorName();
      if (!by) return;
      write(
        `/suggestions/${encodeURIComponent(suggestion.id)}/accept`,
        "POST",
        { by, reason: `accepted the suggestion: ${text}`.slice(0, 1000) },
        "Accepted",
      );
    });
    item.append(accept);
    list.append(item);
  }
  $("suggestions-empty").hidden = list.childElementCount > 0;
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
  redrawWriteGates(); // triage.js: whether writes need the token
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
  $("filter-lifecycle").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      $("filters").requestSubmit();
    }
  });
  const operator = $("operator-name");
  operator.value = sessionStorage.getItem(OPERATOR_KEY) || "";
  operator.addEventListener("change", () => sessionStorage.setItem(OPERATOR_KEY, operator.value.trim()));
  $("find-suggestions").addEventListener("click", loadSuggestions);

  loadPage(true);
  loadHealth();
  loadOverrides();
  setInterval(() => {
    showRefreshState();
    showAge();
  }, 1000);
  setInterval(loadHealth, HEALTH_POLL_MS);
}

document.addEventListener("DOMContentLoaded", start);
