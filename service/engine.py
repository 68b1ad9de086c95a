"""The engine wires the stages over one storage backend: ingest → chunk → embed → store → retrieve → answer /
brief. It holds the models and the settings; the stages hold the logic, the backend holds the data."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence

import numpy as np

from models import TextModels
from models.embedders import Embedder
from models.llm.spec import Generator
from models.nlp.candidates import NoPhrases, PhraseFinder
from models.nlp.entities import Entity, EntityExtractor, NoEntities
from models.nlp.sentences import SentenceSplitter
from service.answer import extractive as answering
from service.answer.generative import Tentative
from service.brief import briefer as briefs_mod
from service.brief import key_sentences as briefing
from service.brief import topics
from service.brief.worker import BriefWorker
from service.errors import ModelOff, NotFound
from service.ingest.deferred import Activity, DeferredFiller, fill_all
from service.ingest.entities import EntityReader, backfill_entities
from service.ingest.intake import Intake
from service.ingest.jobs import JobRunner
from service.ingest.prepare import Preparer
from service.llm.choice import load_generator
from service.llm.slot import GenerationSlot
from service.llm.writer import Writer, settings_for
from service.retrieval.hybrid import RetrievalSettings, search_chunks
from service.retrieval.passages import Retrieved, retrieve, surroundings
from service.storage import open_storage
from service.storage.base import Storage, VectorSpace
from service.types import Answer, Facets, Hit, Job, Memo, MemoFilter, MemoInfo, Passage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineSettings:
    chunk_tokens: int = 128
    chunk_overlap: int = 1
    max_memo_chars: int = 500_000
    answer: answering.AnswerSettings = field(default_factory=answering.AnswerSettings)
    brief: briefing.BriefSettings = field(default_factory=briefing.BriefSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    ask_mode: str = "extractive"  # what ask() does when no mode is named (service.config.ask_mode)
    brief_worker: bool = True  # with an LLM: write abstractive briefs in the background after ingest
    ingest_batch: int = 16  # memos embedded together by ingest_files (memo ingest, seeding)
    defer_sentences: bool = True  # acknowledge a memo before its sentence vectors (service.ingest.deferred)
    defer_entities: bool = True  # acknowledge a memo before its entities (service.ingest.entities.EntityReader)
    sentence_filler: bool = True  # fill what ingest deferred in a background thread (service.ingest.deferred)


class WorkQueue(Protocol):
    """Where background work goes when a broker is configured (``service.queue``): ingest jobs and briefs run
    in worker processes instead of this one."""

    def submit(self, items: Sequence[tuple[str, dict]]) -> Job:
        """Store the batch as a job, then hand it to the workers."""

    def brief(self, memo: Memo) -> None:
        """Have a worker write the memo's abstractive brief."""

    def close(self) -> None: ...


