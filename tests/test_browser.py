"""The analyst's page in headless Debian Chromium (Playwright), against the app on the real models.

Skips with a message when Chromium or Playwright is missing; under ``CI=true`` that is a failure instead.
Screenshots go to ``test-artifacts/`` (``MEMO_ARTIFACTS`` overrides). The layout and streaming tests use the
deterministic fake models (a scripted LLM slowed to a token every 0.15 s) through the same registry.
"""
from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.fakes import ScriptedGenerator
from tests.test_engine import MEMO_A

pytestmark = [pytest.mark.browser, pytest.mark.model]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("MEMO_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = Path(os.environ.get("MEMO_CHROMIUM", "/usr/bin/chromium"))
# Required on this kind of machine; Playwright adds its own --user-data-dir (a fresh one per test).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
]
TOKEN = "page-test-token"

# The emoji sits before the sentences the test highlights: the service counts offsets in code points, the
# page's strings in UTF-16 units, so a page that did not convert would mark the wrong characters.
# The markup must show as text and never run.
UPLOAD = (
    "4 Feb 2024; MEMO: The port of Tartus \U0001F6A2 reopened after repairs by Russian engineers.\n"
    '<img src=x onerror="window.__pwned = 1"><b>not bold</b>\n'
    "Officials in Moscow said the rebuilt piers can berth two frigates at once.\n"
    "The mayor of Tartus thanked the Kremlin for the funding."
)


