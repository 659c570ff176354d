// The active decisions table: fed by /ws/decisions, pruned by stream time, reconciled with GET /decisions.

import { el, fillTable, formatUtc, row } from "./dom.js";
import { label, language, t } from "./i18n.js";

const MAX_ROWS = 200;
const RECONCILE_EVERY_MS = 5000;

export class DecisionTable {
  constructor(table, emptyHint, fetchJson) {
    this.table = table;
    this.emptyHint = emptyHint;
    this.fetchJson = fetchJson;
    this.decisions = new Map();
    this.lastReconcile = 0;
  }

  // Forget every decision; the feed's snapshot refills the table after a reconnection.
  clear() {
    this.decisions.clear();
    this.render();
  }

  // Add or replace a decision (extensions and upgrades keep their id).
  upsert(decision) {
    if (!decision || typeof decision.id !== "string") {
      return;
    }
    this.decisions.set(decision.id, decision);
    this.trim();
    this.render();
  }

  // Drop decisions that expired by stream time, and reload the list when the service counts
  // a different number of active decisions (a decision was lifted, or a message was missed).
  sync(streamTime, activeCount) {
    let changed = false;
    for (const [id, decision] of this.decisions) {
      if (Date.parse(decision.until) / 1000 <= streamTime) {
        this.decisions.delete(id);
        changed = true;
      }
    }
    if (changed) {
      this.render();
    }
    const expected = Math.min(activeCount, MAX_ROWS);
    const now = Date.now();
    if (this.decisions.size !== expected && now - this.lastReconcile > RECONCILE_EVERY_MS) {
      this.lastReconcile = now;
      this.reload();
    }
  }

  async reload() {
    try {
      const decisions = await this.fetchJson(`/decisions?limit=${MAX_ROWS}`);
      this.decisions = new Map(decisions.map((decision) => [decision.id, decision]));
      this.render();
    } catch (error) {
      console.warn("could not reload decisions", error);
    }
  }

  trim() {
    while (this.decisions.size > MAX_ROWS) {
      const oldest = this.decisions.keys().next().value;
      this.decisions.delete(oldest);
    }
  }

  render() {
    const newestFirst = [...this.decisions.values()].sort((a, b) => compareText(b.triggered_at, a.triggered_at));
    fillTable(this.table, newestFirst.map(decisionRow), this.emptyHint);
  }
}

function compareText(a, b) {
  return String(a ?? "").localeCompare(String(b ?? ""));
}

// One table row for a decision; every field is inserted as text.
export function decisionRow(decision) {
  const action = el("span", {
    className: `badge action-${safeClass(decision.action)}`,
    text: label("action", decision.action),
  });
  const actionCell = el("td", {}, [action]);
  if (decision.simulated) {
    actionCell.append(el("span", { className: "badge simulated", text: t("simulated") }));
  }
  const tr = row([
    el("td", { className: "mono", text: decision.client ?? decision.value, title: `${decision.scope}: ${decision.value}` }),
    el("td", { text: label("scenario", decision.scenario), title: decision.scenario }),
    actionCell,
    el("td", { className: "mono nowrap", text: formatUtc(decision.until), title: decision.duration }),
    reasonsCell(decision.reasons),
  ]);
  tr.dataset.decisionId = String(decision.id);
  tr.dataset.action = String(decision.action);
  return tr;
}

export function reasonsCell(reasons) {
  const list = (reasons && (reasons[language()] || reasons.en || reasons.es)) || [];
  const items = list.map((reason) => el("li", { text: reason }));
  return el("td", { className: "reasons" }, [el("ul", {}, items)]);
}

function safeClass(value) {
  return String(value).replace(/[^a-z_]/g, "");
}
