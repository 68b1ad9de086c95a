"""The ``memo`` command: serve, ingest, ask, brief, list, delete (heavy imports happen inside commands)."""
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
def open_engine() -> Iterator["Engine"]:  # noqa: F821
    """The engine on ``MEMO_DATA_DIR``; refuses (exit 1) when a running server holds the data dir."""
    from service.config import load_config
    from service.engine import build_engine
    from service.errors import MemoError

    try:
        engine = build_engine(load_config())
    except MemoError as exc:
        raise click.ClickException(str(exc.detail)) from None
    try:
        yield engine
    finally:
        engine.close()


def _fail_on_domain_errors(fn):
    """Show a domain error as one line and exit 1, not a traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from service.errors import MemoError

        try:
            return fn(*args, **kwargs)
        except MemoError as exc:
            raise click.ClickException(f"{exc.title}: {exc.detail}") from None

    return wrapper


@click.group()
@click.version_option(package_name="memo-service")
def main() -> None:
    """Memo brief & ask. Data lives in MEMO_DATA_DIR (default ./data)."""


@main.command()
@click.option("--host", default=lambda: os.environ.get("MEMO_HOST", "127.0.0.1"), show_default="127.0.0.1 or MEMO_HOST")
@click.option("--port", type=int, default=lambda: int(os.environ.get("MEMO_PORT", "8000")), show_default="8000 or MEMO_PORT")
@click.option("--threads", type=int, default=lambda: int(os.environ.get("MEMO_THREADS", "4")), show_default="4 or MEMO_THREADS")
@_fail_on_domain_errors
def serve(host: str, port: int, threads: int) -> None:
    """Serve the API under gunicorn (one worker, threads); seeds an empty store first."""
    from service.server import run

    run(host, port, threads)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--tag", "tags", multiple=True, help="Tag every memo ingested (repeatable).")
@_fail_on_domain_errors
def ingest(paths: tuple[Path, ...], tags: tuple[str, ...]) -> None:
    """Ingest memo files (.txt, .md) and folders of them."""
    from service.ingest import find_memo_files

    files = find_memo_files(list(paths))
    with open_engine() as engine, click.progressbar(length=len(files), label="ingesting", file=sys.stderr) as bar:
        results = engine.ingest_files(files, tags=tags, progress=lambda *_: bar.update(1))
    added = sum(created for _, created in results)
    existing = len(results) - added
    click.echo(f"{added} added, {existing} already stored, {len(files)} files")


@main.command()
@click.argument("question")
@click.option("-k", type=click.IntRange(1, 50), default=5, show_default=True, help="Chunks to retrieve.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@_fail_on_domain_errors
def ask(question: str, k: int, as_json: bool) -> None:
    """Ask a question across all memos."""
    from service.present import answer_body

    with open_engine() as engine:
        result, memos = engine.ask(question, k)
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
    from service.present import brief_body

    with open_engine() as engine:
        body = brief_body(engine.brief(memo_id, max_sentences), memo_id)
    click.echo(json.dumps(body, indent=2, ensure_ascii=False) if as_json else body["brief"])


@main.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--tag", "tags", multiple=True)
@click.option("--date-from", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--date-to", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--json", "as_json", is_flag=True)
def list_memos(limit: int, offset: int, tags: tuple[str, ...], date_from, date_to, as_json: bool) -> None:
    """List memos, newest first."""
    from service.present import memo_summary
    from service.store import MemoFilter

    def iso(d) -> str | None:
        return Date.isoformat(d.date()) if d else None

    with open_engine() as engine:
        items, total = engine.list(MemoFilter(date_from=iso(date_from), date_to=iso(date_to), tags=tags), limit, offset)
    if as_json:
        click.echo(json.dumps({"items": [memo_summary(m) for m in items], "total": total}, indent=2))
        return
    for m in items:
        click.echo(f"{m.id}  {m.date or '-':10}  {m.type or '-':8}  {m.title}")
    click.echo(f"{len(items)} of {total}", err=True)


@main.command()
@click.argument("memo_ids", nargs=-1, required=True)
@_fail_on_domain_errors
def delete(memo_ids: tuple[str, ...]) -> None:
    """Delete memos with their chunks and vectors."""
    with open_engine() as engine:
        for memo_id in memo_ids:
            engine.delete(memo_id)
            click.echo(f"deleted {memo_id}")


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.INFO)
    main()
