// Calls: the workspace's recent calls (refreshed every 2 s while visible), filtered by app,
// function and status; one call's details with its result or error, and its call graph.

import { ApiError, segment } from "../api.js";
import {
  Poller,
  badge,
  definitions,
  emptyState,
  errorText,
  fill,
  formatBytes,
  formatDuration,
  formatTime,
  h,
  link,
  muted,
  route,
  routeWith,
  table,
} from "../dom.js";
import { appRef } from "./apps.js";

const REFRESH_MS = 2000;
const PAGE_CALLS = 50;
// Most pages a refresh reads to reach the rows shown, after a burst of new calls.
const CATCH_UP_PAGES = 5;
const FILTERS = ["app", "function", "status"];
const STATUSES = ["pending", "running", "success", "failure", "cancelled", "terminated"];
const ACTIVE = new Set(["pending", "running"]);

function cancelButton(context, callId, onDone) {
  const button = h("button", { type: "button", class: "danger" }, "Cancel");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await context.api.delete(`/v1/calls/${segment(callId)}`);
    } catch (error) {
      button.after(h("span", { class: "error-text" }, ` ${error.message}`));
    }
    onDone();
  });
  return button;
}

function callRow(context, call, refresh) {
  const cancel = ACTIVE.has(call.status) ? cancelButton(context, call.call_id, refresh) : "";
  return h(
    "tr",
    { dataset: { callId: call.call_id, status: call.status } },
    h("td", { "data-label": "Call" }, link(route("calls", call.call_id), call.call_id, "id")),
    h("td", { "data-label": "Function" }, `${call.app_name} / ${call.function_name}`),
    h("td", { "data-label": "Status" }, badge(call.status)),
    h("td", { "data-label": "Duration" }, formatDuration(call.duration_s)),
    h("td", { "data-label": "Started" }, formatTime(call.created_at)),
    h("td", { "data-label": "" }, cancel),
  );
}

function select(label, name, choices, current, onChange) {
  const options = choices.map(([value, text]) =>
    h("option", { value, selected: value === current }, text),
  );
  const element = h("select", { name, onchange: (event) => onChange(event.target.value) }, options);
  return h("label", { class: "field" }, label, element);
}

async function functionsOf(context, app) {
  try {
    return (await context.api.get(`/v1/apps/${segment(app)}`)).functions;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return [];
    throw error;
  }
}

async function filtersForm(context, params) {
  const current = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) || ""]));
  const go = (changes) => (location.hash = routeWith("#/calls", { ...current, ...changes }));
  const { apps } = await context.api.get("/v1/apps");
  const live = apps.filter((app) => app.state !== "stopped");
  const functions = current.app ? await functionsOf(context, current.app) : [];
  const appChoices = [["", "All apps"], ...live.map((app) => [appRef(app), app.name])];
  const functionChoices = [["", "All functions"], ...functions.map((fn) => [fn.name, fn.name])];
  const statusChoices = [["", "Any status"], ...STATUSES.map((status) => [status, status])];
  return h(
    "form",
    { class: "filters", onsubmit: (event) => event.preventDefault() },
    select("App", "app", appChoices, current.app, (app) => go({ app, function: "" })),
    current.app &&
      select("Function", "function", functionChoices, current.function, (fn) =>
        go({ function: fn }),
      ),
    select("Status", "status", statusChoices, current.status, (status) => go({ status })),
  );
}

function noCalls(params) {
  if (FILTERS.some((name) => params.get(name))) return emptyState("No calls match these filters.");
  return emptyState("No calls yet.", "Calls appear here as soon as they are made.");
}

/** Whether call `a` comes after call `b` in the list (newest first, as the API orders them). */
function isOlder(a, b) {
  return a.created_at < b.created_at || (a.created_at === b.created_at && a.call_id < b.call_id);
}

/**
 * The list of calls on the page: always one run of calls from the newest down, so no call falls
 * between two pages. A refresh reads the first page again (statuses change, new calls come);
 * when older pages are shown too and new calls pushed rows out of the first page, it reads on
 * until it meets the rows shown. Older rows are not refreshed: their calls have mostly ended.
 */
