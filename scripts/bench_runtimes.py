"""Two local LLM runtimes side by side on the product's model: gpt4all against onnxruntime-genai int4.

The model is Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF, loaded through the product's registry: gpt4all's
llama.cpp backend reads the GGUF as it is (``MEMO_LLM=qwen-0.5b-gpt4all``); onnxruntime-genai runs it after
the product's one-time conversion to int4 ONNX (``qwen-0.5b``, models.llm.conversion).

    .venv/bin/python scripts/bench_runtimes.py --out bench-results/runtimes.json

Each runtime runs in a subprocess of its own, one after the other, with 2 threads and greedy
decoding, on the same prompts: load, RSS (VmHWM: the peak), a warm-up, the product's brief prompt holding
the whole seed memo (a long prompt, 120 tokens), time to first token, prompt and generation speed, the
product's answer prompt for the 4 seed questions (32 tokens, as the product asks; context: the 3 memo
sentences sharing most words with the question) and ROUGE-1/2/Lsum (stemmed, best of the references, as
``memo eval``) of the brief of CNN/DM dev articles from their 3 key sentences (the extractive brief's, as
the product's briefs). This process builds the prompts and scores; workers generate.

Token counts: prompt tokens from the model's tokenizer (the same text for both runtimes); generated tokens
are the streamed pieces (one per token but for a character split over tokens). Prompt tok/s is prompt
tokens over time to first token; gen tok/s is pieces after the first over the time after it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repo's models and service packages, when run as a script

from models.cache import package_versions as versions  # noqa: E402
from models.llm.spec import chatml  # noqa: E402

MODEL = "qwen-0.5b"

EVAL = ROOT.parent / "shared" / "eval"
SEED_QUESTIONS = (
    "Which Russian military sites in Syria are mentioned?",
    "When did Russia intervene militarily in Syria?",
    "What will Damascus and Moscow sign?",
    "What did Assad say about Ukraine?",
)
BRIEF_TOKENS, ANSWER_TOKENS, THREADS = 120, 32, 2
_STOP = frozenset("a an and are as at by did do for from has have in is it its of on or the to was what when "
                  "where which who why will with".split())


@dataclass(frozen=True)
class Job:
    """One prompt for a worker."""

    id: str
    prompt: str
    max_tokens: int


@dataclass(frozen=True)
class Generation:
    """One timed generation: wall time, time to the first streamed piece, pieces, text."""

    id: str
    seconds: float
    first_token_s: float
    pieces: int
    text: str


@dataclass(frozen=True)
class WorkerResult:
    runtime: str
    versions: dict[str, str]
    load_s: float
    warmup_s: float
    rss_after_load_mb: float
    peak_rss_mb: float
    prompt_tokens: dict[str, int] | None  # from the runtime's tokenizer, where it has one to ask
    generations: tuple[Generation, ...]


class EchoGenerator:
    """A deterministic stand-in to check the plumbing without a model: the prompt's last words."""

    name = "echo"

    def count_tokens(self, prompt: str) -> int:
        return len(chatml(prompt).split())

    def generate(self, prompt: str, max_tokens: int) -> str:
        return "".join(self.stream(prompt, max_tokens))

    def stream(self, prompt: str, max_tokens: int) -> Iterator[str]:
        for word in prompt.split()[-max_tokens:]:
            yield word + " "


def _registered(name: str) -> Callable[[], object]:
    def load() -> object:
        from models import get_generator

        return get_generator(name)

    return load


# runtime name -> (loader, packages whose versions to report)
RUNTIMES: dict[str, tuple[Callable[[], object], tuple[str, ...]]] = {
    "gpt4all": (_registered(f"{MODEL}-gpt4all"), ("gpt4all",)),
    "ort-genai": (_registered(MODEL), ("onnxruntime-genai", "onnxruntime")),
    "echo": (EchoGenerator, ()),
}


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc (``VmRSS`` now, ``VmHWM`` its peak), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def timed(generator, job: Job) -> Generation:
    started = time.perf_counter()
    first, pieces = None, []
    for piece in generator.stream(job.prompt, job.max_tokens):
        if first is None:
            first = time.perf_counter() - started
        pieces.append(piece)
    seconds = time.perf_counter() - started
    return Generation(job.id, round(seconds, 4), round(seconds if first is None else first, 4), len(pieces),
                      "".join(pieces))


