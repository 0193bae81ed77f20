// Live logs of an app or of one of its functions: server-sent events read from a fetch()
// stream (the token stays in the Authorization header), filtered by the gateway, resumed from
// the last line seen after a drop.

import { ApiError, UnreachableError, segment } from "../api.js";
import { emptyState, fill, formatTime, h, pause, route } from "../dom.js";

// Lines asked for on a first connect (and after a filter change): the last ones, not the days
// the gateway keeps. A reconnect goes on from the last line seen instead.
const TAIL_LINES = 500;
// Lines kept on the page; older ones are dropped from the top.
const MAX_SHOWN_LINES = 2000;
// Waits before reconnecting: doubled after each failure up to the most, reset once connected.
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MOST_MS = 5000;
const FILTER_DELAY_MS = 300;

/** The stream's address: the tail when no line was seen yet, else the lines after the last. */
function streamPath(path, filterText, afterId) {
  // A gateway without `tail` ignores it and starts from its oldest line kept: the page then
  // shows the last MAX_SHOWN_LINES of those.
  const query = new URLSearchParams(
    afterId === null ? { tail: String(TAIL_LINES) } : { after_id: String(afterId) },
  );
  if (filterText) query.set("filter", filterText);
  return `${path}?${query}`;
}

function lineElement(line) {
  return h(
    "div",
    { class: "log-line", dataset: { stream: line.stream, id: line.id } },
    h("time", { class: "muted" }, formatTime(line.created_at)),
    h("span", { class: "log-function" }, line.function),
    h("span", { class: "log-text" }, line.line),
  );
}

export function showLogs(context, app, fn) {
  const path = `/v1/apps/${segment(app)}${fn ? `/functions/${segment(fn)}` : ""}/logs`;
  const state = h("span", { class: "live-state", dataset: { state: "connecting" } });
  const filter = h("input", {
    type: "search",
    name: "filter",
    placeholder: "Only lines containing…",
    "aria-label": "Filter",
    maxlength: 200,
    autocomplete: "off",
  });
  const lines = h("div", { class: "log", role: "log", "aria-live": "polite" });
  const empty = emptyState("No log lines yet.", "Lines appear here as the functions print them.");
  fill(
    context.root,
    h(
      "header",
      { class: "page-head" },
      h("h1", {}, fn ? `Logs of ${fn}` : "Logs"),
      h("a", { href: route("apps", app) }, app),
      state,
    ),
    h("form", { class: "filters", onsubmit: (event) => event.preventDefault() }, filter),
    empty,
    lines,
  );

  let controller = null;
  const setState = (name, text) => {
    state.dataset.state = name;
    state.textContent = text;
  };
  // One batch at a time: one fragment, one read of the layout (whether the reader is at the
  // bottom), however many lines came.
  const append = (batch) => {
    if (!batch.length) return;
    const atBottom = lines.scrollHeight - lines.scrollTop - lines.clientHeight < 40;
    const fragment = document.createDocumentFragment();
    for (const line of batch.slice(-MAX_SHOWN_LINES)) fragment.append(lineElement(line));
    lines.append(fragment);
    for (let extra = lines.childElementCount - MAX_SHOWN_LINES; extra > 0; extra -= 1) {
      lines.firstElementChild.remove();
    }
    empty.hidden = true;
    if (atBottom) lines.scrollTop = lines.scrollHeight;
  };

  /** Reads one connection until it ends; false when the view must stop (token refused). */
  async function read(signal, filterText, position) {
    const address = streamPath(path, filterText, position.afterId);
    const batches = await context.api.events(address, { signal });
    setState("live", "live");
    position.waitMs = RECONNECT_FIRST_MS;
    for await (const events of batches) {
      const batch = [];
      for (const event of events) {
        if (event.event === "log") {
          const line = JSON.parse(event.data);
          position.afterId = line.id;
          batch.push(line);
        } else if (event.event === "error") {
          append(batch);
          context.signOut(JSON.parse(event.data).error.message);
          return false;
        }
      }
      append(batch);
    }
    return true;
  }

  async function follow(signal, filterText) {
    const position = { afterId: null, waitMs: RECONNECT_FIRST_MS };
    setState("connecting", "connecting…");
    while (!signal.aborted) {
      try {
        if (!(await read(signal, filterText, position))) return;
        setState("reconnecting", "reconnecting…");
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && error.status !== 429) {
          setState("ended", error.message);
          return;
        }
        if (error instanceof ApiError) {
          setState("reconnecting", `${error.message}; reconnecting…`);
        } else {
          // Whatever else broke the stream, the page says so and tries again: it never stays
          // "live" on a dead connection.
          if (!(error instanceof UnreachableError)) console.error("the log stream failed", error);
          setState("unreachable", "cannot reach the gateway; reconnecting…");
        }
      }
      // Jittered, so that many tabs do not come back at the same instant.
      await pause(position.waitMs * (0.5 + Math.random() / 2), signal);
      position.waitMs = Math.min(position.waitMs * 2, RECONNECT_MOST_MS);
    }
  }

  const restart = () => {
    controller?.abort();
    controller = new AbortController();
    lines.replaceChildren();
    empty.hidden = false;
    follow(controller.signal, filter.value.trim());
  };
  let typing = null;
  filter.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(restart, FILTER_DELAY_MS);
  });
  restart();
  return () => {
    clearTimeout(typing);
    controller?.abort();
  };
}
