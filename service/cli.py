"""The ``memo`` command: serve, worker, ingest, ask, brief, topic, list, delete, migrate, eval (heavy imports inside commands)."""
from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import contextmanager
from datetime import date as Date
from pathlib import Path
from typing import Iterator

import click


@contextmanager
def open_engine(data_dir: Path | None = None, llm: bool = True) -> Iterator["Engine"]:  # noqa: F821
    """The engine on ``data_dir`` (default ``MEMO_DATA_DIR``); refuses (exit 1) when a running server
    holds the data dir. ``llm=False``: a command that never generates does not load the LLM (about a second
    and 0.5-2 GB it would not use), whatever ``MEMO_LLM`` says."""
    from service.config import load_config
    from service.engine import build_engine
    from service.errors import MemoError, describe_detail
    from service.storage import preflight

    try:
        # A command is over in seconds: no background brief worker (the server's job), whatever the settings.
        # Nor a sentence filler: memo ingest fills before it exits, and readers fill what they meet.
        overrides: dict = {"BRIEF_WORKER": False, "SENTENCE_FILLER": False}
        if not llm:
            overrides.update(LLM="none", ASK_MODE="extractive")
        if data_dir:
            overrides["DATA_DIR"] = str(data_dir)
        config = load_config(overrides)
        preflight(config)  # a data dir held by a server is refused before seconds of model loading
        engine = build_engine(config)
    except MemoError as exc:
        raise click.ClickException(describe_detail(exc.detail)) from None
    try:
        yield engine
    finally:
        engine.close()


def _fail_on_domain_errors(fn):
    """Show a domain error as one line and exit 1, not a traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from service.errors import MemoError, describe_detail

        try:
            return fn(*args, **kwargs)
        except MemoError as exc:
            detail = describe_detail(exc.detail)
            raise click.ClickException(f"{exc.title}: {detail}" if detail else exc.title) from None

    return wrapper


@click.group()
@click.version_option(package_name="memo-service")
def main() -> None:
    """Memo brief & ask. Data lives in MEMO_DATA_DIR (default ./data)."""


@main.command()
@click.option("--host", default=lambda: os.environ.get("MEMO_HOST", "127.0.0.1"), show_default="127.0.0.1 or MEMO_HOST")
@click.option("--port", type=int, default=lambda: int(os.environ.get("MEMO_PORT", "8000")), show_default="8000 or MEMO_PORT")
@click.option("--threads", type=int, default=lambda: int(os.environ.get("MEMO_THREADS", "4")), show_default="4 or MEMO_THREADS")
@click.option("--workers", type=click.IntRange(min=1), default=None, show_default="1 or MEMO_WORKERS",
              help="gunicorn worker processes, each with its own models; more than one needs MEMO_DATABASE_URL.")
@_fail_on_domain_errors
def serve(host: str, port: int, threads: int, workers: int | None) -> None:
    """Serve the API under gunicorn (worker processes with threads); seeds an empty store first."""
    from service.server import run

    run(host, port, threads, workers)


@main.command()
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Tasks at a time (threads sharing one set of models).")
@click.option("--queues", default="ingest,briefs", show_default=True, help="Queues to take tasks from.")
@_fail_on_domain_errors
def worker(concurrency: int, queues: str) -> None:
    """Run a worker of the queue (MEMO_BROKER_URL) over the shared database (MEMO_DATABASE_URL)."""
    from service.queue.worker import run_worker

    sys.exit(run_worker(concurrency, [q.strip() for q in queues.split(",") if q.strip()]))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--tag", "tags", multiple=True, help="Tag every memo ingested (repeatable).")
@click.option("--server", metavar="URL", help="Send the files to a running server (POST /memos/batch) instead of "
              "opening the data dir.")
@click.option("--token", envvar="MEMO_TOKEN", help="Bearer token for --server (or MEMO_TOKEN).")
@click.option("--batch", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="Memos per request with --server.")
@_fail_on_domain_errors
def ingest(paths: tuple[Path, ...], tags: tuple[str, ...], server: str | None, token: str | None, batch: int) -> None:
    """Ingest memo files (.txt, .md) and folders of them."""
    from service.ingest.parse import find_memo_files

    import time

    files = find_memo_files(list(paths))
    if server:
        _ingest_remote(files, tags, server, token, batch)
        return
    with open_engine(llm=False) as engine:
        with click.progressbar(length=len(files), label="ingesting", file=sys.stderr) as bar:
            chunks = engine.health()["chunks"]
            started = time.perf_counter()
            results = engine.ingest_files(files, tags=tags, progress=lambda *_: bar.update(1))
            seconds = time.perf_counter() - started
            chunks = engine.health()["chunks"] - chunks
        added = sum(created for _, created in results)
        existing = len(results) - added
        click.echo(f"{added} added, {existing} already stored, {len(files)} files; {chunks} chunks in {seconds:.1f} s "
                   f"({added / seconds if seconds else 0:.1f} memos/s, {chunks / seconds if seconds else 0:.1f} chunks/s)")
        # The memos above are stored and searchable; the entities and sentence vectors that ingest deferred
        # follow here.
        read = engine.fill_entities()
        filled = engine.fill_sentences()
        total = time.perf_counter() - started
    if filled or read:
        click.echo(f"entities of {read} memos and {filled} sentence vectors filled after ingest; fully indexed in {total:.1f} s "
                   f"({added / total if total else 0:.1f} memos/s, {chunks / total if total else 0:.1f} chunks/s)")


def _ingest_remote(files: list[Path], tags: tuple[str, ...], server: str, token: str | None, batch: int) -> None:
    """``memo ingest --server``: files through the running server's batch API, with a progress bar."""
    from service.client import ApiError, Client
    from service.ingest.parse import read_memo_bytes

    import time

    memos = [{"text": read_memo_bytes(f.read_bytes(), name=str(f)), "source": f.name[:300],
              **({"tags": list(tags)} if tags else {})} for f in files]
    started, indexed, failed, errors = time.perf_counter(), 0, 0, []
    with click.progressbar(length=len(memos), label="ingesting", file=sys.stderr) as bar:
        try:
            for start, job in zip(range(0, len(memos), batch), Client(server, token).ingest_batches(
                    memos, batch, progress=bar.update)):
                indexed, failed = indexed + job["done"], failed + job["failed"]
                errors += [f"{files[start + e['index']]}: {e['error']}" for e in job["errors"]]
        except ApiError as exc:
            raise click.ClickException(str(exc)) from None
    for line in errors:
        click.echo(line, err=True)
    seconds = time.perf_counter() - started
    click.echo(f"{indexed} indexed, {failed} failed, {len(files)} files in {seconds:.1f} s via {server}")
    if failed:
        sys.exit(1)


