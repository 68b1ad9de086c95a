"""Bearer tokens and rate limits through the HTTP API (Flask's test client, fake embedder)."""
from __future__ import annotations

import hashlib

import pytest

from service import create_app
from service.api.auth import TokenAuth, load_auth
from tests.test_api import error_of
from tests.test_engine import MEMO_A, MEMO_B

GOOD, OTHER = "s3cret-token", "second-token"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_with_tokens_every_api_call_needs_one(make_client):
    client = make_client(API_TOKENS=f"{GOOD},{OTHER}")
    r = client.post("/memos", json={"text": MEMO_A})
    assert r.status_code == 401 and error_of(r)["error"] == "Unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = client.post("/memos", json={"text": MEMO_A}, headers=bearer("wrong"))
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert client.post("/memos", json={"text": MEMO_A}, headers={"Authorization": f"Basic {GOOD}"}).status_code == 401
    assert client.get("/health").get_json()["memos"] == 0, "nothing was stored without a token"

    memo = client.post("/memos", json={"text": MEMO_A}, headers=bearer(GOOD)).get_json()
    assert client.put(f"/memos/{memo['id']}", json={"text": MEMO_B}).status_code == 401
    assert client.delete(f"/memos/{memo['id']}").status_code == 401
    assert client.put(f"/memos/{memo['id']}", json={"text": MEMO_B}, headers=bearer(OTHER)).status_code == 200

    # reads too: secure by default once tokens exist
    for method, url, body in [("get", "/memos", None), ("get", f"/memos/{memo['id']}", None),
                              ("get", "/memos/facets", None), ("get", f"/memos/{memo['id']}/brief", None),
                              ("post", "/ask", {"question": "interest rates"}),
                              ("post", "/summarise", {"memo_id": memo["id"]}), ("post", "/summarise", {"text": MEMO_A})]:
        assert getattr(client, method)(url, json=body).status_code == 401, url
        assert getattr(client, method)(url, json=body, headers=bearer(GOOD)).status_code == 200, url
    assert client.get("/health").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.delete(f"/memos/{memo['id']}", headers=bearer(GOOD)).status_code == 200


def test_the_bearer_scheme_is_case_insensitive_and_the_only_one(make_client):
    client = make_client(API_TOKENS=GOOD)
    for header in (f"Bearer {GOOD}", f"bearer {GOOD}", f"BEARER  {GOOD} "):
        assert client.get("/memos", headers={"Authorization": header}).status_code == 200, header
    for header in (f"Basic {GOOD}", f"Token {GOOD}", GOOD, f"Bearer{GOOD}"):
        assert client.get("/memos", headers={"Authorization": header}).status_code == 401, header


def test_public_reads_open_the_cheap_reads_never_the_model(make_client):
    client = make_client(API_TOKENS=GOOD, PUBLIC_READS="true")
    memo = client.post("/memos", json={"text": MEMO_A}, headers=bearer(GOOD)).get_json()
    assert client.post("/memos", json={"text": MEMO_B}).status_code == 401
    for method, url, body in [("get", "/memos", None), ("get", f"/memos/{memo['id']}", None),
                              ("get", f"/memos/{memo['id']}/brief", None),
                              ("post", "/ask", {"question": "interest rates"}),
                              ("post", "/summarise", {"memo_id": memo["id"]})]:
        assert getattr(client, method)(url, json=body).status_code == 200, url
    # whatever runs the LLM needs a token, whether or not the tier is on (401 before any 503)
    for method, url, body, headers in [
        ("post", "/ask", {"question": "rates", "mode": "generative"}, {}),
        ("post", "/ask", {"question": "rates", "stream": True}, {}),
        ("post", "/ask", {"question": "rates"}, {"Accept": "text/event-stream"}),
        ("post", "/summarise", {"text": MEMO_A, "mode": "abstractive"}, {}),
        ("post", "/summarise", {"memo_id": memo["id"], "mode": "abstractive"}, {}),
        ("get", f"/memos/{memo['id']}/brief?mode=abstractive", None, {}),
    ]:
        r = getattr(client, method)(url, json=body, headers=headers)
        assert r.status_code == 401, (url, body, r.get_json())


