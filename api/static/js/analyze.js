// The "analyse log lines" form: POST /analyze and show the threat, actions, scores and rejected lines.

import { decisionRow } from "./decisions.js";
import { cell, el, fillTable, formatNumber, row } from "./dom.js";
import { language, t } from "./i18n.js";

const MAX_SHOWN_LINES = 1000;
const MAX_TEXT_CHARS = 300;

// Split pasted text into lines; a final newline does not make an extra empty line.
export function splitLines(text) {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") {
    lines.pop();
  }
  return lines;
}

export class AnalyzeForm {
  constructor(postJson) {
    this.postJson = postJson;
    this.form = document.getElementById("analyze-form");
    this.input = document.getElementById("analyze-input");
    this.format = document.getElementById("analyze-format");
    this.button = document.getElementById("analyze-button");
    this.result = document.getElementById("analyze-result");
    this.error = document.getElementById("analyze-error");
    this.last = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  async submit() {
    const lines = splitLines(this.input.value);
    if (lines.length === 0) {
      this.showError(t("analyze_empty"));
      return;
    }
    this.button.disabled = true;
    this.button.textContent = t("analyzing");
    try {
      const response = await this.postJson("/analyze", { logs: lines, format: this.format.value });
      this.last = { lines, response };
      this.error.hidden = true;
      this.render();
    } catch (error) {
      this.showError(error.message);
    } finally {
      this.button.disabled = false;
      this.button.textContent = t("analyze_button");
    }
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = false;
  }

  // Draw the last result again, for example in another language.
  render() {
    if (!this.last) {
      return;
    }
    const { lines, response } = this.last;
    this.result.hidden = false;
    this.renderSummary(response);
    this.renderActions(response.actions);
    this.renderEvents(response.events, lines);
    this.renderErrors(response.errors);
    const truncated = document.getElementById("result-truncated");
    truncated.hidden = response.events.length <= MAX_SHOWN_LINES;
    truncated.textContent = t("truncated", { shown: MAX_SHOWN_LINES, total: response.events.length });
  }

  renderSummary(response) {
    const summary = document.getElementById("analyze-summary");
    const verdict = el("strong", {
      className: response.threat ? "threat" : "clean",
      text: response.threat ? t("summary_threat") : t("summary_clean"),
    });
    const counts = t("summary_counts", {
      received: response.received,
      parsed: response.parsed,
      rejected: response.rejected,
      format: response.format,
    });
    summary.replaceChildren(verdict, document.createTextNode(` · ${counts}`));
  }

  renderActions(actions) {
    const table = document.getElementById("result-actions");
    const rows = actions.length > 0 ? actions.map(decisionRow) : [noneRow(5)];
    fillTable(table, rows);
  }

  renderEvents(events, lines) {
    const lang = language();
    const rows = events.slice(0, MAX_SHOWN_LINES).map((event) => {
      const text = lines[event.line - 1] ?? "";
      return row([
        cell(event.line, "num"),
        el("td", { className: "mono", text: event.client }),
        cell(event.score === null ? "–" : formatNumber(event.score, lang, 3), "num"),
        cell(statusOf(event), event.anomalous ? "anomalous" : ""),
        el("td", { className: "mono line-text", text: shorten(text), title: text }),
      ]);
    });
    fillTable(document.getElementById("result-events"), rows.length > 0 ? rows : [noneRow(5)]);
  }

  renderErrors(errors) {
    const rows = errors.map((error) =>
      row([
        cell(error.line, "num"),
        cell(error.reason),
        el("td", { className: "mono line-text", text: error.excerpt }),
      ]),
    );
    fillTable(document.getElementById("result-errors"), rows.length > 0 ? rows : [noneRow(3)]);
  }
}

function statusOf(event) {
  if (event.warming_up) {
    return t("status_warming");
  }
  return event.anomalous ? t("status_anomalous") : t("status_normal");
}

function shorten(text) {
  return text.length > MAX_TEXT_CHARS ? `${text.slice(0, MAX_TEXT_CHARS)}…` : text;
}

function noneRow(columns) {
  const td = el("td", { className: "hint", text: t("result_none") });
  td.colSpan = columns;
  return row([td]);
}