def run_worker(runtime: str, jobs_file: Path, result_file: Path) -> None:
    """In a process of its own: load, warm up, run every job, write a WorkerResult."""
    jobs = [Job(**j) for j in json.loads(jobs_file.read_text())]
    load, packages = RUNTIMES[runtime]
    started = time.perf_counter()
    generator = load()
    load_s, rss_after_load = time.perf_counter() - started, status_mb("VmRSS")
    warmup = timed(generator, Job("warmup", "Say hello.", 8))  # first-call set-up stays out of the figures
    generations = []
    for job in jobs:
        generations.append(timed(generator, job))
        print(f"[{runtime}] {job.id}: {generations[-1].seconds:.1f}s", file=sys.stderr, flush=True)
    count = getattr(generator, "count_tokens", None)
    result = WorkerResult(runtime, versions(*packages), round(load_s, 2), warmup.seconds, rss_after_load,
                          status_mb("VmHWM"), {j.id: count(j.prompt) for j in jobs} if count else None,
                          tuple(generations))
    result_file.write_text(json.dumps(asdict(result)))


# ---------------------------------------------------------------- prompts (the product's own)

def seed_memo() -> str:
    from service.ingest.parse import normalise_text, parse_header

    text = normalise_text(sorted((ROOT / "seeds").glob("*.txt"))[0].read_text(encoding="utf-8"))
    return text[parse_header(text).end:].strip()


def _words(text: str) -> set[str]:
    # a 5-letter prefix is a crude stem: "intervene" meets "intervened", "militarily" meets "military"
    return {w[:5] for w in re.findall(r"\w+", text.lower()) if w not in _STOP}


def context_for(question: str, sentences: list[str], k: int = 3) -> list[str]:
    """The ``k`` sentences sharing most (non-stop, prefix-stemmed) words with the question, in memo order."""
    q = _words(question)
    best = sorted(range(len(sentences)), key=lambda i: (-len(q & _words(sentences[i])), i))[:k]
    return [sentences[i] for i in sorted(best)]


def key_sentences(text: str, splitter, embedder) -> list[str]:
    """What the product's brief prompt holds: the extractive brief's 3 sentences (service.brief)."""
    from service.brief.key_sentences import BriefSettings, make_brief

    spans = splitter.spans(text)
    vectors = embedder.embed([text[s:e] for s, e in spans])
    return [s.text for s in make_brief(text, spans, vectors, 3, BriefSettings()).sentences]


def build_jobs(articles: list[dict]) -> list[Job]:
    """The seed brief reads the whole memo (a long prompt, to time prompt processing); the CNN/DM briefs
    read the key sentences, as the product's do."""
    from models import get_embedder
    from models.nlp.sentences import SentenceSplitter
    from service.llm.prompts import answer_prompt, brief_prompt

    splitter, embedder = SentenceSplitter(), get_embedder("minilm-int8")
    memo = seed_memo()
    sentences = [memo[s:e] for s, e in splitter.spans(memo)]
    jobs = [Job("brief:seed", brief_prompt([memo]), BRIEF_TOKENS)]
    jobs += [Job(f"answer:{i}", answer_prompt(q, context_for(q, sentences)), ANSWER_TOKENS)
             for i, q in enumerate(SEED_QUESTIONS)]
    jobs += [Job(f"cnndm:{a['doc_id']}", brief_prompt(key_sentences(a["document"], splitter, embedder)), BRIEF_TOKENS)
             for a in articles]
    return jobs


# ---------------------------------------------------------------- the benchmark (the repo's venv)

def _env() -> dict[str, str]:
    return os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": str(THREADS)}


