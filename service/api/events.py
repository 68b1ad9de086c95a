"""Server-sent events for a streamed generative answer: ``token`` events, then one ``answer`` event."""
from __future__ import annotations

import itertools
import json
from typing import Iterator

from flask import Response, stream_with_context

from service.engine import Engine
from service.errors import MemoError
from service.api.present import answer_body
from service.types import MemoFilter


def _event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def stream_answer(engine: Engine, question: str, k: int, where: MemoFilter) -> Response:
    """Start the stream only once the model is ours: an error before the first token (no LLM, model busy,
    bad question) is still a plain JSON error with its status."""
    items = engine.ask_stream(question, k, where)
    first = next(items)  # retrieval, and the wait for the generation slot, happen here

    def events() -> Iterator[str]:
        try:
            for item in itertools.chain([first], items):
                if isinstance(item, str):
                    yield _event("token", {"text": item})
                else:
                    answer, memos = item
                    yield _event("answer", answer_body(answer, memos))
        except MemoError as exc:  # after the headers are out, an error can only be an event
            yield _event("error", {"error": exc.title, "detail": exc.detail})
        finally:
            items.close()

    return Response(stream_with_context(events()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
