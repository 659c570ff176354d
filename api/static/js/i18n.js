// UI strings in Spanish and English, and the current language.
// Elements with data-i18n="key" get the string as text; data-i18n-title sets their title.

const STORAGE_KEY = "centinela.lang";
export const LANGUAGES = ["es", "en"];

const STRINGS = {
  es: {
    subtitle: "Detección de anomalías en logs de acceso",
    feed_stats: "Estadísticas",
    feed_decisions: "Decisiones",
    feed_open: "conectado",
    feed_closed: "reconectando",
    lang_toggle_title: "Switch to English",
    events_per_s: "Eventos/s",
    events_total: "Eventos analizados",
    anomalies_total: "Eventos anómalos",
    active_decisions: "Decisiones activas",
    model: "Modelo",
    model_warm: "entrenado",
    model_warming: "calentando",
    timeline_title: "Puntuación de anomalía (máxima por segundo de log)",
    timeline_empty: "Sin eventos puntuados todavía.",
    series_max: "máxima",
    series_mean: "media",
    series_threshold: "umbral",
    decisions_title: "Decisiones activas",
    decisions_empty: "Ninguna decisión activa.",
    top_title: "Clientes más anómalos",
    top_empty: "Sin clientes en los últimos 5 minutos de log.",
    top_hint: "Por eventos anómalos y luego por puntuación máxima, en los últimos 5 minutos de log.",
    col_client: "Cliente",
    col_scenario: "Escenario",
    col_action: "Acción",
    col_until: "Hasta",
    col_reasons: "Motivos",
    col_max_score: "Máx.",
    col_anomalies: "Anómalos",
    col_events: "Eventos",
    col_line: "Línea",
    col_score: "Puntuación",
    col_status: "Estado",
    col_text: "Texto",
    col_reason: "Motivo",
    col_excerpt: "Extracto",
    analyze_title: "Analizar líneas de log",
    analyze_label: "Pegue líneas de log (combined, common, JSON o CSV con cabecera):",
    format_label: "Formato",
    format_auto: "automático",
    api_key_label: "Clave de API (opcional)",
    analyze_button: "Analizar",
    analyzing: "Analizando…",
    analyze_empty: "Pegue al menos una línea de log.",
    analyze_failed: "El análisis falló",
    analyze_network: "No se pudo contactar con el servicio",
    result_actions: "Acciones sugeridas",
    result_events: "Puntuación por línea",
    result_errors: "Líneas rechazadas",
    result_none: "ninguna",
    summary_threat: "Amenaza detectada",
    summary_clean: "Sin amenaza",
    summary_counts: "{received} recibidas, {parsed} analizadas, {rejected} rechazadas, formato {format}",
    status_anomalous: "anómalo",
    status_normal: "normal",
    status_warming: "modelo calentando",
    truncated: "Se muestran las primeras {shown} de {total} líneas.",
    simulated: "simulada",
    action_allow: "permitir",
    action_monitor: "vigilar",
    action_alert: "alertar",
    action_rate_limit: "limitar tasa",
    action_block: "bloquear",
    scenario_brute_force: "fuerza bruta",
    scenario_credential_stuffing: "relleno de credenciales",
    scenario_scanning: "escaneo",
    scenario_injection_attempt: "intento de inyección",
    scenario_flood: "inundación",
    scenario_anomalous_behaviour: "comportamiento anómalo",
  },
  en: {
    subtitle: "Anomaly detection on access logs",
    feed_stats: "Stats",
    feed_decisions: "Decisions",
    feed_open: "connected",
    feed_closed: "reconnecting",
    lang_toggle_title: "Cambiar a español",
    events_per_s: "Events/s",
    events_total: "Events analysed",
    anomalies_total: "Anomalous events",
    active_decisions: "Active decisions",
    model: "Model",
    model_warm: "warm",
    model_warming: "warming up",
    timeline_title: "Anomaly score (max per second of log time)",
    timeline_empty: "No scored events yet.",
    series_max: "max",
    series_mean: "mean",
    series_threshold: "threshold",
    decisions_title: "Active decisions",
    decisions_empty: "No active decisions.",
    top_title: "Most anomalous clients",
    top_empty: "No clients in the last 5 minutes of log time.",
    top_hint: "By anomalous events, then by max score, over the last 5 minutes of log time.",
    col_client: "Client",
    col_scenario: "Scenario",
    col_action: "Action",
    col_until: "Until",
    col_reasons: "Reasons",
    col_max_score: "Max",
    col_anomalies: "Anomalous",
    col_events: "Events",
    col_line: "Line",
    col_score: "Score",
    col_status: "Status",
    col_text: "Text",
    col_reason: "Reason",
    col_excerpt: "Excerpt",
    analyze_title: "Analyse log lines",
    analyze_label: "Paste log lines (combined, common, JSON or CSV with its header):",
    format_label: "Format",
    format_auto: "auto",
    api_key_label: "API key (optional)",
    analyze_button: "Analyse",
    analyzing: "Analysing…",
    analyze_empty: "Paste at least one log line.",
    analyze_failed: "Analysis failed",
    analyze_network: "Could not reach the service",
    result_actions: "Suggested actions",
    result_events: "Score per line",
    result_errors: "Rejected lines",
    result_none: "none",
    summary_threat: "Threat detected",
    summary_clean: "No threat",
    summary_counts: "{received} received, {parsed} parsed, {rejected} rejected, format {format}",
    status_anomalous: "anomalous",
    status_normal: "normal",
    status_warming: "model warming up",
    truncated: "Showing the first {shown} of {total} lines.",
    simulated: "simulated",
    action_allow: "allow",
    action_monitor: "monitor",
    action_alert: "alert",
    action_rate_limit: "rate limit",
    action_block: "block",
    scenario_brute_force: "brute force",
    scenario_credential_stuffing: "credential stuffing",
    scenario_scanning: "scanning",
    scenario_injection_attempt: "injection attempt",
    scenario_flood: "flood",
    scenario_anomalous_behaviour: "anomalous behaviour",
  },
};

let current = initialLanguage();
const listeners = [];

function initialLanguage() {
  let stored = null;
  try {
    stored = window.localStorage.getItem(STORAGE_KEY);
  } catch {
    // Storage can be disabled; fall back to the browser language.
  }
  if (LANGUAGES.includes(stored)) {
    return stored;
  }
  return (navigator.language || "").toLowerCase().startsWith("es") ? "es" : "en";
}

export function language() {
  return current;
}

// Return the string for `key` with {name} placeholders filled from `values`.
export function t(key, values = {}) {
  const template = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (match, name) => (name in values ? String(values[name]) : match));
}

// Return the translated name of an action or scenario id, or the id itself when it is unknown.
export function label(prefix, id) {
  const key = `${prefix}_${id}`;
  return key in STRINGS[current] ? STRINGS[current][key] : String(id);
}

export function applyTranslations(root = document) {
  document.documentElement.lang = current;
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll("[data-i18n-title]")) {
    element.title = t(element.dataset.i18nTitle);
  }
}

export function setLanguage(lang) {
  if (!LANGUAGES.includes(lang)) {
    return;
  }
  current = lang;
  try {
    window.localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // Without storage the choice lasts until the page is reloaded.
  }
  applyTranslations();
  for (const listener of listeners) {
    listener(lang);
  }
}

export function onLanguageChange(listener) {
  listeners.push(listener);
}
