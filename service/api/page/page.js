// The analyst's page: plain DOM, no framework, no external assets.
// Memo text only ever reaches the page as text nodes (textContent, append of strings): never parsed as HTML.

import { TOKEN_KEY, api, query, token } from "./api.js";
import { ask, modelLabel } from "./answer.js";
import { clear, el, formatDate, markedText, scrollToFirst } from "./dom.js";

const PAGE_SIZE = 20;
const FACETS_KEY = "memo-facets-open";
const KINDS = { PERSON: "People", GPE: "Places", LOC: "Places", FAC: "Places", ORG: "Organisations" };
const KIND_CLASS = { PERSON: "person", GPE: "place", LOC: "place", FAC: "place", ORG: "org" };

const $ = (id) => document.getElementById(id);
const state = { offset: 0, entities: [], type: "", from: "", to: "", tag: "", llm: false, modeSet: false };

// -- errors ------------------------------------------------------------------------------------------

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

// -- entities ----------------------------------------------------------------------------------------

function entityRanges(entities) {
  return (entities || []).map((e) => ({
    start: e.start, end: e.end, cls: "ent ent-" + (KIND_CLASS[e.label] || "other"), title: e.label,
  }));
}

// -- tabs ----------------------------------------------------------------------------------------

function showTab(name) {
  for (const tab of ["ask", "topic", "memo"]) {
    $("tab-" + tab).setAttribute("aria-selected", String(tab === name));
    $("pane-" + tab).hidden = tab !== name;
  }
}

// -- memo list, filters, facets ------------------------------------------------------------------

function filterParams() {
  return { date_from: state.from, date_to: state.to, type: state.type, tag: state.tag, entity: state.entities };
}

async function loadList(append = false) {
  if (!append) state.offset = 0;
  const params = filterParams();
  const [page, facets] = await Promise.all([
    api("GET", "/memos?" + query({ ...params, limit: PAGE_SIZE, offset: state.offset })),
    append ? null : api("GET", "/memos/facets?" + query({ ...params, entity_limit: 40 })),
  ]);
  const list = $("memo-list");
  if (!append) clear(list);
  for (const memo of page.items) {
    list.append(el("li", {},
      el("button", { type: "button", class: "memo-item", "data-id": memo.id, onclick: () => openMemo(memo.id) },
        el("span", { class: "memo-title" }, memo.title),
        el("span", { class: "memo-meta" },
          el("span", { class: "date" }, formatDate(memo.date)),
          memo.type ? el("span", { class: "type" }, memo.type) : null,
          memo.tags.length ? el("span", { class: "tags" }, memo.tags.join(", ")) : null))));
  }
  state.offset += page.items.length;
  $("more").hidden = state.offset >= page.total;
  $("total").textContent = String(page.total);
  if (!page.total) list.append(el("li", { class: "hint" }, "No memos match."));
  if (facets) renderFacets(facets);
  renderActive();
}

function facetChip(label, count, onclick, cls) {
  return el("button", { type: "button", class: "chip " + (cls || ""), onclick },
    label, el("span", { class: "n" }, String(count)));
}

function renderFacets(facets) {
  clear($("facet-years"), el("span", { class: "facet-name" }, "Years"),
    facets.years.map((y) => facetChip(y.value || "undated", y.memos, () => {
      if (!y.value) return;
      state.from = y.value + "-01-01";
      state.to = y.value + "-12-31";
      syncFilterForm();
      refresh();
    }, y.value ? "" : "inert")));
  clear($("facet-types"), facets.types.length ? el("span", { class: "facet-name" }, "Types") : null,
    facets.types.map((t) => facetChip(t.value, t.memos, () => { state.type = t.value; syncFilterForm(); refresh(); })));
  clear($("facet-tags"), facets.tags.length ? el("span", { class: "facet-name" }, "Tags") : null,
    facets.tags.map((t) => facetChip(t.value, t.memos, () => { state.tag = t.value; refresh(); })));
  const groups = {};
  for (const e of facets.entities) (groups[KINDS[e.label] || "Other"] ||= []).push(e);
  clear($("facet-entities"), ["People", "Places", "Organisations", "Other"].filter((k) => groups[k]).map((kind) =>
    el("div", { class: "facet" }, el("span", { class: "facet-name" }, kind),
      groups[kind].map((e) => facetChip(e.text, e.memos, () => addEntity(e.text),
        "ent-" + (KIND_CLASS[e.label] || "other"))))));
  clear($("entity-names"), facets.entities.map((e) => el("option", { value: e.text })));
  const types = new Set(facets.types.map((t) => t.value));
  if (state.type) types.add(state.type);
  clear($("f-type"), el("option", { value: "" }, "any"),
    [...types].sort().map((t) => el("option", { value: t, selected: t === state.type }, t)));
}

