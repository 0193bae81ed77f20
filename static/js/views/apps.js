// Apps: every app of the workspace, and one app's functions with their options, live stats
// (polled every 2 s while the tab is visible) and last hour.

import { ApiError, segment } from "../api.js";
import { historyChart } from "../chart.js";
import {
  Poller,
  badge,
  definitions,
  emptyState,
  fill,
  formatTime,
  h,
  link,
  muted,
  route,
  routeWith,
  table,
} from "../dom.js";

const APPS_REFRESH_MS = 5000;
const STATS_REFRESH_MS = 2000;
const HISTORY_REFRESH_MS = 15000;
const LOAD_RETRY_MS = 2000;

/** How the API names an app in paths: deployed apps by name, the others by id. */
export function appRef(app) {
  return app.state === "deployed" ? app.name : app.app_id;
}

function stopButton(context, app, onStopped) {
  const button = h("button", { type: "button", class: "danger" }, "Stop");
  button.addEventListener("click", async () => {
    const question = `Stop app ${app.name}? Its waiting and running calls end as terminated.`;
    if (!window.confirm(question)) return;
    button.disabled = true;
    try {
      await context.api.delete(`/v1/apps/${segment(appRef(app))}`);
      onStopped();
    } catch (error) {
      button.disabled = false;
      button.after(h("span", { class: "error-text" }, ` ${error.message}`));
    }
  });
  return button;
}

function appRow(context, app, refresh) {
  const live = app.state !== "stopped";
  return h(
    "tr",
    { dataset: { app: app.name, state: app.state } },
    h("td", { "data-label": "App" }, live ? link(route("apps", appRef(app)), app.name) : app.name),
    h("td", { "data-label": "State" }, badge(app.state)),
    h("td", { "data-label": "Version" }, `v${app.version}`),
    h("td", { "data-label": "Deployed" }, formatTime(app.deployed_at)),
    h("td", { "data-label": "" }, live ? stopButton(context, app, refresh) : ""),
  );
}

export function showApps(context) {
  const list = h("div", { class: "loading" }, "Loading apps…");
  const refresh = async () => {
    const { apps } = await context.api.get("/v1/apps");
    if (!apps.length) {
      const hint = "Deploy one with: wharf deploy app.py";
      fill(list, emptyState("No apps in this workspace yet.", hint));
      return;
    }
    const rows = apps.map((app) => appRow(context, app, () => poller.now()));
    fill(list, table("apps", ["App", "State", "Version", "Deployed", ""], h("tbody", {}, rows)));
  };
  const poller = new Poller(refresh, APPS_REFRESH_MS, "the apps");
  fill(context.root, h("h1", {}, "Apps"), poller.notice, list);
  poller.start();
  return () => poller.stop();
}

function optionsList(fn) {
  const options = fn.options || {};
  const gpu = Array.isArray(options.gpu) && options.gpu.length ? options.gpu.join(" or ") : "none";
  const inputs = options.max_inputs ?? 1;
  const target = options.target_inputs ? ` (target ${options.target_inputs})` : "";
  return definitions("options", [
    ["GPU", gpu],
    ["Concurrency", `${inputs} input${inputs === 1 ? "" : "s"} per container${target}`],
    ["Min containers", String(options.min_containers ?? 0)],
    ["Max containers", String(options.max_containers ?? "no limit")],
  ]);
}

