// The figures from /ws/stats: counter cards, the score timeline with its threshold, the top clients.

import { cell, el, fillTable, formatNumber, row } from "./dom.js";
import { language, t } from "./i18n.js";

const CHART_HEIGHT = 260;
const AXIS_COLOUR = "#9aa7b4";
const GRID_COLOUR = "#2a3440";

export function updateCards(stats) {
  const lang = language();
  setText("stat-rate", formatNumber(stats.events_per_s, lang, 1));
  setText("stat-events", formatNumber(stats.events_total, lang));
  setText("stat-anomalies", formatNumber(stats.anomalies_total, lang));
  setText("stat-decisions", formatNumber(stats.active_decisions, lang));
  setText("stat-model", stats.warm ? t("model_warm") : t("model_warming"));
}

function setText(id, text) {
  document.getElementById(id).textContent = text;
}

export function updateTopClients(table, emptyHint, clients) {
  const lang = language();
  const rows = clients.map((client) =>
    row([
      el("td", { className: "mono", text: client.client }),
      cell(formatNumber(client.max_score, lang, 3), "num"),
      cell(formatNumber(client.anomalies, lang), "num"),
      cell(formatNumber(client.events, lang), "num"),
    ]),
  );
  fillTable(table, rows, emptyHint);
}

// Format epoch seconds as "HH:MM:SS" in UTC ("HH:MM" on whole minutes), or with the date when `withDate` is set.
function utcTime(seconds, withDate) {
  const iso = new Date(seconds * 1000).toISOString();
  if (withDate) {
    return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
  }
  return seconds % 60 === 0 ? iso.slice(11, 16) : iso.slice(11, 19);
}

// A uPlot line chart of the max and mean score per log second, with the threshold as a dashed line.
export class Timeline {
  constructor(container, emptyHint) {
    this.container = container;
    this.emptyHint = emptyHint;
    this.plot = null;
    this.data = [[], [], [], []];
    new ResizeObserver(() => this.resize()).observe(container);
  }

  update(points, threshold) {
    this.data = [
      points.map((point) => point.t),
      points.map((point) => point.score),
      points.map((point) => point.mean),
      points.map(() => threshold),
    ];
    this.emptyHint.hidden = points.length > 0;
    if (!this.plot) {
      this.create();
    } else {
      this.plot.setData(this.data);
    }
  }

  // Rebuild the chart, for example after a language change renames the series.
  rebuild() {
    if (this.plot) {
      this.plot.destroy();
      this.plot = null;
    }
    this.create();
  }

  create() {
    if (typeof window.uPlot !== "function") {
      return;
    }
    this.plot = new window.uPlot(this.options(), this.data, this.container);
  }

  resize() {
    if (this.plot) {
      this.plot.setSize({ width: this.width(), height: CHART_HEIGHT });
    }
  }

  width() {
    return Math.max(320, this.container.clientWidth);
  }

  options() {
    const axis = { stroke: AXIS_COLOUR, grid: { stroke: GRID_COLOUR, width: 1 }, ticks: { stroke: GRID_COLOUR } };
    return {
      width: this.width(),
      height: CHART_HEIGHT,
      // Log times are shown in UTC, like the decision times.
      tzDate: (seconds) => window.uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
      scales: { x: { time: true }, y: { range: [0, 1.02] } },
      series: [
        { label: "UTC", value: (plot, seconds) => (seconds == null ? "--" : utcTime(seconds, true)) },
        { label: t("series_max"), stroke: "#ff7b72", width: 1.5, points: { show: false } },
        { label: t("series_mean"), stroke: "#79c0ff", width: 1, points: { show: false } },
        { label: t("series_threshold"), stroke: "#e3b341", width: 1.5, dash: [6, 4], points: { show: false } },
      ],
      axes: [
        { ...axis, space: 70, values: (plot, ticks) => ticks.map((tick) => utcTime(tick, false)) },
        { ...axis, values: (plot, ticks) => ticks.map((tick) => tick.toFixed(2)) },
      ],
      legend: { live: true },
    };
  }
}
