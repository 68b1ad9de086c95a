"""The ``memo`` command in-process (click's runner) on the fake embedder."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from service.cli import main
from tests.test_engine import MEMO_A, MEMO_B


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MEMO_EMBEDDER", "fake")
    monkeypatch.setenv("MEMO_LLM", "none")
    monkeypatch.setenv("MEMO_ENTITIES", "fake")
    return CliRunner()


def test_ingest_list_ask_brief_delete(runner, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text(MEMO_A)
    (folder / "b.md").write_text(MEMO_B)
    (folder / "skip.png").write_bytes(b"\x89PNG")
    r = runner.invoke(main, ["ingest", str(folder), "--tag", "batch"])
    assert r.exit_code == 0, r.output
    assert "2 added, 0 already stored, 2 files" in r.output
    assert "1 added" not in runner.invoke(main, ["ingest", str(folder / "a.txt")]).output

    listed = json.loads(runner.invoke(main, ["list", "--json"]).output)
    assert listed["total"] == 2 and all(m["tags"] == ["batch"] for m in listed["items"])
    memo_a = next(m for m in listed["items"] if m["source"] == "a.txt")

    r = runner.invoke(main, ["ask", "--json", "What did engineers add to the harbour?"])
    body = json.loads(r.output)
    assert body["citations"][0]["memo_id"] == memo_a["id"]

    r = runner.invoke(main, ["brief", memo_a["id"]])
    assert r.exit_code == 0 and "harbour of Tartus" in r.output

    r = runner.invoke(main, ["delete", memo_a["id"]])
    assert r.exit_code == 0 and json.loads(runner.invoke(main, ["list", "--json"]).output)["total"] == 1
    r = runner.invoke(main, ["delete", memo_a["id"]])
    assert r.exit_code == 1 and "no memo" in r.output


def test_ask_prints_not_in_the_memos(runner, tmp_path):
    (tmp_path / "a.txt").write_text(MEMO_A)
    runner.invoke(main, ["ingest", str(tmp_path / "a.txt")])
    r = runner.invoke(main, ["ask", "boiling point of mercury"])
    assert r.exit_code == 0 and r.output.startswith("Not in the memos.")


def test_topic_and_entity_filter(runner, tmp_path):
    (tmp_path / "a.txt").write_text(MEMO_A)
    (tmp_path / "b.txt").write_text("2 Feb 2023; NOTE: Putin visited the naval harbour of Tartus. Ships were inspected.")
    assert runner.invoke(main, ["ingest", str(tmp_path)]).exit_code == 0
    listed = json.loads(runner.invoke(main, ["list", "--entity", "putin", "--json"]).output)
    assert [m["source"] for m in listed["items"]] == ["b.txt"]
    r = runner.invoke(main, ["topic", "harbour of Tartus"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    dated = [line for line in lines if line[:4] in ("2023", "2024") and line[10:12] == "  "]
    assert [line[:10] for line in dated] == ["2023-02-02", "2024-01-12"]
    body = json.loads(runner.invoke(main, ["topic", "--json", "--entity", "putin", "harbour of Tartus"]).output)
    assert len(body["timeline"]) == 1 and body["timeline"][0]["date"] == "2023-02-02"
    assert runner.invoke(main, ["topic", "boiling point of mercury"]).output.strip() == "Not in the memos."


def test_help_is_fast_and_imports_nothing_heavy():
    code = "import sys, service.cli; sys.exit(any(m in sys.modules for m in ('torch', 'faiss', 'apiflask')))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_commands_never_start_the_background_brief_worker(runner, monkeypatch, tmp_path):
    """A command with the LLM on still uses it for what it is asked, but leaves background briefs to the
    server: a one-shot process would otherwise spend its life briefing memos nobody asked about."""
    from service.cli import open_engine

    monkeypatch.setenv("MEMO_LLM", "fake")
    monkeypatch.setenv("MEMO_BRIEF_WORKER", "true")
    with open_engine(tmp_path / "data") as engine:
        assert engine.writer is not None and engine.worker is None


def test_commands_that_never_generate_do_not_load_the_llm(runner, monkeypatch, tmp_path):
    """``memo ingest``, ``ask``, ``brief``, ``list``, ``delete`` and the extractive evals leave the LLM unloaded
    (a second and up to 2 GB for nothing); a generative eval loads it."""
    import models
    from service import cli
    from tests.fakes import ScriptedGenerator

    loads = []
    monkeypatch.setitem(models.GENERATORS._factories, "counting", lambda: loads.append(1) or ScriptedGenerator())
    monkeypatch.setenv("MEMO_LLM", "counting")
    monkeypatch.setenv("MEMO_DATA_DIR", str(tmp_path / "data"))
    memo = tmp_path / "memo.txt"
    memo.write_text("In 2015 Russia intervened in Syria. The Hmeimim base is near Latakia.")
    assert runner.invoke(cli.main, ["ingest", str(memo)]).exit_code == 0
    assert runner.invoke(cli.main, ["ask", "When did Russia intervene?"]).exit_code == 0
    assert runner.invoke(cli.main, ["list"]).exit_code == 0
    assert loads == []
    with cli._eval_engine(tmp_path / "eval", llm=True) as engine:
        assert engine.writer is not None
    assert loads == [1]


def test_invalid_input_prints_the_field_and_its_message(runner, tmp_path):
    (tmp_path / "a.txt").write_text(MEMO_A)
    runner.invoke(main, ["ingest", str(tmp_path / "a.txt")])
    r = runner.invoke(main, ["ask", ""])
    assert r.exit_code == 1
    assert r.output.strip() == "Error: Invalid input: question: question is empty"
    r = runner.invoke(main, ["ingest", str(tmp_path / "missing.txt")])  # click's own check, not ours
    assert r.exit_code == 2
    (tmp_path / "empty.txt").write_text("   ")
    r = runner.invoke(main, ["ingest", str(tmp_path / "empty.txt")])
    assert "{" not in r.output and "[" not in r.output, r.output


def test_describe_detail_flattens_nested_fields():
    from service.errors import describe_detail

    assert describe_detail({"json": {"tags": {"0": ["too long"]}, "k": ["must be 1-50", "an integer"]}}) == \
        "json.tags.0: too long; json.k: must be 1-50 an integer"
    assert describe_detail("plain words") == "plain words"
    assert describe_detail(None) == ""


def test_list_shows_tags(runner, tmp_path):
    (tmp_path / "a.txt").write_text(MEMO_A)
    (tmp_path / "b.txt").write_text(MEMO_B)
    runner.invoke(main, ["ingest", str(tmp_path / "a.txt"), "--tag", "ports", "--tag", "navy"])
    runner.invoke(main, ["ingest", str(tmp_path / "b.txt")])
    lines = runner.invoke(main, ["list"]).output.splitlines()[:-1]  # the last line is the count (stderr)
    assert len(lines) == 2
    assert sorted(line.endswith("  [ports, navy]") for line in lines) == [False, True]
    assert not any(line.endswith("[]") for line in lines)


def test_a_held_data_dir_is_refused_before_models_load_and_names_the_server(runner, monkeypatch, tmp_path):
    """The server's worker holds the lock; the message names the master (the pid to stop), and the
    command gives up before building the embedder."""
    import models
    from service.server import name_master_as_holder
    from service.storage.embedded.lock import DataDirLock
    from tests.fakes import HashEmbedder

    built = []
    monkeypatch.setitem(models.EMBEDDERS._factories, "counting", lambda: built.append(1) or HashEmbedder())
    monkeypatch.setenv("MEMO_EMBEDDER", "counting")
    data = tmp_path / "data"
    data.mkdir()
    held = DataDirLock(data / "lock")
    try:
        name_master_as_holder({"DATA_DIR": str(data)}, master=4242)
        r = runner.invoke(main, ["ask", "who holds it?"])
        assert r.exit_code == 1
        assert f"{data} is in use by pid 4242 (memo serve; its worker is pid " in r.output, r.output
        assert built == []
    finally:
        held.release()
    assert runner.invoke(main, ["list"]).exit_code == 0 and built == [1]


def test_the_http_client_reports_a_validation_error_by_field_not_as_a_dict():
    import json as jsonlib
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from service.client import ApiError, Client

    class Refuses(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = jsonlib.dumps({"error": "Invalid input", "detail": {"json": {"memos": ["too many memos"]}}})
            self.send_response(422)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Refuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ApiError) as raised:
            Client(f"http://127.0.0.1:{server.server_port}").call("POST", "/memos/batch", {"memos": []})
        assert str(raised.value) == "POST /memos/batch: HTTP 422 Invalid input: json.memos: too many memos"
    finally:
        server.shutdown()


def test_serve_and_worker_refuse_an_llm_they_cannot_have_in_one_line(runner, monkeypatch, tmp_path):
    """A MEMO_LLM the installation does not know, or a model it neither holds nor can build (the container
    image asked for qwen-1.5b): exit 1 with the reason before gunicorn or Celery starts, never a traceback."""
    from models.llm import loader
    from models.llm.spec import ModelUnavailable
    from service import server

    monkeypatch.setattr(server.MemoServer, "run", lambda self: pytest.fail("gunicorn started"))
    monkeypatch.setenv("MEMO_LLM", "qwen-9b")
    r = runner.invoke(main, ["serve"])
    assert r.exit_code == 1 and r.output.startswith("Error: Local LLM unavailable: MEMO_LLM=qwen-9b: unknown; known:")
    assert "Traceback" not in r.output and "none" in r.output

    def not_here(choice, cache_dir=None):
        raise ModelUnavailable(f"{choice} is not ready here and cannot be built here: parts not installed")

    monkeypatch.setattr(loader, "prepare", not_here)
    monkeypatch.setenv("MEMO_LLM", "qwen-1.5b")
    r = runner.invoke(main, ["serve"])
    assert r.exit_code == 1 and "MEMO_LLM=qwen-1.5b: qwen-1.5b is not ready here" in r.output, r.output
    assert "or to none (extractive answers only)" in r.output
    # the engine any command or `memo worker` builds refuses it the same way
    monkeypatch.setattr(loader, "load_qwen", lambda name, runtime: not_here(name))
    from service.config import load_config
    from service.engine import build_engine
    from service.errors import LlmUnavailable

    with pytest.raises(LlmUnavailable, match="MEMO_LLM=qwen-1.5b: qwen-1.5b is not ready here"):
        build_engine(load_config({"DATA_DIR": str(tmp_path / "data"), "SEEDS_DIR": None}))


def test_serve_workers_flag_wins_over_the_environment(runner, monkeypatch):
    """``memo serve --workers N``: N gunicorn processes, the flag over ``MEMO_WORKERS``; more than one needs
    ``MEMO_DATABASE_URL``, from the flag as from the variable."""
    import service.server as server

    started: list[dict] = []

    class Recorder:
        def __init__(self, options: dict) -> None:
            started.append(options)

        def run(self) -> None:
            pass

    monkeypatch.setattr(server, "MemoServer", Recorder)
    monkeypatch.setattr(server, "check_storage", lambda: None)
    monkeypatch.setattr(server, "prepare_llm", lambda: None)
    monkeypatch.delenv("MEMO_DATABASE_URL", raising=False)
    monkeypatch.setenv("MEMO_WORKERS", "3")

    r = runner.invoke(main, ["serve", "--workers", "2"])
    assert r.exit_code == 1 and "--workers 2 needs MEMO_DATABASE_URL" in r.output, r.output
    assert runner.invoke(main, ["serve"]).exit_code == 1  # MEMO_WORKERS=3 alone: refused the same way
    assert runner.invoke(main, ["serve", "--workers", "1"]).exit_code == 0  # the flag wins
    assert runner.invoke(main, ["serve", "--workers", "0"]).exit_code == 2  # click's range check
    monkeypatch.setenv("MEMO_DATABASE_URL", "postgresql://memo@db.invalid/memo")  # never connected here
    assert runner.invoke(main, ["serve", "--workers", "2"]).exit_code == 0
    assert runner.invoke(main, ["serve"]).exit_code == 0
    assert [options["workers"] for options in started] == [1, 2, 3]