def test_an_ask_naming_no_mode_is_generative_for_tokens_and_extractive_for_public_reads(make_client):
    # the fake LLM on: an /ask naming no mode is generative (MEMO_ASK_MODE=generative)
    client = make_client(API_TOKENS=GOOD, PUBLIC_READS="true", LLM="fake", BRIEF_WORKER=False, ASK_MODE="generative")
    assert client.get("/health").get_json()["ask_mode"] == "generative"
    client.post("/memos", json={"text": MEMO_A}, headers=bearer(GOOD))
    anonymous = client.post("/ask", json={"question": "interest rates"})
    assert anonymous.status_code == 200 and anonymous.get_json()["mode"] == "extractive"
    signed = client.post("/ask", json={"question": "interest rates"}, headers=bearer(GOOD))
    assert signed.status_code == 200 and signed.get_json()["mode"] == "generative"
    # a wrong token is no identity: the open read (as for every open read), not the model
    wrong = client.post("/ask", json={"question": "interest rates"}, headers=bearer("nope"))
    assert wrong.status_code == 200 and wrong.get_json()["mode"] == "extractive"
    # without public reads the same anonymous request needs a token
    closed = make_client(API_TOKENS=GOOD, LLM="fake", BRIEF_WORKER=False, ASK_MODE="generative")
    assert closed.post("/ask", json={"question": "interest rates"}).status_code == 401


def test_a_topic_runs_the_model_when_the_tier_is_on():
    from flask import Flask

    from service.api.auth import runs_model

    app = Flask(__name__)
    with app.test_request_context("/summarise", method="POST", json={"query": "ports"}):
        assert runs_model("api.summarise", llm_on=True) and not runs_model("api.summarise", llm_on=False)
    with app.test_request_context("/summarise", method="POST", json={"query": None, "text": "x"}):
        assert not runs_model("api.summarise", llm_on=True)
    with app.test_request_context("/summarise", method="POST", data="[1, 2]", content_type="application/json"):
        assert not runs_model("api.summarise", llm_on=True)
    with app.test_request_context("/ask", method="POST", json={"question": "ports"}):
        assert runs_model("api.ask", llm_on=True, generative_default=True)
        assert not runs_model("api.ask", llm_on=True, generative_default=False)
    with app.test_request_context("/ask", method="POST", json={"question": "ports", "mode": "extractive"}):
        assert not runs_model("api.ask", llm_on=True, generative_default=True)


def test_tokens_from_a_file_plain_or_hashed(make_client, tmp_path):
    path = tmp_path / "tokens"
    hashed = hashlib.sha256(OTHER.encode()).hexdigest()
    path.write_text(f"# team tokens\n{GOOD}\n\nsha256:{hashed}\n")
    client = make_client(API_TOKEN_FILE=str(path))
    assert client.post("/memos", json={"text": MEMO_A}).status_code == 401
    assert client.post("/memos", json={"text": MEMO_A}, headers=bearer(GOOD)).status_code == 201
    assert client.post("/memos", json={"text": MEMO_B}, headers=bearer(OTHER)).status_code == 201
    assert client.post("/memos", json={"text": "x y"}, headers=bearer(f"sha256:{hashed}")).status_code == 401


def test_tokens_are_kept_only_as_digests(tmp_path):
    auth = load_auth({"API_TOKENS": f" {GOOD} ,,{OTHER}", "PUBLIC_READS": "no"})
    assert auth.enabled and not auth.public_reads and len(auth.digests) == 2
    assert GOOD.encode() not in b"".join(auth.digests) and GOOD not in repr(auth)
    assert auth.valid(GOOD) and auth.valid(OTHER) and not auth.valid("") and not auth.valid(GOOD + "x")
    assert not load_auth({"API_TOKENS": ""}).enabled
    with pytest.raises(ValueError, match="MEMO_API_TOKEN_FILE"):
        load_auth({"API_TOKEN_FILE": str(tmp_path / "missing")})
    with pytest.raises(ValueError, match="MEMO_PUBLIC_READS"):
        load_auth({"API_TOKENS": GOOD, "PUBLIC_READS": "maybe"})


def test_no_tokens_means_no_auth(make_client):
    client = make_client()
    assert client.post("/memos", json={"text": MEMO_A}).status_code == 201
    assert TokenAuth().needs_token("api.create_memo", "POST") is False


