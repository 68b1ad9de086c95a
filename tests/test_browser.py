"""The analyst's page in headless Debian Chromium (Playwright), against the app on the real models.

Skips with a message when Chromium or Playwright is missing; under ``CI=true`` that is a failure instead.
Screenshots go to ``test-artifacts/``.
"""
from __future__ import annotations

import json
import os
import threading
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.model]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
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
    from werkzeug.serving import make_server

    recorder = AuthRecorder(real_app.wsgi_app)
    real_app.wsgi_app = recorder
    server = make_server("127.0.0.1", 0, real_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", recorder
    finally:
        server.shutdown()
        thread.join(10)


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


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"page-{name}.png"), full_page=True)


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
    shot(page, "3-timeline")

    # Entity facets narrow the list.
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

