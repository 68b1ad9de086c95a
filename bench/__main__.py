"""``python -m bench``: measure ingest, /ask and briefs over HTTP, server RSS, vector search at scale and txtai."""
from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.option("--quick", is_flag=True, help="A tiny run (about a minute, no peer): CI's smoke test.")
@click.option("--memos", help="Comma-separated store sizes (default 1000,10000): the first posted over HTTP, "
                               "the rest added with memo ingest.")
@click.option("--vectors", help="Comma-separated vector counts for search alone (default 100000,1000000).")
@click.option("--questions", type=click.IntRange(1), help="Questions per one-client /ask pass (default 200).")
@click.option("--embedder", help="Embedder the served app uses (default minilm-q8).")
@click.option("--peer/--no-peer", default=None, help="Run txtai beside ours (default: on, off with --quick).")
@click.option("--hnsw-max", type=click.IntRange(0), help="Build HNSW only up to this many vectors (default 100000).")
@click.option("--eval-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=lambda: str(Path(__file__).resolve().parent.parent.parent / "shared" / "eval"),
              show_default="../shared/eval", help="Public texts and questions (formats of ../shared/eval/README.md).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON here.")
def main(quick: bool, memos: str | None, vectors: str | None, questions: int | None, embedder: str | None,
         peer: bool | None, hnsw_max: int | None, eval_dir: Path, out: Path | None) -> None:
    """Measure ingest, /ask and brief latency over HTTP, server RSS, vector search at scale and txtai."""
    from dataclasses import replace

    from bench.benchmark import BenchOptions, quick_options, run_bench, write_report

    options = quick_options(eval_dir) if quick else BenchOptions(eval_dir)
    given = {"memos": memos and tuple(int(x) for x in memos.split(",")),
             "vectors": vectors and tuple(int(x) for x in vectors.split(",")),
             "questions": questions, "embedder": embedder, "peer": peer, "hnsw_max": hnsw_max}
    options = replace(options, **{k: v for k, v in given.items() if v is not None})
    result = run_bench(options, "python -m bench " + " ".join(sys.argv[1:]))
    click.echo(write_report(result, out))


if __name__ == "__main__":
    main()
