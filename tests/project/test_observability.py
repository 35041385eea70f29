"""Request ids, log formats and the Prometheus /metrics endpoint (project/observability.py, project/metrics.py)."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.test import override_settings
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from project.observability import ObservabilityMiddleware, RequestIdFilter, count_predictions, request_id_var
from reviews.roles import LABELLER, MANAGER
from tests.factories import ReviewFactory, TokenFactory, TrainingJobFactory, UserFactory
from tests.live import running_server, running_worker, service_env
from training.models import TrainingJob
from training.registry import model_version_ensure_baseline

BASE_DIR = Path(__file__).resolve().parents[2]
NEW_ID = re.compile(r"[0-9a-f]{32}")


def client(host: str = "127.0.0.1") -> TestClient:
    """The whole ASGI app, as seen from `host` (TestClient's default client address is not an IP)."""
    from project.asgi import application

    return TestClient(application, client=(host, 50000), follow_redirects=False)


def token_headers(role: str) -> dict[str, str]:
    return {"Authorization": f"Token {TokenFactory(user=UserFactory(role=role)).key}"}


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels` (0 when there is none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items()):
                total += sample.value
    return total


def scrape(host: str = "127.0.0.1", **headers: str) -> str:
    response = client(host).get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


class Records(logging.Handler):
    """Keeps every record, after the same request-id filter settings.LOGGING puts on its handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RequestIdFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records():
    handler = Records()
    logger = logging.getLogger("tests.observability")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


# --- Request ids --------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_each_response_gets_a_new_request_id():
    first = client().get("/api/health")
    second = client().get("/api/health")

    assert NEW_ID.fullmatch(first.headers["x-request-id"])
    assert NEW_ID.fullmatch(second.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/api/health", "/accounts/login/", "/reviews/", "/no-such-page/"])
def test_a_sane_incoming_request_id_is_echoed_by_the_api_and_the_django_pages(path):
    response = client().get(path, headers={"X-Request-ID": "edge-7f3a.b_c"})

    assert response.headers["x-request-id"] == "edge-7f3a.b_c"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "incoming",
    ["x" * 65, "has spaces", "../../etc/passwd", "a;b=c", "", "line\tbreak"],
    ids=["too-long", "spaces", "slashes", "separators", "empty", "tab"],
)
def test_an_unsafe_incoming_request_id_is_replaced_by_a_new_one(incoming):
    response = client().get("/api/health", headers={"X-Request-ID": incoming})

    assert NEW_ID.fullmatch(response.headers["x-request-id"])


def test_the_request_id_reaches_log_records_from_a_sync_endpoint_on_the_thread_pool(records):
    app = FastAPI()

    @app.get("/work")
    def work() -> dict:  # plain def: FastAPI runs it on anyio's worker threads
        logging.getLogger("tests.observability").warning("working")
        return {"request_id": request_id_var.get(), "thread": threading.current_thread().name}

    response = TestClient(ObservabilityMiddleware(app)).get("/work", headers={"X-Request-ID": "req-from-edge"})

    assert response.json() == {"request_id": "req-from-edge", "thread": "AnyIO worker thread"}
    assert [(r.getMessage(), r.request_id) for r in records] == [("working", "req-from-edge")]


def test_log_records_outside_a_request_carry_a_dash(records):
    logging.getLogger("tests.observability").warning("no request here")

    assert records[0].request_id == "-"


def test_the_request_id_is_gone_after_the_request():
    app = FastAPI()

    @app.get("/work")
    def work() -> dict:
        return {}

    TestClient(ObservabilityMiddleware(app)).get("/work")

    assert request_id_var.get() == "-"


@pytest.mark.django_db(transaction=True)
def test_the_fastapi_app_served_alone_gives_request_ids_and_metrics():
    from project.api import app

    sidecar = TestClient(app, client=("127.0.0.1", 50000))

    assert sidecar.get("/api/health", headers={"X-Request-ID": "sidecar-1"}).headers["x-request-id"] == "sidecar-1"
    assert "revsent_http_requests_total" in sidecar.get("/metrics").text


# --- Log formats ----------------------------------------------------------------------------------------
LOG_TWO_LINES = (
    "import django, logging; django.setup(); "
    "from project.observability import request_id_var; "
    "logging.getLogger('revsent.check').warning('outside'); "
    "request_id_var.set('req-42'); "
    "logging.getLogger('revsent.check').warning('inside %s', 'a request')"
)


def run_django(code: str, tmp_path: Path, **environment: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST", "LOG_"))}
    env.update(DJANGO_SETTINGS_MODULE="project.settings", VAR_DIR=str(tmp_path / "var"), **environment)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_text_log_lines_show_the_request_id(tmp_path):
    result = run_django(LOG_TWO_LINES, tmp_path)

    lines = [line for line in result.stderr.splitlines() if "revsent.check" in line]
    assert result.returncode == 0, result.stderr
    assert lines[0].endswith("WARNING revsent.check [-] outside")
    assert lines[1].endswith("WARNING revsent.check [req-42] inside a request")


def test_json_log_lines_parse_and_carry_the_request_id(tmp_path):
    result = run_django(LOG_TWO_LINES, tmp_path, LOG_FORMAT="json")

    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    checks = [line for line in lines if line["logger"] == "revsent.check"]
    assert [(line["level"], line["message"], line["request_id"]) for line in checks] == [
        ("WARNING", "outside", "-"),
        ("WARNING", "inside a request", "req-42"),
    ]
    assert all(line["time"] for line in checks)
    # The log file gets the same JSON lines.
    file_lines = (tmp_path / "var" / "logs" / "app.log").read_text().splitlines()
    assert json.loads(file_lines[-1])["request_id"] == "req-42"


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"LOG_FORMAT": "yaml"}, "LOG_FORMAT must be text or json, got 'yaml'"),
        ({"METRICS_ALLOWED_NETWORKS": "10.0.0.0/8,office"}, "METRICS_ALLOWED_NETWORKS must be a comma-separated"),
    ],
    ids=["log-format", "metrics-networks"],
)
def test_an_unclear_observability_setting_stops_the_start_with_a_message(tmp_path, environment, message):
    result = run_django("import django; django.setup()", tmp_path, **environment)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


# --- Who may read /metrics -------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_metrics_are_served_to_loopback_without_a_token_by_default():
    assert client("127.0.0.1").get("/metrics").status_code == 200
    assert client("::1").get("/metrics").status_code == 200
    assert client("::ffff:127.0.0.1").get("/metrics").status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("host", ["203.0.113.5", "10.1.2.3", "testclient"])
def test_metrics_refuse_addresses_outside_the_allowed_networks(host):
    response = client(host).get("/metrics")

    assert response.status_code == 403
    assert "revsent_" not in response.text


@pytest.mark.django_db(transaction=True)
@override_settings(METRICS_ALLOWED_NETWORKS=["203.0.113.0/24"])
def test_metrics_follow_the_allowed_networks_setting():
    assert client("203.0.113.5").get("/metrics").status_code == 200
    assert client("127.0.0.1").get("/metrics").status_code == 403


@pytest.mark.django_db(transaction=True)
@override_settings(METRICS_TOKEN="s3cret-metrics-token")
def test_with_a_token_set_metrics_need_it():
    missing = client().get("/metrics")
    wrong = client().get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    other_scheme = client().get("/metrics", headers={"Authorization": "Basic s3cret-metrics-token"})

    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 403
    assert other_scheme.status_code == 401
    assert client().get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"}).status_code == 200
    assert client().get("/metrics", headers={"Authorization": "Token s3cret-metrics-token"}).status_code == 200


@pytest.mark.django_db(transaction=True)
@override_settings(METRICS_TOKEN="s3cret-metrics-token")
def test_the_right_token_from_outside_the_allowed_networks_is_still_refused():
    response = client("203.0.113.5").get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})

    assert response.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_metrics_are_not_part_of_the_api_schema():
    paths = client().get("/api/openapi.json").json()["paths"]

    assert "/metrics" not in paths
    assert not any("metrics" in path for path in paths)


# --- What /metrics shows -----------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_requests_are_counted_by_route_template_not_by_raw_path():
    model_version_ensure_baseline()
    headers = token_headers(LABELLER)
    reviews = ReviewFactory.create_batch(3)
    before = scrape()

    for review in reviews:
        assert client().get(f"/api/reviews/{review.pk}", headers=headers).status_code == 200
    assert client().get("/api/reviews/999999999", headers=headers).status_code == 404
    assert client().get("/accounts/login/").status_code == 200
    assert client().get("/").status_code == 302  # the dashboard sends anonymous users to the login page
    assert client().get("/no-such-page/").status_code == 404
    assert client().get("/api/openapi.json").status_code == 200
    assert client().get("/api/no-such-endpoint").status_code == 404
    after = scrape()

    def delta(**labels: str) -> float:
        return metric(after, "revsent_http_requests_total", **labels) - metric(
            before, "revsent_http_requests_total", **labels
        )

    assert delta(method="GET", route="/api/reviews/{review_id}", status="2xx") == 3
    assert delta(method="GET", route="/api/reviews/{review_id}", status="4xx") == 1
    assert delta(method="GET", route="/accounts/login/", status="2xx") == 1
    assert delta(method="GET", route="/", status="3xx") == 1
    assert delta(method="GET", route="unmatched", status="4xx") == 2
    assert delta(method="GET", route="/api/openapi.json", status="2xx") == 1
    assert "999999999" not in after
    assert f"/api/reviews/{reviews[0].pk}" not in after
    histogram_count = "revsent_http_request_duration_seconds_count"
    assert (
        metric(after, histogram_count, route="/api/reviews/{review_id}")
        - metric(before, histogram_count, route="/api/reviews/{review_id}")
        == 4
    )


@pytest.mark.django_db(transaction=True)
def test_predictions_are_counted_by_label_and_model_version():
    model_version_ensure_baseline()
    labeller, manager = token_headers(LABELLER), token_headers(MANAGER)
    before = scrape()

    one = client().post("/api/reviews/predict", json={"text": "Lovely staff and superb pasta"}, headers=labeller)
    many = client().post(
        "/api/reviews/predict", json={"texts": ["Delicious food", "Rude waiter and cold food"]}, headers=labeller
    )
    ingested = client().post("/api/reviews/", json={"text": "Friendly staff, great value"}, headers=manager)
    after = scrape()

    assert {one.status_code, many.status_code, ingested.status_code} == {200, 201}
    labels = [one.json()["label"], *(p["label"] for p in many.json()["predictions"])]
    labels.append(ingested.json()["prediction"]["label"])
    version = one.json()["model_version"]
    for label in set(labels):
        counted = metric(after, "revsent_predictions_total", model_version=version, label=label) - metric(
            before, "revsent_predictions_total", model_version=version, label=label
        )
        assert counted == labels.count(label), label


@pytest.mark.django_db(transaction=True)
def test_queue_lengths_are_read_from_the_broker_at_scrape_time(broker):
    from training.tasks import extract_aspects

    for _ in range(3):
        extract_aspects.apply_async(args=[[]], queue="bulk")
    extract_aspects.apply_async(args=[[]], queue="training")
    text = scrape()

    assert metric(text, "revsent_broker_up") == 1
    assert metric(text, "revsent_celery_queue_length", queue="bulk") == 3
    assert metric(text, "revsent_celery_queue_length", queue="training") == 1
    assert metric(text, "revsent_celery_queue_length", queue="default") == 0


@pytest.mark.django_db(transaction=True)
def test_training_jobs_are_counted_by_status_and_kind():
    model_version_ensure_baseline()
    TrainingJobFactory.create_batch(2, status=TrainingJob.Status.SUCCEEDED)
    TrainingJobFactory(status=TrainingJob.Status.FAILED)
    TrainingJobFactory(status=TrainingJob.Status.FAILED, parameters={"model": "aspects"})
    TrainingJobFactory(status=TrainingJob.Status.RUNNING)
    text = scrape()

    assert metric(text, "revsent_training_jobs", status="succeeded", kind="sentiment") == 2
    assert metric(text, "revsent_training_jobs", status="failed", kind="sentiment") == 1
    assert metric(text, "revsent_training_jobs", status="failed", kind="aspects") == 1
    assert metric(text, "revsent_training_jobs", status="running", kind="sentiment") == 1
    assert metric(text, "revsent_training_jobs", status="cancelled", kind="aspects") == 0  # present, as zero
    assert 'revsent_training_jobs{kind="aspects",status="cancelled"} 0.0' in text
    assert metric(text, "revsent_deployed_model_info", kind="sentiment", version="baseline-lexicon") == 1
    assert metric(text, "revsent_metrics_database_up") == 1


@pytest.mark.django_db(transaction=True)
def test_counts_from_separate_processes_are_summed_in_one_scrape(tmp_path):
    version = f"multiprocess-{uuid.uuid4().hex[:8]}"
    code = (
        "import django; django.setup(); from project.observability import count_predictions; "
        f"count_predictions({version!r}, ['positive', 'positive', 'negative'])"
    )
    for _ in range(2):
        result = run_django(code, tmp_path)
        assert result.returncode == 0, result.stderr
    count_predictions(version, ["negative"])  # and this process

    text = scrape()

    assert metric(text, "revsent_predictions_total", model_version=version, label="positive") == 4
    assert metric(text, "revsent_predictions_total", model_version=version, label="negative") == 3


@pytest.mark.django_db(transaction=True)
def test_a_forked_child_counts_into_its_own_file_so_neither_process_overwrites_the_other():
    version = f"forked-{uuid.uuid4().hex[:8]}"
    count_predictions(version, ["positive"])

    child = os.fork()  # as Celery's prefork pool does
    if child == 0:
        try:
            count_predictions(version, ["positive", "positive"])
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    count_predictions(version, ["positive"])

    assert metric(scrape(), "revsent_predictions_total", model_version=version, label="positive") == 4
    assert list(settings.PROMETHEUS_MULTIPROC_DIR.glob(f"counter_*-{child}.db"))


# --- Real processes ------------------------------------------------------------------------------------------
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_two_uvicorn_workers_are_counted_together():
    with running_server(workers=2) as base_url:
        before = httpx.get(f"{base_url}/metrics").text
        for _ in range(20):
            response = httpx.get(f"{base_url}/api/health", headers={"Connection": "close"})
            assert response.status_code == 200
            assert NEW_ID.fullmatch(response.headers["x-request-id"])
        after = httpx.get(f"{base_url}/metrics").text

    labels = {"method": "GET", "route": "/api/health", "status": "2xx"}
    assert (
        metric(after, "revsent_http_requests_total", **labels) - metric(before, "revsent_http_requests_total", **labels)
        == 20
    )


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_task_enqueued_during_a_request_logs_with_that_request_id_in_the_worker(broker):
    from training.tasks import extract_aspects

    token = request_id_var.set("req-for-the-worker")
    try:
        extract_aspects.apply_async(args=[[]])
    finally:
        request_id_var.reset(token)
    extract_aspects.apply_async(args=[[]])  # outside any request

    with running_worker() as worker:
        deadline = time.monotonic() + 90
        while worker.read_text().count("succeeded") < 2:
            assert time.monotonic() < deadline, worker.read_text()[-3000:]
            assert worker.process.poll() is None, worker.read_text()[-3000:]
            time.sleep(0.2)
        succeeded = [line for line in worker.read_text().splitlines() if "succeeded" in line]

    assert any("[req-for-the-worker] Task reviews.extract_aspects[" in line for line in succeeded), succeeded
    assert any("[-] Task reviews.extract_aspects[" in line for line in succeeded), succeeded


def test_settings_create_the_metrics_folder_and_export_it_to_child_processes():
    assert settings.PROMETHEUS_MULTIPROC_DIR.is_dir()
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(settings.PROMETHEUS_MULTIPROC_DIR)
    assert service_env()["PROMETHEUS_MULTIPROC_DIR"] == str(settings.PROMETHEUS_MULTIPROC_DIR)


@pytest.mark.django_db(transaction=True)
def test_an_unexpected_api_error_is_json_and_logged_with_its_request_id(monkeypatch, manager_headers):
    from analytics import selectors
    from project.asgi import application

    def broken(**kwargs):
        raise RuntimeError("a bug in the dashboard")

    monkeypatch.setattr(selectors, "dashboard", broken)
    handler = Records()
    logging.getLogger("project.api").addHandler(handler)
    try:
        response = TestClient(application, raise_server_exceptions=False).get(
            "/api/analytics/dashboard", headers={**manager_headers, "X-Request-ID": "req-bug-1"}
        )
    finally:
        logging.getLogger("project.api").removeHandler(handler)

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal error; it was logged with request id req-bug-1"}
    [record] = [r for r in handler.records if r.levelno == logging.ERROR]
    assert record.request_id == "req-bug-1" and "a bug in the dashboard" in str(record.exc_info[1])