@main.command()
@click.argument("question")
@click.option("-k", type=click.IntRange(1, 50), default=5, show_default=True, help="Chunks to retrieve.")
@click.option("--mode", type=click.Choice(["extractive", "generative"]), default="extractive", show_default=True,
              help="generative: the local LLM (MEMO_LLM) answers from the best sentences; it loads first.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@_fail_on_domain_errors
def ask(question: str, k: int, mode: str, as_json: bool) -> None:
    """Ask a question across all memos."""
    from service.api.present import answer_body

    with open_engine(llm=mode == "generative") as engine:
        result, memos = engine.ask(question, k, mode=mode)
    body = answer_body(result, memos)
    if as_json:
        click.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    click.echo("Not in the memos." if body["abstained"] else body["answer"])
    click.echo(f"confidence {body['confidence']:.2f}")
    for c in body["citations"][:3]:
        click.echo(f"  [{c['memo_id']} {c['start']}:{c['end']}] {c['title']!s:.60}\n    \u201c{c['quote']}\u201d")


@main.command()
@click.argument("memo_id")
@click.option("--max-sentences", type=click.IntRange(1, 10), default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@_fail_on_domain_errors
def brief(memo_id: str, max_sentences: int, as_json: bool) -> None:
    """Print a memo's brief."""
    from service.api.present import brief_body

    with open_engine(llm=False) as engine:
        body = brief_body(engine.brief(memo_id, max_sentences), memo_id)
    click.echo(json.dumps(body, indent=2, ensure_ascii=False) if as_json else body["brief"])


def _iso(d) -> str | None:
    return Date.isoformat(d.date()) if d else None


@main.command()
@click.argument("query")
@click.option("-k", type=click.IntRange(1, 50), default=10, show_default=True, help="At most this many memos.")
@click.option("--date-from", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--date-to", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--entity", "entities", multiple=True, help="Only memos that mention it (repeatable: all of them).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@_fail_on_domain_errors
def topic(query: str, k: int, date_from, date_to, entities: tuple[str, ...], as_json: bool) -> None:
    """A dated timeline of the memos about QUERY, one cited sentence each."""
    from service.api.present import topic_body
    from service.types import MemoFilter

    where = MemoFilter(date_from=_iso(date_from), date_to=_iso(date_to), entities=entities)
    with open_engine() as engine:
        body = topic_body(engine.topic(query, k, where))
    if as_json:
        click.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    if body["abstained"]:
        click.echo("Not in the memos.")
        return
    click.echo(body["brief"] + "\n")
    for t in body["timeline"]:
        c = t["citations"][0]
        click.echo(f"{t['date'] or 'undated':10}  {t['point']}\n            [{t['memo_id']} {c['start']}:{c['end']}] {t['title']!s:.60}")


@main.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--tag", "tags", multiple=True)
@click.option("--entity", "entities", multiple=True, help="Memos that mention it (repeatable: all of them).")
@click.option("--date-from", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--date-to", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--json", "as_json", is_flag=True)
@_fail_on_domain_errors
def list_memos(limit: int, offset: int, tags: tuple[str, ...], entities: tuple[str, ...], date_from, date_to,
               as_json: bool) -> None:
    """List memos, newest first."""
    from service.api.present import memo_summary
    from service.types import MemoFilter

    where = MemoFilter(date_from=_iso(date_from), date_to=_iso(date_to), tags=tags, entities=entities)
    with open_engine(llm=False) as engine:
        items, total = engine.list(where, limit, offset)
    if as_json:
        click.echo(json.dumps({"items": [memo_summary(m) for m in items], "total": total}, indent=2))
        return
    for m in items:
        tags = f"  [{', '.join(m.tags)}]" if m.tags else ""
        click.echo(f"{m.id}  {m.date or '-':10}  {m.type or '-':8}  {m.title}{tags}")
    click.echo(f"{len(items)} of {total}", err=True)


@main.command()
@click.argument("memo_ids", nargs=-1, required=True)
@_fail_on_domain_errors
def delete(memo_ids: tuple[str, ...]) -> None:
    """Delete memos with their chunks and vectors."""
    with open_engine(llm=False) as engine:
        for memo_id in memo_ids:
            engine.delete(memo_id)
            click.echo(f"deleted {memo_id}")


@main.command()
@click.option("--to", "url", required=True, metavar="URL",
              help="The PostgreSQL database to fill: postgresql://user:password@host/db (pgvector >= 0.8).")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The embedded data dir to copy (default MEMO_DATA_DIR).")
@_fail_on_domain_errors
def migrate(url: str, data_dir: Path | None) -> None:
    """Copy an embedded data dir (memos, vectors, entities, briefs) into PostgreSQL without embedding again.
    Resumable: memos already in the database are skipped. Counts are checked at the end."""
    from service.config import load_config
    from service.storage.transfer import transfer

    config = load_config({"DATABASE_URL": url})
    source = data_dir or Path(config["DATA_DIR"])
    with click.progressbar(length=1, label="memos", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        report = transfer(source, config, progress)
    click.echo(f"{report.memos} memos in {source}: {report.copied} copied, {report.skipped} already there; "
               f"{report.briefs} briefs. Checked in the database: " +
               ", ".join(f"{n} {k}" for k, n in report.counts.items()))


@main.group("eval")
def evaluate() -> None:
    """Score the service on labelled data (formats of ../shared/eval/README.md).

    Each run ingests the data into a fresh temporary data dir (or --data-dir, reused across runs)
    and goes through the same engine code as the API."""


def _eval_options(fn):
    fn = click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
                      help="Also write the figures as JSON here.")(fn)
    fn = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                      help="Keep the ingested data here (re-runs skip what is already stored).")(fn)
    return fn


@contextmanager
def _eval_engine(data_dir: Path | None, llm: bool = True) -> Iterator["Engine"]:  # noqa: F821
    import tempfile

    if data_dir is not None:
        with open_engine(data_dir, llm) as engine:
            yield engine
        return
    with tempfile.TemporaryDirectory(prefix="memo-eval-") as tmp, open_engine(Path(tmp), llm) as engine:
        yield engine


def _report(title: str, table: list[tuple[str, object]], result: dict, json_out: Path | None) -> None:
    click.echo(title)
    for name, value in table:
        click.echo(f"  {name:34} {value}")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2))