function renderActive() {
  const chips = [];
  const drop = (fn) => () => { fn(); syncFilterForm(); refresh(); };
  if (state.from || state.to) {
    chips.push(el("button", { type: "button", class: "chip active", onclick: drop(() => { state.from = state.to = ""; }) },
      "× " + (state.from || "…") + " – " + (state.to || "…")));
  }
  if (state.type) chips.push(el("button", { type: "button", class: "chip active", onclick: drop(() => { state.type = ""; }) }, "× type " + state.type));
  if (state.tag) chips.push(el("button", { type: "button", class: "chip active", onclick: drop(() => { state.tag = ""; }) }, "× tag " + state.tag));
  for (const name of state.entities) {
    chips.push(el("button", { type: "button", class: "chip active", onclick: drop(() => {
      state.entities = state.entities.filter((n) => n !== name);
    }) }, "× " + name));
  }
  clear($("active"), chips);
}

function addEntity(name) {
  name = name.trim();
  if (name && !state.entities.some((n) => n.toLowerCase() === name.toLowerCase())) state.entities.push(name);
  refresh();
}

function syncFilterForm() {
  $("f-from").value = state.from;
  $("f-to").value = state.to;
  $("f-type").value = state.type;
}

async function refresh() {
  try {
    showError("");
    await loadList();
  } catch (err) {
    showError(err.message);
  }
}

// -- one memo: brief and key sentences -----------------------------------------------------------

/** Open a memo; `extra` ranges (citations, a timeline point) are highlighted beside its key sentences. */
async function openMemo(id, extra = []) {
  showTab("memo");
  const box = $("memo");
  clear(box, el("p", { class: "hint" }, "Loading…"));
  bringIntoView(document.querySelector("section.main"));
  try {
    const [memo, brief] = await Promise.all([api("GET", "/memos/" + encodeURIComponent(id)), api("GET", "/memos/" + encodeURIComponent(id) + "/brief")]);
    const ranges = [
      ...entityRanges(memo.entities),
      ...brief.sentences.map((s) => ({ start: s.start, end: s.end, cls: "key", mark: true, title: "key sentence" })),
      ...extra,
    ];
    const text = el("div", { class: "memo-text", id: "memo-text", tabindex: "0" }, markedText(memo.text, ranges));
    const distinct = {};
    for (const e of memo.entities) (distinct[e.text + "\u0000" + e.label] ||= e);
    clear(box,
      el("div", { class: "memo-head" },
        el("h2", { id: "memo-title" }, memo.title),
        el("button", { type: "button", class: "quiet danger", onclick: () => deleteMemo(memo) }, "Delete")),
      el("p", { class: "memo-meta" },
        el("span", { class: "date" }, formatDate(memo.date)),
        memo.type ? el("span", { class: "type" }, memo.type) : null,
        memo.source ? el("span", {}, memo.source) : null,
        memo.tags.length ? el("span", { class: "tags" }, memo.tags.join(", ")) : null,
        el("span", { class: "id" }, memo.id)),
      Object.values(distinct).length ? el("div", { class: "chips entities", id: "memo-entities" },
        Object.values(distinct).map((e) => el("button", {
          type: "button", class: "chip ent-" + (KIND_CLASS[e.label] || "other"), title: "List memos that mention " + e.text,
          onclick: () => addEntity(e.text),
        }, e.text))) : null,
      el("h3", {}, "Brief"),
      el("ol", { class: "brief", id: "memo-brief" }, brief.sentences.map((s) => el("li", {}, s.text))),
      state.llm ? el("div", { class: "model-brief", id: "model-brief" }, el("p", { class: "hint" }, "The local model is writing a brief…")) : null,
      el("h3", {}, "Text ", el("span", { class: "legend" },
        el("mark", { class: "key" }, "key sentence"), extra.length ? el("mark", { class: "cite" }, "cited") : null)),
      text);
    scrollToFirst(text, extra.length ? "mark.cite" : "mark.key");
    if (state.llm) loadModelBrief(memo.id);
  } catch (err) {
    clear(box, el("p", { class: "msg bad" }, err.message));
  }
}