class Engine:
    """The service's operations over one ``Storage`` and one set of models. With a ``queue`` (a broker), batch
    jobs and abstractive briefs are sent to worker processes; without one they run on threads of this one."""

    def __init__(
        self,
        settings: EngineSettings,
        storage: Storage,
        embedder: Embedder,
        splitter: SentenceSplitter | None = None,
        entity_extractor: EntityExtractor | None = None,
        phrases: PhraseFinder | None = None,
        writer: Writer | None = None,
        queue: WorkQueue | None = None,
    ) -> None:
        if settings.chunk_tokens > embedder.max_tokens:
            raise ValueError(f"chunk_tokens {settings.chunk_tokens} exceeds the embedder's {embedder.max_tokens}")
        self.settings = settings
        self.storage = storage
        self.embedder = embedder
        self.splitter = splitter or SentenceSplitter()
        self.entity_extractor = entity_extractor or NoEntities()
        self.phrases = phrases or NoPhrases()
        self.writer = writer
        self.models = TextModels(embedder, self.splitter, self.phrases, self.entity_extractor)
        self.prep = Preparer(embedder, self.splitter, self.entity_extractor, settings.chunk_tokens,
                             settings.chunk_overlap, settings.max_memo_chars)
        self.activity = Activity()
        self.intake = Intake(storage, self.prep, settings.ingest_batch, self._written,
                             defer_sentences=settings.defer_sentences, defer_entities=settings.defer_entities,
                             activity=self.activity)
        self.entity_reader = EntityReader(storage.entities, storage.memos, self.entity_extractor,
                                          storage.leases is None)
        self.filler: DeferredFiller | None = None
        self.worker: BriefWorker | None = None
        self.queue = queue
        if storage.needs_reembedding():
            self.intake.reembed_all()
            storage.reembedded()
        backfill_entities(storage.entities, storage.memos, self.entity_extractor)
        self.briefs = briefs_mod.Briefer(storage, self.models, settings.brief, writer)
        if writer is not None and settings.brief_worker and queue is None:
            self.worker = BriefWorker(self.briefs.next_pending, self.precompute_brief)
            self.worker.start()
        self.jobs = JobRunner(storage.jobs, self.intake, settings.ingest_batch)
        if queue is None:  # with a queue, the workers' sweeper owns unfinished jobs
            self.jobs.resume()
        if (settings.defer_sentences or settings.defer_entities) and settings.sentence_filler:
            self.filler = DeferredFiller(storage, embedder, self.activity, self.entity_reader)
            self.filler.start()

    def close(self) -> None:
        self.jobs.stop()
        if self.filler is not None:
            self.filler.stop()
        if self.worker is not None:
            self.worker.stop()
        if self.queue is not None:
            self.queue.close()
        self.prep.close()
        self.storage.close()

    def _written(self, memo: Memo) -> None:
        """A memo was added or its text replaced: its abstractive brief is work for the brief worker (or a
        brief task sent), and its sentence vectors and entities for the filler."""
        self.entity_reader.written()
        if self.queue is not None:
            self.queue.brief(memo)
        elif self.worker is not None:
            self.worker.notify()
        if self.filler is not None:
            self.filler.notify()

    def precompute_brief(self, memo_id: str) -> bool:
        """The brief worker's job; False when the model's brief did not hold up (the extractive brief was
        cached in its place)."""
        try:
            brief = self.brief(memo_id, briefs_mod.PRECOMPUTED_SENTENCES, briefs_mod.ABSTRACTIVE, background=True)
        except NotFound:
            return True  # deleted while it waited: nothing left to do
        return brief.method == self.briefs.method(briefs_mod.ABSTRACTIVE)

    # -- writes --------------------------------------------------------------------------------

    def ingest(self, text: str, **meta) -> tuple[Memo, bool]:
        """Store a memo; returns ``(memo, created)``. The same text again returns the stored memo."""
        return self.intake.ingest(text, **meta)

    def ingest_files(self, paths: Iterable[Path], tags: Iterable[str] = (),
                     progress: Callable[[Path, Memo, bool], None] | None = None) -> list[tuple[Memo, bool]]:
        return self.intake.ingest_files(paths, tags, progress)

    def update(self, memo_id: str, text: str, **meta) -> Memo:
        return self.intake.update(memo_id, text, **meta)

    def sentences_pending(self) -> int:
        """How many memos wait for their sentence vectors (``fill_sentences``, the filler)."""
        return len(self.storage.memos.unembedded(1 << 30))

    def fill_sentences(self) -> int:
        """Embed every sentence vector that ingest deferred, now; how many were stored."""
        return fill_all(self.storage, self.embedder)

    def entities_pending(self) -> int:
        """How many memos wait for their entities (``fill_entities``, the filler, or a reader that needs them)."""
        return len(self.entity_reader.waiting())

    def fill_entities(self) -> int:
        """Read the entities of every memo that ingest acknowledged without them, now; how many memos."""
        return self.entity_reader.settle()

    def submit_batch(self, items: list[tuple[str, dict]]) -> Job:
        """Accept memos for ingest in the background; the job is stored before this returns."""
        return self.queue.submit(items) if self.queue is not None else self.jobs.submit(items)

    def job(self, job_id: str) -> Job:
        job = self.storage.jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return job

    def delete(self, memo_id: str) -> None:
        if not self.storage.memos.delete(memo_id):
            raise NotFound(f"no memo {memo_id}")

    # -- reads ---------------------------------------------------------------------------------

    def get(self, memo_id: str) -> Memo:
        memo = self.storage.memos.get(memo_id)
        if memo is None:
            raise NotFound(f"no memo {memo_id}")
        return memo

    def _entities_read(self, where: MemoFilter | None) -> MemoFilter:
        """``where``, after the entities of every memo acknowledged so far are read when it filters by entity:
        an entity filter never misses a memo because its entities were deferred."""
        where = where or MemoFilter()
        if where.entities:
            self.entity_reader.settle()
        return where

    def list(self, where: MemoFilter, limit: int, offset: int) -> tuple[list[MemoInfo], int]:
        return self.storage.memos.page(self._entities_read(where), limit, offset)

    def search(self, question: str, k: int = 5, where: MemoFilter | None = None, mode: str | None = None,
               query: np.ndarray | None = None) -> list[Hit]:
        """The ``k`` best chunks for ``question`` (hybrid by default), best first."""
        settings = self.settings.retrieval
        if mode is not None and mode != settings.mode:
            settings = replace(settings, mode=mode)
        if query is None:
            query = self.embedder.embed([question])[0]
        return search_chunks(self.storage.chunks, query, question, k, self._entities_read(where), settings)

    def entities(self, memo_id: str, read_now: bool = True) -> list[Entity] | None:
        """The people, places and organisations a memo mentions, in text order. If ingest deferred them and
        they are still pending: read now, or (``read_now=False``, an ingest's acknowledgement) None."""
        if read_now:
            self.entity_reader.settle([memo_id])
        elif self.entity_reader.pending([memo_id]):
            return None
        return self.storage.entities.of_memo(memo_id)

    def facets(self, where: MemoFilter, entity_limit: int = 30) -> Facets:
        """Type, year, tag and entity counts over the memos that pass ``where`` (entity counts include every
        memo acknowledged so far: their deferred entities are read first)."""
        self.entity_reader.settle()
        return self.storage.memos.facets(where, entity_limit)

    def _retrieve(self, text: str, field_name: str, k: int, where: MemoFilter | None, depth: int = 0) -> Retrieved:
        return retrieve(self.storage, self.embedder, text, field_name, k, self._entities_read(where),
                        self.settings.retrieval, depth)

    def _answer(self, question: str, k: int, where: MemoFilter | None, depth: int = 0):
        """The cleaned question, the scored sentences of the ``k`` best chunks, the extractive answer from them,
        and the sentences a model chooses what to read from: those of the ``depth`` best chunks, scored the
        same way (the same list when ``depth`` is at most ``k``)."""
        found = self._retrieve(question, "question", k, where, depth)
        scored = answering.score_passages(found.text, found.vector, found.passages, self.settings.answer, found.weights)
        read = scored if found.deeper is found.passages else answering.score_passages(
            found.text, found.vector, found.deeper, self.settings.answer, found.weights)
        return found.text, scored, answering.decide(found.text, scored, self.settings.answer, self.phrases.phrases), read

    def _tentative(self, writer: Writer, question: str, scored: list[tuple[float, Passage]],
                   result: Answer) -> Tentative | None:
        """For a question the extractive tier abstains on: its answer at the writer's ``ask_below``
        threshold and its support, which the model then confirms (grounded) or not (abstained). None: the
        model is not asked."""
        below = writer.settings.answer.ask_below
        if not result.abstained or below is None or below >= self.settings.answer.abstain_below:
            return None
        answer = answering.decide(question, scored, replace(self.settings.answer, abstain_below=below),
                                  self.phrases.phrases)
        return Tentative(answer, answering.support(scored, self.settings.answer))

    def _surroundings(self, passage: Passage, neighbours: int, lead: int) -> list[Passage]:
        return surroundings(self.storage.memos, self.embedder, passage, neighbours, lead)

    def _cited(self, result: Answer) -> dict[str, MemoInfo]:
        return self.storage.memos.infos([c.memo_id for c in result.citations])

    def _require_writer(self) -> Writer:
        if self.writer is None:
            raise ModelOff("generative answers need the local LLM: start the service with MEMO_LLM=qwen-0.5b "
                           "or qwen-1.5b")
        return self.writer

    def ask(self, question: str, k: int = 5, where: MemoFilter | None = None, mode: str | None = None
            ) -> tuple[Answer, dict[str, MemoInfo]]:
        """A cited answer from the ``k`` best chunks (or an abstention), and the cited memos. ``generative``:
        the LLM answers from the best sentences; its answer must be found in them, else the extractive one
        stands. No ``mode``: the configured default (``settings.ask_mode``)."""
        mode = mode or self.settings.ask_mode
        writer = self._require_writer() if mode == "generative" else None
        if writer is None:
            result = self._answer(question, k, where)[2]
            return result, self._cited(result)
        question, scored, extractive, read = self._answer(question, k, where, writer.settings.answer.depth)
        result = writer.answer(question, read, extractive, self.phrases.phrases, self._surroundings,
                               self._tentative(writer, question, scored, extractive))
        return result, self._cited(result)

    def ask_stream(self, question: str, k: int = 5, where: MemoFilter | None = None
                   ) -> Iterator[str | tuple[Answer, dict[str, MemoInfo]]]:
        """The generative answer's tokens as they come, then ``(answer, cited memos)`` last."""
        writer = self._require_writer()
        question, scored, extractive, read = self._answer(question, k, where, writer.settings.answer.depth)
        tentative = self._tentative(writer, question, scored, extractive)
        for item in writer.stream_answer(question, read, extractive, self.phrases.phrases, self._surroundings,
                                         tentative):
            yield (item, self._cited(item)) if isinstance(item, Answer) else item

    def topic(self, query: str, k: int = 10, where: MemoFilter | None = None) -> topics.TopicBrief:
        """A dated timeline of the (at most ``k``) memos that support ``query``, one cited point each, under
        a paragraph: the LLM's (checked against the points) when the tier is on, else the best points."""
        found = self._retrieve(query, "query", topics.search_depth(k), where)
        memos = self.storage.memos.infos(list({p.memo_id for p in found.passages}))
        result = topics.brief_topic(found.text, found.vector, found.passages, memos, k, self.settings.answer,
                                    found.weights)
        if self.writer is None or result.abstained:
            return result
        points = [f"{t.date}: {t.point}" if t.date else t.point for t in result.timeline]
        paragraph = self.writer.paragraph(found.text, points, self.models)
        return result.with_paragraph(paragraph, f"abstractive-timeline:{self.writer.generator.name}")

    def brief(self, memo_id: str, max_sentences: int = 3, mode: str = "extractive",
              background: bool = False) -> briefs_mod.AnyBrief:
        """A stored memo's brief (key sentences, or the LLM's sentences checked against the memo), cached
        by content hash and method."""
        return self.briefs.of_memo(memo_id, max_sentences, mode, background)

    def brief_text(self, text: str, max_sentences: int = 3, mode: str = "extractive") -> briefs_mod.AnyBrief:
        """The brief of a text that need not be stored (served from the cache when it is)."""
        return self.briefs.of_text(self.prep, text, max_sentences, mode)

    def brief_status(self, memo: Memo) -> str:
        return self.briefs.status(memo)

    def health(self) -> dict[str, int]:
        """Counts that must agree: memos, chunks, sentences, vectors (chunks == vectors)."""
        return self.storage.counts()


