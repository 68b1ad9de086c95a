"""From a question to the sentences worth reading: the best chunks, then their sentences with the
embeddings stored at ingest, all read inside one storage snapshot."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.embedders import Embedder
from service.errors import InvalidInput
from service.ingest.deferred import complete
from service.retrieval.hybrid import RetrievalSettings, search_chunks, term_weights
from service.retrieval.lexical import terms
from service.storage.base import MemoRepository, Storage
from service.types import Hit, MemoFilter, Passage


@dataclass(frozen=True)
class Retrieved:
    """A cleaned question, its embedding, the candidate sentences and the IDF weights of its words;
    ``deeper``: the sentences of the best ``depth`` chunks when a deeper look was asked for (a superset of
    ``passages``), else ``passages`` itself."""

    text: str
    vector: np.ndarray
    passages: list[Passage]
    weights: dict[str, float]
    deeper: list[Passage]


def collect_passages(memos: MemoRepository, embedder: Embedder, hits: list[Hit]) -> list[Passage]:
    """The sentences of the hit chunks with their stored embeddings (embedded now where ingest deferred
    them); a sentence in several hit chunks keeps the closest chunk's cosine as its context."""
    passages: dict[tuple[str, int], Passage] = {}
    texts: dict[str, str | None] = {}
    for hit in hits:
        if hit.memo_id not in texts:
            texts[hit.memo_id] = memos.text(hit.memo_id)
        text = texts[hit.memo_id]
        if text is None:
            continue
        rows = complete(memos.sentences(hit.memo_id, hit.first, hit.last), text, embedder)
        for (idx, start, end), vector in zip(rows.spans, rows.vectors):
            key = (hit.memo_id, idx)
            if key not in passages or passages[key].context < hit.dense:
                passages[key] = Passage(hit.memo_id, start, end, text[start:end], vector, hit.dense)
    return list(passages.values())


def retrieve(storage: Storage, embedder: Embedder, text: str, field_name: str, k: int, where: MemoFilter | None,
             settings: RetrievalSettings, depth: int = 0) -> Retrieved:
    """The sentences of the ``k`` best chunks for ``text`` (InvalidInput naming ``field_name`` when it is
    empty), and with ``depth`` > ``k`` those of the best ``depth`` chunks too (one search: the first ``k``
    are the same either way while ``depth`` is at most ``settings.depth``, the candidates fusion takes
    from each list)."""
    text = " ".join(text.split())
    if not text:
        raise InvalidInput({field_name: [f"{field_name} is empty"]})
    vector = embedder.embed([text])[0]
    # One snapshot for chunks, texts and sentences: an update committed half-way through must not
    # pair the old text with the new sentence offsets (quotes would stop matching the memo).
    with storage.snapshot():
        hits = search_chunks(storage.chunks, vector, text, max(k, depth), where or MemoFilter(), settings)
        passages = collect_passages(storage.memos, embedder, hits[:k])
        deeper = collect_passages(storage.memos, embedder, hits) if len(hits) > k else passages
        weights = term_weights(storage.chunks, terms(text))
    return Retrieved(text, vector, passages, weights, deeper)


def surroundings(memos: MemoRepository, embedder: Embedder, passage: Passage, neighbours: int, lead: int
                 ) -> list[Passage]:
    """``passage`` with ``neighbours`` sentences either side of it and its memo's first ``lead`` sentences, in
    text order (with their stored vectors). Only ``passage`` when its memo changed since it was read."""
    text = memos.text(passage.memo_id)
    if text is None or text[passage.start : passage.end] != passage.text:
        return [passage]
    rows = complete(memos.sentences(passage.memo_id), text, embedder)
    at = next((i for i, (_, start, _) in enumerate(rows.spans) if start == passage.start), None)
    if at is None:
        return [passage]
    wanted = set(range(min(lead, len(rows.spans)))) | set(range(max(0, at - neighbours),
                                                               min(len(rows.spans), at + neighbours + 1)))
    return [passage if i == at else
            Passage(passage.memo_id, rows.spans[i][1], rows.spans[i][2], text[rows.spans[i][1]:rows.spans[i][2]],
                    rows.vectors[i], 0.0)
            for i in sorted(wanted)]
