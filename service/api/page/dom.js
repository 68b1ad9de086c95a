// DOM building and highlighting. Text only ever enters the page as text nodes: never parsed as HTML.

/** An element with attributes and children (strings become text nodes, so they are never parsed). */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

export function formatDate(iso) {
  if (!iso) return "undated";
  const d = new Date(iso + "T00:00:00Z");
  return d.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
}

/** The service counts offsets in code points, JavaScript strings in UTF-16 units: map one to the other. */
export function offsetMapper(text) {
  if (!/[\uD800-\uDFFF]/.test(text)) return (i) => i;
  const units = [];
  let u = 0;
  for (const ch of text) {
    units.push(u);
    u += ch.length;
  }
  units.push(u);
  return (i) => units[Math.max(0, Math.min(i, units.length - 1))];
}

/**
 * The memo text as a fragment, with ranges marked. A range is {start, end, cls, mark}: `mark` ranges
 * become <mark> (brief sentences, citations, the answer), the others <span> (entities). Overlapping
 * ranges split the text into segments that carry every class that covers them.
 */
export function markedText(text, ranges) {
  const at = offsetMapper(text);
  const spans = ranges.map((r) => ({ ...r, s: at(r.start), e: at(r.end) })).filter((r) => r.e > r.s);
  const cuts = new Set([0, text.length]);
  spans.forEach((r) => { cuts.add(r.s); cuts.add(r.e); });
  const points = [...cuts].sort((a, b) => a - b);
  const fragment = document.createDocumentFragment();
  for (let i = 0; i + 1 < points.length; i++) {
    const a = points[i];
    const b = points[i + 1];
    const piece = text.slice(a, b);
    const over = spans.filter((r) => r.s <= a && r.e >= b);
    if (!over.length) {
      fragment.append(piece);
      continue;
    }
    const node = document.createElement(over.some((r) => r.mark) ? "mark" : "span");
    node.className = over.map((r) => r.cls).join(" ");
    const titles = over.map((r) => r.title).filter(Boolean);
    if (titles.length) node.title = titles.join(" · ");
    node.textContent = piece;
    fragment.append(node);
  }
  return fragment;
}

export function scrollToFirst(box, selector) {
  const first = box.querySelector(selector);
  if (first) box.scrollTop = Math.max(0, first.offsetTop - box.offsetTop - 40);
}