def open_queue(config: Mapping[str, Any], storage: Storage) -> WorkQueue | None:
    """The worker tier's queue when ``BROKER_URL`` is set and the backend can be shared by workers."""
    if not config.get("BROKER_URL"):
        return None
    if storage.leases is None:
        log.warning("MEMO_BROKER_URL is ignored on the embedded backend: batch jobs and briefs run in this process "
                    "(workers need MEMO_DATABASE_URL)")
        return None
    from service.queue.dispatch import CeleryQueue

    return CeleryQueue.from_config(config, storage.leases)


def build_engine(config: Mapping[str, Any], load_llm: bool = True) -> Engine:
    """An engine from app config (the keys of ``service.config.DEFAULTS``). ``load_llm=False``: no LLM in this
    process whatever ``LLM`` says (a worker that only ingests)."""
    from models import get_embedder, get_entity_extractor, get_phrase_finder
    from service.config import ask_mode, flag, llm_ask_below

    settings = EngineSettings(
        chunk_tokens=int(config["CHUNK_TOKENS"]),
        chunk_overlap=int(config["CHUNK_OVERLAP"]),
        max_memo_chars=int(config["MAX_MEMO_CHARS"]),
        answer=answering.AnswerSettings(abstain_below=float(config["ABSTAIN_BELOW"])),
        ask_mode=ask_mode(config),
        brief_worker=flag(config, "BRIEF_WORKER"),
        ingest_batch=int(config["INGEST_BATCH"]),
        defer_sentences=flag(config, "DEFER_SENTENCES"),
        defer_entities=flag(config, "DEFER_ENTITIES"),
        sentence_filler=flag(config, "SENTENCE_FILLER"),
    )
    embedder = get_embedder(str(config["EMBEDDER"]))
    storage = open_storage(config, VectorSpace(embedder.name, embedder.dimension))
    try:
        writer = None
        llm = str(config["LLM"]).lower()
        if llm != "none" and load_llm:
            slot = GenerationSlot(float(config["LLM_WAIT_S"]), int(config["LLM_MAX_WAITING"]),
                                  int(config["LLM_RETRY_AFTER_S"]), float(config["LLM_QUIET_S"]))
            generator = load_generator(llm)
            writer = Writer(generator, slot, settings_for(generator.name, llm_ask_below(config)))
        return Engine(settings, storage, embedder, entity_extractor=get_entity_extractor(str(config["ENTITIES"])),
                      phrases=get_phrase_finder(str(config["PHRASES"])), writer=writer,
                      queue=open_queue(config, storage))
    except BaseException:
        storage.close()
        raise
