// Replies on the page: in an expanded aggregated case, a form to answer every
// customer at once, a confirmation that says how many customers in which CRMs
// will get it (GET …/replies/preview), the live progress of a reply
// (GET /replies/{id}), and the earlier replies with "Stop auto-reply".
//
// Loaded after app.js, whose helpers it uses ($, api, element, labelled,
// operatorName, handledAuth). CRM text goes through textContent only.
"use strict";

const REPLY_POLL_MS = 1000;
const MAX_MESSAGE = 4000;

function replySelect(options, chosen) {
  const select = element("select");
  for (const [value, text] of options) {
    const option = element("option", text);
    option.value = value;
    option.selected = value === chosen;
    select.append(option);
  }
  return select;
}

function replyCheckbox(labelText, checked) {
  const box = element("input");
  box.type = "checkbox";
  box.checked = checked;
  return [box, labelled(labelText, box)];
}

function describeReply(reply) {
  const parts = [`${reply.delivered} delivered`, `${reply.failed} failed`, `${reply.pending} pending`];
  return `${reply.state}: ${parts.join(", ")} of ${reply.targets}`;
}

function replyStatusBlock(reply) {
  const block = element("div", null, "reply-status");
  const meter = element("progress");
  meter.max = Math.max(1, reply.targets);
  meter.value = reply.delivered + reply.failed;
  meter.setAttribute("aria-label", "Reply delivered");
  const text = element("p", describeReply(reply));
  text.setAttribute("role", "status");
  block.append(meter, text);
  const failures = (reply.cases || []).filter((c) => c.state === "failed");
  if (failures.length) {
    const list = element("ul", null, "reply-failures");
    for (const failure of failures.slice(0, 50)) {
      list.append(element("li", `${failure.source} ${failure.caseId}: ${failure.error ?? "refused"}`));
    }
    block.append(list);
  }
  return block;
}

// Follows one reply until nothing of it is pending, redrawing `place`.
async function followReply(replyId, place) {
  for (;;) {
    let reply;
    try {
      reply = await api(`/replies/${encodeURIComponent(replyId)}`);
    } catch (error) {
      place.replaceChildren(element("p", `Progress unavailable: ${error.message}`, "error"));
      return;
    }
    place.replaceChildren(replyStatusBlock(reply));
    if (reply.state !== "delivering") return;
    await new Promise((resolve) => setTimeout(resolve, REPLY_POLL_MS));
  }
}

async function loadReplies(aggregated, list) {
  let answer;
  try {
    answer = await api(`/aggregated-cases/${encodeURIComponent(aggregated.id)}/replies`);
  } catch (error) {
    list.replaceChildren(element("li", error.message, "error"));
    return;
  }
  list.replaceChildren();
  for (const reply of answer.replies) {
    const item = element("li");
    item.append(element("span", `${reply.by}: “${reply.message.slice(0, 80)}” — ${describeReply(reply)}`));
    if (reply.autoReplyActive) {
      const stop = element("button", "Stop auto-reply", "small");
      stop.type = "button";
      stop.addEventListener("click", () => stopReply(reply, aggregated, list));
      item.append(stop);
    }
    list.append(item);
  }
}

async function stopReply(reply, aggregated, list) {
  const by = operatorName();
  if (!by) return;
  try {
    await api(`/replies/${encodeURIComponent(reply.id)}/stop`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ by }),
    });
  } catch (error) {
    if (handledAuth(error, "Stopping an auto-reply needs the API token.", () => stopReply(reply, aggregated, list))) return;
    list.append(element("li", `Not stopped: ${error.message}`, "error"));
    return;
  }
  await loadReplies(aggregated, list);
}

// The reply section of one expanded aggregated case.
function replyPanel(aggregated) {
  const section = element("section", null, "reply");
  section.setAttribute("aria-label", `Reply to every customer of ${describeGroup(aggregated)}`);
  const form = element("form", null, "steer reply-form");
  const message = element("textarea");
  message.required = true;
  message.maxLength = MAX_MESSAGE;
  message.rows = 4;
  message.className = "reply-message";
  const [isPublic, publicField] = replyCheckbox("Public (the customer sees it; else an internal note)", true);
  const status = replySelect([["", "leave the status"], ["pending", "waiting on the customer"], ["solved", "solved"]], "");
  const scope = replySelect([["open", "open cases"], ["all", "all cases"]], "open");
  const [auto, autoField] = replyCheckbox("Auto-reply: also answer open cases that join later", false);
  const review = element("button", "Review reply");
  review.type = "submit";
  const confirmation = element("div", null, "reply-confirm");
  confirmation.setAttribute("aria-live", "polite");
  const progress = element("div", null, "reply-progress");
  const earlier = element("ul", null, "steering-list reply-list");
  form.append(
    labelled("Message", message),
    publicField,
    labelled("Set status", status),
    labelled("Send to", scope),
    autoField,
    review,
  );

  function body(by) {
    return {
      message: message.value,
      by,
      public: isPublic.checked,
      setStatus: status.value || null,
      scope: scope.value,
      autoReply: auto.checked,
    };
  }

  async function send(by) {
    confirmation.replaceChildren(element("p", "Sending…", "muted"));
    let accepted;
    try {
      accepted = await api(`/aggregated-cases/${encodeURIComponent(aggregated.id)}/replies`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body(by)),
      });
    } catch (error) {
      if (handledAuth(error, "Replying needs the API token.", () => send(by))) return;
      confirmation.replaceChildren(element("p", `Not sent: ${error.message}`, "error"));
      return;
    }
    confirmation.replaceChildren(element("p", `Reply queued for ${accepted.targets} case(s).`));
    message.value = "";
    await followReply(accepted.id, progress);
    await loadReplies(aggregated, earlier);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const by = operatorName();
    if (!by || !message.value.trim()) return;
    let preview;
    try {
      const query = new URLSearchParams({ scope: scope.value });
      preview = await api(`/aggregated-cases/${encodeURIComponent(aggregated.id)}/replies/preview?${query}`);
    } catch (error) {
      confirmation.replaceChildren(element("p", error.message, "error"));
      return;
    }
    const perSource = Object.entries(preview.bySource).map(([source, n]) => `${n} in ${source}`);
    const words = preview.targets
      ? `This sends the message to ${preview.targets} customer case(s): ${perSource.join(", ")}.`
      : "No case matches: nobody would get it now.";
    const send_ = element("button", "Send");
    send_.type = "button";
    send_.disabled = !preview.targets && !auto.checked;
    const cancel = element("button", "Cancel");
    cancel.type = "button";
    cancel.addEventListener("click", () => confirmation.replaceChildren());
    send_.addEventListener("click", () => send(by));
    const parts = [element("p", words)];
    for (const [source, reason] of Object.entries(preview.unwritable)) {
      parts.push(element("p", `${source}: ${reason}; those cases will be marked failed.`, "error"));
    }
    confirmation.replaceChildren(...parts, send_, cancel);
    send_.focus();
  });

  // The form only for a user who may write (triage.js); the replies so far for all.
  const gate = writeGate(() => form, "Replying to the customers");
  section.append(element("h4", "Reply to every customer"), gate, confirmation, progress, element("h4", "Replies so far"), earlier);
  loadReplies(aggregated, earlier);
  return section;
}