class CallList {
  constructor(readPage) {
    this.readPage = readPage;
    this.calls = [];
    this.olderCursor = null;
    this.hasOlderPages = false;
    // A refresh and a click on "Older calls" change the list one after the other, never both.
    this.queue = Promise.resolve();
  }

  exclusive(change) {
    const done = this.queue.then(change);
    this.queue = done.catch(() => {});
    return done;
  }

  refresh() {
    return this.exclusive(async () => {
      const page = await this.readPage(null);
      let fresh = page.calls;
      let cursor = page.next_cursor;
      if (!this.hasOlderPages) {
        [this.calls, this.olderCursor] = [fresh, cursor];
        return;
      }
      for (let pages = 1; cursor && !this.meets(fresh) && pages < CATCH_UP_PAGES; pages += 1) {
        const next = await this.readPage(cursor);
        fresh = fresh.concat(next.calls);
        cursor = next.next_cursor;
      }
      if (cursor && this.meets(fresh)) {
        const last = fresh[fresh.length - 1];
        const seen = new Set(fresh.map((call) => call.call_id));
        const older = this.calls.filter((call) => isOlder(call, last) && !seen.has(call.call_id));
        this.calls = fresh.concat(older);
      } else {
        // Read to the end, or too many new calls to catch up with: the older rows shown before
        // are dropped, and "Older calls" goes on from what was read.
        [this.calls, this.olderCursor] = [fresh, cursor];
        this.hasOlderPages = fresh.length > PAGE_CALLS;
      }
    });
  }

  /** Whether `fresh` (read from the newest down) reaches the rows shown: nothing between. */
  meets(fresh) {
    if (!this.calls.length) return true;
    return fresh.length > 0 && !isOlder(this.calls[0], fresh[fresh.length - 1]);
  }

  loadOlder() {
    return this.exclusive(async () => {
      if (!this.olderCursor) return;
      const page = await this.readPage(this.olderCursor);
      const last = this.calls[this.calls.length - 1];
      const seen = new Set(this.calls.map((call) => call.call_id));
      const older = page.calls.filter(
        (call) => !seen.has(call.call_id) && (!last || isOlder(call, last)),
      );
      this.calls = this.calls.concat(older);
      this.olderCursor = page.next_cursor;
      this.hasOlderPages = true;
    });
  }
}

export function showCalls(context, params) {
  const filters = h("div", {});
  const rows = h("tbody", {});
  const listing = h("div", { class: "loading" }, "Loading calls…");
  const more = h("div", { class: "more", hidden: true });
  const list = new CallList((cursor) => {
    const query = new URLSearchParams({ limit: String(PAGE_CALLS) });
    for (const name of FILTERS) if (params.get(name)) query.set(name, params.get(name));
    if (cursor) query.set("cursor", cursor);
    return context.api.get(`/v1/calls?${query}`);
  });
  const older = h("button", { type: "button" }, "Older calls");
  const olderError = h("span", { class: "error-text" });
  older.addEventListener("click", async () => {
    older.disabled = true;
    olderError.textContent = "";
    try {
      await list.loadOlder();
      show();
    } catch (error) {
      olderError.textContent = ` ${error.message}`;
    } finally {
      older.disabled = false;
    }
  });
  fill(more, older, olderError);
  const show = () => {
    more.hidden = !list.olderCursor;
    if (!list.calls.length) {
      fill(listing, noCalls(params));
      return;
    }
    fill(rows, list.calls.map((call) => callRow(context, call, () => poller.now())));
    if (!listing.contains(rows)) {
      const headings = ["Call", "Function", "Status", "Duration", "Started", ""];
      fill(listing, table("calls", headings, rows));
    }
  };
  // The form is read once (retried until it is); the list is refreshed.
  const form = new Poller(
    async () => {
      fill(filters, await filtersForm(context, params));
      form.stop();
    },
    REFRESH_MS,
    "the filters",
  );
  const refresh = async () => {
    await list.refresh();
    show();
  };
  const poller = new Poller(refresh, REFRESH_MS, "the calls");
  const notices = [form.notice, poller.notice];
  fill(context.root, h("h1", {}, "Calls"), notices, filters, listing, more);
  form.start();
  poller.start();
  return () => {
    form.stop();
    poller.stop();
  };
}

