// Triage on the page (contract §7): the owner, state, first-seen and recent
// columns, the "mine" and "unowned" views, claim / state / tracker controls
// on an opened aggregated case, its cases paged (casesLimit/casesCursor),
// a 14-day sparkline, and the explanation folded away.
//
// Loaded before app.js, which calls these functions; like app.js it puts CRM
// text on the page only through textContent. Provider names sit in <bdi>, so
// a right-to-left override inside one cannot reorder what follows it.
"use strict";

const CASES_PAGE = 50;
const SPARK = "▁▂▃▄▅▆▇█";

function triageElement(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

// A provider name, isolated from the text around it.
function providerText(provider) {
  const bdi = triageElement("bdi", provider ?? "(no provider)");
  if (!provider) bdi.className = "muted";
  return bdi;
}

function providerCell(aggregated) {
  const cell = triageElement("td", null, "provider");
  cell.append(providerText(aggregated.provider));
  return cell;
}

function triageDate(iso) {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : "—";
}

// The four §7 columns of a row: owner, state, first seen, recent cases.
function triageCells(aggregated) {
  const owner = triageElement("td", null, "owner");
  if (aggregated.owner) owner.append(triageElement("bdi", aggregated.owner));
  else owner.append(triageElement("span", "unowned", "muted"));
  return [
    owner,
    triageElement("td", aggregated.state, `state state-${aggregated.state}`),
    triageElement("td", triageDate(aggregated.firstSeenAt), "first-seen"),
    triageElement("td", aggregated.recentCaseCount, "number recent"),
  ];
}

// The view picked above the table: everything, mine (owner = your name), unowned.
function addViewFilter(params) {
  const view = document.getElementById("filter-view").value;
  if (view === "unowned") params.append("owner", "none");
  if (view === "mine") {
    const me = document.getElementById("operator-name").value.trim();
    // Nobody is called "none": with no name given, "mine" matches nobody.
    params.append("owner", me || "\u0000");
  }
}

// -- the opened aggregated case ------------------------------------------------

async function triagePatch(id, body, outcome, done) {
  const name = document.getElementById("operator-name").value.trim();
  if (!name) {
    outcome.textContent = "Say who you are first: fill in “Your name” below the table.";
    outcome.className = "error";
    document.getElementById("operator-name").focus();
    return;
  }
  try {
    const changed = await api(`/aggregated-cases/${encodeURIComponent(id)}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ...body, by: name }),
    });
    outcome.className = "";
    outcome.textContent = `Saved: owner ${changed.owner ?? "nobody"}, state ${changed.state}.`;
    done(changed);
  } catch (error) {
    if (handledAuth(error, "Changing the work needs the API token.", () => triagePatch(id, body, outcome, done))) {
      outcome.textContent = "Waiting for the API token…";
      return;
    }
    outcome.className = "error";
    outcome.textContent = `Not changed: ${error.message}`;
  }
}

let triageControlCount = 0;

function triageLabelled(text, control) {
  const wrapper = triageElement("div");
  control.id = `triage-${++triageControlCount}`;
  const label = triageElement("label", text);
  label.htmlFor = control.id;
  wrapper.append(label, control);
  return wrapper;
}

// -- who may write ---------------------------------------------------------------

// Write controls (claim, state, tracker link, the reply form) show only to a
// user who can use them: one who gave a token in this tab, or anyone when the
// service takes writes without one (/health says so in writesNeedToken).
// Until /health has answered, the page assumes writes need the token.
function mayWrite() {
  return Boolean(token()) || (state.health !== null && state.health.writesNeedToken === false);
}

const writeGates = new Set();

// A place for write controls: build() when the user may write; else what
// needs the token and a button that asks for it. Redrawn when a token is
// given or /health answers (redrawWriteGates).
function writeGate(build, what) {
  const place = triageElement("div", null, "write-gate");
  let open = false;
  place.draw = (focus) => {
    if (open) return;
    if (mayWrite()) {
      open = true;
      place.replaceChildren(build());
      if (focus) place.querySelector("button, input, select, textarea")?.focus();
      return;
    }
    const ask = triageElement("button", "Give the API token", "small give-token");
    ask.type = "button";
    ask.addEventListener("click", () => askForToken(`${what} needs the API token.`, () => place.draw(true)));
    place.replaceChildren(triageElement("p", `${what} needs the API token.`, "muted"), ask);
  };
  place.draw(false);
  writeGates.add(place);
  return place;
}

function redrawWriteGates() {
  for (const place of writeGates) {
    if (place.isConnected) place.draw(false);
    else writeGates.delete(place);
  }
}

// -- the opened aggregated case's work --------------------------------------------

// Who owns it, its state and tracker link for everybody; the controls that
// change them for a user who may write.
function workControls(aggregated) {
  const block = triageElement("section", null, "work");
  block.setAttribute("aria-label", "Work on this aggregated case");
  const summary = triageElement("p", null, "work-summary");
  const show = (current) => {
    summary.replaceChildren(
      "Owner: ",
      current.owner ? triageElement("bdi", current.owner) : "nobody",
      ` · state ${current.state}`,
    );
    if (current.trackerUrl) {
      const link = triageElement("a", "tracker ticket");
      link.href = current.trackerUrl;
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      summary.append(" · ", link);
    }
  };
  show(aggregated);
  const gate = writeGate(
    () => workForm(aggregated, show),
    "Claiming it or changing its state or tracker link",
  );
  block.append(triageElement("h4", "Work"), summary, gate);
  return block;
}

function workForm(aggregated, show) {
  const form = triageElement("form", null, "work-form");
  form.setAttribute("aria-label", "Change the work on this aggregated case");
  const outcome = triageElement("p", null, "work-outcome");
  outcome.setAttribute("role", "status");
  const saved = (changed) => { show(changed); loadPage(true); };

  const claim = triageElement("button", "Claim", "small claim");
  claim.type = "button";
  claim.addEventListener("click", () => triagePatch(aggregated.id, { claim: true }, outcome, saved));
  const release = triageElement("button", "Release", "small");
  release.type = "button";
  release.addEventListener("click", () => triagePatch(aggregated.id, { owner: null }, outcome, saved));

  const stateSelect = triageElement("select");
  for (const value of ["untriaged", "investigating", "fixed", "ignored", "regressed"]) {
    const option = triageElement("option", value);
    option.value = value;
    option.selected = value === aggregated.state;
    stateSelect.append(option);
  }
  const tracker = triageElement("input");
  tracker.type = "url";
  tracker.maxLength = 2000;
  tracker.placeholder = "https://…";
  tracker.value = aggregated.trackerUrl ?? "";
  const save = triageElement("button", "Save", "small");
  save.type = "submit";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const link = tracker.value.trim();
    triagePatch(aggregated.id, { state: stateSelect.value, trackerUrl: link || null }, outcome, saved);
  });
  form.append(
    claim,
    release,
    triageLabelled("State", stateSelect),
    triageLabelled("Tracker link", tracker),
    save,
    outcome,
  );
  return form;
}

// At a phone's width each row of the aggregated cases is drawn as a card
// (triage.css): every cell says which column it is, from the header.
function labelCells(row) {
  const titles = [...document.querySelectorAll("#aggregated-cases thead th")].map((th) => th.textContent);
  // The first column, the button, names itself.
  [...row.cells].forEach((cell, n) => {
    if (n > 0 && titles[n]) cell.dataset.label = titles[n];
  });
  return row;
}

// The cases, a page at a time; `render` builds a table from an answer.
function pagedCases(aggregated, render) {
  const block = triageElement("section", null, "case-pages");
  block.setAttribute("aria-label", "Cases");
  const box = triageElement("div", null, "table-box");
  const table = render(aggregated);
  box.append(table);
  const more = triageElement("button", "More cases", "small more-cases");
  more.type = "button";
  let cursor = aggregated.nextCasesCursor;
  more.hidden = !cursor;
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const params = new URLSearchParams({ casesLimit: String(CASES_PAGE), casesCursor: cursor });
      const next = await api(`/aggregated-cases/${encodeURIComponent(aggregated.id)}?${params}`);
      const rows = render(next).tBodies[0].rows;
      table.tBodies[0].append(...rows);
      cursor = next.nextCasesCursor;
      more.hidden = !cursor;
    } catch (error) {
      block.append(triageElement("p", error.message, "error"));
    } finally {
      more.disabled = false;
    }
  });
  block.append(box, more);
  return block;
}

// A 14-day sparkline of cases created per day, from one request.
function sparkline(id) {
  const line = triageElement("p", null, "sparkline");
  api(`/aggregated-cases/${encodeURIComponent(id)}/trend`).then((trend) => {
    const counts = trend.days.map((day) => day.cases);
    const top = Math.max(1, ...counts);
    const bars = counts.map((n) => (n ? SPARK[Math.min(7, Math.floor((n / top) * 7))] : " ")).join("");
    const chart = triageElement("span", bars, "bars");
    chart.setAttribute("aria-hidden", "true");
    line.replaceChildren(
      "Cases per day, last 14 days: ",
      chart,
      triageElement("span", ` (${counts.join(", ")})`, "visually-hidden"),
      triageElement("span", ` ${counts.reduce((a, b) => a + b, 0)} in all`, "muted"),
    );
  }, () => line.remove());
  return line;
}

// The explanation, folded: the cases come first.
function folded(title, content) {
  const details = triageElement("details", null, "folded");
  details.append(triageElement("summary", title), content);
  return details;
}
