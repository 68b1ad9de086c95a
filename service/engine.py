"""The one place that wires the stages: ingest, update, delete, ask, brief, over a data directory."""
from __future__ import annotations

import fcntl
import logging
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np

from models.embedder import Embedder
from models.nlp import Entity, EntityExtractor, NoEntities, SentenceSplitter
from models.phrases import NoPhrases, PhraseFinder
from service import answer as answering
from service import brief as briefing
from service import briefs as briefs_mod
from service import entities as ner
from service import topics
from service.errors import Conflict, DataDirLocked, IndexMismatch, InvalidInput, ModelOff, NotFound
from service.facets import Facets, count_facets
from service.index import VectorIndex, read_index
from service.index_kinds import IndexPolicy
from service.index_upkeep import IndexSaver, build_index, catch_up
from service.ingest import MemoDraft, find_memo_files, read_memo_bytes
from service.preparation import Preparer
from service.lexical import terms
from service.retrieval import Hit, RetrievalSettings, collect_passages, search_chunks
from service.slot import GenerationSlot
from service.store import Memo, MemoFilter, MemoInfo, PreparedMemo, Store
from service.worker import BriefWorker
from service.writer import Writer, settings_for

log = logging.getLogger(__name__)

DB_FILE = "memos.sqlite3"
INDEX_FILE = "index.faiss"
LOCK_FILE = "lock"
# the embedder meta while every memo is being embedded again with another model (see _check_model)
REEMBEDDING = "re-embedding, unfinished, to "