function resultBody(result) {
  const size = formatBytes(result.bytes);
  if (result.expired) return muted("The result expired and is no longer kept.");
  if (result.format === "web") return h("p", {}, `Web response ${result.http_status}, ${size}.`);
  if (result.format === "pickle") {
    return h("p", {}, `Kept only as a Python pickle (${size}): FunctionCall.get() reads it.`);
  }
  if (result.truncated) return h("p", {}, `JSON, ${size}: too large to show here.`);
  const value = h("pre", { class: "value" }, JSON.stringify(result.value, null, 2));
  return [muted(`JSON, ${size}`), value];
}

function resultSection(call) {
  if (call.error) {
    const { code, message, traceback } = call.error;
    return h(
      "section",
      { class: "card error" },
      h("h2", {}, "Error"),
      errorText(`${code}: ${message}`),
      traceback && h("pre", { class: "traceback" }, traceback),
    );
  }
  const body = call.result ? resultBody(call.result) : muted("Not finished yet.");
  return h("section", { class: "card" }, h("h2", {}, "Result"), body);
}

/**
 * The graph is read from the store, which keeps a call as pending until it ends (only the
 * details of one call tell running from waiting): the call of the page shows the status its
 * header shows, and the others that have not ended show as unfinished.
 */
function graphStatus(node, call) {
  if (node.call_id === call.call_id) return call.status;
  return node.status === "pending" ? "unfinished" : node.status;
}

function graphNode(node, call) {
  const label =
    node.call_id === call.call_id
      ? h("strong", { class: "id" }, node.call_id)
      : link(route("calls", node.call_id), node.call_id, "id");
  const children = node.children.map((child) => graphNode(child, call));
  return h(
    "li",
    { dataset: { callId: node.call_id } },
    label,
    ` ${node.function_name} `,
    badge(graphStatus(node, call)),
    children.length ? h("ul", {}, children) : null,
  );
}

function detailsList(call) {
  const fn = `${call.app_name} / ${call.function_name}`;
  const parent = call.parent_call_id;
  return definitions("details", [
    ["Function", link(route("apps", call.app_id), fn)],
    call.method && ["Method", call.method],
    ["Started", formatTime(call.created_at)],
    ["Finished", formatTime(call.finished_at)],
    ["Duration", formatDuration(call.duration_s)],
    ["Attempts", String(call.attempt)],
    parent && ["Called from", link(route("calls", parent), parent, "id")],
    ["Arguments", `${call.args.format}, ${formatBytes(call.args.bytes)}`],
  ]);
}

export function showCall(context, callId) {
  const body = h("div", { class: "loading" }, "Loading the call…");
  const graph = h("section", { class: "card graph" }, h("h2", {}, "Call graph"));
  const refresh = async () => {
    let call;
    try {
      call = await context.api.get(`/v1/calls/${segment(callId)}/details`);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
      fill(body, emptyState(`No call ${callId} in this workspace.`), link("#/calls", "All calls"));
      graph.remove();
      poller.stop();
      return;
    }
    const active = ACTIVE.has(call.status);
    fill(
      body,
      h(
        "header",
        { class: "page-head", dataset: { status: call.status } },
        h("h1", { class: "id" }, call.call_id),
        badge(call.status),
        active ? cancelButton(context, call.call_id, () => poller.now()) : null,
      ),
      detailsList(call),
      resultSection(call),
    );
    const tree = await context.api.get(`/v1/calls/${segment(callId)}/graph`);
    const nodes = h("ul", { class: "tree" }, graphNode(tree, call));
    const cut = tree.truncated ? muted("Only the first calls are shown.") : null;
    fill(graph, h("h2", {}, "Call graph"), nodes, cut);
    if (!active) poller.stop();
  };
  const poller = new Poller(refresh, REFRESH_MS, "the call");
  fill(context.root, poller.notice, body, graph);
  poller.start();
  return () => poller.stop();
}