/** Scroll `node` to the top of the window (below the header) unless its top is already in view. */
function bringIntoView(node) {
  const top = node.getBoundingClientRect().top;
  const header = document.querySelector(".bar").getBoundingClientRect();
  const covered = getComputedStyle(document.querySelector(".bar")).position === "sticky" ? header.bottom : 0;
  if (top < covered || top > window.innerHeight * 0.6) {
    node.style.scrollMarginTop = covered + 8 + "px";
    node.scrollIntoView({ block: "start" });
  }
}

/** The local model's brief, each sentence titled with the memo sentence that supports it. */
async function loadModelBrief(id) {
  try {
    const brief = await api("GET", "/memos/" + encodeURIComponent(id) + "/brief?mode=abstractive");
    const box = $("model-brief");
    if (!box) return;
    if (!brief.method.startsWith("abstractive")) {
      clear(box, el("p", { class: "hint" }, "The model's brief did not hold up against the memo; the key sentences above stand."));
      return;
    }
    clear(box, el("h3", {}, "In brief, by the local model ", modelLabel()),
      el("p", { id: "model-brief-text" }, brief.sentences.map((s) => el("span", { title: "supported by: " + s.quote }, s.text + " "))));
  } catch (err) {
    const box = $("model-brief");
    if (box) clear(box, el("p", { class: "hint" }, err.message));
  }
}

async function deleteMemo(memo) {
  if (!window.confirm("Delete \u201c" + memo.title + "\u201d? This cannot be undone.")) return;
  try {
    await api("DELETE", "/memos/" + encodeURIComponent(memo.id));
    clear($("memo"), el("p", { class: "hint" }, "Deleted."));
    await Promise.all([refresh(), loadHealth()]);
  } catch (err) {
    showError(err.message);
  }
}

// -- ask -------------------------------------------------------------------------------------------

/** The trimmed value of a search field, with its result box showing that a search runs; null if empty. */
function startSearch(event, inputId, boxId) {
  event.preventDefault();
  const value = $(inputId).value.trim();
  if (value) clear($(boxId), el("p", { class: "hint" }, "Searching…"));
  return value || null;
}

function askQuestion(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  const body = { question };
  if ($("ask-filtered").checked) {
    Object.assign(body, { date_from: state.from || undefined, date_to: state.to || undefined,
      tags: state.tag ? [state.tag] : undefined, entities: state.entities.length ? state.entities : undefined });
  }
  ask($("answer"), body, state.llm && $("ask-generative").checked, openMemo);
}

// -- topic timeline --------------------------------------------------------------------------------

async function topic(event) {
  const q = startSearch(event, "topic-query", "topic");
  if (!q) return;
  const box = $("topic");
  const body = { query: q, k: Number($("t-k").value) || 10 };
  if ($("t-from").value) body.date_from = $("t-from").value;
  if ($("t-to").value) body.date_to = $("t-to").value;
  try {
    const result = await api("POST", "/summarise", body);
    if (result.abstained) {
      clear(box, el("div", { class: "abstain", id: "abstain" }, el("strong", {}, "Not in the memos."),
        " No memo supports that topic."));
      return;
    }
    const written = result.method.startsWith("abstractive");
    clear(box,
      el("p", { class: "topic-brief" + (written ? " model" : ""), id: "topic-brief" }, written ? [modelLabel(), " "] : null,
        el("span", { id: "topic-brief-text" }, result.brief)),
      el("ol", { class: "timeline", id: "timeline" }, result.timeline.map((t) => el("li", {},
        el("span", { class: "when" }, formatDate(t.date)),
        el("div", { class: "what" },
          el("button", { type: "button", class: "link", onclick: () => openMemo(t.memo_id,
            t.citations.map((c) => ({ start: c.start, end: c.end, cls: "cite", mark: true, title: "timeline point" }))) },
          t.title),
          el("p", { class: "point" }, "\u201c", t.point, "\u201d"))))));
  } catch (err) {
    clear(box, el("p", { class: "msg bad" }, err.message));
  }
}

