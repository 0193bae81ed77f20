// Building the page with DOM APIs only. Text from the API always goes in as text nodes (never
// as markup), so nothing a function name, a log line or a traceback holds can run as script.

const SVG_NAMESPACE = "http://www.w3.org/2000/svg";

function appendAll(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

function setProps(element, props) {
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) {
      element.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

/** An HTML element: `h("a", {href: "#/apps"}, "Apps")`. */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  setProps(element, props);
  appendAll(element, children);
  return element;
}

/** An SVG element, as `h` makes HTML ones. */
export function svg(tag, props = {}, ...children) {
  const element = document.createElementNS(SVG_NAMESPACE, tag);
  setProps(element, props);
  appendAll(element, children);
  return element;
}

/** Replace what `element` holds. */
export function fill(element, ...children) {
  element.replaceChildren();
  appendAll(element, children);
}

/** A link to a place of the dashboard: `route("calls", callId)` is `#/calls/fc-...`. */
export function route(...parts) {
  return "#/" + parts.map((part) => encodeURIComponent(part)).join("/");
}

/** `#/calls?app=...`: a place with query parameters (those null or empty left out). */
export function routeWith(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(name, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

const TIME_FORMAT = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });
const CLOCK_FORMAT = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

/** A Unix time (seconds) as local date and time. */
export function formatTime(seconds) {
  return seconds === null || seconds === undefined ? "—" : TIME_FORMAT.format(seconds * 1000);
}

/** A Unix time (seconds) as hours and minutes. */
export function formatClock(seconds) {
  return CLOCK_FORMAT.format(seconds * 1000);
}

/** Seconds as "120 ms", "1.5 s" or "2 min 5 s". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/** A byte count as "512 B", "1.5 KiB", ... */
export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "unknown size";
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A link; `className` marks ids, set in a monospace font. */
export function link(href, text, className) {
  return h("a", { href, class: className }, text);
}

/** A table: a head row of `headings`, then `bodies` (tbody elements, or rows for one). */
export function table(className, headings, bodies) {
  const head = h("thead", {}, h("tr", {}, headings.map((title) => h("th", {}, title))));
  return h("table", { class: `table ${className}` }, head, bodies);
}

/** A description list of `[term, value]` pairs; pairs that are false are left out. */
export function definitions(className, entries) {
  const items = entries
    .filter(Boolean)
    .map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]);
  return h("dl", { class: className }, items);
}

/** A paragraph of secondary text. */
export function muted(text) {
  return h("p", { class: "muted" }, text);
}

/** An error message, in red. */
export function errorText(message) {
  return h("p", { class: "error-text" }, message);
}

/** A status word as a coloured badge (`data-status` carries the word for styles and tests). */
export function badge(status) {
  return h("span", { class: "badge", dataset: { status } }, status);
}

/** A message for an empty list, with what to do about it. */
export function emptyState(title, hint) {
  const empty = h("div", { class: "empty" }, h("p", { class: "empty-title" }, title));
  if (hint) empty.append(h("p", {}, hint));
  return empty;
}

/**
 * Runs `task` now and then every `intervalMs` while the tab is visible: hidden tabs make no
 * requests, and a tab shown again is refreshed at once. Ticks never overlap. While ticks fail,
 * `notice` (an element for the view to place) says what could not be loaded (`what`, such as
 * "the apps") and why; a tick that succeeds hides it again. Failed ticks are retried at the
 * next interval. A refused token and an unreachable gateway are also handled by the `Api`
 * (sign-in form, banner).
 */
export class Poller {
  constructor(task, intervalMs, what) {
    this.task = task;
    this.intervalMs = intervalMs;
    this.what = what;
    this.notice = h("p", { class: "error-text refresh-notice", role: "status", hidden: true });
    this.timer = null;
    this.running = false;
    this.stopped = false;
    this.onVisibility = () => {
      if (!document.hidden) this.now();
    };
  }

  /** Run the task now (and go on every interval from then), unless it is running already. */
  now() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.running) this.tick();
  }

  start() {
    document.addEventListener("visibilitychange", this.onVisibility);
    this.now();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    document.removeEventListener("visibilitychange", this.onVisibility);
  }

  async tick() {
    this.timer = null;
    if (this.stopped || document.hidden) return;
    this.running = true;
    try {
      await this.task();
      this.notice.hidden = true;
    } catch (error) {
      // A view left meanwhile (signed out, say) has nothing to say any more.
      if (!this.stopped) {
        this.notice.textContent = `Could not load ${this.what}: ${error.message} (retrying)`;
        this.notice.hidden = false;
      }
    } finally {
      this.running = false;
    }
    if (!this.stopped && !document.hidden) {
      this.timer = setTimeout(() => this.tick(), this.intervalMs);
    }
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
