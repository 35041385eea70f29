"""Per-request instrumentation: request ids (header, context, log records, Celery tasks) and Prometheus metrics.

`ObservabilityMiddleware` wraps the whole ASGI application (project/asgi.py) and, for the sidecar
(`uvicorn project.api:app`), the FastAPI app too; the outer copy marks the scope so the inner one
steps aside. It runs on every request, including the 1,000 req/s predict endpoint, so it does no I/O:
a header scan, a context variable, two metric updates on memory-mapped files (prometheus_client's
multiprocess mode, so web workers and Celery workers are summed at scrape time; see project/metrics.py).

This module is imported by the logging configuration (settings.LOGGING), before the apps are ready:
it must not import models.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import socket
import time
from collections import Counter as _Tally
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from asgiref.sync import iscoroutinefunction
from celery.signals import before_task_publish, task_postrun, task_prerun
from django.conf import settings
from django.utils.decorators import sync_and_async_middleware

# settings.py points PROMETHEUS_MULTIPROC_DIR at a folder before prometheus_client decides its mode.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(settings.PROMETHEUS_MULTIPROC_DIR))

from prometheus_client import Counter, Histogram, values  # noqa: E402

P = ParamSpec("P")
R = TypeVar("R")

# --- Request ids ---------------------------------------------------------------------------------
REQUEST_ID_HEADER = b"x-request-id"
# A caller's id is kept only if it cannot break a log line or a header: at most 64 of these characters.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
NO_REQUEST = "-"
request_id_var: ContextVar[str] = ContextVar("request_id", default=NO_REQUEST)
# Set in the ASGI scope by the outermost middleware, so a second (inner) copy does nothing.
_SCOPE_REQUEST_ID = "revsent.request_id"
# Set in the ASGI scope by route_label_middleware: the Django URL pattern that answered.
_SCOPE_DJANGO_ROUTE = "revsent.route"


def current_request_id() -> str:
    """The id of the request this code runs for, or "-" outside a request."""
    return request_id_var.get()


def _incoming_request_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            return value.decode("ascii") if _SANE_REQUEST_ID.fullmatch(value) else None
    return None


class RequestIdFilter(logging.Filter):
    """Puts `request_id` on every record (settings.LOGGING attaches it to every handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


# --- Metrics ---------------------------------------------------------------------------------------
_HOST = re.sub(r"[^A-Za-z0-9.-]+", "-", socket.gethostname()) or "host"
_identifier = ""


def _reset_process_identifier() -> None:
    global _identifier
    _identifier = f"{_HOST}-{os.getpid()}"


def _process_identifier() -> str:
    """Host name and pid: containers sharing one metrics folder (docker compose's app-var volume) reuse pids.
    No underscore, which prometheus_client uses to split file names. Kept in a variable that a fork
    resets, because prometheus_client asks for it on every update and getpid() is a system call."""
    return _identifier


_reset_process_identifier()
os.register_at_fork(after_in_child=_reset_process_identifier)


# Before the first metric is made. prometheus_client calls the identifier on every update and starts
# new files when it changes, so Celery's forked children never write into their parent's files.
values.ValueClass = values.MultiProcessValue(_process_identifier)

HTTP_REQUESTS = Counter(
    "revsent_http_requests",
    "HTTP requests answered, by method, route template and status class",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "revsent_http_request_duration_seconds",
    "Time from the request reaching the application to the end of the response, by method and route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PREDICTIONS = Counter(
    "revsent_predictions",
    "Texts scored by a sentiment model (predict endpoint, ingestion, re-scoring, feedback clauses), "
    "by predicted label and model version",
    ["model_version", "label"],
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
_STATIC_PREFIX = settings.STATIC_URL
# Metric children by label values: labels() validates and locks on every call; a dict lookup does not.
_request_metrics: dict[tuple[str, str, int], tuple] = {}
_route_templates: dict[int, str] = {}
_prediction_counters: dict[tuple[str, str], object] = {}


def _fastapi_template(route, scope: dict) -> str:
    """The matched route's full path template. FastAPI keeps an included router's routes as they were
    declared ("/reviews/{review_id}"), so the include prefix ("/api") is what the request path has before
    the route's own part; it is the same for every request to that route, so it is worked out once."""
    template = _route_templates.get(id(route))
    if template is None:
        template = route.path
        try:
            own_part = template.format(**scope.get("path_params", {}))
        except (KeyError, IndexError, ValueError):  # a convertor such as {name:path}: keep the route's path
            return template
        path = scope.get("path", "")
        if path.endswith(own_part):
            template = _route_templates[id(route)] = path[: len(path) - len(own_part)] + template
    return template


def _route_template(scope: dict) -> str:
    """A bounded label: FastAPI's route template ("/api/reviews/{review_id}"), the Django URL pattern, or a bucket."""
    route = scope.get("route")  # set by Starlette's and FastAPI's routers on a match
    if route is not None:
        return _fastapi_template(route, scope) if getattr(route, "path", None) else "unmatched"
    django_route = scope.get(_SCOPE_DJANGO_ROUTE)
    if django_route is not None:
        return django_route
    path = scope.get("path", "")
    if path.startswith(_STATIC_PREFIX):
        return "static"
    if path.startswith("/api/") and scope.get("endpoint") is not None and not scope.get("path_params"):
        # A plain Starlette route of the API app (/api/docs, /api/openapi.json): no template, and without
        # path parameters its path is one of a fixed few, so it is a bounded label.
        return path
    return "unmatched"


def _record_request(scope: dict, status: int, seconds: float) -> None:
    method = scope.get("method", "")
    key = (method, _route_template(scope), status // 100)
    metrics = _request_metrics.get(key)
    if metrics is None:
        label_method = method if method in _METHODS else "other"
        metrics = _request_metrics[key] = (
            HTTP_REQUESTS.labels(label_method, key[1], _STATUS_CLASSES.get(key[2], "other")),
            HTTP_REQUEST_SECONDS.labels(label_method, key[1]),
        )
    metrics[0].inc()
    metrics[1].observe(seconds)


def _prediction_counter(model_version: str, label: str):
    counter = _prediction_counters.get((model_version, label))
    if counter is None:
        counter = _prediction_counters[(model_version, label)] = PREDICTIONS.labels(model_version, label)
    return counter


def count_predictions(model_version: str, labels: Iterable[str]) -> None:
    """Count predicted labels for Prometheus: call it once per batch wherever a model scores texts."""
    labels = labels if isinstance(labels, list | tuple) else list(labels)
    if len(labels) == 1:  # the single-text predict endpoint, on the event loop: keep it to one update
        _prediction_counter(model_version, labels[0]).inc()
        return
    for label, count in _Tally(labels).items():
        _prediction_counter(model_version, label).inc(count)


def counts_predictions(predict: Callable[P, R]) -> Callable[P, R]:
    """Decorate a function returning a batch with `.model_version` and `.results` (each with `.label`)."""

    @functools.wraps(predict)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        batch = predict(*args, **kwargs)
        count_predictions(batch.model_version, [result.label for result in batch.results])
        return batch

    return wrapper


# --- ASGI and Django middleware ----------------------------------------------------------------------
class ObservabilityMiddleware:
    """Pure ASGI: gives each HTTP request an id (the caller's X-Request-ID if sane, else 32 random hex digits),
    keeps it in `request_id_var` for the request's logs (anyio and asgiref copy the context into the
    thread pools that run sync endpoints and views), echoes it as X-Request-ID, and counts and times
    the request by route template. Logs nothing itself: access logs are uvicorn's."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or _SCOPE_REQUEST_ID in scope:
            await self.app(scope, receive, send)
            return
        # 32 random hex digits, like uuid4().hex without building a UUID (a third of the cost).
        request_id = _incoming_request_id(scope["headers"]) or os.urandom(16).hex()
        scope[_SCOPE_REQUEST_ID] = request_id
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500  # if the application fails before it starts a response

        async def send_with_request_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            _record_request(scope, status, time.perf_counter() - started)
            request_id_var.reset(token)


def _note_django_route(request) -> None:
    scope = getattr(request, "scope", None)  # ASGI requests only
    match = request.resolver_match
    if scope is not None and match is not None:
        scope[_SCOPE_DJANGO_ROUTE] = "/" + match.route


@sync_and_async_middleware
def route_label_middleware(get_response):
    """Django middleware: hands the matched URL pattern ("/explore/<int:review_id>/") to the ASGI
    middleware's request metrics. Sync and async, so it never adds a thread hop."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            response = await get_response(request)
            _note_django_route(request)
            return response

    else:

        def middleware(request):
            response = get_response(request)
            _note_django_route(request)
            return response

    return middleware


# --- Celery: a task enqueued during a request logs with that request's id ----------------------------
TASK_HEADER = "revsent_request_id"
_task_tokens: dict[str, object] = {}


@before_task_publish.connect
def _publish_request_id(headers=None, **kwargs) -> None:
    request_id = request_id_var.get()
    if headers is not None and request_id != NO_REQUEST:
        headers.setdefault(TASK_HEADER, request_id)


@task_prerun.connect
def _adopt_request_id(task_id=None, task=None, **kwargs) -> None:
    request_id = getattr(task.request, TASK_HEADER, None) if task is not None else None
    if isinstance(request_id, str) and _SANE_REQUEST_ID.fullmatch(request_id.encode("ascii", "replace")):
        _task_tokens[task_id] = request_id_var.set(request_id)


@task_postrun.connect
def _drop_request_id(task_id=None, **kwargs) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        request_id_var.reset(token)
