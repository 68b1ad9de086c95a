"""The deployment files agree with each other and with requirements.txt, without building anything: the image's
package lists are pinned, compose.yaml's services use the image as the Dockerfile builds it, and the proxy
sends to the API replicas. (tests/test_image.py builds and runs the image: make image-test.)"""
from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def names(requirements: Path) -> list[str]:
    """Package names of a requirements file, normalised (PEP 503), extras and versions dropped."""
    out = []
    for line in requirements.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            out.append(re.sub(r"[-_.]+", "-", re.split(r"[\[=<>!~ ]", line)[0]).lower())
    return out


def dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined."""
    return [i.strip() for i in re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text()).splitlines()
            if i.strip() and not i.startswith("#")]


def test_every_package_the_image_installs_is_pinned_in_requirements_txt():
    pinned = set(names(ROOT / "requirements.txt"))
    for listing in ("requirements-serve.txt", "requirements-convert.txt"):
        missing = [n for n in names(ROOT / listing) if n not in pinned]
        assert not missing, f"{listing}: not pinned in requirements.txt: {missing}"
    assert "torch" not in names(ROOT / "requirements-serve.txt")


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_with(listed: list[str]) -> set[str]:
    """The listed distributions and everything they require, transitively (extras and markers ignored)."""
    seen, todo = set(), list(listed)
    while todo:
        name = normalised(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            wanted = requires(name) or []
        except PackageNotFoundError:
            continue
        todo += [re.split(r"[\[=<>!~ ;(]", r)[0] for r in wanted if "extra ==" not in r]
    return seen


# imported by service/ but not by what the image runs: `memo eval` scores summaries with rouge_score (dev tooling)
NOT_IN_THE_IMAGE = {"rouge-score"}


def test_the_image_installs_every_package_the_service_imports():
    """Each third-party import in service/ (memo serve, memo worker, the other memo commands) comes with
    requirements-serve.txt: celery for the worker tier was missing once, and only a built image showed it."""
    image = installed_with(names(ROOT / "requirements-serve.txt"))
    distributions = packages_distributions()
    missing = {}
    for path in (ROOT / "service").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for module in (m.split(".")[0] for m in modules):
                if module in sys.stdlib_module_names or module in ("service", "models", "__future__"):
                    continue
                for dist in map(normalised, distributions.get(module, [module])):
                    if dist not in image and dist not in NOT_IN_THE_IMAGE:
                        missing.setdefault(dist, set()).add(str(path.relative_to(ROOT)))
    assert not missing, f"imported by service/, not installed by requirements-serve.txt: {missing}"


def test_the_runtime_stage_is_non_root_with_a_generic_entrypoint_a_volume_and_a_healthcheck():
    lines = dockerfile()
    runtime = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")):]
    assert "AS" not in runtime[0].split()  # the last stage, unnamed, is the image
    assert 'ENTRYPOINT ["memo"]' in runtime and 'CMD ["serve"]' in runtime
    assert "USER memo" in runtime and "VOLUME /data" in runtime
    assert any(line.startswith("HEALTHCHECK ") and "/app/healthcheck.py" in line for line in runtime)
    assert not any("torch" in line for line in runtime)
    env = " ".join(line for line in runtime if line.startswith("ENV "))
    assert "MEMO_DATA_DIR=/data" in env and "MEMO_PORT=8000" in env and "MEMO_HOST=0.0.0.0" in env


def test_compose_runs_two_api_replicas_and_a_worker_of_the_image_behind_the_proxy():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    memo = {name: s for name, s in services.items() if s.get("image") == "memo-service:latest"}
    assert sorted(memo) == ["api-1", "api-2", "worker"]
    assert memo["worker"]["command"] == ["worker"] and "command" not in memo["api-1"]
    for service in memo.values():
        env = service["environment"]
        assert env["MEMO_DATABASE_URL"].split("@")[1].startswith("db:5432/")
        assert env["MEMO_REDIS_URL"].startswith("redis://redis:")
        assert service["depends_on"]["db"] == {"condition": "service_healthy"}
        assert env["MEMO_BROKER_URL"].startswith("redis://redis:")
        # off, a replica would send no brief task: a memo posted to it would wait for the worker's next sweep
        assert env.get("MEMO_BRIEF_WORKER", "true") == "true"
    assert "pgvector" in services["db"]["image"] and services["redis"]["image"].startswith("redis:")
    assert services["proxy"]["ports"] == ["127.0.0.1:8000:8080"]
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    upstreams = re.findall(r"^\s*server (\S+?):(\d+)", nginx, re.M)
    assert upstreams == [("api-1", "8000"), ("api-2", "8000")] and "listen 8080;" in nginx


def test_the_build_context_holds_what_the_dockerfile_copies():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for line in dockerfile():
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert source.rstrip("/") in allowed, source
