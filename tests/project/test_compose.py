"""docker-compose.yml and the Dockerfiles, checked without Docker (Docker cannot run on CI).

The file is read with PyYAML and `${VAR:-default}` is resolved as compose does, then: every service is
there with a restart policy and a health check, the workers consume the queues project/celery.py
declares, the app services wait for the databases and the bucket, every variable they set is read by
the settings (or by the library it is meant for), MLflow stores runs in PostgreSQL and artifacts in
MinIO, the images run what compose expects, and the live tests start the same process roles.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from project.celery import BULK_QUEUE, DEFAULT_QUEUE, TRAINING_QUEUE
from tests import live

ROOT = Path(__file__).resolve().parents[2]
SITE_PACKAGES = Path(yaml.__file__).resolve().parent.parent
APP_IMAGE = "review-sentiment:latest"
ONE_SHOT = {"minio-init", "migrate"}
INFRASTRUCTURE = {"postgres", "redis", "minio", "mlflow"}
LONG_RUNNING_APP = {"web", "api", "worker", "training-worker", "beat"}
RESTART_POLICIES = {"always", "unless-stopped", "on-failure"}
# Variables a service may set that project/settings/ does not read, and the installed module
# that reads them (its source must name them, so a typo fails here too).
LIBRARY_VARIABLES = {
    "AWS_ACCESS_KEY_ID": "botocore/credentials.py",
    "AWS_SECRET_ACCESS_KEY": "botocore/credentials.py",
    "AWS_DEFAULT_REGION": "botocore/configprovider.py",
    "FORWARDED_ALLOW_IPS": "uvicorn/config.py",
    "MLFLOW_S3_ENDPOINT_URL": "mlflow/environment_variables.py",
}
INTERPOLATION = re.compile(r"\$(?:\$|\{(\w+)(?:(:?[-?])([^}]*))?\})")
READ_BY_SETTINGS = re.compile(r'(?:env_(?:str|bool|int|float|list)\(|os\.environ\.get\()"([A-Z0-9_]+)"')
STRONG_KEY = "compose-test-key-9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5"
# What a deployer has to provide (the file refuses to start without them).
DEPLOYER_ENV = {"SECRET_KEY": STRONG_KEY, "MINIO_ROOT_PASSWORD": "minio-test-password"}


def interpolate(value, env: dict[str, str]):
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`; `$$` is a literal `$`."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.groups()
        current = env.get(name)
        unset = current is None or (current == "" and operator and operator.startswith(":"))
        if operator and operator.endswith("?") and unset:
            raise KeyError(f"{name}: {argument}")
        if operator and operator.endswith("-") and unset:
            return argument
        return current or ""

    return INTERPOLATION.sub(substitute, value)


@cache
def raw_compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@cache
def services() -> dict[str, dict]:
    return interpolate(raw_compose()["services"], DEPLOYER_ENV)


def argv(service: str) -> list[str]:
    command = services()[service]["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def healthcheck_command(service: str) -> str:
    test = services()[service]["healthcheck"]["test"]
    if isinstance(test, str):
        return test
    assert test[0] in ("CMD", "CMD-SHELL"), test
    return test[1] if test[0] == "CMD-SHELL" else shlex.join(test[1:])


def option(arguments: list[str], *names: str) -> str | None:
    for index, argument in enumerate(arguments):
        if argument in names:
            return arguments[index + 1]
    return None


def app_services() -> set[str]:
    return {name for name, service in services().items() if service.get("image") == APP_IMAGE}


def role(arguments: list[str]) -> tuple:
    """What a command runs, without where: the web server and its app, a worker's queues, beat's health ping.

    The web server is uvicorn (`uvicorn`, `python -m uvicorn`) or uvicorn under project/serve.py
    (`python -m project.serve`: a socket per worker), told apart."""
    program = Path(arguments[0]).name
    if program.startswith("python") and arguments[1] == "-m":
        program, arguments = arguments[2], arguments[2:]
    if program in ("uvicorn", "project.serve"):
        return (program, next(a for a in arguments[1:] if ":" in a and not a.startswith("-")))
    if program != "celery":
        return (program, tuple(arguments[1:]))
    assert arguments[1:3] == ["-A", "project"], arguments
    if arguments[3] == "worker":
        queues = option(arguments, "-Q", "--queues")
        return ("celery worker", frozenset(queues.split(",")) if queues else "every queue")
    return ("celery " + arguments[3], "--enable-remote-control" in arguments)


def settings_variables() -> set[str]:
    return {
        name
        for path in (ROOT / "project" / "settings").glob("*.py")
        for name in READ_BY_SETTINGS.findall(path.read_text())
    }


def read_by_library(variable: str) -> bool:
    source = (SITE_PACKAGES / LIBRARY_VARIABLES[variable]).read_text()
    return f'"{variable}"' in source or f"'{variable}'" in source


def requirement_pin(name: str) -> str:
    match = re.search(rf"^{re.escape(name)}(?:\[[^\]]*\])?==([^\s#]+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert match, f"{name} is not pinned in requirements.txt"
    return match.group(1)


def test_the_stack_has_every_service():
    assert INFRASTRUCTURE | ONE_SHOT | LONG_RUNNING_APP <= set(services())
    assert app_services() == LONG_RUNNING_APP | {"migrate"}


def test_every_long_running_service_restarts_and_has_a_health_check():
    for name, service in services().items():
        if name in ONE_SHOT:
            continue
        assert service.get("restart") in RESTART_POLICIES, name
        healthcheck = service.get("healthcheck", {})
        assert healthcheck.get("test") and not healthcheck.get("disable"), name
        assert healthcheck_command(name).strip(), name


def test_one_shot_jobs_run_once():
    for name in ONE_SHOT:
        assert services()[name]["restart"] == "no", name
        assert "healthcheck" not in services()[name], name


@pytest.mark.parametrize("service", ["web", "api"])
def test_the_web_health_checks_ask_api_health_on_the_port_the_server_listens_on(service):
    port = option(argv(service), "--port")

    assert f"http://127.0.0.1:{port}/api/health" in healthcheck_command(service)
    assert any(mapping.endswith(f":{port}") for mapping in services()[service]["ports"])


def test_the_sidecar_serves_the_fastapi_app_alone():
    assert role(argv("api")) == ("project.serve", live.SIDECAR_APP)
    assert role(argv("web")) == ("project.serve", live.WEB_APP)


def test_the_web_servers_run_under_the_launcher_that_gives_each_worker_its_socket():
    # Plain `uvicorn --workers N` shares one socket, and a worker can end up with every connection.
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if ": " in line
                    and not line.startswith("#"))  # fmt: skip
    web = shlex.split(procfile["web"])
    assert role(web[1:]) == role(argv("web")) == ("project.serve", live.WEB_APP)
    assert option(web, "--workers") == "${WEB_WORKERS:-2}"


def test_there_is_exactly_one_beat():
    beats = [name for name in app_services() if role(argv(name))[0] == "celery beat"]

    assert beats == ["beat"]
    assert services()["beat"].get("deploy", {}).get("replicas", 1) == 1
    assert "scale" not in services()["beat"]


def test_the_workers_consume_every_declared_queue_and_training_runs_alone():
    assert role(argv("worker")) == ("celery worker", {DEFAULT_QUEUE, BULK_QUEUE})
    assert role(argv("training-worker")) == ("celery worker", {TRAINING_QUEUE})
    assert option(argv("training-worker"), "--concurrency", "-c") == "1"
    consumed = set().union(*(role(argv(n))[1] for n in app_services() if role(argv(n))[0] == "celery worker"))
    assert consumed == {DEFAULT_QUEUE, BULK_QUEUE, TRAINING_QUEUE}


@pytest.mark.parametrize("service", ["worker", "training-worker", "beat"])
def test_celery_health_checks_ping_the_node_the_process_names_itself(service):
    node = option(argv(service), "-n", "--hostname")
    assert node and node.endswith("@%h"), node

    check = shlex.split(healthcheck_command(service))

    assert check[:5] == ["celery", "-A", "project", "inspect", "ping"]
    assert option(check, "-d", "--destination") == node.replace("%h", "$HOSTNAME")


def test_app_services_wait_for_healthy_databases_the_bucket_and_the_migrations():
    for name in app_services():
        depends = services()[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["minio-init"]["condition"] == "service_completed_successfully", name
        if name != "migrate":
            assert depends["migrate"]["condition"] == "service_completed_successfully", name
    assert services()["mlflow"]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    assert services()["migrate"]["depends_on"]["mlflow"]["condition"] == "service_healthy"


def test_migrate_runs_the_start_up_commands_once_before_the_app():
    command = " ".join(argv("migrate"))

    for step in ("manage.py migrate --noinput", "manage.py init_mlflow", "manage.py sync_schedules"):
        assert step in command
    for name in LONG_RUNNING_APP:
        assert "migrate" not in " ".join(argv(name)), name


def test_every_variable_the_app_services_set_is_read_by_the_settings_or_its_library():
    read = settings_variables()
    assert {"DATABASE_URL", "REDIS_URL", "MODEL_S3_BUCKET", "MLFLOW_TRACKING_URI"} <= read  # the regex works

    for name in app_services():
        for variable in services()[name]["environment"]:
            if variable in LIBRARY_VARIABLES:
                assert read_by_library(variable), variable
            else:
                assert variable in read, f"{name} sets {variable}, which project/settings/ never reads"


def test_the_bucket_job_creates_the_bucket_the_app_and_mlflow_use():
    script = " ".join(argv("minio-init"))
    bucket = services()["web"]["environment"]["MODEL_S3_BUCKET"]

    assert f"mc mb --ignore-existing local/{bucket}" in script
    assert "mc alias set local http://minio:9000" in script
    destination = urlparse(option(argv("mlflow"), "--artifacts-destination"))
    assert (destination.scheme, destination.netloc) == ("s3", bucket)


def test_mlflow_keeps_runs_in_postgresql_and_artifacts_in_minio():
    arguments = argv("mlflow")
    store = urlparse(option(arguments, "--backend-store-uri"))
    web = services()["web"]["environment"]

    assert store.scheme.startswith("postgresql") and store.hostname == "postgres"
    init_scripts = [v for v in services()["postgres"]["volumes"] if "/docker-entrypoint-initdb.d/" in v]
    created = "".join((ROOT / script.split(":")[0]).read_text() for script in init_scripts)
    assert f"CREATE DATABASE {store.path.lstrip('/')};" in created
    assert option(arguments, "--default-artifact-root") == "mlflow-artifacts:/"
    assert services()["mlflow"]["environment"]["MLFLOW_S3_ENDPOINT_URL"] == web["AWS_S3_ENDPOINT_URL"]
    assert web["AWS_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert all(read_by_library(variable) for variable in services()["mlflow"]["environment"])
    assert web["MLFLOW_TRACKING_URI"] == f"http://mlflow:{option(arguments, '--port')}"
    assert web["MLFLOW_ARTIFACT_ROOT"].startswith("mlflow-artifacts:/")
    allowed = option(arguments, "--allowed-hosts").split(",")
    assert "mlflow:5000" in allowed  # the app's Host header, refused by MLflow's default


def test_the_mlflow_image_is_the_pinned_mlflow_with_its_drivers():
    dockerfile = (ROOT / "docker" / "mlflow" / "Dockerfile").read_text()

    assert f"FROM ghcr.io/mlflow/mlflow:v{requirement_pin('mlflow')}\n" in dockerfile
    assert f'"psycopg[binary]=={requirement_pin("psycopg")}"' in dockerfile
    assert f'"boto3=={requirement_pin("boto3")}"' in dockerfile
    assert services()["mlflow"]["build"] == "./docker/mlflow"
    assert urlparse(option(argv("mlflow"), "--backend-store-uri")).scheme == "postgresql+psycopg"


def test_the_app_image_runs_and_exposes_what_compose_uses():
    dockerfile = (ROOT / "Dockerfile").read_text()
    exposed = re.findall(r"^EXPOSE (\d+)$", dockerfile, re.M)
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))

    assert "pip install -r requirements.txt && pip install --no-deps -r requirements-nodeps.txt" in dockerfile
    assert role(cmd) == role(argv("web"))
    assert exposed == [option(cmd, "--port")] == [option(argv("web"), "--port")]
    for name in app_services():
        assert raw_compose()["services"][name]["build"] == ".", name


def test_the_image_builds_its_static_files_with_the_production_settings(tmp_path):
    # The Dockerfile's one Django step (collectstatic under DJANGO_ENV=production), run here as there.
    step = re.search(r"^RUN (DJANGO_ENV=production .*?collectstatic --noinput)", (ROOT / "Dockerfile").read_text(),
                     re.M | re.S).group(1)  # fmt: skip
    environment = dict(re.findall(r"(\w+)=(\S+) \\\n", step))
    assert environment["DJANGO_ENV"] == "production" and "SECRET_KEY" in environment
    environment.update(VAR_DIR=str(tmp_path / "var"), STATIC_ROOT=str(tmp_path / "static"))

    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "project.settings", **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "static" / "staticfiles.json").is_file()


def test_compose_refuses_to_start_without_the_secrets():
    for secret in DEPLOYER_ENV:
        with pytest.raises(KeyError, match=secret):
            interpolate(raw_compose()["services"], {k: v for k, v in DEPLOYER_ENV.items() if k != secret})


def test_the_app_environment_loads_production_settings(tmp_path):
    environment = {key: str(value) for key, value in services()["web"]["environment"].items()}
    environment.update(VAR_DIR=str(tmp_path / "var"), STATIC_ROOT=str(tmp_path / "static"))
    names = ["DJANGO_ENV", "DEBUG", "MODEL_S3_BUCKET", "AWS_S3_ENDPOINT_URL", "MLFLOW_TRACKING_URI",
             "MLFLOW_ARTIFACT_ROOT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"]  # fmt: skip
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "project.settings", **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "DJANGO_ENV": "production",
        "DEBUG": False,
        "MODEL_S3_BUCKET": "revsent",
        "AWS_S3_ENDPOINT_URL": "http://minio:9000",
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "MLFLOW_ARTIFACT_ROOT": "mlflow-artifacts:/review-sentiment",
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
    }


# Where the live tests start each compose role without Docker: the test module, the call in it,
# and the command that call runs.
LIVE_ROLES = {
    "web": ("project/test_live_server.py", "running_server(", live.server_command(port=0)),
    "api": ("project/test_live_server.py", f'"{live.SIDECAR_APP}"', live.server_command(app=live.SIDECAR_APP, port=0)),
    "worker": (
        "project/test_queues.py",
        'running_worker(queues=f"{DEFAULT_QUEUE},{BULK_QUEUE}"',
        live.worker_command(queues=f"{DEFAULT_QUEUE},{BULK_QUEUE}"),
    ),
    "training-worker": (
        "project/test_queues.py",
        "running_worker(queues=TRAINING_QUEUE",
        live.worker_command(queues=TRAINING_QUEUE),
    ),
    "beat": ("training/test_beat.py", "running_beat(", live.beat_command(name="celerybeat")),
}


def test_the_live_tests_start_every_compose_role_without_docker():
    assert set(LIVE_ROLES) == LONG_RUNNING_APP

    for name, (module, call, command) in LIVE_ROLES.items():
        assert role(command) == role(argv(name)), name
        assert call in (ROOT / "tests" / module).read_text(), f"{module} no longer starts {name} ({call})"
