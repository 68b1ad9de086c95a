"""The HTTP API through Flask's test client: shapes, validation and JSON errors."""
from __future__ import annotations

import io

import pytest

from tests.test_engine import MEMO_A, MEMO_B, MEMO_C


def error_of(response):
    body = response.get_json()
    assert set(body) == {"error", "detail"}, body
    return body


def test_create_get_list_delete(client):
    r = client.post("/memos", json={"text": MEMO_A, "tags": ["Navy"], "source": "unit"})
    assert r.status_code == 201
    memo = r.get_json()
    assert memo["created"] is True and memo["date"] == "2024-01-12" and memo["type"] == "memo"
    assert memo["tags"] == ["navy"] and memo["text"] == MEMO_A

    again = client.post("/memos", json={"text": MEMO_A})
    assert again.status_code == 200 and again.get_json()["id"] == memo["id"] and again.get_json()["created"] is False

    got = client.get(f"/memos/{memo['id']}").get_json()
    assert got["text"] == MEMO_A and got["title"] == "The harbour of Tartus was expanded."

    page = client.get("/memos").get_json()
    assert page["total"] == 1 and page["items"][0]["id"] == memo["id"] and "text" not in page["items"][0]

    assert client.delete(f"/memos/{memo['id']}").get_json() == {"id": memo["id"], "deleted": True}
    assert client.get(f"/memos/{memo['id']}").status_code == 404
    assert client.get("/health").get_json()["memos"] == 0


