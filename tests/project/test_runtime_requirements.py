"""requirements.txt is what the running system needs; requirements-dev.txt adds the test and lint tools.

The cheap checks read the files. The `runtime_venv` tests build a virtualenv from requirements.txt and
requirements-nodeps.txt alone, as the Dockerfile and `make run` do, and start the application from it:
every app module imports, `manage.py check --deploy` passes with production settings, and the image's
uvicorn command serves /api/health. They need PyPI (or a warm pip cache, ~/.cache/pip) and a minute or
two, so they run under CI=true (where they must pass) or with RUNTIME_VENV_TEST=1, and are skipped
otherwise; `pytest -m "not runtime_venv"` deselects them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import free_port
from tests.project.test_settings import BEHIND_HTTPS, production

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "requirements.txt"
DEVELOPMENT = ROOT / "requirements-dev.txt"
NODEPS = ROOT / "requirements-nodeps.txt"
BUILD = ROOT / "requirements-build.txt"
# Test, lint and benchmark tools: never in the production image.
DEV_ONLY = {
    "pytest", "pytest-django", "factory-boy", "ruff", "import-linter", "grimp", "schemathesis", "moto", "flask",
    "flask-cors", "playwright", "aiosmtpd", "textblob",
}  # fmt: skip
# Their import names, which must not resolve in the runtime virtualenv (flask is left out: mlflow needs it).
DEV_ONLY_MODULES = ["pytest", "pytest_django", "factory", "ruff", "importlinter", "schemathesis", "moto", "playwright",
                    "aiosmtpd", "textblob"]  # fmt: skip
APP_PACKAGES = ("project", "reviews", "training", "analytics")
REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;#]+)\s*(?:#.*)?$")


def requirement_lines(path: Path) -> list[str]:
    """The lines that name something to install, without comments."""
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def pinned_names(path: Path) -> list[str]:
    names = []
    for line in requirement_lines(path):
        if line.startswith("-r "):
            continue
        match = REQUIREMENT.match(line)
        assert match, f"{path.name}: {line!r} is not pinned with =="
        names.append(re.sub(r"[-_.]+", "-", match["name"]).lower())
    return names


# -- the files ---------------------------------------------------------------------------------------------


def test_the_runtime_requirements_hold_no_development_tool():
    names = pinned_names(RUNTIME)

    assert sorted(DEV_ONLY & set(names)) == []
    assert not any(line.startswith("-") for line in requirement_lines(RUNTIME)), "it must not include another file"


@pytest.mark.parametrize("path", [RUNTIME, DEVELOPMENT, NODEPS, BUILD], ids=lambda path: path.name)
def test_every_requirement_is_pinned_once(path):
    names = pinned_names(path)

    assert names, f"{path.name} names nothing"
    assert sorted({name for name in names if names.count(name) > 1}) == [], f"{path.name} names these twice"


def test_the_development_set_is_the_runtime_set_plus_the_tools():
    lines = requirement_lines(DEVELOPMENT)
    runtime, development = set(pinned_names(RUNTIME)), set(pinned_names(DEVELOPMENT))

    assert lines[0] == "-r requirements.txt"
    assert [line for line in lines if line.startswith("-")] == ["-r requirements.txt"]
    assert runtime & development == set(), "pinned in both files"
    assert DEV_ONLY <= development


def test_pytorch_is_only_in_the_optional_build_set_that_nothing_installs_by_itself():
    installers = "\n".join((ROOT / name).read_text() for name in ("Makefile", "Dockerfile", ".ci/run"))

    assert "torch" in pinned_names(BUILD) and requirement_lines(BUILD)[0] == "-r requirements.txt"
    for path in (RUNTIME, DEVELOPMENT, NODEPS):
        assert "torch" not in pinned_names(path), path.name
    assert "requirements-build" not in installers


def test_make_run_and_the_image_install_the_runtime_set_and_make_test_the_development_set():
    makefile = (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert re.search(r"^run: install$", makefile, re.M)
    for target in ("test", "lint", "bench"):
        assert re.search(rf"^{target}: install-dev$", makefile, re.M), target
    assert "pip install --quiet -r requirements-dev.txt" in makefile
    assert not re.search(r"^RUN .*requirements-dev", dockerfile, re.M)
    assert "pip install -r requirements.txt && pip install --no-deps -r requirements-nodeps.txt" in dockerfile


# -- a virtualenv with the runtime set alone ---------------------------------------------------------------


def _plain_env(**overrides: str) -> dict[str, str]:
    """This environment without whatever points Python at the development virtualenv."""
    dropped = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE"}
    env = {key: value for key, value in os.environ.items() if key not in dropped and not key.startswith("PYTEST")}
    env.update(overrides)
    return env


def _run(command: list[str], *, timeout: int, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    output = result.stdout[-4000:] + result.stderr[-4000:]
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{output}"
    return result


@pytest.fixture(scope="module")
def runtime_python(tmp_path_factory) -> Iterator[Path]:
    """The python of a fresh virtualenv holding requirements.txt and requirements-nodeps.txt, nothing else."""
    if os.environ.get("CI", "").lower() != "true" and os.environ.get("RUNTIME_VENV_TEST") != "1":
        pytest.skip("builds a virtualenv from PyPI (a minute or two): runs under CI=true or RUNTIME_VENV_TEST=1")
    venv = tmp_path_factory.mktemp("runtime") / "venv"
    # Downloads are cached where pip keeps them anyway, so a rerun installs from the cache.
    env = _plain_env(PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")))
    _run([sys.executable, "-m", "venv", str(venv)], timeout=120, env=env)
    python = venv / "bin" / "python"
    # --no-compile: byte-compiling ~1 GB of packages is most of the install time, and only what is imported matters.
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--no-compile"]
    _run([*pip, "-r", str(RUNTIME)], timeout=900, env=env, cwd=ROOT)
    _run([*pip, "--no-deps", "-r", str(NODEPS)], timeout=300, env=env, cwd=ROOT)
    yield python
    shutil.rmtree(venv, ignore_errors=True)  # over a gigabyte: not left in pytest's kept temporary folders


def _app_env(var_dir: Path, **environment: str) -> dict[str, str]:
    """What the image's processes get: the settings module, a VAR_DIR and the given variables (SQLite,
    the filesystem broker and the file cache, as nothing else is configured)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(var_dir)),
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "VAR_DIR": str(var_dir),
        "STATIC_ROOT": str(var_dir.parent / "staticfiles"),
        "PYTHONUNBUFFERED": "1",
        **environment,
    }