function webLink(fn) {
  // The gateway builds these URLs; only http(s) ones are ever made links.
  if (!fn.web_url || !/^https?:\/\//.test(fn.web_url)) return null;
  const anchor = h("a", { href: fn.web_url, target: "_blank", rel: "noopener noreferrer" });
  anchor.textContent = fn.web_url;
  return h("p", { class: "web-url" }, "Web endpoint: ", anchor);
}

const STATS = [
  ["backlog", "Backlog", (stats) => stats.backlog],
  ["running", "Running inputs", (stats) => stats.num_running_inputs],
  ["containers", "Containers", (s) => `${s.num_active_runners} busy / ${s.num_total_runners}`],
];

function functionCard(app, fn) {
  const stats = definitions(
    "stats",
    STATS.map(([key, label]) => [label, h("span", { dataset: { stat: key } }, "…")]),
  );
  stats.dataset.live = "waiting";
  const chart = h("div", { class: "chart-box" }, muted("Loading the last hour…"));
  const ref = appRef(app);
  const card = h(
    "section",
    { class: "card function", dataset: { function: fn.name } },
    h(
      "header",
      { class: "card-head" },
      h("h2", {}, fn.name),
      h(
        "nav",
        { class: "links" },
        link(routeWith("#/calls", { app: ref, function: fn.name }), "Calls"),
        link(route("logs", ref, fn.name), "Logs"),
      ),
    ),
    webLink(fn),
    h("div", { class: "function-body" }, h("div", {}, optionsList(fn), stats), chart),
  );
  return { fn, card, stats, chart };
}

function showStats(stats, values) {
  for (const [key, , read] of STATS) {
    stats.querySelector(`[data-stat="${key}"]`).textContent = String(read(values));
  }
  stats.dataset.live = "on";
}

function appHeader(context, app) {
  return h(
    "header",
    { class: "page-head" },
    h("h1", {}, app.name),
    badge(app.state),
    h("span", { class: "muted" }, `v${app.version}, deployed ${formatTime(app.deployed_at)}`),
    h(
      "nav",
      { class: "links" },
      link(route("logs", appRef(app)), "App logs"),
      link(routeWith("#/calls", { app: appRef(app) }), "Calls"),
      stopButton(context, app, () => (location.hash = "#/apps")),
    ),
  );
}

/** Every `intervalMs`, `read` each function's `what` and `show` it on its card. */
function pollFunctions(context, app, cards, what, intervalMs, show) {
  const base = `/v1/apps/${segment(appRef(app))}/functions`;
  return new Poller(
    async () => {
      const read = cards.map(({ fn }) => context.api.get(`${base}/${segment(fn.name)}/${what}`));
      (await Promise.all(read)).forEach((values, index) => show(cards[index], values));
    },
    intervalMs,
    `the functions' ${what}`,
  );
}

/** Every `STATS_REFRESH_MS`, every function's stats, in one request for the whole app. */
function pollStats(context, app, cards) {
  return new Poller(
    async () => {
      const { functions } = await context.api.get(`/v1/apps/${segment(appRef(app))}/stats`);
      for (const card of cards) {
        if (Object.hasOwn(functions, card.fn.name)) showStats(card.stats, functions[card.fn.name]);
      }
    },
    STATS_REFRESH_MS,
    "the functions' stats",
  );
}

export function showApp(context, ref) {
  const body = h("div", { class: "loading" }, "Loading the app…");
  const pollers = [];
  const load = async () => {
    let app;
    try {
      app = await context.api.get(`/v1/apps/${segment(ref)}`);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
      const empty = emptyState(`No live app ${ref}.`, "It may have been stopped.");
      fill(body, empty, link("#/apps", "All apps"));
      loader.stop();
      return;
    }
    if (loader.stopped) return; // the view was left while the app was read
    loader.stop();
    const cards = app.functions.map((fn) => functionCard(app, fn));
    const functions = cards.length
      ? cards.map(({ card }) => card)
      : emptyState("This app has no functions.");
    const live = [
      pollStats(context, app, cards),
      pollFunctions(context, app, cards, "history", HISTORY_REFRESH_MS, (card, history) =>
        fill(card.chart, historyChart(history)),
      ),
    ];
    fill(body, appHeader(context, app), live.map((poller) => poller.notice), functions);
    pollers.push(...live);
    live.forEach((poller) => poller.start());
  };
  // Loaded once (retried until it is); then only the stats and the history are refreshed.
  const loader = new Poller(load, LOAD_RETRY_MS, "the app");
  pollers.push(loader);
  fill(context.root, loader.notice, body);
  loader.start();
  return () => pollers.forEach((poller) => poller.stop());
}
