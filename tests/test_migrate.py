"""``memo migrate --to postgresql://...``: an embedded data dir copied into PostgreSQL without embedding
again, resumable, checked by counts."""
from __future__ import annotations

from click.testing import CliRunner

from service import create_app
from service.cli import main
from tests.test_storage_contract import MEMOS

QUESTION = "Which base did Putin and Assad discuss?"


def _fill_data_dir(config):
    app = create_app(config)
    engine = app.extensions["memo"]
    try:
        ids = [engine.ingest(text, **meta)[0].id for text, meta in MEMOS]
        brief = engine.brief(ids[0], 2)
        result, _ = engine.ask(QUESTION)
        memos = {m: engine.storage.memos.get(m) for m in ids}
        entities = {m: engine.entities(m) for m in ids}  # read now: ingest deferred them
        return ids, brief, result, memos, entities, engine.health()
    finally:
        engine.close()


def _migrate(config, url):
    return CliRunner().invoke(main, ["migrate", "--to", url, "--data-dir", config["DATA_DIR"]])


def test_migrate_copies_a_data_dir_without_embedding_again(config, database_url, monkeypatch):
    ids, brief, answer, memos, entities, counts = _fill_data_dir(config)
    result = _migrate(config, database_url)
    assert result.exit_code == 0, result.output
    assert "5 memos" in result.output and "5 copied, 0 already there" in result.output
    assert f"{counts['chunks']} chunks" in result.output

    # no model may embed anything on the way in: an embedder that refuses to run proves it
    from tests.fakes import HashEmbedder

    def refuse(self, texts):
        raise AssertionError("re-embedded on open")

    monkeypatch.setattr(HashEmbedder, "embed", refuse)
    app = create_app({**config, "DATABASE_URL": database_url})
    engine = app.extensions["memo"]
    monkeypatch.undo()  # opened without embedding; the question below needs the embedder
    try:
        assert not engine.storage.needs_reembedding()
        assert engine.health() == counts
        assert {m: engine.storage.memos.get(m) for m in ids} == memos
        assert {m: engine.storage.entities.of_memo(m) for m in ids} == entities
        assert engine.storage.briefs.get(memos[ids[0]].content_hash, brief.method, 2) is not None
        again, _ = engine.ask(QUESTION)
        # citations that score (below, orthogonal chunks tie at 0 and each backend orders ties its own way)
        assert (again.answer, [(c.memo_id, c.start, c.end, round(c.score, 6)) for c in again.citations if c.score]) == \
            (answer.answer, [(c.memo_id, c.start, c.end, round(c.score, 6)) for c in answer.citations if c.score])
        assert len([c for c in answer.citations if c.score]) >= 3
        assert engine.storage.memos.sentences(ids[1]).vectors.shape[0] > 0
        engine.storage.memos.delete(ids[2])  # as if the first run had stopped before this memo
    finally:
        engine.close()
    result = _migrate(config, database_url)
    assert result.exit_code == 0, result.output
    assert "1 copied, 4 already there" in result.output


def test_migrate_refuses_a_missing_data_dir(tmp_path, database_url):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["migrate", "--to", database_url, "--data-dir", str(empty)])
    assert result.exit_code == 1 and "holds no memo store" in result.output