# Run by the runtime virtualenv's python in the repository: argv[1] is JSON (the app packages, the
# development modules that must be missing); prints one JSON line.
IMPORT_EVERYTHING = """
import importlib, importlib.util, json, pathlib, sys

import django

packages, dev_only = json.loads(sys.argv[1])
django.setup()
leaked = [name for name in dev_only if importlib.util.find_spec(name) is not None]
failed, imported = [], 0
for package in packages:
    for path in sorted(pathlib.Path(package).rglob("*.py")):
        parts = path.with_suffix("").parts
        if "migrations" in parts or "tests" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        try:
            importlib.import_module(name)
            imported += 1
        except Exception as exc:
            failed.append(f"{name}: {type(exc).__name__}: {exc}")

from training.ml.encoder import SentenceEncoder

shape = SentenceEncoder().encode(["The soup was cold."]).shape
print(json.dumps({"leaked": leaked, "failed": failed, "imported": imported, "shape": list(shape)}))
"""


@pytest.mark.runtime_venv
def test_every_app_module_imports_and_the_encoder_runs_with_the_runtime_set_alone(runtime_python, tmp_path):
    result = _run(
        [str(runtime_python), "-c", IMPORT_EVERYTHING, json.dumps([APP_PACKAGES, DEV_ONLY_MODULES])],
        timeout=300,
        cwd=ROOT,
        env=_app_env(tmp_path / "var"),
    )
    report = json.loads(result.stdout.splitlines()[-1])

    assert report["leaked"] == [], "development tools in the runtime virtualenv"
    assert report["failed"] == []
    assert report["imported"] > 100  # every module of the four apps, not a handful
    assert report["shape"] == [1, 384]  # MiniLM through onnxruntime, without PyTorch


@pytest.mark.runtime_venv
def test_check_deploy_passes_with_production_settings_and_the_runtime_set_alone(runtime_python, tmp_path):
    result = _run(
        [str(runtime_python), "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        timeout=300,
        cwd=ROOT,
        env=_app_env(tmp_path / "var", **production(**BEHIND_HTTPS)),
    )

    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.runtime_venv
def test_the_image_command_serves_health_with_the_runtime_set_alone(runtime_python, tmp_path):
    # The Dockerfile's build step (collectstatic) and CMD, after the compose `migrate` service's command.
    env = _app_env(tmp_path / "var", **production(ALLOWED_HOSTS="127.0.0.1,localhost"))
    manage = [str(runtime_python), "manage.py"]
    _run([*manage, "collectstatic", "--noinput"], timeout=300, cwd=ROOT, env=env)
    _run([*manage, "migrate", "--noinput"], timeout=300, cwd=ROOT, env=env)
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.M).group(1))
    assert cmd[:4] == ["python", "-m", "project.serve", "project.asgi:application"]  # uvicorn, a socket per worker
    port = free_port()
    cmd[cmd.index("--host") + 1], cmd[cmd.index("--port") + 1] = "127.0.0.1", str(port)
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [str(runtime_python.parent / cmd[0]), *cmd[1:]],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        response, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=10)
                if response.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        log_text = log_path.read_text()[-4000:]
        assert server.poll() is None, f"uvicorn exited {server.returncode}:\n{log_text}"
        assert response is not None and response.status_code == 200, log_text
        assert response.json()["checks"]["database"] == "ok"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)  # its own session: uvicorn and its workers, nothing else
            server.wait(timeout=10)