// -- add a memo ------------------------------------------------------------------------------------

async function addMemo(event) {
  event.preventDefault();
  const msg = $("add-msg");
  const file = $("add-file").files[0];
  const text = $("add-text").value;
  const fields = { title: $("add-title").value.trim(), date: $("add-date").value, tags: $("add-tags").value.trim() };
  if (file && text.trim()) {
    msg.textContent = "Paste text or choose a file, not both.";
    msg.className = "msg bad";
    return;
  }
  if (!file && !text.trim()) {
    msg.textContent = "Paste a memo or choose a file first.";
    msg.className = "msg bad";
    return;
  }
  let body;
  if (file) {
    body = new FormData();
    body.append("file", file, file.name);
    for (const [k, v] of Object.entries(fields)) if (v) body.append(k, v);
  } else {
    body = { text };
    if (fields.title) body.title = fields.title;
    if (fields.date) body.date = fields.date;
    const tags = fields.tags.split(",").map((t) => t.trim()).filter(Boolean);
    if (tags.length) body.tags = tags;
  }
  $("add-button").disabled = true;
  msg.textContent = "Adding…";
  msg.className = "msg";
  try {
    const memo = await api("POST", "/memos", body);
    msg.textContent = memo.created ? "Added \u201c" + memo.title + "\u201d." : "Already stored as \u201c" + memo.title + "\u201d.";
    msg.className = "msg good";
    $("add-form").reset();
    await Promise.all([refresh(), loadHealth()]);
    await openMemo(memo.id);
  } catch (err) {
    msg.textContent = err.message;
    msg.className = "msg bad";
  } finally {
    $("add-button").disabled = false;
  }
}

// -- start -----------------------------------------------------------------------------------------

async function loadHealth() {
  try {
    const h = await api("GET", "/health");
    state.llm = Boolean(h.models.llm && h.models.llm !== "none");
    $("ask-llm").hidden = !state.llm;
    if (!state.modeSet) {  // the server's default mode, once: later refreshes keep the reader's choice
      $("ask-generative").checked = state.llm && h.ask_mode === "generative";
      state.modeSet = true;
    }
    $("status").textContent = h.memos + " memos \u00b7 " + h.models.embedder + (state.llm ? " \u00b7 " + h.models.llm : "") +
      (h.status === "ok" ? "" : " \u00b7 " + h.status);
  } catch (err) {
    $("status").textContent = "";
    showError(err.message);
  }
}

function start() {
  $("token").value = token();
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token").value.trim();
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
    $("status").textContent = value ? "token saved" : "token cleared";
    refresh();
    loadHealth();
  });
  for (const tab of ["ask", "topic", "memo"]) $("tab-" + tab).addEventListener("click", () => showTab(tab));
  $("add-form").addEventListener("submit", addMemo);
  $("ask-form").addEventListener("submit", askQuestion);
  $("facets").open = localStorage.getItem(FACETS_KEY) === "open";
  $("facets").addEventListener("toggle", () => localStorage.setItem(FACETS_KEY, $("facets").open ? "open" : "closed"));
  $("topic-form").addEventListener("submit", topic);
  $("more").addEventListener("click", () => loadList(true).catch((err) => showError(err.message)));
  $("filter-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.from = $("f-from").value;
    state.to = $("f-to").value;
    state.type = $("f-type").value;
    const name = $("f-entity").value;
    $("f-entity").value = "";
    if (name.trim()) addEntity(name);
    else refresh();
  });
  $("f-clear").addEventListener("click", () => {
    Object.assign(state, { entities: [], type: "", from: "", to: "", tag: "" });
    syncFilterForm();
    refresh();
  });
  loadHealth();
  refresh();
}

document.addEventListener("DOMContentLoaded", start);
