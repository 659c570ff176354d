// DOM helpers that put data into the page as text only, never as HTML.

// Create an element; `text` becomes a text node, so markup in it is shown literally.
export function el(tag, { className, text, title, dataset } = {}, children = []) {
  const element = document.createElement(tag);
  if (className) {
    element.className = className;
  }
  if (text !== undefined && text !== null) {
    element.append(document.createTextNode(String(text)));
  }
  if (title !== undefined && title !== null) {
    element.title = String(title);
  }
  for (const [key, value] of Object.entries(dataset || {})) {
    element.dataset[key] = String(value);
  }
  element.append(...children);
  return element;
}

export function row(cells) {
  return el("tr", {}, cells);
}

export function cell(text, className) {
  return el("td", { text, className });
}

// Replace the rows of `table`'s tbody and show `emptyHint` when there are none.
export function fillTable(table, rows, emptyHint) {
  table.tBodies[0].replaceChildren(...rows);
  if (emptyHint) {
    emptyHint.hidden = rows.length > 0;
  }
}

export function formatNumber(value, lang, digits = 0) {
  return new Intl.NumberFormat(lang, { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(value);
}

// Format an ISO 8601 UTC time as "YYYY-MM-DD HH:MM:SS UTC", or return it unchanged if it does not parse.
export function formatUtc(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return String(iso);
  }
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}
