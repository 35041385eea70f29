"""The MLflow service of docker-compose.yml without Docker: the compose service's own command, with
loopback addresses for the container names, a PostgreSQL backend store in a database of its own and
artifacts proxied into S3 (moto's server standing in for MinIO, with the compose bucket). The app then
does what the compose migrate job does, `manage.py init_mlflow` with the compose app environment's
MLflow settings, and the baseline's artifacts land in the bucket."""

from __future__ import annotations

import subprocess
import time
from urllib.parse import urlparse

import boto3
import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection
from moto.server import ThreadedMotoServer

from tests.live import BIN, ROOT, free_port, service_env
from tests.project.test_compose import argv, option, services

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="the compose MLflow server keeps its store in PostgreSQL"),
]
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def replace_option(arguments: list[str], name: str, value: str) -> list[str]:
    index = arguments.index(name)
    return [*arguments[: index + 1], value, *arguments[index + 2 :]]


@pytest.fixture
def mlflow_database():
    db = connection.settings_dict
    name = f"{db['NAME']}_mlflow"
    admin = psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or "postgres",
        password=db["PASSWORD"] or None, dbname="postgres", autocommit=True,
    )  # fmt: skip
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')
    user = db["USER"] or "postgres"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    yield f"{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def s3():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
    )
    client.create_bucket(Bucket=services()["web"]["environment"]["MODEL_S3_BUCKET"])
    yield endpoint, client
    server.stop()


def test_the_compose_mlflow_server_stores_runs_in_postgresql_and_the_apps_artifacts_in_s3(mlflow_database, s3):
    endpoint, client = s3
    port = free_port()
    compose = argv("mlflow")
    store = urlparse(option(compose, "--backend-store-uri"))
    command = replace_option(compose, "--host", "127.0.0.1")
    command = replace_option(command, "--port", str(port))
    command = replace_option(command, "--workers", "1")
    command = replace_option(command, "--backend-store-uri", f"{store.scheme}://{mlflow_database}")
    command[0] = str(BIN / "mlflow")
    server_env = {
        **service_env(),
        **services()["mlflow"]["environment"],
        **S3_CREDENTIALS,
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
    }
    log_path = settings.VAR_DIR / f"mlflow-server-{port}.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=server_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)

        # The app reaches it as http://mlflow:5000: that Host header is allowed, a stranger's is not.
        search = f"{base_url}/api/2.0/mlflow/experiments/search?max_results=10"
        app_host = urlparse(services()["web"]["environment"]["MLFLOW_TRACKING_URI"]).netloc
        assert httpx.get(search, headers={"Host": app_host}).status_code == 200
        assert httpx.get(search, headers={"Host": "attacker.example"}).status_code == 403

        app = services()["web"]["environment"]
        init = subprocess.run(
            [str(BIN / "python"), "manage.py", "init_mlflow"],
            cwd=ROOT,
            env=service_env(
                MLFLOW_TRACKING_URI=base_url,
                MLFLOW_ARTIFACT_ROOT=app["MLFLOW_ARTIFACT_ROOT"],
                MLFLOW_EXPERIMENT="review-sentiment",
                MODEL_S3_BUCKET=app["MODEL_S3_BUCKET"],
                AWS_S3_ENDPOINT_URL=endpoint,
                **S3_CREDENTIALS,
            ),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert init.returncode == 0, init.stdout + init.stderr
        assert "MLflow store ready" in init.stdout
        assert "Traceback" not in init.stderr, init.stderr[-3000:]
        experiments = httpx.get(search).json()["experiments"]
    finally:
        server.terminate()
        server.wait(timeout=30)

    destination = urlparse(option(compose, "--artifacts-destination"))
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=destination.netloc).get("Contents", [])]
    prefix = f"{destination.path.strip('/')}/review-sentiment/"
    assert any(key.startswith(prefix) and key.endswith("/MLmodel") for key in keys), keys
    experiment = next(e for e in experiments if e["name"] == "review-sentiment")
    assert experiment["artifact_location"] == app["MLFLOW_ARTIFACT_ROOT"]