def converted() -> dict:
    """The stamp of the product's converted model, converting first (as the product does) when needed."""
    from models.cache import default_cache_dir
    from models.llm.conversion import converted_dir, ensure_converted, stamp_problem
    from models.llm.package import assemble
    from models.llm.spec import SPECS

    spec, cache = SPECS[MODEL], default_cache_dir()
    problem = stamp_problem(spec, converted_dir(spec, cache))
    model_dir = ensure_converted(spec, assemble(spec, cache), cache)
    meta = json.loads((model_dir / "stamp.json").read_text())
    return meta | {"converted_in_this_run": bool(problem), "onnx_mb": round(sum(meta["files"].values()) / 2**20, 1)}


def run_runtime(runtime: str, jobs_file: Path) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, __file__, "--worker", runtime, "--jobs", str(jobs_file), "--result", out.name],
                       check=True, env=_env())
        return json.loads(Path(out.name).read_text())


def _rate(count: float, seconds: float) -> float:
    return round(count / max(seconds, 1e-4), 1)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 3)


def summarise(result: dict, prompt_tokens: dict[str, int], articles: list[dict]) -> dict:
    """One runtime's figures from its raw generations."""
    from models.nlp.sentences import SentenceSplitter
    from service.evaluation.metrics import Rouge

    gens = {g["id"]: g for g in result["generations"]}
    seed = gens["brief:seed"]
    answers = [gens[f"answer:{i}"] for i in range(len(SEED_QUESTIONS))]
    briefs = [gens[f"cnndm:{a['doc_id']}"] for a in articles]
    splitter, rouge, scores = SentenceSplitter(), Rouge(), {}
    for article, gen in zip(articles, briefs):
        refs = [[r[s:e] for s, e in splitter.spans(r)] for r in article["references"]]
        for name, value in rouge.score([gen["text"][s:e] for s, e in splitter.spans(gen["text"])], refs).items():
            scores.setdefault(name, []).append(value)

    def prefill(g: dict) -> float | None:
        return _rate(prompt_tokens[g["id"]], g["first_token_s"]) if prompt_tokens else None

    def decode(g: dict) -> float:
        return _rate(g["pieces"] - 1, g["seconds"] - g["first_token_s"])

    long_outputs = [g for g in [seed, *briefs] if g["pieces"] > 1]
    return {
        **{k: result[k] for k in ("runtime", "versions", "load_s", "warmup_s", "rss_after_load_mb", "peak_rss_mb")},
        "seed_brief": {"seconds": seed["seconds"], "first_token_s": seed["first_token_s"],
                       "prompt_tokens": prompt_tokens.get("brief:seed"), "generated_pieces": seed["pieces"],
                       "prompt_tok_s": prefill(seed), "gen_tok_s": decode(seed) if seed["pieces"] > 1 else None,
                       "text": seed["text"]},
        "prompt_tok_s_median": statistics.median(prefill(g) for g in [seed, *answers, *briefs]) if prompt_tokens else None,
        "gen_tok_s_median": statistics.median(decode(g) for g in long_outputs) if long_outputs else None,
        "answers": {"n": len(answers), "p50_s": _pct([g["seconds"] for g in answers], 50),
                    "max_s": max(g["seconds"] for g in answers),
                    "first_token_p50_s": _pct([g["first_token_s"] for g in answers], 50),
                    "rows": [{"question": q, "seconds": g["seconds"], "first_token_s": g["first_token_s"],
                              "answer": g["text"].strip()} for q, g in zip(SEED_QUESTIONS, answers)]},
        "cnndm": {"n": len(briefs), "rouge": {k: round(statistics.fmean(v), 4) for k, v in scores.items()},
                  "brief_p50_s": _pct([g["seconds"] for g in briefs], 50),
                  "mean_words": round(statistics.fmean(len(g["text"].split()) for g in briefs), 1),
                  "briefs": [g["text"] for g in briefs]},
    }


