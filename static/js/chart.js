// A function's last hour as plain SVG: calls per minute as bars (left scale), the p50 and p99
// of their durations as lines with a dot per minute (right scale). A few dozen shapes need no
// charting library. The scales' labels are HTML around the SVG, not SVG text: the drawing is
// scaled to the width of the screen, and text in it would shrink with it, or, made larger for
// phones, run past its edges.

import { formatClock, formatDuration, h, svg } from "./dom.js";

const WIDTH = 600;
const HEIGHT = 150;
// Room at the top for the dots of the highest minute, at the bottom for the axis.
const PLOT = { left: 0, right: WIDTH, top: 4, bottom: HEIGHT - 1 };
const SERIES = [
  ["p50", "p50_s"],
  ["p99", "p99_s"],
];

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

function minuteTitle(minute) {
  const calls = `${formatClock(minute.start)}: ${plural(minute.calls, "call")}`;
  if (minute.p50_s === null) return calls;
  return `${calls}, p50 ${formatDuration(minute.p50_s)}, p99 ${formatDuration(minute.p99_s)}`;
}

function summary(minutes) {
  const calls = minutes.reduce((total, minute) => total + minute.calls, 0);
  return `${plural(calls, "call")} in the last hour`;
}

/** A duration series: a line through minutes that follow each other, and a dot on each. */
function series(minutes, name, key, x, y) {
  let path = "";
  let drawing = false;
  const dots = [];
  minutes.forEach((minute, index) => {
    const value = minute[key];
    if (value === null || value === undefined) {
      drawing = false;
      return;
    }
    const [cx, cy] = [x(index).toFixed(1), y(value).toFixed(1)];
    path += `${drawing ? "L" : "M"}${cx},${cy} `;
    drawing = true;
    dots.push(svg("circle", { class: `dot ${name}`, cx, cy, r: 2.5 }));
  });
  return [svg("path", { class: `line ${name}`, d: path.trim() }), dots];
}

function bars(minutes, slot, y) {
  return minutes.map((minute, index) =>
    svg(
      "rect",
      {
        class: "bar",
        x: (PLOT.left + slot * index + 0.5).toFixed(1),
        y: y(minute.calls).toFixed(1),
        width: Math.max(1, slot - 1).toFixed(1),
        height: (PLOT.bottom - y(minute.calls)).toFixed(1),
        dataset: { calls: minute.calls },
      },
      svg("title", {}, minuteTitle(minute)),
    ),
  );
}

function legend(minutes) {
  return h(
    "figcaption",
    {},
    h("span", { class: "key bar-key" }, "calls per minute"),
    h("span", { class: "key p50-key" }, "p50 duration"),
    h("span", { class: "key p99-key" }, "p99 duration"),
    h("span", { class: "muted" }, summary(minutes)),
  );
}

/** The chart of a function's history (`GET .../history`), as a figure element. */
export function historyChart(history) {
  const minutes = history.minutes;
  const slot = (PLOT.right - PLOT.left) / minutes.length;
  const height = PLOT.bottom - PLOT.top;
  const callsMax = Math.max(1, ...minutes.map((minute) => minute.calls));
  const durations = minutes.map((minute) => minute.p99_s ?? 0);
  const durationMax = Math.max(0.001, ...durations);
  const x = (index) => PLOT.left + slot * (index + 0.5);
  const yCalls = (calls) => PLOT.bottom - (height * calls) / callsMax;
  const yDuration = (seconds) => PLOT.bottom - (height * seconds) / durationMax;
  const last = minutes[minutes.length - 1];
  const chart = svg(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-label": summary(minutes),
    },
    svg("line", { class: "axis", x1: PLOT.left, x2: PLOT.right, y1: PLOT.bottom, y2: PLOT.bottom }),
    bars(minutes, slot, yCalls),
    SERIES.map(([name, key]) => series(minutes, name, key, x, yDuration)),
  );
  const hasDurations = durations.some((seconds) => seconds > 0);
  const frame = h(
    "div",
    { class: "chart-frame" },
    h("div", { class: "scale calls-scale" }, h("span", {}, `${callsMax}/min`), h("span", {}, "0")),
    chart,
    h(
      "div",
      { class: "scale duration-scale" },
      hasDurations && h("span", {}, formatDuration(durationMax)),
    ),
    h(
      "div",
      { class: "scale time-scale" },
      h("span", {}, formatClock(minutes[0].start)),
      h("span", {}, formatClock(last.start)),
    ),
  );
  return h("figure", { class: "history" }, frame, legend(minutes));
}