def _require_browser() -> None:
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing: run 'sudo make chromium' (Debian's chromium package)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed: run 'make install'"
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser test cannot run in CI: {problem}")
        pytest.skip(problem)


class AuthRecorder:
    """WSGI middleware: remembers the Authorization header of every API call the page makes (the test's
    own calls, marked with X-Test-Client, are not the page's)."""

    def __init__(self, app) -> None:
        self.app = app
        self.seen: list[tuple[str, str, str | None]] = []

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not (path == "/" or path.startswith("/page/") or environ.get("HTTP_X_TEST_CLIENT")):
            self.seen.append((environ["REQUEST_METHOD"], path, environ.get("HTTP_AUTHORIZATION")))
        return self.app(environ, start_response)


@pytest.fixture
def live(real_app):
    """The app (seed memo stored) on a real HTTP server on 127.0.0.1, in a thread."""
    recorder = AuthRecorder(real_app.wsgi_app)
    real_app.wsgi_app = recorder
    with serve(real_app) as base:
        yield base, recorder


@contextmanager
def serve(app):
    """``app`` on a real HTTP server on 127.0.0.1, in a thread: yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


class SlowScriptedGenerator(ScriptedGenerator):
    """The scripted LLM, a word every 0.15 s: slow enough to watch the page take the tokens one by one."""

    def stream(self, prompt: str, max_tokens: int):
        for word in super().stream(prompt, max_tokens):
            time.sleep(0.15)
            yield word


@pytest.fixture
def fake_live(config, monkeypatch):
    """An app on the fake models and the slow scripted LLM, with 30 memos: a list longer than the screen."""
    import models
    from service import create_app

    monkeypatch.setitem(models.GENERATORS._factories, "slow-fake", SlowScriptedGenerator)
    app = create_app({**config, "LLM": "slow-fake", "BRIEF_WORKER": False})
    engine = app.extensions["memo"]
    engine.ingest(MEMO_A, tags=["ports"])
    for day in range(1, 30):
        engine.ingest(f"{day} Mar 2023; NOTE: Weekly shipping note number {day} for the eastern ports. "
                      f"Cargo volumes changed by {day} percent. The harbour master filed it.")
    try:
        with serve(app) as base:
            yield base
    finally:
        engine.close()


@pytest.fixture
def page(tmp_path):
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(30_000)
        page = context.pages[0] if context.pages else context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.js_errors = errors
        try:
            yield page
        finally:
            context.close()


def api(base: str, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", "X-Test-Client": "1"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def marked(page, selector: str) -> str:
    """The text of every element matching ``selector``, in document order, joined."""
    return "".join(page.locator(selector).all_text_contents())


def shot(page, name: str, full_page: bool = True) -> None:
    """A screenshot of the whole page, or (``full_page=False``) of what the window shows."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"page-{name}.png"), full_page=full_page)


def test_upload_brief_ask_topic_and_facets_in_the_page(page, live):  # page first: a skip loads no model
    from playwright.sync_api import expect

    base, recorder = live
    page.goto(base + "/")
    page.locator(".memo-item").first.wait_for()
    assert "Syrian President" in page.locator("#memo-list").inner_text()

    # A token is kept in localStorage and sent on every API call from then on.
    page.fill("#token", TOKEN)
    page.click("#token-form button")
    expect(page.locator("#status")).to_contain_text("memos")
    recorder.seen.clear()

    # Upload a memo file: the page stores it and opens it with its brief.
    page.set_input_files("#add-file", files=[{"name": "tartus.md", "mimeType": "text/markdown",
                                              "buffer": UPLOAD.encode("utf-8")}])
    page.fill("#add-tags", "ports, navy")
    page.click("#add-button")
    page.wait_for_selector("#memo-brief li")
    memo_id = api(base, "GET", "/memos?tag=ports")["items"][0]["id"]
    memo = api(base, "GET", f"/memos/{memo_id}")
    assert memo["text"] == UPLOAD and memo["source"] == "tartus.md"
    assert page.locator("#memo-title").inner_text() == memo["title"]

    # Key sentences are highlighted exactly where the brief says; memo markup stays text.
    brief = api(base, "GET", f"/memos/{memo_id}/brief")
    assert marked(page, "#memo-text mark.key") == "".join(s["text"] for s in brief["sentences"])
    assert page.locator("#memo-text img, #memo-text b").count() == 0
    assert '<img src=x onerror="window.__pwned = 1"><b>not bold</b>' in page.locator("#memo-text").inner_text()
    assert page.evaluate("window.__pwned") is None
    entity_names = page.locator("#memo-entities .chip").all_text_contents()
    assert "Tartus" in entity_names and "Moscow" in entity_names
    shot(page, "1-memo-brief")

    # Ask: the answer, and its span highlighted in the memo it comes from.
    question = "How many frigates can the rebuilt piers berth?"
    page.click("#tab-ask")
    page.fill("#question", question)
    page.click("#ask-form button[type=submit]")
    page.wait_for_selector("#answer-text")
    expected = api(base, "POST", "/ask", {"question": question})
    assert not expected["abstained"] and expected["span"]["memo_id"] == memo_id
    assert page.locator("#answer-text").inner_text() == expected["answer"]
    source = page.locator(f'#answer .source[data-memo="{memo_id}"]')
    assert "".join(source.locator("mark.answer").all_text_contents()) == expected["span"]["quote"]
    assert expected["span"]["quote"] in "".join(source.locator("mark.cite").all_text_contents())
    # The cited passage comes with its neighbours (markup in them stays text); the whole memo is folded.
    passage = source.locator(".passage").inner_text()
    assert "Officials in Moscow said" in passage and "mayor of Tartus" in passage and "<b>not bold</b>" in passage
    assert source.locator(".passage img, .passage b").count() == 0
    assert not source.locator("details.whole").evaluate("d => d.open")
    source.locator("details.whole summary").click()
    expect(source.locator("details.whole .memo-text")).not_to_be_empty()  # filled on the toggle event
    assert source.locator("details.whole .memo-text").inner_text() == UPLOAD
    label = "Possible answer" if expected["confidence"] < 0.5 else "Answer"
    assert page.locator("#answer-label").text_content() == label
    assert page.locator("#answer-passage").count() == (1 if label == "Possible answer" else 0)
    shot(page, "2-answer")

    # A question the memos do not answer is shown as such.
    page.fill("#question", "What is the boiling point of mercury?")
    page.click("#ask-form button[type=submit]")
    page.wait_for_selector("#abstain")
    assert page.locator("#abstain").inner_text().startswith("Not in the memos.")
    assert page.locator("#answer-text").count() == 0

    # Topic timeline: the memos about the port, oldest first, as the API orders them.
    page.click("#tab-topic")
    page.fill("#topic-query", "the port of Tartus")
    page.click("#topic-form button[type=submit]")
    page.wait_for_selector("#timeline li")
    timeline = api(base, "POST", "/summarise", {"query": "the port of Tartus", "k": 10})["timeline"]
    assert [t["memo_id"] for t in timeline][-1] == memo_id and len(timeline) >= 2
    assert page.locator("#timeline li .link").all_text_contents() == [t["title"] for t in timeline]
    assert page.locator("#topic-brief").inner_text()
    assert page.locator("#topic-brief .model-label").count() == 0  # no LLM here: the memos' own sentences
    shot(page, "3-timeline")

    # Entity facets narrow the list. They start folded; opened, they stay open after a reload.
    assert not page.locator("#facet-entities").is_visible()
    page.click("#facets summary")
    # the page stores the choice on the details' toggle event, which the browser fires as a task after the
    # click: reloading before it ran lost the choice (seen once in CI)
    deadline = time.monotonic() + 5  # the page's CSP forbids the eval that wait_for_function needs
    while page.evaluate("localStorage.getItem('memo-facets-open')") != "open":
        assert time.monotonic() < deadline, "the facets' open state was never stored"
        page.wait_for_timeout(20)
    page.reload()
    page.locator(".memo-item").first.wait_for()
    assert page.evaluate("document.getElementById('facets').open") is True
    page.locator("#facet-entities .chip", has_text="Putin").first.click()
    expect(page.locator("#total")).to_have_text("1")
    assert "Syrian President" in page.locator("#memo-list").inner_text()
    shot(page, "4-facets")

    # Pasted text works too, and pasting the same text again says it is already stored.
    pasted = "2 May 2024; NOTE: Ships from Novorossiysk docked at Tartus for the first time since March."
    for expected_msg in ("Added", "Already stored"):
        page.fill("#add-text", pasted)
        page.click("#add-button")
        expect(page.locator("#add-msg")).to_contain_text(expected_msg)
    expect(page.locator("#memo-title")).to_have_text("Ships from Novorossiysk docked at Tartus for the first time since March.")

    # Every API call after the token was saved carried it.
    assert recorder.seen and all(auth == f"Bearer {TOKEN}" for _, _, auth in recorder.seen), recorder.seen
    assert not page.js_errors, page.js_errors



def _visible_box(page, selector: str) -> dict:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box


def test_streamed_answer_token_by_token_and_cancel(page, fake_live):
    from playwright.sync_api import expect

    base = fake_live
    page.goto(base + "/")
    page.locator(".memo-item").first.wait_for()
    assert page.locator("#ask-llm").is_visible()
    page.check("#ask-generative")
    page.fill("#question", "What did engineers add to the harbour of Tartus?")
    # Record every text the streaming box shows, as the DOM changes.
    page.evaluate("""() => {
      window.__seen = [];
      new MutationObserver(() => {
        const s = document.getElementById("answer-stream");
        if (s && s.textContent !== window.__seen[window.__seen.length - 1]) window.__seen.push(s.textContent);
      }).observe(document.getElementById("answer"), { subtree: true, childList: true, characterData: true });
    }""")
    page.click("#ask-form button[type=submit]")
    page.wait_for_function("() => window.__seen.length >= 3")
    assert page.locator("#ask-elapsed").inner_text().endswith(" s")
    assert page.locator("#ask-progress .model-label, #answer .model-label").count() >= 1
    shot(page, "5-streaming")
    page.wait_for_selector("#answer-text")
    seen = [t for t in page.evaluate("window.__seen") if t]
    expected = api(base, "POST", "/ask", {"question": "What did engineers add to the harbour of Tartus?",
                                          "mode": "generative"})
    assert len(seen) >= 3, seen
    assert all(b.startswith(a) and len(b) > len(a) for a, b in zip(seen, seen[1:])), seen
    assert seen[-1].startswith(expected["generated"].split()[0]), (seen, expected["generated"])
    assert page.locator("#answer-text").inner_text() == expected["answer"]
    assert page.locator("#model-answer .model-label").text_content() == "model-written"
    assert page.locator("#model-answer .model-text").inner_text() == expected["generated"]
    label = "Possible answer" if expected["confidence"] < 0.5 else "Answer"
    assert page.locator("#answer-label").text_content().startswith(label)
    # A weekly note cited for its last sentence: the sentence before it shows, the memo's first does not
    # until the whole memo is unfolded.
    note = page.locator("#answer .source", has_text="Weekly shipping note").first
    passage = note.locator(".passage").inner_text()
    assert passage.startswith("\u2026 Cargo volumes changed by") and passage.endswith("The harbour master filed it.")
    assert "Weekly shipping note number" not in passage
    note.locator("details.whole summary").click()
    expect(note.locator("details.whole .memo-text")).to_contain_text("Weekly shipping note number")
    shot(page, "6-streamed-answer")

    # Cancel stops the wait at once and says so.
    page.click("#ask-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('answer-stream')?.textContent.length > 0")
    page.click("#ask-cancel")
    page.wait_for_selector("#ask-cancelled")
    assert page.locator("#ask-cancelled").inner_text().startswith("Cancelled after")
    page.wait_for_timeout(2500)  # the rest of the stream, had it not been cancelled, would have arrived by now
    assert page.locator("#answer-text").count() == 0
    assert not page.js_errors, page.js_errors


def test_model_written_text_is_labelled(page, fake_live):
    """The local model's topic paragraph and memo brief carry the label; the memos' own sentences do not."""
    page.goto(fake_live + "/")
    page.locator(".memo-item").first.wait_for()
    page.click("#tab-topic")
    page.fill("#topic-query", "harbour of Tartus")
    page.click("#topic-form button[type=submit]")
    page.wait_for_selector("#timeline li")
    expected = api(fake_live, "POST", "/summarise", {"query": "harbour of Tartus", "k": 10})
    assert expected["method"].startswith("abstractive")
    assert page.locator("#topic-brief .model-label").text_content() == "model-written"
    assert page.locator("#topic-brief-text").inner_text() == expected["brief"]
    assert page.locator("#timeline .model-label").count() == 0
    page.locator("#timeline li .link").first.click()
    page.wait_for_selector("#model-brief-text")
    assert page.locator("#model-brief h3 .model-label").text_content() == "model-written"
    assert page.locator("#memo-brief .model-label, #memo-text .model-label").count() == 0
    shot(page, "11-model-written")
    assert not page.js_errors, page.js_errors


def _open_memo(page, which: str) -> None:
    last = getattr(page.locator(".memo-item"), which)
    last.scroll_into_view_if_needed()
    title = last.locator(".memo-title").inner_text()
    last.click()
    page.wait_for_selector("#memo-brief li")
    assert page.locator("#memo-title").inner_text() == title


def _pane_in_view(page) -> None:
    box = _visible_box(page, "#pane-memo")
    height = page.evaluate("window.innerHeight")
    assert 0 <= box["y"] < height - 100, box  # its top, with the title, is on screen
    title = _visible_box(page, "#memo-title")
    assert 0 <= title["y"] and title["y"] + title["height"] <= height, title


def test_memo_pane_in_view_after_a_click_low_in_the_list(page, fake_live):
    page.goto(fake_live + "/")
    page.locator(".memo-item").first.wait_for()
    page.click("#more")
    page.wait_for_function("() => document.querySelectorAll('.memo-item').length == 30")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    _open_memo(page, "last")
    _pane_in_view(page)
    shot(page, "7-memo-in-view", full_page=False)


def test_narrow_layout_fits_420px(page, fake_live):
    page.set_viewport_size({"width": 420, "height": 860})
    page.goto(fake_live + "/")
    page.locator(".memo-item").first.wait_for()
    width = page.evaluate("window.innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    save = _visible_box(page, "#token-form button")
    assert save["x"] >= 0 and save["x"] + save["width"] <= width, save
    header = _visible_box(page, ".bar")
    assert header["height"] > _visible_box(page, "#token-form")["height"] * 1.5  # it wrapped instead of overflowing
    shot(page, "8-narrow")

    # Below the list on a narrow screen, the memo pane still comes into view when a memo is opened.
    _open_memo(page, "first")
    _pane_in_view(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(page, "9-narrow-memo", full_page=False)

    page.click("#tab-ask")
    page.fill("#question", "What did engineers add to the harbour of Tartus?")
    page.click("#ask-form button[type=submit]")
    page.wait_for_selector("#answer-text")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(page, "10-narrow-answer")
    assert not page.js_errors, page.js_errors