def test_file_upload_and_plain_text_body(client):
    r = client.post(
        "/memos",
        data={"file": (io.BytesIO(MEMO_B.encode()), "rates.md"), "tags": "economy, rates", "date": "2024-03-01"},
        content_type="multipart/form-data",
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["source"] == "rates.md" and body["tags"] == ["economy", "rates"] and body["date"] == "2024-03-01"
    r = client.post("/memos", data=MEMO_C.encode(), content_type="text/plain; charset=utf-8")
    assert r.status_code == 201 and r.get_json()["text"] == MEMO_C


def test_put_replaces_text(client):
    memo = client.post("/memos", json={"text": MEMO_A}).get_json()
    r = client.put(f"/memos/{memo['id']}", json={"text": MEMO_C, "tags": ["farm"]})
    assert r.status_code == 200
    assert r.get_json()["text"] == MEMO_C and r.get_json()["tags"] == ["farm"]
    assert client.put("/memos/unknown", json={"text": MEMO_C}).status_code == 404
    other = client.post("/memos", json={"text": MEMO_B}).get_json()
    clash = client.put(f"/memos/{memo['id']}", json={"text": MEMO_B})
    assert clash.status_code == 409 and other["id"] in str(error_of(clash)["detail"])


def test_list_paging_and_filters(client):
    ids = []
    for i, text in enumerate((MEMO_A, MEMO_B, MEMO_C)):
        ids.append(client.post("/memos", json={"text": text, "date": f"2024-0{i + 1}-01", "tags": [f"t{i}"]}).get_json()["id"])
    page = client.get("/memos?limit=2&offset=0").get_json()
    assert page["total"] == 3 and [m["id"] for m in page["items"]] == [ids[2], ids[1]]
    assert [m["id"] for m in client.get("/memos?limit=2&offset=2").get_json()["items"]] == [ids[0]]
    assert [m["id"] for m in client.get("/memos?tag=t1&tag=t2").get_json()["items"]] == [ids[2], ids[1]]
    assert [m["id"] for m in client.get("/memos?date_from=2024-02-01&date_to=2024-02-28").get_json()["items"]] == [ids[1]]
    assert client.get("/memos?type=memo").get_json()["total"] == 1


def test_ask_returns_citations_that_slice_the_memo(client):
    a = client.post("/memos", json={"text": MEMO_A}).get_json()
    client.post("/memos", json={"text": MEMO_B})
    r = client.post("/ask", json={"question": "What did engineers add to the harbour of Tartus?"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["abstained"] is False and body["mode"] == "extractive"
    assert body["citations"][0]["memo_id"] == a["id"]
    assert body["citations"][0]["title"] == a["title"] and body["citations"][0]["date"] == "2024-01-12"
    for c in body["citations"]:
        text = client.get(f"/memos/{c['memo_id']}").get_json()["text"]
        assert text[c["start"] : c["end"]] == c["quote"]
    span = body["span"]
    assert span["quote"] == body["answer"]


def test_ask_abstains_when_nothing_supports_an_answer(client):
    client.post("/memos", json={"text": MEMO_A})
    body = client.post("/ask", json={"question": "boiling point of mercury"}).get_json()
    assert body["abstained"] is True and body["answer"] is None and body["span"] is None
    assert body["confidence"] < 0.5
    assert body["citations"], "the closest passages are still listed"


def test_ask_on_an_empty_store_abstains(client):
    body = client.post("/ask", json={"question": "anything?"}).get_json()
    assert body["abstained"] is True and body["citations"] == []


def test_brief_endpoints(client):
    memo = client.post("/memos", json={"text": " ".join([MEMO_A, MEMO_B, MEMO_C])}).get_json()
    r = client.get(f"/memos/{memo['id']}/brief?max_sentences=2")
    assert r.status_code == 200
    body = r.get_json()
    assert len(body["sentences"]) == 2 and body["method"] == "extractive-lead" and body["memo_id"] == memo["id"]
    starts = [s["start"] for s in body["sentences"]]
    assert starts == sorted(starts)
    for s in body["sentences"]:
        assert memo["text"][s["start"] : s["end"]] == s["text"]
    assert client.post("/summarise", json={"memo_id": memo["id"], "max_sentences": 2}).get_json() == body
    text_brief = client.post("/summarise", json={"text": MEMO_B + " " + MEMO_C, "max_sentences": 1}).get_json()
    assert text_brief["memo_id"] is None and len(text_brief["sentences"]) == 1
    assert client.get("/memos/nope/brief").status_code == 404
    assert client.post("/summarise", json={"memo_id": "nope"}).status_code == 404


@pytest.mark.parametrize(
    "method, url, kwargs, status",
    [
        ("post", "/memos", {"json": {"text": ""}}, 422),
        ("post", "/memos", {"json": {"text": "   "}}, 422),
        ("post", "/memos", {"json": {"text": 5}}, 422),
        ("post", "/memos", {"json": {"text": "ok", "tags": "notalist"}}, 422),
        ("post", "/memos", {"json": {"text": "ok", "date": "yesterday"}}, 422),
        ("post", "/memos", {"json": {"text": "ok", "surprise": 1}}, 422),
        ("post", "/memos", {"json": ["text"]}, 422),
        ("post", "/memos", {"data": "{not json", "content_type": "application/json"}, 400),
        ("post", "/memos", {"data": b"\xff\xfe\x00bad", "content_type": "text/plain"}, 422),
        ("post", "/memos", {"data": b"GIF89a", "content_type": "image/gif"}, 415),
        ("post", "/memos", {"data": {"file": (io.BytesIO(b"\x00\x01\x02binary"), "x.bin")},
                            "content_type": "multipart/form-data"}, 422),
        ("post", "/memos", {"data": {"title": "no file"}, "content_type": "multipart/form-data"}, 422),
        ("post", "/memos", {"data": {"file": (io.BytesIO(b"%PDF-1.4\n1 0 obj\n<</Type/Catalog>>"), "a.txt")},
                            "content_type": "multipart/form-data"}, 422),
        ("post", "/memos", {"data": b"hi \x1b\x01\x02\x03\x04\x05 there", "content_type": "text/plain"}, 422),
        ("post", "/ask", {"json": {}}, 422),
        ("post", "/ask", {"json": {"question": ""}}, 422),
        ("post", "/ask", {"json": {"question": "x" * 1001}}, 422),
        ("post", "/ask", {"json": {"question": "ok", "k": 0}}, 422),
        ("post", "/ask", {"json": {"question": "ok", "k": "five"}}, 422),
        ("post", "/ask", {"json": {"question": "ok", "date_from": "2024-02-01", "date_to": "2024-01-01"}}, 422),
        ("post", "/ask", {"data": "question=hi"}, 415),
        ("post", "/ask", {"data": "question=hi", "content_type": "application/x-www-form-urlencoded"}, 415),
        ("put", "/memos/x", {"data": "text", "content_type": "text/plain"}, 415),
        ("post", "/ask", {"data": "{", "content_type": "application/json"}, 400),
        ("post", "/summarise", {"json": {}}, 422),
        ("post", "/summarise", {"json": {"memo_id": "a", "text": "b"}}, 422),
        ("post", "/summarise", {"json": {"text": "abc", "max_sentences": 0}}, 422),
        ("get", "/memos?limit=1000", {}, 422),
        ("get", "/memos?offset=-1", {}, 422),
        ("get", "/memos?date_from=nope", {}, 422),
        ("get", "/memos/unknown", {}, 404),
        ("delete", "/memos/unknown", {}, 404),
        ("get", "/no/such/route", {}, 404),
        ("patch", "/memos", {}, 405),
        ("delete", "/ask", {}, 405),
    ],
)
def test_bad_requests_get_json_errors(client, method, url, kwargs, status):
    r = getattr(client, method)(url, **kwargs)
    assert r.status_code == status, r.get_json()
    assert r.is_json
    error_of(r)


def test_body_over_the_limit_is_413(config):
    from service import create_app

    app = create_app({**config, "MAX_CONTENT_LENGTH": 1000})
    try:
        r = app.test_client().post("/memos", json={"text": "x " * 1000})
        assert r.status_code == 413
        assert "MEMO_MAX_CONTENT_LENGTH" in error_of(r)["detail"]
    finally:
        app.extensions["memo"].close()


def test_memo_over_the_char_limit_is_422(config):
    from service import create_app

    app = create_app({**config, "MAX_MEMO_CHARS": 50})
    try:
        r = app.test_client().post("/memos", json={"text": "word " * 20})
        assert r.status_code == 422 and "limit" in str(error_of(r)["detail"])
    finally:
        app.extensions["memo"].close()


def test_health(client):
    client.post("/memos", json={"text": MEMO_A})
    body = client.get("/health").get_json()
    assert body["status"] == "ok" and body["memos"] == 1 and body["chunks"] == body["vectors"] >= 1
    assert body["models"] == {"embedder": "fake-hash", "entities": "fake-lexicon", "llm": "none"}


def test_openapi_and_offline_docs(client):
    spec = client.get("/openapi.json").get_json()
    assert {"/memos", "/memos/{memo_id}", "/memos/{memo_id}/brief", "/ask", "/summarise", "/health"} <= set(spec["paths"])
    ask = spec["paths"]["/ask"]["post"]
    assert "requestBody" in ask and "422" in ask["responses"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and b"/docs/assets/swagger-ui-bundle.js" in docs.data
    assert b"cdn." not in docs.data, "the docs page must not reach for a CDN"
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