@dataclass(frozen=True)
class EngineSettings:
    data_dir: Path
    chunk_tokens: int = 128
    chunk_overlap: int = 1
    max_memo_chars: int = 500_000
    answer: answering.AnswerSettings = field(default_factory=answering.AnswerSettings)
    brief: briefing.BriefSettings = field(default_factory=briefing.BriefSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    brief_worker: bool = True  # with an LLM: write abstractive briefs in the background after ingest
    index: IndexPolicy = field(default_factory=IndexPolicy)
    index_save_s: float = 10.0  # unsaved index changes are written at most this often (0: at every write)
    ingest_batch: int = 16  # memos embedded together by ingest_files (memo ingest, seeding)


class DataDirLock:
    """An exclusive ``flock`` on the data directory for the life of the engine (one process per store)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().strip() or "another process"
            self._file.close()
            raise DataDirLocked(
                f"{path.parent} is in use by pid {holder}; stop that process or talk to it over HTTP"
            ) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(str(os.getpid()))
        self._file.flush()

    def release(self) -> None:
        if not self._file.closed:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()


class Engine:
    """Owns the store, the index and the models for one data directory."""

    def __init__(
        self,
        settings: EngineSettings,
        embedder: Embedder,
        splitter: SentenceSplitter | None = None,
        entity_extractor: EntityExtractor | None = None,
        phrases: PhraseFinder | None = None,
        writer: Writer | None = None,
    ) -> None:
        import faiss

        # Measured: one FAISS thread per query is faster than two on this class of machine.
        faiss.omp_set_num_threads(1)
        self.settings = settings
        self.embedder = embedder
        self.splitter = splitter or SentenceSplitter()
        self.entity_extractor = entity_extractor or NoEntities()
        self.phrases = phrases or NoPhrases()
        self.writer = writer
        if settings.chunk_tokens > embedder.max_tokens:
            raise ValueError(f"chunk_tokens {settings.chunk_tokens} exceeds the embedder's {embedder.max_tokens}")
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = DataDirLock(data_dir / LOCK_FILE)
        self._write_lock = threading.Lock()
        self._index_path = data_dir / INDEX_FILE
        self.prep = Preparer(embedder, self.splitter, self.entity_extractor, settings.chunk_tokens,
                             settings.chunk_overlap, settings.max_memo_chars)
        try:
            self.store = Store(data_dir / DB_FILE, embedder.dimension)
            self._check_model()
            self.index = self._open_index()
            ner.backfill_entities(self.store, self.entity_extractor)
        except BaseException:
            self._lock_file.release()
            raise
        self._saver = IndexSaver(self._save_now, settings.index_save_s)
        self.briefs = briefs_mod.Briefs(self.store, self.embedder.embed, lambda t: self.splitter.spans(t),
                                        self.phrases.phrases, settings.brief, writer)
        self.worker: BriefWorker | None = None
        if writer is not None and settings.brief_worker:
            self.worker = BriefWorker(self.briefs.next_pending, self._precompute_brief)
            self.worker.start()

    # -- start-up ------------------------------------------------------------------------------

    def _check_model(self) -> None:
        """Embeddings made by another model are useless to this one: re-embed every memo."""
        stored = self.store.get_meta("embedder")
        current = f"{self.embedder.name}/{self.embedder.dimension}"
        if stored == current:
            return
        if stored is not None and self.store.counts()["memos"]:
            log.warning("store was embedded with %s, this engine uses %s: re-embedding all memos", stored, current)
            # Until the last memo is done the store holds two models' vectors: a start after an interrupted
            # run (with either model) must see that and re-embed everything again.
            self.store.set_meta("embedder", f"{REEMBEDDING}{current}")
            self._reembed_all()
        self.store.set_meta("embedder", current)

    def _reembed_all(self) -> None:
        """Every memo's sentences and chunks embedded again, ``ingest_batch`` memos per embedding call."""
        memos, _ = self.store.list_memos(MemoFilter(), limit=1 << 62, offset=0)
        step = self.settings.ingest_batch
        for start in range(0, len(memos), step):
            stored = [m for m in (self.store.get_memo(info.id) for info in memos[start : start + step]) if m]
            drafts = [self.prep.draft(m.text, max_chars=len(m.text) + 1, title=m.title, date=m.date, source=m.source,
                                      tags=m.tags) for m in stored]
            for memo, prepared in zip(stored, self.prep.embed(drafts)):
                self.store.replace_memo(memo.id, prepared)
            log.info("re-embedded %d of %d memos", min(start + step, len(memos)), len(memos))

    def _open_index(self) -> VectorIndex:
        """The saved index, checked against the store and caught up with it; rebuilt when it cannot be."""
        # Temporary files of saves a crash interrupted; nobody else writes here (we hold the lock).
        for stale in self._index_path.parent.glob(f"{INDEX_FILE}.*.tmp"):
            log.info("removing %s, left by an interrupted index save", stale.name)
            stale.unlink(missing_ok=True)
        try:
            index, header = read_index(self._index_path)
            generation = self.store.generation()
            if (header.model, header.dimension) != (self.embedder.name, self.embedder.dimension):
                raise IndexMismatch(f"{self._index_path}: made by {header.model}/{header.dimension}, not "
                                    f"{self.embedder.name}/{self.embedder.dimension}")
            if header.generation > generation:
                raise IndexMismatch(f"{self._index_path}: generation {header.generation} is ahead of the store's {generation}")
            if header.generation == generation:
                if not np.array_equal(index.ids(), self.store.chunk_id_array()):
                    raise IndexMismatch(f"{self._index_path}: its ids are not the store's chunk ids")
            else:
                added, removed = catch_up(index, self.store)
                log.info("catching the index up with the store (generation %d -> %d): %d vectors added, %d removed",
                         header.generation, generation, added, removed)
            if self.settings.index.needs_rebuild(index.kind, index.trained_for, len(index)):
                log.info("a %s index no longer suits %d vectors: rebuilding it", index.kind, len(index))
                return self.rebuild_index()
            if header.generation != generation:
                index.save(self._index_path, generation)
            return index
        except FileNotFoundError:
            log.info("no index file yet: building it from the store")
        except IndexMismatch as exc:
            log.warning("rebuilding the index from the store: %s", exc.detail)
        return self.rebuild_index()

    def rebuild_index(self) -> VectorIndex:
        """A fresh index (of the kind the policy picks for the store's size) from the embeddings in SQLite
        (no re-embedding), saved atomically."""
        index = build_index(self.store, self.embedder.name, self.settings.index)
        index.save(self._index_path, self.store.generation())
        self.index = index
        return index

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self._saver.stop()
        self.prep.close()
        self.store.close()
        self._lock_file.release()

    def _precompute_brief(self, memo_id: str) -> bool:
        """The worker's job; False when the model's brief did not hold up (nothing was cached)."""
        try:
            brief = self.brief(memo_id, briefs_mod.PRECOMPUTED_SENTENCES, briefs_mod.ABSTRACTIVE, background=True)
        except NotFound:
            return True  # deleted while it waited: nothing left to do
        return brief.method == self.briefs.method(briefs_mod.ABSTRACTIVE)

    # -- ingest --------------------------------------------------------------------------------

    def ingest(self, text: str, **meta) -> tuple[Memo, bool]:
        """Store a memo; returns ``(memo, created)``. The same text again returns the stored memo."""
        draft = self.prep.draft(text, **meta)
        existing = self.store.find_by_hash(draft.content_hash)
        if existing is not None:
            return existing, False
        return self._store_new(self.prep.embed([draft])[0])

    def _store_new(self, prepared: PreparedMemo) -> tuple[Memo, bool]:
        memo_id = secrets.token_hex(8)
        with self._write_lock:
            # Checked again under the lock: two identical POSTs race here, and only one may store.
            existing = self.store.find_by_hash(prepared.draft.content_hash)
            if existing is not None:
                return existing, False
            ids = self.store.add_memo(memo_id, prepared)
            self.index.add(ids, prepared.chunk_vectors)
            self._resize_index()
            # Read under the lock too: a delete right after the commit must not turn this into a 500.
            memo = self.store.get_memo(memo_id)
        assert memo is not None
        self._changed()
        return memo, True

    def ingest_many(self, items: Iterable[tuple[str, dict]], progress: Callable[[int, Memo | None, bool], None] | None = None,
                    skip_invalid: bool = False) -> list[tuple[Memo | None, bool]]:
        """Ingest ``(text, metadata)`` pairs, ``settings.ingest_batch`` memos per embedding call; returns
        ``(memo, created)`` per item, in order (``(None, False)`` for an invalid text when ``skip_invalid``,
        else InvalidInput stops the run). ``progress(i, memo, created)`` after each. Saves the index at the end."""
        items = list(items)
        results: list[tuple[Memo | None, bool]] = []
        try:
            for start in range(0, len(items), self.settings.ingest_batch):
                drafts: list[MemoDraft | None] = []
                for text, meta in items[start : start + self.settings.ingest_batch]:
                    try:
                        drafts.append(self.prep.draft(text, **meta))
                    except InvalidInput:
                        if not skip_invalid:
                            raise
                        drafts.append(None)
                fresh, seen = [], set()
                for draft in drafts:
                    if draft is not None and draft.content_hash not in seen and self.store.find_by_hash(draft.content_hash) is None:
                        fresh.append(draft)
                        seen.add(draft.content_hash)
                prepared = {p.draft.content_hash: p for p in self.prep.embed(fresh)}
                for offset, draft in enumerate(drafts):
                    if draft is None:
                        memo, created = None, False
                    elif draft.content_hash in prepared:
                        memo, created = self._store_new(prepared.pop(draft.content_hash))
                    else:  # stored before, or a repeat of an item earlier in this batch
                        memo, created = self.store.find_by_hash(draft.content_hash), False
                    results.append((memo, created))
                    if progress:
                        progress(start + offset, memo, created)
        finally:
            self._saver.flush()
        return results

    def ingest_files(
        self,
        paths: Iterable[Path],
        tags: Iterable[str] = (),
        progress: Callable[[Path, Memo, bool], None] | None = None,
    ) -> list[tuple[Memo, bool]]:
        """Ingest memo files and folders (``.txt``/``.md``) in batches (``ingest_many``)."""
        files = find_memo_files(list(paths))
        items = [(read_memo_bytes(path.read_bytes(), name=str(path)), {"source": path.name, "tags": list(tags)})
                 for path in files]
        report = (lambda i, memo, created: progress(files[i], memo, created)) if progress else None
        return self.ingest_many(items, report)  # type: ignore[return-value]

    def seed(self, folder: Path) -> int:
        """Ingest ``folder`` once, on the first start of an empty store; returns how many memos were added."""
        if self.store.get_meta("seeded") or self.store.counts()["memos"] or not Path(folder).is_dir():
            return 0
        added = sum(created for _, created in self.ingest_files([Path(folder)]))
        self.store.set_meta("seeded", "1")
        return added

    def update(self, memo_id: str, text: str, **meta) -> Memo:
        """Replace a memo's text (and any metadata given); metadata not given is kept."""
        current = self.store.get_memo(memo_id)
        if current is None:
            raise NotFound(f"no memo {memo_id}")
        # Title and date that came from the old text (its first sentence, its header) are derived
        # again from the new text; ones a user set explicitly are kept unless replaced.
        derived = self.prep.draft(current.text, max_chars=len(current.text) + 1)
        merged: dict[str, Any] = {
            "title": current.title if current.title != derived.title else None,
            "date": current.date if current.date != derived.date else None,
            "source": current.source,
            "tags": current.tags,
        }
        merged.update({k: v for k, v in meta.items() if v is not None})
        prepared = self.prep.prepare(text, **merged)
        with self._write_lock:
            clash = self.store.find_by_hash(prepared.draft.content_hash)
            if clash is not None and clash.id != memo_id:
                raise Conflict({"text": [f"this text is already stored as memo {clash.id}"]})
            try:
                changed = self.store.replace_memo(memo_id, prepared)
            except sqlite3.IntegrityError:
                raise Conflict({"text": ["this text is already stored as another memo"]}) from None
            if changed is None:  # deleted while the new text was being embedded
                raise NotFound(f"no memo {memo_id}")
            removed, added = changed
            self.index.remove(removed)
            self.index.add(added, prepared.chunk_vectors)
            self._resize_index()
            memo = self.store.get_memo(memo_id)
        assert memo is not None
        self._changed()
        return memo

    def _changed(self) -> None:
        """A memo was added or its text replaced: the index has unsaved changes, the brief worker has work."""
        self._saver.changed()
        if self.worker is not None:
            self.worker.notify()

    def delete(self, memo_id: str) -> None:
        with self._write_lock:
            removed = self.store.delete_memo(memo_id)
            if removed is None:
                raise NotFound(f"no memo {memo_id}")
            self.index.remove(removed)
            self._resize_index()
        self._saver.changed()

    def _resize_index(self) -> None:
        """After a write, under the write lock: rebuild the index when its kind no longer suits its size
        (searches go on with the old one meanwhile)."""
        if self.settings.index.needs_rebuild(self.index.kind, self.index.trained_for, len(self.index)):
            log.info("a %s index no longer suits %d vectors: rebuilding it", self.index.kind, len(self.index))
            self.rebuild_index()

    def _save_now(self) -> None:
        """Write the index with the store's generation it reflects."""
        with self._write_lock:
            self.index.save(self._index_path, self.store.generation())

    def save_index(self) -> None:
        """Write the index now if it has unsaved changes."""
        self._saver.flush()

    # -- reads ---------------------------------------------------------------------------------

    def get(self, memo_id: str) -> Memo:
        memo = self.store.get_memo(memo_id)
        if memo is None:
            raise NotFound(f"no memo {memo_id}")
        return memo

    def list(self, where: MemoFilter, limit: int, offset: int) -> tuple[list[MemoInfo], int]:
        return self.store.list_memos(where, limit, offset)

    def search(self, question: str, k: int = 5, where: MemoFilter | None = None, mode: str | None = None,
               query: np.ndarray | None = None) -> list[Hit]:
        """The ``k`` best chunks for ``question`` (hybrid by default), best first."""
        settings = self.settings.retrieval
        if mode is not None and mode != settings.mode:
            settings = replace(settings, mode=mode)
        if query is None:
            query = self.embedder.embed([question])[0]
        return search_chunks(self.index, self.store, query, question, k, where or MemoFilter(), settings)

    def entities(self, memo_id: str) -> list[Entity]:
        """The people, places and organisations a memo mentions, in text order."""
        return ner.memo_entities(self.store, memo_id)

    def facets(self, where: MemoFilter, entity_limit: int = 30) -> Facets:
        """Type, year, tag and entity counts over the memos that pass ``where``."""
        return count_facets(self.store, where, entity_limit)

    def _retrieve(
        self, text: str, field_name: str, k: int, where: MemoFilter | None
    ) -> tuple[str, np.ndarray, list[answering.Passage], dict[str, float]]:
        """The cleaned text, its embedding, the sentences of its ``k`` best chunks as passages, and the
        IDF weights of its words."""
        text = " ".join(text.split())
        if not text:
            raise InvalidInput({field_name: [f"{field_name} is empty"]})
        query = self.embedder.embed([text])[0]
        # One snapshot for chunks, texts and sentences: an update committed half-way through must not
        # pair the old text with the new sentence offsets (quotes would stop matching the memo).
        with self.store.snapshot():
            hits = self.search(text, k, where, query=query)
            passages = collect_passages(self.store, hits)
            weights = self.store.term_weights(terms(text))
        return text, query, passages, weights

    def _answer(self, question: str, k: int, where: MemoFilter | None):
        question, query, passages, weights = self._retrieve(question, "question", k, where)
        scored = answering.score_passages(question, query, passages, self.settings.answer, weights)
        return question, scored, answering.decide(question, scored, self.settings.answer, self.phrases.phrases)

    def _cited(self, result: answering.Answer) -> dict[str, MemoInfo]:
        return self.store.get_memos([c.memo_id for c in result.citations])

    def _require_writer(self) -> Writer:
        if self.writer is None:
            raise ModelOff("generative answers need the local LLM: start the service with MEMO_LLM=qwen-0.5b "
                           "or qwen-1.5b")
        return self.writer

    def ask(self, question: str, k: int = 5, where: MemoFilter | None = None, mode: str = "extractive"
            ) -> tuple[answering.Answer, dict[str, MemoInfo]]:
        """A cited answer from the ``k`` best chunks (or an abstention), and the cited memos. ``generative``:
        the LLM answers from the best sentences; its answer must be found in them, else the extractive one
        stands."""
        writer = self._require_writer() if mode == "generative" else None
        question, scored, result = self._answer(question, k, where)
        if writer is not None:
            result = writer.answer(question, scored, result, self.phrases.phrases)
        return result, self._cited(result)

    def ask_stream(self, question: str, k: int = 5, where: MemoFilter | None = None
                   ) -> Iterator[str | tuple[answering.Answer, dict[str, MemoInfo]]]:
        """The generative answer's tokens as they come, then ``(answer, cited memos)`` last."""
        writer = self._require_writer()
        question, scored, extractive = self._answer(question, k, where)
        for item in writer.stream_answer(question, scored, extractive, self.phrases.phrases):
            yield (item, self._cited(item)) if isinstance(item, answering.Answer) else item

    def topic(self, query: str, k: int = 10, where: MemoFilter | None = None) -> topics.TopicBrief:
        """A dated timeline of the (at most ``k``) memos that support ``query``, one cited point each, under
        a paragraph: the LLM's (checked against the points) when the tier is on, else the best points."""
        query, vector, passages, weights = self._retrieve(query, "query", topics.search_depth(k), where)
        memos = self.store.get_memos(list({p.memo_id for p in passages}))
        result = topics.brief_topic(query, vector, passages, memos, k, self.settings.answer, weights)
        if self.writer is None or result.abstained:
            return result
        points = [f"{t.date}: {t.point}" if t.date else t.point for t in result.timeline]
        paragraph = self.writer.paragraph(query, points, self.embedder.embed, lambda t: self.splitter.spans(t),
                                          self.phrases.phrases)
        return result.with_paragraph(paragraph, f"abstractive-timeline:{self.writer.generator.name}")

    def brief(self, memo_id: str, max_sentences: int = 3, mode: str = "extractive",
              background: bool = False) -> briefs_mod.AnyBrief:
        """A stored memo's brief (key sentences, or the LLM's sentences checked against the memo), cached
        by content hash and method."""
        return self.briefs.of_memo(lambda: self.get(memo_id), memo_id, max_sentences, mode, background)

    def brief_text(self, text: str, max_sentences: int = 3, mode: str = "extractive") -> briefs_mod.AnyBrief:
        """The brief of a text that need not be stored (served from the cache when it is)."""
        self.briefs.method(mode)  # refuse an impossible mode before any work
        draft = self.prep.draft(text)
        stored = self.store.find_by_hash(draft.content_hash)
        if stored is not None:
            try:
                return self.brief(stored.id, max_sentences, mode)
            except NotFound:  # deleted meanwhile: brief the text itself
                pass
        prepared = self.prep.embed([draft])[0]
        return self.briefs.make(draft.text, prepared.sentences, prepared.sentence_vectors, max_sentences, mode)

    def brief_status(self, memo: Memo) -> str:
        return self.briefs.status(memo)

    def health(self) -> dict:
        counts = self.store.counts()
        return {
            "memos": counts["memos"],
            "chunks": counts["chunks"],
            "sentences": counts["sentences"],
            "vectors": len(self.index),
        }

    def lexical_index_state(self) -> str:
        """``ready`` once BM25 comes from the in-memory copy, ``filling`` while FTS5 stands in."""
        return "ready" if self.store.bm25_ready() else "filling"


def build_engine(config: Mapping[str, Any]) -> Engine:
    """An engine from app config (the keys of ``service.config.DEFAULTS``)."""
    from models import get_embedder, get_entity_extractor, get_generator, get_phrase_finder
    from service.config import flag

    settings = EngineSettings(
        data_dir=Path(config["DATA_DIR"]),
        chunk_tokens=int(config["CHUNK_TOKENS"]),
        chunk_overlap=int(config["CHUNK_OVERLAP"]),
        max_memo_chars=int(config["MAX_MEMO_CHARS"]),
        answer=answering.AnswerSettings(abstain_below=float(config["ABSTAIN_BELOW"])),
        brief_worker=flag(config, "BRIEF_WORKER"),
        index=IndexPolicy(flat_max=int(config["INDEX_FLAT_MAX"]), nprobe=int(config["INDEX_NPROBE"])),
        index_save_s=float(config["INDEX_SAVE_S"]),
        ingest_batch=int(config["INGEST_BATCH"]),
    )
    writer = None
    llm = str(config["LLM"]).lower()
    if llm != "none":
        slot = GenerationSlot(float(config["LLM_WAIT_S"]), int(config["LLM_MAX_WAITING"]), int(config["LLM_RETRY_AFTER_S"]))
        generator = get_generator(llm)
        writer = Writer(generator, slot, settings_for(generator.name))
    return Engine(settings, get_embedder(str(config["EMBEDDER"])),
                  entity_extractor=get_entity_extractor(str(config["ENTITIES"])),
                  phrases=get_phrase_finder(str(config["PHRASES"])), writer=writer)