def test_token_from_the_environment_stays_a_string(monkeypatch, config):
    monkeypatch.setenv("MEMO_API_TOKENS", "123456")
    app = create_app(config)
    try:
        client = app.test_client()
        assert client.post("/memos", json={"text": MEMO_A}).status_code == 401
        assert client.post("/memos", json={"text": MEMO_A}, headers=bearer("123456")).status_code == 201
    finally:
        app.extensions["memo"].close()


def test_openapi_documents_bearer_auth_and_limits(make_client):
    spec = make_client(API_TOKENS=GOOD).get("/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    paths = spec["paths"]
    assert paths["/memos"]["post"]["security"] == [{"bearerAuth": []}]
    assert paths["/memos/{memo_id}"]["delete"]["security"] == [{"bearerAuth": []}]
    assert paths["/memos"]["get"]["security"] == paths["/ask"]["post"]["security"] == [{"bearerAuth": []}]
    assert "security" not in paths["/health"]["get"]
    assert "401" in paths["/memos/{memo_id}"]["put"]["responses"]
    assert "429" in paths["/ask"]["post"]["responses"] and "429" not in paths["/health"]["get"]["responses"]
    assert {"400", "413", "415"} <= set(paths["/ask"]["post"]["responses"])
    assert {"multipart/form-data", "text/plain"} <= set(paths["/memos"]["post"]["requestBody"]["content"])


def test_openapi_documents_public_reads(make_client):
    paths = make_client(API_TOKENS=GOOD, PUBLIC_READS="true").get("/openapi.json").get_json()["paths"]
    assert "security" not in paths["/memos"]["get"] and "security" not in paths["/memos/{memo_id}"]["get"]
    assert paths["/ask"]["post"]["security"] == [{}, {"bearerAuth": []}] and "401" in paths["/ask"]["post"]["responses"]
    assert paths["/memos"]["post"]["security"] == [{"bearerAuth": []}]


def test_rate_limit_gives_429_json_with_retry_after(make_client):
    client = make_client(RATELIMIT="3 per minute")
    for _ in range(3):
        r = client.get("/memos")
        assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] == "3"
    r = client.post("/ask", json={"question": "anything"})
    assert r.status_code == 429
    assert "3 per 1 minute" in error_of(r)["detail"]
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # /health, the spec and the docs are not limited
    for _ in range(5):
        assert client.get("/health").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_rate_limit_is_per_token_and_wrong_tokens_share_the_address_budget(make_client):
    client = make_client(RATELIMIT="2 per minute", API_TOKENS=f"{GOOD},{OTHER}")
    assert [client.get("/memos", headers=bearer(GOOD)).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/memos", headers=bearer(OTHER)).status_code == 200, "another token has its own budget"
    # wrong tokens and no token count against the client address, so guessing tokens is throttled too
    codes = [client.post("/memos", json={"text": MEMO_A}, headers=bearer(f"guess{i}")).status_code for i in range(3)]
    assert codes == [401, 401, 429]
    assert client.get("/memos").status_code == 429


def test_rate_limit_can_be_turned_off(make_client):
    client = make_client(RATELIMIT="off")
    assert all(client.get("/memos").status_code == 200 for _ in range(400))
    assert "429" not in client.get("/openapi.json").get_json()["paths"]["/ask"]["post"]["responses"]


def test_rate_limit_default_is_a_few_hundred_per_minute(make_client):
    client = make_client()
    codes = [client.get("/memos").status_code for _ in range(301)]
    assert codes[:300] == [200] * 300 and codes[300] == 429


def test_bad_rate_setting_is_refused_at_start(config):
    with pytest.raises(ValueError, match="MEMO_RATELIMIT"):
        create_app({**config, "RATELIMIT": "lots"})


def test_rate_limits_on_redis_count_across_replicas(make_client, redis_url):
    """Two replicas (apps) over one Redis share one budget per token; the keys expire with the window."""
    import secrets

    token = f"replica-test-{secrets.token_hex(8)}"  # a fresh budget: leftovers of other runs never count
    first = make_client(API_TOKENS=token, RATELIMIT="3 per minute", REDIS_URL=redis_url)
    second = make_client(API_TOKENS=token, RATELIMIT="3 per minute", REDIS_URL=redis_url)
    assert first.get("/memos", headers=bearer(token)).status_code == 200
    assert second.get("/memos", headers=bearer(token)).status_code == 200
    r = first.get("/memos", headers=bearer(token))
    assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"] == "0"
    r = second.get("/memos", headers=bearer(token))
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