@evaluate.command("retrieval")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_eval_options
def eval_retrieval(folder: Path, json_out: Path | None, data_dir: Path | None) -> None:
    """Retrieval on a BEIR folder: nDCG@10, recall@5/10, MRR@10 (hybrid, dense-only, BM25-only)."""
    from service.evaluation.datasets import read_beir
    from service.evaluation.runner import evaluate_retrieval

    data = read_beir(folder)
    with _eval_engine(data_dir, llm=False) as engine, click.progressbar(
        length=len(data.corpus) + len(data.qrels), label="retrieval", file=sys.stderr
    ) as bar:
        result = evaluate_retrieval(engine, data, progress=bar.update)
    rows = [(f"{mode} {name}", figures[name]) for mode, figures in result.items()
            for name in ("ndcg@10", "recall@5", "recall@10", "mrr@10")]
    _report(f"retrieval {folder} (n={result['hybrid']['n']})", rows, {"data": str(folder), **result}, json_out)


@evaluate.command("qa")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mode", type=click.Choice(["extractive", "generative"]), default="extractive", show_default=True,
              help="generative needs MEMO_LLM.")
@click.option("--limit", type=click.IntRange(1), help="Only the first N questions.")
@click.option("-k", type=click.IntRange(1, 50), default=5, show_default=True)
@_eval_options
def eval_qa(file: Path, mode: str, limit: int | None, k: int, json_out: Path | None, data_dir: Path | None) -> None:
    """Extractive QA: exact match, F1, answer contained, citation support, abstention."""
    from service.evaluation.datasets import read_qa
    from service.evaluation.runner import evaluate_qa

    everything = read_qa(file)
    items = everything[:limit]
    with _eval_engine(data_dir, llm=mode == "generative") as engine, click.progressbar(length=len(items), label="qa", file=sys.stderr) as bar:
        # every context is ingested even with --limit: questions are answered over all of them
        result = evaluate_qa(engine, items, k=k, progress=bar.update, contexts=everything, mode=mode)
    names = ("exact_match", "f1", "answer_contained", "citation_support", "abstained", "abstain_rate_unanswerable",
             "own_context_cited", "confident_wrong", "right_when_answered", "seconds_p50") + (("grounded",) if mode == "generative" else ())
    _report(f"qa {file} mode={mode} (n={result['n']})", [(n, result[n]) for n in names],
            {"data": str(file), "mode": mode, **result}, json_out)


