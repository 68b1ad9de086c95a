// Asking: the question goes out (streamed from the local model when asked for), the elapsed time shows while
// it runs, Cancel aborts it, and the answer comes back with its confidence and its cited passages.
// Memo and model text only ever enter the page as text nodes.

import { api, stream } from "./api.js";
import { clear, el, formatDate, markedText, passageWindows, scrollToFirst } from "./dom.js";

// Below this confidence an answer is shown as a possible one, beside the passage it comes from.
export const SURE = 0.5;

let running = null; // the AbortController of the question being answered

/** The mark on text the local model wrote (not quoted from a memo). */
export function modelLabel() {
  return el("span", { class: "model-label", title: "written by the local model, not quoted from a memo" }, "model-written");
}

/**
 * Ask `body.question`; `generative` streams the local model's tokens as they come. `openMemo(id, ranges)`
 * opens a source. A new question cancels the one still running.
 */
export async function ask(box, body, generative, openMemo) {
  if (running) running.abort();
  const controller = new AbortController();
  running = controller;
  const started = performance.now();
  const seconds = () => ((performance.now() - started) / 1000).toFixed(1) + " s";
  const elapsed = el("span", { class: "elapsed", id: "ask-elapsed" }, "0.0 s");
  const tokens = el("p", { class: "answer-text streaming", id: "answer-stream" });
  clear(box,
    el("p", { class: "progress", id: "ask-progress" },
      generative ? "The local model is answering\u2026 " : "Searching\u2026 ", elapsed,
      el("button", { type: "button", class: "quiet", id: "ask-cancel", onclick: () => controller.abort() }, "Cancel")),
    generative ? el("div", { class: "answer model" }, modelLabel(), tokens) : null);
  const timer = setInterval(() => { elapsed.textContent = seconds(); }, 100);
  try {
    let result = null;
    if (generative) {
      await stream("/ask", { ...body, mode: "generative", stream: true }, (name, data) => {
        if (name === "token") tokens.append(data.text);
        else if (name === "answer") result = data;
      }, controller.signal);
      if (!result) throw new Error("The answer stream ended without an answer; try again.");
    } else {
      result = await api("POST", "/ask", { ...body, mode: "extractive" }, controller.signal);
    }
    clearInterval(timer);
    await renderAnswer(box, result, openMemo, seconds(), controller.signal);
  } catch (err) {
    if (running !== controller) return; // a newer question owns the box now
    if (err.name !== "AbortError") clear(box, el("p", { class: "msg bad" }, err.message));
    else {
      clear(box, el("p", { class: "hint", id: "ask-cancelled" }, "Cancelled after " + seconds() + "."),
        tokens.textContent ? el("div", { class: "answer model" }, modelLabel(), el("p", { class: "answer-text" }, tokens.textContent)) : null);
    }
  } finally {
    clearInterval(timer);
    if (running === controller) running = null;
  }
}

function answerHead(result, took) {
  if (result.abstained) {
    return el("div", { class: "abstain", id: "abstain" },
      el("strong", {}, "Not in the memos."),
      " Nothing stored supports an answer to that question", result.citations.length ? "; the closest passages follow." : ".");
  }
  const possible = result.confidence < SURE;
  const source = result.span && result.citations.find((c) => c.memo_id === result.span.memo_id &&
    c.start <= result.span.start && c.end >= result.span.end);
  const notes = ["support " + Math.round(result.confidence * 100) + "%"];
  if (possible) notes.push("low: read the passage before relying on it");
  if (result.grounding === "extractive-fallback") notes.push("the model's answer was not in the memos; this is the memos' own sentence");
  notes.push(took);
  return el("div", { class: "answer" + (possible ? " possible" : ""), id: "answer-block" },
    result.generated ? el("div", { class: "model", id: "model-answer" }, modelLabel(),
      el("p", { class: "model-text" }, result.generated)) : null,
    el("p", { class: "answer-label", id: "answer-label" }, possible ? "Possible answer" : "Answer",
      result.generated ? " (the memo's own words)" : ""),
    el("p", { class: "answer-text", id: "answer-text" }, result.answer),
    possible && source ? el("blockquote", { class: "answer-passage", id: "answer-passage" },
      "\u201c", source.quote, "\u201d ", el("cite", {}, "\u2014 ", source.title || source.memo_id)) : null,
    el("p", { class: "confidence" }, notes.join(" \u00b7 ")));
}

/** The answer, then its sources: each memo's cited passage with a sentence either side, the rest folded. */
export async function renderAnswer(box, result, openMemo, took = "", signal = undefined) {
  const byMemo = new Map();
  for (const c of result.citations) {
    if (!byMemo.has(c.memo_id)) byMemo.set(c.memo_id, []);
    byMemo.get(c.memo_id).push(c);
  }
  const memos = await Promise.all([...byMemo.keys()].map((id) => api("GET", "/memos/" + encodeURIComponent(id), undefined, signal)));
  const sources = memos.map((memo) => {
    const ranges = byMemo.get(memo.id).map((c) => ({
      start: c.start, end: c.end, mark: true, cls: result.abstained ? "near" : "cite",
      title: "cited, score " + c.score.toFixed(2),
    }));
    if (!result.abstained && result.span && result.span.memo_id === memo.id) {
      ranges.push({ start: result.span.start, end: result.span.end, mark: true, cls: "answer", title: "the answer" });
    }
    return el("article", { class: "source", "data-memo": memo.id },
      el("header", {},
        el("button", { type: "button", class: "link", onclick: () => openMemo(memo.id, ranges) }, memo.title),
        el("span", { class: "date" }, formatDate(memo.date))),
      passage(memo.text, ranges),
      wholeMemo(memo.text, ranges));
  });
  clear(box, answerHead(result, took), sources.length ? el("h3", {}, result.abstained ? "Closest passages" : "Sources") : null, sources);
}

function passage(text, ranges) {
  const windows = passageWindows(text, ranges);
  const parts = [];
  windows.forEach(([from, to], i) => {
    if (from > 0 || i > 0) parts.push(el("span", { class: "gap" }, "\u2026 "));
    parts.push(markedText(text, ranges, from, to));
  });
  if (windows.length && windows[windows.length - 1][1] < text.length) parts.push(el("span", { class: "gap" }, " \u2026"));
  return el("div", { class: "memo-text passage" }, parts);
}

/** The whole memo, folded; built when first unfolded. */
function wholeMemo(text, ranges) {
  const body = el("div", { class: "memo-text excerpt" });
  const details = el("details", { class: "whole" }, el("summary", {}, "Whole memo"), body);
  details.addEventListener("toggle", () => {
    if (!details.open || body.childNodes.length) return;
    body.append(markedText(text, ranges));
    scrollToFirst(body, "mark");
  });
  return details;
}
