"""Configuration defaults. Layers: these, then ``MEMO_*`` environment variables, then test overrides."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from service.api.schemas import ERROR_SCHEMA

REPO_SEEDS = Path(__file__).resolve().parent.parent / "seeds"

DEFAULTS: dict[str, object] = {
    # where the SQLite store and the FAISS index live (the embedded backend)
    "DATA_DIR": "data",
    # a database server instead of the data dir, by URL (service.storage's registry); unset: embedded.
    # postgresql://user:password@host:5432/db (or ?host=/socket/dir): PostgreSQL >= 15 with pgvector >= 0.8
    "DATABASE_URL": None,
    # PostgreSQL: connections per process (kept open, at most), seconds a request waits for one (or for the
    # server at start) before a 503, and HNSW candidates per dense search (hnsw.ef_search, at least k)
    "DATABASE_POOL_MIN": 1,
    "DATABASE_POOL_MAX": 10,
    "DATABASE_TIMEOUT_S": 5,
    "DATABASE_EF_SEARCH": 100,
    # memos ingested on the first start of an empty store (None: no seeding)
    "SEEDS_DIR": str(REPO_SEEDS),
    # "minilm-q8" (int8 MatMuls, onnxruntime; no torch), "minilm-s8" (int8 MatMuls with static activation
    # scales: batches; no faster here), "minilm-int8" (the packaged int8-weight ONNX, fp32 arithmetic) or
    # "minilm" (fp32, sentence-transformers + torch)
    "EMBEDDER": "minilm-q8",
    # vector index: exact Flat up to this many chunks, IVF (nprobe probes) beyond; measured with python -m bench
    "INDEX_FLAT_MAX": 30_000,
    "INDEX_NPROBE": 32,
    # unsaved index changes are written at most this often, in the background (0: after every write)
    "INDEX_SAVE_S": 10,
    # memos embedded per call by memo ingest and seeding
    "INGEST_BATCH": 16,
    # store (acknowledge) a new memo once its chunks are embedded; its sentence vectors follow in a
    # background thread when ingest is quiet, and a reader embeds any still missing on the spot
    "DEFER_SENTENCES": True,
    # acknowledge a new memo before its entities are read; the filler (or a read that needs them) reads them
    "DEFER_ENTITIES": True,
    # the background thread that fills what ingest deferred (memo commands fill before they exit)
    "SENTENCE_FILLER": True,
    # candidate phrases for short answers: "spacy" (parser + NER) or "none" (whole sentences)
    "PHRASES": "spacy",
    # named-entity model registry name ("none" switches entity extraction off)
    "ENTITIES": "spacy",
    # the local LLM tier: a models.llm.CHOICES name ("qwen-0.5b", "qwen-1.5b", "qwen-0.5b-gpt4all",
    # "qwen-1.5b-gpt4all") or "none" (extractive only, loads nothing). qwen-1.5b: the reader measured right
    # most often within the 4 s budget (docs/quality.md, "Which mode by default"); its one-time conversion
    # needs about 17 GB of memory, qwen-0.5b's about 6.5 GB
    "LLM": "qwen-1.5b",
    # what POST /ask does when a request names no mode: "extractive", "generative" (needs an LLM) or "auto":
    # the mode measured most often right for the LLM (GENERATIVE_READERS), extractive without one
    "ASK_MODE": "auto",
    # generative answers: the model also reads questions whose support is below ABSTAIN_BELOW down to this
    # ("none": never), sentences down to 0.2, and an answer stands only when grounded, of the asked-for type
    # and confirmed by the model (with its odds of answering and the support). "auto": the LLM's measured
    # setting, 0.3 for qwen-1.5b, never for the others (qwen-0.5b's confirmation does not tell right from
    # wrong; docs/quality.md)
    "LLM_ASK_BELOW": "auto",
    # with an LLM: write abstractive briefs in a background thread after ingest
    "BRIEF_WORKER": True,
    # one generation at a time: a request waits this long for the model, at most this many wait, then 503
    "LLM_WAIT_S": 30,
    "LLM_MAX_WAITING": 4,
    "LLM_RETRY_AFTER_S": 10,
    # background briefs start only after this many seconds without a request for the model, so that a run of
    # requests is not slowed by briefs started between them (each would wait for a started brief to give way)
    "LLM_QUIET_S": 2.0,
    "CHUNK_TOKENS": 128,
    "CHUNK_OVERLAP": 1,
    "ABSTAIN_BELOW": 0.70,
    # input limits (422 above them). A memo's ingest time grows with its length: on 2 CPU cores a
    # 500k-character single-line memo took 66-77 s in three runs (scripts/long_memo.py).
    "MAX_MEMO_CHARS": 500_000,
    "MAX_QUESTION_CHARS": 1000,
    "MAX_K": 50,
    "MAX_PAGE": 100,
    # memos one POST /memos/batch may carry (each as POST /memos; the body stays under MAX_CONTENT_LENGTH)
    "BATCH_MAX_MEMOS": 500,
    # Flask: request bodies above this get 413 (room for the longest memo even as \uXXXX-escaped JSON)
    "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,
    # bearer tokens, comma-separated, and/or a file of them (one a line); none at all: auth is off
    "API_TOKENS": "",
    "API_TOKEN_FILE": None,
    # with tokens set every API call needs one; true opens the cheap reads (lists, memos, extractive
    # answers and briefs) to all. Writes and anything that runs the LLM always need a token.
    "PUBLIC_READS": False,
    # per token (or client address) on the API; "off" disables. Flask-Limiter reads RATELIMIT_STORAGE_URI.
    "RATELIMIT": "300 per minute",
    "RATELIMIT_STORAGE_URI": None,  # unset: REDIS_URL when set (limits shared by every replica), else memory
    # a Redis server the replicas share (redis://host:6379/0): rate-limit counters
    "REDIS_URL": None,
    # the worker tier: a Celery broker (redis://host:6379/1) turns it on over a shared database. Batch jobs and
    # abstractive briefs then run in `memo worker` processes; unset (or the embedded backend): in this process
    "BROKER_URL": None,
    # Redis re-delivers a message not acknowledged after this long: above the slowest task (a batch of 16
    # memos of 500k characters, ~20 min on 2 cores; a brief, seconds)
    "BROKER_VISIBILITY_TIMEOUT_S": 7200,
    # memo worker: a claimed job item's lease (renewed every quarter of it while the worker lives), how often
    # the sweeper looks for work with no live owner, how long an item waits unclaimed with the broker's queue
    # empty before it is sent again (its task was lost), and claims of one item before it fails
    "WORKER_LEASE_S": 60,
    "WORKER_SWEEP_S": 30,
    "WORKER_REQUEUE_S": 120,
    "WORKER_MAX_ATTEMPTS": 5,
    # APIFlask: OpenAPI and the docs page, served offline
    "VALIDATION_ERROR_SCHEMA": ERROR_SCHEMA,
    "HTTP_ERROR_SCHEMA": ERROR_SCHEMA,
    "SWAGGER_UI_CSS": "/docs/assets/swagger-ui.css",
    "SWAGGER_UI_BUNDLE_JS": "/docs/assets/swagger-ui-bundle.js",
    "SWAGGER_UI_STANDALONE_PRESET_JS": "/docs/assets/swagger-ui-standalone-preset.js",
    "DOCS_FAVICON": "/docs/assets/favicon-32x32.png",
}

# from_prefixed_env reads values as JSON where it can (MEMO_API_TOKENS=1234 would become an int):
# these are taken verbatim.
VERBATIM = ("API_TOKENS", "API_TOKEN_FILE", "RATELIMIT", "RATELIMIT_STORAGE_URI", "REDIS_URL", "DATA_DIR", "SEEDS_DIR", "DATABASE_URL",
            "BROKER_URL")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The three layers as one mapping (the app factory and the CLI read the same settings)."""
    from flask import Config

    config = Config(os.getcwd())
    config.from_mapping(DEFAULTS)
    config.from_prefixed_env("MEMO")
    for key in VERBATIM:
        if f"MEMO_{key}" in os.environ:
            config[key] = os.environ[f"MEMO_{key}"]
    if overrides:
        config.from_mapping(overrides)
    return dict(config)


