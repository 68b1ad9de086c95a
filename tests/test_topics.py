"""Topic briefs across memos (``POST /summarise {query}``) on the fake models."""
from __future__ import annotations

import pytest

from tests.test_engine import MEMO_B, MEMO_C

PORT_2023 = "5 Jun 2023; MEMO: Russian engineers surveyed the naval port of Tartus. The weather in June was hot."
PORT_2024 = "12 Jan 2024; MEMO: The naval port of Tartus was expanded with two piers. Officials toured the city."
PORT_2022 = "2022-11-30; NOTE: Repairs closed the naval port of Tartus for a month. Traffic moved to Latakia."
PORT_UNDATED = "Fishermen complained that the naval port of Tartus had no room for them."


@pytest.fixture
def memos(client):
    ids = {}
    for name, text in [("2023", PORT_2023), ("2024", PORT_2024), ("b", MEMO_B), ("2022", PORT_2022),
                       ("undated", PORT_UNDATED), ("c", MEMO_C)]:
        r = client.post("/memos", json={"text": text, "tags": ["ports"] if name == "2024" else []})
        assert r.status_code == 201
        ids[name] = r.get_json()["id"]
    return ids


def topic(client, **body):
    r = client.post("/summarise", json=body)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_timeline_has_one_cited_point_per_relevant_memo_in_date_order(client, memos):
    body = topic(client, query="naval port of Tartus")
    assert body["abstained"] is False and body["method"] == "extractive-timeline"
    assert body["query"] == "naval port of Tartus"
    timeline = body["timeline"]
    assert [t["memo_id"] for t in timeline] == [memos["2022"], memos["2023"], memos["2024"], memos["undated"]]
    assert [t["date"] for t in timeline] == ["2022-11-30", "2023-06-05", "2024-01-12", None]
    for t in timeline:
        text = client.get(f"/memos/{t['memo_id']}").get_json()["text"]
        (cite,) = t["citations"]
        assert text[cite["start"] : cite["end"]] == cite["quote"]
        assert "port of Tartus" in t["point"] and t["point"] == " ".join(cite["quote"].split())
        assert cite["memo_id"] == t["memo_id"] and cite["date"] == t["date"] and t["title"]
    # the brief is made of timeline points, each after its date, in timeline order
    assert body["brief"].startswith("2022-11-30: ") or body["brief"].startswith("2023-06-05: ")
    points = [t["point"] for t in timeline if t["point"] in body["brief"]]
    assert 1 <= len(points) <= 3
    assert [body["brief"].index(p) for p in points] == sorted(body["brief"].index(p) for p in points)


def test_irrelevant_memos_stay_out_and_nothing_relevant_abstains(client, memos):
    body = topic(client, query="naval port of Tartus")
    assert not {memos["b"], memos["c"]} & {t["memo_id"] for t in body["timeline"]}
    nothing = topic(client, query="boiling point of mercury")
    assert nothing == {"query": "boiling point of mercury", "brief": None, "abstained": True,
                       "method": "extractive-timeline", "timeline": []}


def test_k_and_filters_narrow_the_timeline(client, memos):
    assert len(topic(client, query="naval port of Tartus", k=2)["timeline"]) == 2
    dated = topic(client, query="naval port of Tartus", date_from="2023-01-01", date_to="2023-12-31")
    assert [t["memo_id"] for t in dated["timeline"]] == [memos["2023"]]
    tagged = topic(client, query="naval port of Tartus", tags=["ports"])
    assert [t["memo_id"] for t in tagged["timeline"]] == [memos["2024"]]
    named = topic(client, query="naval port", entities=["tartus"])
    assert len(named["timeline"]) == 4


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "_schema"),
        ({"query": "a", "text": "b"}, "_schema"),
        ({"query": "a", "memo_id": "b"}, "_schema"),
        ({"query": "a", "max_sentences": 2}, "max_sentences"),
        ({"text": "a", "k": 2}, "k"),
        ({"memo_id": "a", "date_from": "2024-01-01"}, "date_from"),
        ({"text": "a", "entities": ["Putin"]}, "entities"),
        ({"query": "a", "k": 0}, "k"),
        ({"query": "a", "k": 51}, "k"),
        ({"query": "a", "date_from": "2024-02-01", "date_to": "2024-01-01"}, "date_from"),
        ({"query": ""}, "query"),
    ],
)
def test_bad_summarise_bodies_are_422(client, body, field):
    r = client.post("/summarise", json=body)
    assert r.status_code == 422
    assert field in r.get_json()["detail"]["json"]


def test_a_blank_query_is_422(client):
    r = client.post("/summarise", json={"query": "   "})
    assert r.status_code == 422 and r.get_json()["detail"] == {"query": ["query is empty"]}


def test_openapi_documents_the_union(client):
    spec = client.get("/openapi.json").get_json()
    post = spec["paths"]["/summarise"]["post"]
    schema = post["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"oneOf": [{"$ref": "#/components/schemas/BriefOut"}, {"$ref": "#/components/schemas/TopicOut"}]}
    assert {"query", "memo_id", "text", "k"} <= set(spec["components"]["schemas"]["SummariseIn"]["properties"])
    assert "timeline" in spec["components"]["schemas"]["TopicOut"]["properties"]
    assert "/memos/facets" in spec["paths"]