@evaluate.command("summarise")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mode", type=click.Choice(["extractive", "abstractive"]), default="extractive", show_default=True,
              help="abstractive needs MEMO_LLM.")
@click.option("--limit", type=click.IntRange(1))
@click.option("--max-sentences", type=click.IntRange(1, 10), default=3, show_default=True)
@_eval_options
def eval_summarise(file: Path, mode: str, limit: int | None, max_sentences: int, json_out: Path | None,
                   data_dir: Path | None) -> None:
    """Briefs: ROUGE-1/2/Lsum against the references, with Lead-3 from the same run."""
    from service.evaluation.datasets import read_summaries
    from service.evaluation.runner import evaluate_summaries

    items = read_summaries(file)[:limit]
    with _eval_engine(data_dir, llm=mode == "abstractive") as engine, click.progressbar(length=len(items), label="summaries",
                                                             file=sys.stderr) as bar:
        result = evaluate_summaries(engine, items, max_sentences, progress=bar.update, mode=mode)
    rows = [(f"{who} {name}", result[who][name]) for who in ("brief", "lead3") for name in ("rouge1", "rouge2", "rougeLsum")]
    rows += [("mean brief words", result["mean_brief_words"]), ("seconds p50", result["seconds_p50"])]
    if mode == "abstractive":
        rows.append(("extractive fallbacks", result["extractive_fallbacks"]))
    _report(f"summarise {file} mode={mode} (n={result['n']})", rows, {"data": str(file), "mode": mode, **result}, json_out)


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.INFO)
    main()