ASK_MODES = ("auto", "extractive", "generative")
# The LLMs whose generative answers were measured right more often than the extractive ones on the news dev
# set and XQuAD dev, with the same abstentions and within the 4 s budget: ``auto`` asks them by default
# (docs/quality.md, "Which mode by default"). qwen-0.5b is not among them: as often right as the extractive
# tier on news, less often on XQuAD.
GENERATIVE_READERS = frozenset({"qwen-1.5b"})


def ask_mode(config: Mapping[str, Any]) -> str:
    """The /ask mode a request that names none gets: ``ASK_MODE``, with ``auto`` resolved by the LLM
    (generative for ``GENERATIVE_READERS``, else extractive). ``generative`` without an LLM is refused at start
    rather than at every request."""
    mode = str(config.get("ASK_MODE", DEFAULTS["ASK_MODE"])).strip().lower()
    llm_on = str(config.get("LLM", "none")).strip().lower() != "none"
    if mode not in ASK_MODES:
        raise ValueError(f"MEMO_ASK_MODE: expected one of {', '.join(ASK_MODES)}, not {config.get('ASK_MODE')!r}")
    if mode == "generative" and not llm_on:
        raise ValueError("MEMO_ASK_MODE=generative needs the local LLM (MEMO_LLM=qwen-0.5b or qwen-1.5b)")
    if mode == "auto":
        return "generative" if str(config.get("LLM", "none")).strip().lower() in GENERATIVE_READERS else "extractive"
    return mode


def llm_ask_below(config: Mapping[str, Any]) -> float | str | None:
    """``LLM_ASK_BELOW`` as a support in [0, 1), "auto" (unset or "auto": the LLM's own measured setting,
    ``service.llm.writer.ANSWER_SETTINGS``) or None ("none" or empty: never)."""
    value = config.get("LLM_ASK_BELOW", "auto")
    if value is None or str(value).strip().lower() == "auto":
        return "auto"
    if str(value).strip().lower() in ("", "none"):
        return None
    below = float(value)
    if not 0.0 <= below < 1.0:
        raise ValueError(f"MEMO_LLM_ASK_BELOW must be a support in [0, 1) or none, not {value!r}")
    return below


def flag(config: Mapping[str, Any], key: str) -> bool:
    """A yes/no setting given as a bool, 0/1 or a word (true/false, yes/no, on/off)."""
    value = config.get(key)
    if isinstance(value, bool) or value is None:
        return bool(value)
    word = str(value).strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ValueError(f"MEMO_{key}: expected true or false, not {value!r}")
