"""Entities through the fake lexicon extractor: kept labels, storage, filters, facets, backfill."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from models.nlp.entities import Entity, text_windows
from service import create_app
from service.storage.embedded import DB_FILE
from service.ingest.entities import find_entities
from service.retrieval.lexical import phrase_key
from service.types import MemoFilter
from tests.test_engine import MEMO_A, MEMO_B, MEMO_C

PUTIN = "3 Mar 2023; NOTE: Vladimir Putin met Assad in Moscow. Russian officials said the Kremlin backed Syria."
ASSAD = "The visit of Bashar Al-Assad to Tartus was short. Assad left on Friday."


class Fixed:
    """An extractor that returns what it is given, to test what the service keeps."""

    name = "fixed"

    def __init__(self, found: list[Entity]) -> None:
        self.found = found

    def entities(self, text: str) -> list[Entity]:
        return self.found


def test_only_people_places_and_organisations_are_kept_and_trimmed():
    text = "The Kremlin said Putin's aides met Russian envoys in the Mediterranean."

    def mention(surface: str, label: str) -> Entity:
        start = text.index(surface)
        return Entity(surface, label, start, start + len(surface))

    found = find_entities(Fixed([
        mention("The Kremlin", "ORG"), mention("Putin's", "PERSON"), mention("Russian", "NORP"),
        mention("the Mediterranean.", "LOC"), mention("said", "DATE"),
    ]), text)
    assert [(e.text, e.label) for e in found] == [("Kremlin", "ORG"), ("Putin", "PERSON"), ("Mediterranean", "LOC")]
    for e in found:
        assert text[e.start : e.end] == e.text


def test_a_mention_of_only_punctuation_or_overlapping_is_dropped():
    text = "-- Tartus"
    found = find_entities(Fixed([Entity("--", "ORG", 0, 2), Entity("Tartus", "GPE", 3, 9), Entity("Tar", "GPE", 3, 6)]),
                          text)
    assert found == (Entity("Tartus", "GPE", 3, 9),)


def test_phrase_key_matches_whole_words_in_order():
    assert phrase_key("Bashar Al-Assad") == " bashar al assad "
    assert phrase_key("ASSAD") in phrase_key("Bashar Al-Assad")
    assert phrase_key("put") not in phrase_key("Vladimir Putin")
    assert phrase_key("!!") == ""


def test_text_windows_cover_the_text_and_cut_at_line_breaks():
    text = "alpha beta\ngamma delta epsilon\nzeta"
    pieces = text_windows(text, 16)
    assert "".join(text[s:e] for s, e in pieces) == text
    assert all(e - s <= 16 for s, e in pieces)
    assert text[pieces[0][0] : pieces[0][1]] == "alpha beta\n"
    assert text_windows("abcdefghij", 4) == [(0, 4), (4, 8), (8, 10)]
    assert text_windows("", 4) == [(0, 0)]


def test_memo_carries_its_entities_with_exact_offsets(make_client):
    client = make_client(SENTENCE_FILLER=False)
    r = client.post("/memos", json={"text": PUTIN})
    assert r.status_code == 201
    created = r.get_json()  # acknowledged before its entities are read (tests/test_deferred_entities.py)
    assert created["entities"] is None and created["entities_status"] == "pending"
    got = client.get(f"/memos/{created['id']}").get_json()
    assert got["entities_status"] == "ready"
    again = client.post("/memos", json={"text": PUTIN}).get_json()
    assert again["created"] is False and again["entities"] == got["entities"]
    assert [(e["text"], e["label"]) for e in got["entities"]] == [
        ("Vladimir Putin", "PERSON"), ("Assad", "PERSON"), ("Moscow", "GPE"), ("Kremlin", "ORG"), ("Syria", "GPE"),
    ]
    for e in got["entities"]:
        assert PUTIN[e["start"] : e["end"]] == e["text"]


def test_list_filters_by_entity_case_insensitive_and_with_other_filters(client):
    putin = client.post("/memos", json={"text": PUTIN, "tags": ["russia"]}).get_json()
    assad = client.post("/memos", json={"text": ASSAD, "date": "2024-05-01", "tags": ["visits"]}).get_json()
    client.post("/memos", json={"text": MEMO_B})

    def ids(query):
        r = client.get(f"/memos?{query}")
        assert r.status_code == 200, r.get_json()
        return {m["id"] for m in r.get_json()["items"]}

    assert ids("entity=putin") == ids("entity=PUTIN") == ids("entity=Vladimir%20Putin") == {putin["id"]}
    assert ids("entity=put") == set()
    assert ids("entity=assad") == {putin["id"], assad["id"]}  # "Assad" and "Bashar Al-Assad"
    assert ids("entity=al-assad") == {assad["id"]}
    assert ids("entity=assad&entity=moscow") == {putin["id"]}  # all of them
    assert ids("entity=assad&date_from=2024-01-01") == {assad["id"]}
    assert ids("entity=assad&tag=russia") == {putin["id"]}
    assert ids("entity=assad&type=note") == {putin["id"]}
    assert ids("entity=Russian") == set(), "nationalities (NORP) are not stored"
    assert client.get("/memos?entity=%20!!").status_code == 422


def test_update_and_delete_replace_and_remove_entities(client, engine):
    memo = client.post("/memos", json={"text": PUTIN}).get_json()
    updated = client.put(f"/memos/{memo['id']}", json={"text": MEMO_A}).get_json()
    assert [e["text"] for e in updated["entities"]] == ["Tartus"]
    assert client.get("/memos?entity=putin").get_json()["total"] == 0
    assert client.get("/memos?entity=tartus").get_json()["total"] == 1
    client.delete(f"/memos/{memo['id']}")
    conn = engine.storage.db.connection()
    assert conn.execute("SELECT count(*) FROM entities").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM entity_runs").fetchone()[0] == 0


def test_ask_can_be_restricted_to_memos_mentioning_an_entity(client):
    client.post("/memos", json={"text": MEMO_A})
    assad = client.post("/memos", json={"text": ASSAD}).get_json()
    body = client.post("/ask", json={"question": "What happened in Tartus?", "entities": ["Bashar Al-Assad"]}).get_json()
    assert {c["memo_id"] for c in body["citations"]} == {assad["id"]}
    assert client.post("/ask", json={"question": "x", "entities": [""]}).status_code == 422


def test_facets_count_memos_under_the_filters(client):
    client.post("/memos", json={"text": PUTIN, "tags": ["russia"]})
    client.post("/memos", json={"text": ASSAD, "date": "2024-05-01", "tags": ["visits", "russia"]})
    client.post("/memos", json={"text": MEMO_C})
    body = client.get("/memos/facets").get_json()
    assert body["total"] == 3
    assert body["types"] == [{"value": "note", "memos": 1}]
    assert body["years"] == [{"value": "2024", "memos": 1}, {"value": "2023", "memos": 1}, {"value": None, "memos": 1}]
    assert body["tags"] == [{"value": "russia", "memos": 2}, {"value": "visits", "memos": 1}]
    entities = {e["text"]: (e["label"], e["memos"]) for e in body["entities"]}
    # "Assad" is in both memos; "Bashar Al-Assad" is a different name (its own facet)
    assert entities["Assad"] == ("PERSON", 2) and entities["Bashar Al-Assad"] == ("PERSON", 1)
    assert entities["ministry"] == ("ORG", 1)
    assert [e["memos"] for e in body["entities"]] == sorted((e["memos"] for e in body["entities"]), reverse=True)
    narrowed = client.get("/memos/facets?entity=tartus&entity_limit=2").get_json()
    assert narrowed["total"] == 1 and len(narrowed["entities"]) == 2
    assert narrowed["entities"][0] == {"text": "Assad", "label": "PERSON", "memos": 1}
    assert client.get("/memos/facets?entity_limit=0").status_code == 422


def _reopen(config):
    app = create_app(config)
    return app.extensions["memo"]


def _store_then_edit(config, texts: list[str], sql: str, params: tuple = ()):
    """Ingest ``texts``, close the engine, change its SQLite file as another version would, and reopen."""
    engine = _reopen(config)
    memos = [engine.ingest(text)[0] for text in texts]
    engine.close()
    db = sqlite3.connect(Path(config["DATA_DIR"]) / DB_FILE)
    with db:
        db.execute(sql, params) if params else db.executescript(sql)
    db.close()
    return _reopen(config), memos


def test_entities_are_backfilled_for_a_data_dir_from_before_entities(config):
    # as the store was before this feature
    engine, (memo, _) = _store_then_edit(config, [PUTIN, MEMO_C], "DROP TABLE entities; DROP TABLE entity_runs;")
    try:
        assert [e.text for e in engine.entities(memo.id)][:2] == ["Vladimir Putin", "Assad"]
        assert engine.list(MemoFilter(entities=("putin",)), 10, 0)[1] == 1
        runs = engine.storage.db.connection().execute("SELECT count(*) FROM entity_runs").fetchone()[0]
        assert runs == 2, "a memo with no entities is marked as read too"
    finally:
        engine.close()


def test_a_memo_changed_by_a_version_without_entities_is_read_again(config):
    engine, (memo,) = _store_then_edit(
        config, [PUTIN], "UPDATE memos SET text = ?, content_hash = 'changed' WHERE id IN (SELECT id FROM memos)",
        (MEMO_A,),
    )
    try:
        assert [(e.text, e.start) for e in engine.entities(memo.id)] == [("Tartus", MEMO_A.index("Tartus"))]
    finally:
        engine.close()


def test_changing_the_entity_model_extracts_again(config):
    engine = _reopen(config)
    memo, _ = engine.ingest(PUTIN)
    engine.close()
    engine = _reopen({**config, "ENTITIES": "fake-2"})
    try:
        row = engine.storage.db.connection().execute("SELECT extractor FROM entity_runs WHERE memo_id = ?", (memo.id,))
        assert row.fetchone() == ("fake-lexicon-2",)
        assert len(engine.entities(memo.id)) == 5
    finally:
        engine.close()


def test_entities_can_be_switched_off(config):
    engine = _reopen({**config, "ENTITIES": "none"})
    try:
        memo, _ = engine.ingest(PUTIN)
        assert engine.entities(memo.id) == []
    finally:
        engine.close()


def test_unknown_entity_model_is_refused(config):
    with pytest.raises(KeyError, match="unknown entity extractor 'nope'"):
        create_app({**config, "ENTITIES": "nope"})


def _mentions(text: str, *tagged: tuple[str, str, int]) -> list[Entity]:
    """(surface, label, which occurrence) -> the Entity at that occurrence of ``surface`` in ``text``."""
    out = []
    for surface, label, nth in tagged:
        start = -1
        for _ in range(nth + 1):
            start = text.index(surface, start + 1)
        out.append(Entity(surface, label, start, start + len(surface)))
    return sorted(out, key=lambda e: e.start)


def test_a_name_the_memo_labels_two_ways_keeps_its_majority_label():
    text = "Yukos sued. Lawyers for Yukos said Yukos would win. Gazprom and Yukos met."
    found = find_entities(Fixed(_mentions(text, ("Yukos", "ORG", 0), ("Yukos", "PERSON", 1), ("Yukos", "ORG", 2),
                                          ("Gazprom", "ORG", 0), ("Yukos", "PERSON", 3))), text)
    assert [(e.text, e.label) for e in found] == [("Yukos", "ORG"), ("Yukos", "ORG"), ("Gazprom", "ORG")]
    # a tie keeps the label the memo gave first
    tie = "Kpler said so. Kpler agreed."
    assert [e.label for e in find_entities(Fixed(_mentions(tie, ("Kpler", "PERSON", 0), ("Kpler", "ORG", 1))), tie)] == ["PERSON"]


def test_a_surname_of_a_named_person_is_that_person():
    text = "Jens Stoltenberg spoke in Brussels. Stoltenberg warned of low stocks. Brussels agreed."
    found = find_entities(Fixed(_mentions(text, ("Jens Stoltenberg", "PERSON", 0), ("Brussels", "GPE", 0),
                                          ("Stoltenberg", "ORG", 1), ("Brussels", "GPE", 1))), text)
    assert [(e.text, e.label) for e in found] == [("Jens Stoltenberg", "PERSON"), ("Brussels", "GPE"), ("Brussels", "GPE")]
    alone = "Stoltenberg Group bought Stoltenberg shares."  # no person of that name here: kept
    assert len(find_entities(Fixed(_mentions(alone, ("Stoltenberg", "ORG", 1))), alone)) == 1


def test_chief_officer_titles_and_the_header_type_are_not_entities():
    text = "2 Feb 2024; MEMO: The CFO of Lukoil met the CEO of COSCO. The CSO published figures."
    found = find_entities(Fixed(_mentions(text, ("MEMO", "GPE", 0), ("CFO", "ORG", 0), ("Lukoil", "ORG", 0),
                                          ("CEO", "ORG", 0), ("COSCO", "ORG", 0), ("CSO", "ORG", 0))), text)
    assert [e.text for e in found] == ["Lukoil", "COSCO", "CSO"]
    no_header = "MEMO: Alpha met Beta."  # not a dated header: nothing to drop
    assert [e.text for e in find_entities(Fixed(_mentions(no_header, ("MEMO", "ORG", 0))), no_header)] == ["MEMO"]


def _entity_precision():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "entity_precision", Path(__file__).resolve().parents[1] / "scripts" / "entity_precision.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_precision_counts_mentions_and_distinct_facet_entries():
    score = _entity_precision().score
    result = score([(0, "Yukos", "PERSON"), (0, "Yukos", "PERSON"), (0, "Rosneft", "ORG"), (1, "Yukos", "ORG")],
                   [{"Yukos": "organisation", "Rosneft": "organisation"}, {"Yukos": "organisation"}])
    assert (result["mentions"], result["mention_precision"]) == (4, 0.5)
    assert (result["facet_entries"], result["right_entries"], result["wrong"]) == (3, 2, ["Yukos as PERSON"])
    with pytest.raises(SystemExit):
        score([(0, "Kpler", "ORG")], [{}])


@pytest.mark.model
def test_the_rules_lose_no_right_facet_entry_on_the_hand_labelled_memos():
    from models import get_entity_extractor

    result = _entity_precision().measure(Path(__file__).parent / "fixtures" / "entity_memos.jsonl",
                                         get_entity_extractor("spacy-shared"))
    before, after = result["before"], result["after"]
    assert after["right_entries"] == before["right_entries"]
    assert after["facet_precision"] > before["facet_precision"]
    assert not {"CFO as ORG", "MEMO as GPE", "Stoltenberg as ORG"} & set(after["wrong"])
