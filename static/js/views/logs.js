// Live logs of an app or of one of its functions: server-sent events read from a fetch()
// stream (the token stays in the Authorization header), filtered by the gateway, resumed from
// the last line seen after a drop.

import { ApiError, UnreachableError, segment } from "../api.js";
import { emptyState, fill, formatTime, h, pause, route } from "../dom.js";

// Lines kept on the page; older ones are dropped from the top.
const MAX_SHOWN_LINES = 2000;
const RECONNECT_MS = 2000;
const FILTER_DELAY_MS = 300;

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
  const append = (line) => {
    const atBottom = lines.scrollHeight - lines.scrollTop - lines.clientHeight < 40;
    empty.hidden = true;
    lines.append(lineElement(line));
    while (lines.childElementCount > MAX_SHOWN_LINES) lines.firstElementChild.remove();
    if (atBottom) lines.scrollTop = lines.scrollHeight;
  };

  async function follow(signal, text) {
    let afterId = 0;
    while (!signal.aborted) {
      const query = new URLSearchParams({ after_id: String(afterId) });
      if (text) query.set("filter", text);
      try {
        setState("connecting", "connecting…");
        const events = await context.api.events(`${path}?${query}`, { signal });
        setState("live", "live");
        for await (const event of events) {
          if (event.event === "log") {
            const line = JSON.parse(event.data);
            afterId = line.id;
            append(line);
          } else if (event.event === "error") {
            context.signOut(JSON.parse(event.data).error.message);
            return;
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && error.status !== 429) {
          setState("ended", error.message);
          return;
        }
        if (!(error instanceof UnreachableError)) throw error;
      }
      setState("reconnecting", "reconnecting…");
      await pause(RECONNECT_MS, signal);
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
