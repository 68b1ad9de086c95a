"""Memos into storage: one, many (batched embedding), files and folders, the seed folder, a new text for a
stored memo, and re-embedding everything for a new model."""
from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any, Callable, Iterable

from service.errors import InvalidInput, NotFound
from service.ingest.deferred import Activity
from service.ingest.parse import find_memo_files, read_memo_bytes
from service.ingest.prepare import Preparer
from service.storage.base import Storage
from service.types import Memo, MemoDraft, MemoFilter, PreparedMemo

log = logging.getLogger(__name__)

Progress = Callable[[int, "Memo | None", bool], None]


class Intake:
    """Prepares memos (``Preparer``) and writes them through the storage seam. ``written()`` runs after
    every memo added or replaced, with it (the brief worker's wake-up, or a brief task sent). With
    ``defer_sentences``, new memos are stored before their sentence vectors (``service.ingest.deferred``),
    with ``defer_entities`` before their entities (``service.ingest.entities.EntityReader``); ``activity``
    marks ingest running. An update reads both before it stores."""

    def __init__(self, storage: Storage, prep: Preparer, batch: int,
                 written: Callable[[Memo], None] = lambda memo: None,
                 defer_sentences: bool = False, defer_entities: bool = False,
                 activity: Activity | None = None) -> None:
        self.storage = storage
        self.prep = prep
        self.batch = batch
        self.written = written
        self.defer_sentences = defer_sentences
        self.defer_entities = defer_entities
        self.activity = activity or Activity()

    def _store(self, prepared) -> tuple[Memo, bool]:
        memo, created = self.storage.memos.add(secrets.token_hex(8), prepared)
        if created:
            self.written(memo)
        return memo, created

    def _embed(self, drafts: list[MemoDraft]) -> list[PreparedMemo]:
        """New memos ready to store: what ingest defers is left for after the acknowledgement."""
        return self.prep.embed(drafts, sentences=not self.defer_sentences, entities=not self.defer_entities)

    def ingest(self, text: str, **meta) -> tuple[Memo, bool]:
        """Store a memo; returns ``(memo, created)``. The same text again returns the stored memo."""
        draft = self.prep.draft(text, **meta)
        existing = self.storage.memos.find_by_hash(draft.content_hash)
        if existing is not None:
            return existing, False
        with self.activity.running():
            return self._store(self._embed([draft])[0])

    def ingest_many(self, items: Iterable[tuple[str, dict]], progress: Progress | None = None,
                    skip_invalid: bool = False) -> list[tuple[Memo | None, bool]]:
        """Ingest ``(text, metadata)`` pairs, ``batch`` memos per embedding call; returns ``(memo, created)``
        per item, in order (``(None, False)`` for an invalid text when ``skip_invalid``, else InvalidInput
        stops the run). ``progress(i, memo, created)`` after each. Flushes the storage at the end."""
        items = list(items)
        results: list[tuple[Memo | None, bool]] = []
        with self.activity.running():
            try:
                for start in range(0, len(items), self.batch):
                    drafts: list[MemoDraft | None] = []
                    for text, meta in items[start : start + self.batch]:
                        try:
                            drafts.append(self.prep.draft(text, **meta))
                        except InvalidInput:
                            if not skip_invalid:
                                raise
                            drafts.append(None)
                    fresh, seen = [], set()
                    for draft in drafts:
                        if (draft is not None and draft.content_hash not in seen
                                and self.storage.memos.find_by_hash(draft.content_hash) is None):
                            fresh.append(draft)
                            seen.add(draft.content_hash)
                    prepared = {p.draft.content_hash: p for p in self._embed(fresh)}
                    for offset, draft in enumerate(drafts):
                        memo: Memo | None
                        if draft is None:
                            memo, created = None, False
                        elif draft.content_hash in prepared:
                            memo, created = self._store(prepared.pop(draft.content_hash))
                        else:  # stored before, or a repeat of an item earlier in this batch
                            memo, created = self.storage.memos.find_by_hash(draft.content_hash), False
                        results.append((memo, created))
                        if progress:
                            progress(start + offset, memo, created)
            finally:
                self.storage.flush()
        return results

    def ingest_files(self, paths: Iterable[Path], tags: Iterable[str] = (),
                     progress: Callable[[Path, Memo, bool], None] | None = None) -> list[tuple[Memo, bool]]:
        """Ingest memo files and folders (``.txt``/``.md``) in batches (``ingest_many``)."""
        files = find_memo_files(list(paths))
        items = [(read_memo_bytes(path.read_bytes(), name=str(path)), {"source": path.name, "tags": list(tags)})
                 for path in files]
        report = (lambda i, memo, created: progress(files[i], memo, created)) if progress else None
        return self.ingest_many(items, report)  # type: ignore[return-value]

    def seed(self, folder: Path) -> int:
        """Ingest ``folder`` once, on the first start of an empty store; returns how many memos were added."""
        if self.storage.get_meta("seeded") or self.storage.counts()["memos"] or not Path(folder).is_dir():
            return 0
        added = sum(created for _, created in self.ingest_files([Path(folder)]))
        self.storage.set_meta("seeded", "1")
        return added

    def update(self, memo_id: str, text: str, **meta) -> Memo:
        """Replace a memo's text (and any metadata given); metadata not given is kept."""
        current = self.storage.memos.get(memo_id)
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
        memo = self.storage.memos.replace(memo_id, self.prep.prepare(text, **merged))
        self.written(memo)
        return memo

    def reembed_all(self) -> None:
        """Every memo's sentences and chunks embedded again (a new embedder), ``batch`` memos per call."""
        memos, _ = self.storage.memos.page(MemoFilter(), limit=1 << 62, offset=0)
        for start in range(0, len(memos), self.batch):
            stored = [m for m in (self.storage.memos.get(info.id) for info in memos[start : start + self.batch]) if m]
            drafts = [self.prep.draft(m.text, max_chars=len(m.text) + 1, title=m.title, date=m.date, source=m.source,
                                      tags=m.tags) for m in stored]
            for memo, prepared in zip(stored, self.prep.embed(drafts)):
                try:
                    self.storage.memos.replace(memo.id, prepared)
                except NotFound:  # deleted meanwhile
                    pass
            log.info("re-embedded %d of %d memos", min(start + self.batch, len(memos)), len(memos))
