"""A start that is quiet and honest.

`make run`'s steps and a training run print no warning on the embedded default; the login address is
printed once the server answers, on the port it listens on; Ctrl-C stops every process by itself and
exits 0. The steps are read from the Makefile's `run` recipe, so these tests follow it.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from reviews.management.commands.wait_ready import browser_host
from tests.factories import ReviewFactory, UserFactory
from tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# A warning line: any line saying "warning" (Python's warnings, log records at WARNING level, Celery's
# SecurityWarning) or a Django system check id of a warning (models.W040).
WARNING_LINE = re.compile(r"warning|\bW\d{3}\b", re.IGNORECASE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Settings (or the test run itself) that point away from the embedded default.
NOT_EMBEDDED = {
    "DATABASE_URL",
    "DATABASE_REPLICA_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_ARTIFACT_ROOT",
    "MODEL_S3_BUCKET",
    "MODEL_ARTIFACT_DIR",
    "PROMETHEUS_MULTIPROC_DIR",
    "STATIC_ROOT",
    "HOST",
    "WEB_PORT",
}
# Exits 0 on SIGTERM (or with the status given).
STOPS_WITH = 'exec python3 -c "import signal, time; signal.signal(signal.SIGTERM, lambda *_: exit({})); time.sleep(60)"'
PHRASES = {
    5: ["Wonderful food", "Lovely staff", "Perfect evening", "Great pasta", "Superb dessert", "Charming room"],
    1: ["Cold food", "Rude staff", "Dirty floor", "Awful pasta", "Stale dessert", "Horrible evening"],
    3: ["Average food", "Okay staff", "Plain evening", "Fine pasta", "Ordinary dessert", "Usual room"],
}


def warning_lines(output: str) -> list[str]:
    return [line for line in ANSI.sub("", output).splitlines() if WARNING_LINE.search(line)]


def embedded_env(var_dir: Path, **overrides: str) -> dict[str, str]:
    """This environment (CI and the like kept) on the embedded default, in its own VAR_DIR."""
    env = {key: value for key, value in os.environ.items() if key not in NOT_EMBEDDED and not key.startswith("PYTEST")}
    return {**env, "VAR_DIR": str(var_dir), **overrides}


def make_run_recipe() -> list[list[str]]:
    """The commands of the Makefile's `run` target, with $(BIN) as this interpreter's folder."""
    recipe, inside = [], False
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith("run:"):
            inside = True
        elif inside and line.startswith("\t"):
            recipe.append(shlex.split(line.strip().replace("$(BIN)", str(BIN))))
        elif inside:
            break
    return recipe


def run(argv: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{shlex.join(argv)} failed:\n{output[-3000:]}"
    return output


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> tuple[Path, dict[str, str], dict[str, str]]:
    """A VAR_DIR after the steps `make run` takes before it starts the Procfile; their outputs by step."""
    var_dir = tmp_path_factory.mktemp("quiet-start-var")
    env = embedded_env(var_dir)
    outputs = {shlex.join(argv[1:]): run(argv, env) for argv in make_run_recipe()[:-1]}
    return var_dir, env, outputs


def test_the_recipe_migrates_creates_the_admin_and_ends_with_the_procfile():
    recipe = make_run_recipe()

    assert recipe[0][1:] == ["manage.py", "migrate", "--noinput"]
    assert ["manage.py", "ensure_admin"] in [argv[1:] for argv in recipe]
    assert recipe[-1][-2:] == ["-f", "Procfile"]


def test_make_runs_steps_and_a_training_run_print_no_warning(prepared, tmp_path):
    var_dir, env, outputs = prepared
    reviews = tmp_path / "reviews.csv"
    with reviews.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review_id", "stars", "text", "date", "place"])
        for i in range(150):
            stars = [5, 1, 3][i % 3]
            words = PHRASES[stars]
            text = f"{words[i % 6]}. {words[(i // 6) % 6]}, {words[(i + 3) % 6].lower()}!"
            writer.writerow([f"id{i}", stars, text, f"2026-0{1 + i % 9}-15", f"Place {i % 4}"])
    python = str(BIN / "python")
    outputs["import_reviews"] = run(
        [python, "manage.py", "import_reviews", str(reviews), "--text-col", "text", "--rating-col", "stars",
         "--id-col", "review_id", "--date-col", "date", "--business-col", "place", "--source", "yelp"],
        env,
    )  # fmt: skip
    # No worker runs: --wait trains in this process.
    outputs["train --wait"] = run([python, "manage.py", "train", "--wait", "--min-samples", "20"], env)

    assert "150 imported" in outputs["import_reviews"]
    assert "Tracking the run in MLflow" in outputs["train --wait"]
    assert (var_dir / "db.sqlite3").exists()
    found = {step: lines for step, output in outputs.items() if (lines := warning_lines(output))}
    assert not found, "\n".join(f"{step}: {line}" for step, lines in found.items() for line in lines)


def test_the_first_admin_password_is_shown_once_with_how_to_change_it(prepared):
    _, env, outputs = prepared
    created = outputs["manage.py ensure_admin"]

    assert "Created the first admin user: username 'admin', password '" in created
    assert "manage.py changepassword admin" in created
    assert "http://" not in created  # the address comes from `wait_ready`, with the real host and port
    assert run([str(BIN / "python"), "manage.py", "ensure_admin"], env) == ""  # once


@pytest.mark.e2e
def test_ctrl_c_stops_every_process_by_itself_with_exit_status_0(prepared, tmp_path):
    _, env, _ = prepared
    port = free_port()
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log:
        # Its own session: the signal below goes to its process group, as a terminal's Ctrl-C does.
        stack = subprocess.Popen(
            make_run_recipe()[-1],
            cwd=ROOT,
            env={**env, "WEB_PORT": str(port), "WORKER_CONCURRENCY": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while "ready: " not in (output := log_path.read_text(errors="replace")):
            assert stack.poll() is None, f"the stack exited with {stack.returncode}:\n{output[-5000:]}"
            assert time.monotonic() < deadline, f"no ready line:\n{output[-5000:]}"
            time.sleep(0.5)
        os.killpg(stack.pid, signal.SIGINT)
        returncode = stack.wait(timeout=120)
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()
    output = ANSI.sub("", log_path.read_text(errors="replace"))

    ready = [line for line in output.splitlines() if "ready: " in line]
    assert len(ready) == 1 and f"http://127.0.0.1:{port}/accounts/login/" in ready[0], output[-5000:]
    assert returncode == 0, output[-5000:]
    assert not [line for line in output.splitlines() if re.search(r"SIGKILL|killed", line, re.IGNORECASE)]
    for name in ("web", "worker", "beat", "ready"):
        assert f"{name}.1 stopped (rc=0)" in output, output[-5000:]
    assert not warning_lines(output), "\n".join(warning_lines(output))


def procfile_stack(tmp_path: Path, procfile: str, **env: str) -> subprocess.Popen:
    (tmp_path / "Procfile").write_text(procfile)
    return subprocess.Popen(
        [str(BIN / "python"), "-m", "project.procfile", "start", "-f", str(tmp_path / "Procfile")],
        cwd=ROOT,
        env=embedded_env(tmp_path, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def stop_when_started(stack: subprocess.Popen, names: list[str]) -> tuple[int, str]:
    lines = []
    while not all(any(f"{name}.1 started" in line for line in lines) for name in names):
        lines.append(stack.stdout.readline())
        assert lines[-1], "".join(lines)
    time.sleep(1.0)  # the shells exec their programs and set their traps
    os.killpg(stack.pid, signal.SIGINT)
    rest, _ = stack.communicate(timeout=30)
    return stack.returncode, "".join(lines) + rest


def test_a_process_that_does_not_stop_by_itself_makes_the_stop_fail_and_is_said_killed(tmp_path):
    stack = procfile_stack(
        tmp_path,
        f"calm: {STOPS_WITH.format(0)}\nstubborn: trap '' TERM; sleep 60\n",
        STOP_TIMEOUT_SECONDS="1",
    )

    returncode, output = stop_when_started(stack, ["calm", "stubborn"])

    assert "calm.1 stopped (rc=0)" in output
    assert "sending SIGKILL to stubborn.1" in output
    assert returncode == 128 + signal.SIGKILL, output


def test_a_stop_is_0_only_if_every_process_exits_0(tmp_path):
    stack = procfile_stack(
        tmp_path,
        f"calm: {STOPS_WITH.format(0)}\nfailing: {STOPS_WITH.format(3)}\n",
    )

    returncode, output = stop_when_started(stack, ["calm", "failing"])

    assert "SIGINT received: stopping" in output
    assert returncode == 3, output


def test_a_process_ended_by_the_sigterm_it_was_sent_stopped_cleanly(tmp_path):
    stack = procfile_stack(tmp_path, f"calm: {STOPS_WITH.format(0)}\nplain: exec sleep 60\n")

    returncode, output = stop_when_started(stack, ["calm", "plain"])

    assert "plain.1 stopped (rc=-15)" in output
    assert returncode == 0, output


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"), ("::", "[::1]"), ("::1", "[::1]"), ("web", "web")],
)
def test_the_ready_line_names_an_address_a_browser_can_open(host, expected):
    assert browser_host(host) == expected


@pytest.mark.django_db(transaction=True)
def test_the_csv_export_streams_an_async_iterator_under_asgi_without_a_warning():
    ReviewFactory.create_batch(3, source="yelp")
    user = UserFactory(is_staff=True)

    async def export():
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.get("/explore/export.csv?source=yelp")
        return response, b"".join([chunk async for chunk in response.streaming_content])

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        response, content = async_to_sync(export)()

    assert response.status_code == 200 and response.is_async
    assert len(list(csv.DictReader(io.StringIO(content.decode())))) == 3
