// Dashboard entry point: wires the feeds, the tables, the chart, the form and the language toggle.

import { AnalyzeForm } from "./analyze.js";
import { DecisionTable } from "./decisions.js";
import { openFeed } from "./feeds.js";
import { applyTranslations, language, onLanguageChange, setLanguage, t } from "./i18n.js";
import { Timeline, updateCards, updateTopClients } from "./stats.js";

const KEY_STORAGE = "centinela.apiKey";

// The optional API key lives in sessionStorage, so it is gone when the tab closes.
function apiKeyInput() {
  const input = document.getElementById("api-key");
  try {
    input.value = window.sessionStorage.getItem(KEY_STORAGE) || "";
  } catch {
    // Without storage the key must be typed again after a reload.
  }
  input.addEventListener("change", () => {
    try {
      window.sessionStorage.setItem(KEY_STORAGE, input.value);
    } catch {
      // Without storage the key lasts until the page is reloaded.
    }
  });
  return input;
}

// The service reads the key from the X-API-Key header, and on websockets also from ?api_key=
// because browsers cannot set headers on a websocket.
function requestHeaders(keyInput, extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (keyInput.value) {
    headers["X-API-Key"] = keyInput.value;
  }
  return headers;
}

function feedPath(path, keyInput) {
  if (!keyInput.value) {
    return path;
  }
  const separator = path.includes("?") ? "&" : "?";
  return `${path}${separator}api_key=${encodeURIComponent(keyInput.value)}`;
}

async function readJson(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // A non-JSON error body; the status line is reported instead.
  }
  if (!response.ok) {
    const detail = body && body.detail !== undefined ? body.detail : response.statusText;
    const text = typeof detail === "string" ? detail : JSON.stringify(detail);
    throw new Error(`${t("analyze_failed")} (HTTP ${response.status}): ${text}`);
  }
  return body;
}

function makeClient(keyInput) {
  async function send(path, init) {
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new Error(`${t("analyze_network")}: ${error.message}`);
    }
    return readJson(response);
  }
  return {
    getJson: (path) => send(path, { headers: requestHeaders(keyInput) }),
    postJson: (path, body) =>
      send(path, {
        method: "POST",
        headers: requestHeaders(keyInput, { "Content-Type": "application/json" }),
        body: JSON.stringify(body),
      }),
  };
}

function showFeedState(id, state) {
  const badge = document.getElementById(id);
  badge.dataset.state = state;
  badge.title = state === "open" ? t("feed_open") : t("feed_closed");
}

function start() {
  applyTranslations();
  const keyInput = apiKeyInput();
  const client = makeClient(keyInput);

  const decisions = new DecisionTable(
    document.getElementById("decisions-table"),
    document.getElementById("decisions-empty"),
    client.getJson,
  );
  const timeline = new Timeline(document.getElementById("timeline"), document.getElementById("timeline-empty"));
  const topTable = document.getElementById("top-table");
  const topEmpty = document.getElementById("top-empty");
  const form = new AnalyzeForm(client.postJson);
  let lastStats = null;

  openFeed(() => feedPath("/ws/stats", keyInput), {
    onState: (state) => showFeedState("feed-stats", state),
    onMessage: (stats) => {
      lastStats = stats;
      updateCards(stats);
      timeline.update(stats.timeline, stats.threshold);
      updateTopClients(topTable, topEmpty, stats.top_clients);
      decisions.sync(stats.stream_time, stats.active_decisions);
    },
  });
  openFeed(() => feedPath("/ws/decisions?snapshot=1", keyInput), {
    onState: (state) => showFeedState("feed-decisions", state),
    onOpen: () => decisions.clear(),
    onMessage: (message) => {
      if (message.type === "decision") {
        decisions.upsert(message.decision);
      }
    },
  });

  const toggle = document.getElementById("lang-toggle");
  const showToggle = () => {
    toggle.textContent = language() === "es" ? "EN" : "ES";
  };
  showToggle();
  toggle.addEventListener("click", () => setLanguage(language() === "es" ? "en" : "es"));
  onLanguageChange(() => {
    showToggle();
    decisions.render();
    form.render();
    timeline.rebuild();
    if (lastStats) {
      updateCards(lastStats);
      updateTopClients(topTable, topEmpty, lastStats.top_clients);
    }
  });
}

// uPlot is a deferred classic script, so wait for the document to finish loading it.
if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