TABLE: tuple[tuple[str, Callable[[dict], object]], ...] = (
    ("load (s)", lambda r: r["load_s"]),
    ("RSS after load (MB)", lambda r: r["rss_after_load_mb"]),
    ("peak RSS, VmHWM (MB)", lambda r: r["peak_rss_mb"]),
    ("seed brief, end to end (s)", lambda r: r["seed_brief"]["seconds"]),
    ("seed brief, first token (s)", lambda r: r["seed_brief"]["first_token_s"]),
    ("seed brief, prompt tokens", lambda r: r["seed_brief"]["prompt_tokens"]),
    ("seed brief, generated pieces", lambda r: r["seed_brief"]["generated_pieces"]),
    ("seed brief, prompt tok/s", lambda r: r["seed_brief"]["prompt_tok_s"]),
    ("seed brief, gen tok/s", lambda r: r["seed_brief"]["gen_tok_s"]),
    ("prompt tok/s, median of all", lambda r: r["prompt_tok_s_median"]),
    ("gen tok/s, median of briefs", lambda r: r["gen_tok_s_median"]),
    ("answer p50 / max (s)", lambda r: f"{r['answers']['p50_s']} / {r['answers']['max_s']}"),
    ("answer first token p50 (s)", lambda r: r["answers"]["first_token_p50_s"]),
    ("CNN/DM brief p50 (s)", lambda r: r["cnndm"]["brief_p50_s"]),
    ("CNN/DM brief mean words", lambda r: r["cnndm"]["mean_words"]),
    ("CNN/DM ROUGE-1", lambda r: r["cnndm"]["rouge"].get("rouge1")),
    ("CNN/DM ROUGE-2", lambda r: r["cnndm"]["rouge"].get("rouge2")),
    ("CNN/DM ROUGE-Lsum", lambda r: r["cnndm"]["rouge"].get("rougeLsum")),
)


def table(runs: list[dict]) -> str:
    width = max(len(label) for label, _ in TABLE)
    lines = [f"| {'':{width}} | " + " | ".join(f"{r['runtime']:>13}" for r in runs) + " |",
             f"|{'-' * (width + 2)}|" + "|".join("-" * 15 for _ in runs) + "|"]
    lines += [f"| {label:{width}} | " + " | ".join(f"{str(get(r)):>13}" for r in runs) + " |" for label, get in TABLE]
    return "\n".join(lines)


def run_benchmark(args: argparse.Namespace) -> None:
    rows = (EVAL / "summ_cnndm_dev.jsonl").read_text().splitlines()
    articles = [json.loads(line) for line in rows][:args.articles]
    jobs = build_jobs(articles)
    started = time.perf_counter()
    conversion = converted() if "ort-genai" in args.runtimes else None
    with tempfile.TemporaryDirectory() as tmp:
        jobs_file = Path(tmp) / "jobs.json"
        jobs_file.write_text(json.dumps([asdict(j) for j in jobs]))
        raw = [run_runtime(name, jobs_file) for name in args.runtimes]
    # the same prompt text for every runtime, so one tokenizer's counts serve all
    prompt_tokens = next((r["prompt_tokens"] for r in raw if r["prompt_tokens"]), {})
    runs = [summarise(r, prompt_tokens, articles) for r in raw]
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "command": "scripts/bench_runtimes.py " + " ".join(sys.argv[1:]),
        "model": MODEL, "threads": THREADS, "brief_tokens": BRIEF_TOKENS, "answer_tokens": ANSWER_TOKENS,
        "articles": len(articles), "ort_conversion": conversion, "wall_s": round(time.perf_counter() - started, 1),
        "runtimes": runs,
    }
    print(table(runs))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", nargs="+", default=["gpt4all", "ort-genai"], choices=sorted(RUNTIMES))
    parser.add_argument("--articles", type=int, default=10, help="CNN/DM dev articles to brief and score")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--worker", choices=sorted(RUNTIMES), help=argparse.SUPPRESS)  # what subprocesses run
    parser.add_argument("--jobs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker, args.jobs, args.result)
    elif not EVAL.is_dir():
        sys.exit(f"needs the dev data in {EVAL}")
    else:
        run_benchmark(args)


if __name__ == "__main__":
    main()
