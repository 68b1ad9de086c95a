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
 * The memo text (or its part between UTF-16 offsets `from` and `to`) as a fragment, with ranges marked. A
 * range is {start, end, cls, mark} in code points: `mark` ranges become <mark> (brief sentences, citations,
 * the answer), the others <span> (entities). Overlapping ranges split the text into segments that carry
 * every class that covers them.
 */
export function markedText(text, ranges, from = 0, to = text.length) {
  const at = offsetMapper(text);
  const spans = ranges.map((r) => ({ ...r, s: Math.max(from, at(r.start)), e: Math.min(to, at(r.end)) }))
    .filter((r) => r.e > r.s);
  const cuts = new Set([from, to]);
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

// Where a sentence (or a line) ends: after . ! ? and any closing quotes or brackets, before white space.
const SENTENCE_END = /[.!?]["'\u201d\u2019)\]]*\s+|\n+/g;

/**
 * The parts of `text` to show first for `ranges` (code points): each range with the sentence before and
 * the sentence after it, overlapping parts merged. Returns [from, to] pairs in UTF-16 units, in order.
 */
export function passageWindows(text, ranges) {
  const at = offsetMapper(text);
  const bounds = [0];
  for (const m of text.matchAll(SENTENCE_END)) bounds.push(m.index + m[0].length);
  bounds.push(text.length);
  const windows = ranges.map((r) => {
    const s = at(r.start);
    const e = at(r.end);
    const first = bounds.findLastIndex((b) => b <= s);
    const last = bounds.findIndex((b) => b >= e);
    return [bounds[Math.max(0, first - 1)], bounds[Math.min(bounds.length - 1, (last < 0 ? bounds.length - 1 : last) + 1)]];
  }).sort((x, y) => x[0] - y[0]);
  const merged = [];
  for (const w of windows) {
    const prev = merged[merged.length - 1];
    if (prev && w[0] <= prev[1]) prev[1] = Math.max(prev[1], w[1]);
    else merged.push([...w]);
  }
  return merged;
}

export function scrollToFirst(box, selector) {
  const first = box.querySelector(selector);
  if (first) box.scrollTop = Math.max(0, first.offsetTop - box.offsetTop - 40);
}
