"""The FastAPI app, serving every path under /api, and /metrics (Prometheus, outside the schema).

Importable on its own (`uvicorn project.api:app`) to run as a sidecar next to the
Django site; `project.asgi` routes /api to it in the combined process.
"""

from __future__ import annotations

import gc
import logging
import os
from contextlib import asynccontextmanager
from typing import Annotated

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
django.setup()  # before importing routers that touch models

import anyio.to_thread  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import OperationalError, connection  # noqa: E402
from fastapi import FastAPI, Query, Request  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from analytics.api import router as analytics_router  # noqa: E402
from project import apidocs  # noqa: E402
from project.bodylimit import BodySizeLimit  # noqa: E402
from project.celery import app as celery_app  # noqa: E402
from project.db import releases_db_connection  # noqa: E402
from project.errors import error_responses  # noqa: E402
from project.metrics import metrics, register_database_source  # noqa: E402
from project.observability import ObservabilityMiddleware, current_request_id  # noqa: E402
from project.outbox.relay import start_relay, stop_relay  # noqa: E402
from project.queryparams import RepeatedQueryParameters  # noqa: E402
from reviews.api import router as reviews_router  # noqa: E402
from reviews.aspects_api import router as review_aspects_router  # noqa: E402
from training.api import router as training_router  # noqa: E402
from training.metrics import training_metrics  # noqa: E402
from training.ml import language  # noqa: E402
from training.predict_api import router as predict_router  # noqa: E402
from training.registry import get_deployed_model  # noqa: E402

logger = logging.getLogger("project.api")

DESCRIPTION = """
Review sentiment platform API. Every endpoint except `/api/health`, `/api/docs` and
`/api/openapi.json` needs `Authorization: Token <key>` (issue keys in the Django
admin or with `manage.py create_api_token <username>`). Roles: **labeller** (read,
predict, label, export) and **manager** (also ingest, delete, train, cancel);
staff users and superusers can do everything.
Errors are JSON with a `detail` message; invalid input (422) also lists `errors`,
each naming its field.
"""


@asynccontextmanager
async def lifespan(app: FastAPI):
    # Sync endpoints run on this thread pool; the PostgreSQL pool is sized to match.
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.API_THREADS
    try:
        await run_in_threadpool(_warm_model)
    except Exception:  # a missing migration must not stop /api/health from reporting it
        logger.exception("Could not load the deployed model at start-up")
    # Everything loaded so far (Django, scikit-learn, the model) lives as long as the process: moved out
    # of the collector's generations, full collections stop walking it on the request path.
    gc.freeze()
    # Sends background work the broker could not take (project/outbox/relay.py); its first pass runs now.
    start_relay()
    try:
        yield
    finally:
        await run_in_threadpool(stop_relay)


@releases_db_connection
def _warm_model() -> None:
    deployed = get_deployed_model()
    deployed.model.predict_proba(["warm-up"])
    # The English word list and py3langid's model take ~2 s to load; here, not in the first POSTs.
    language.warm_up()
    logger.info("Serving model %s", deployed.name)


app = FastAPI(
    title="Review Sentiment API",
    version="1.0.0",
    description=DESCRIPTION,
    # /api/docs comes from project.apidocs: Swagger UI from our own files, not a CDN.
    docs_url=None,
    redoc_url=None,
    openapi_url="/api/openapi.json",
    lifespan=lifespan,
    # Our own Prometheus metrics and request ids cover this; FastAPI's OpenTelemetry hooks asked
    # opentelemetry for its providers (an os.environ lookup) on every request: 5% of a create's samples.
    telemetry={"tracing": False, "metrics": False, "logs": False},
)
apidocs.install(app)
# Every endpoint with a token can meet the body limit and the token's rate limit.
LIMIT_RESPONSES = error_responses(413, 429)
app.include_router(reviews_router, prefix="/api", responses=LIMIT_RESPONSES)
app.include_router(predict_router, prefix="/api", responses=LIMIT_RESPONSES)
app.include_router(review_aspects_router, prefix="/api", responses=LIMIT_RESPONSES)
app.include_router(training_router, prefix="/api", responses=LIMIT_RESPONSES)
app.include_router(analytics_router, prefix="/api", responses=LIMIT_RESPONSES)
# Refuse oversized bodies before FastAPI reads and parses them (it does so before the token check).
app.add_middleware(BodySizeLimit, setting="API_MAX_BODY_BYTES")
app.add_middleware(RepeatedQueryParameters)


def _field_name(location: tuple) -> str:
    return ".".join(str(part) for part in location) or "body"


@app.exception_handler(RequestValidationError)
async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for error in exc.errors():
        message = error.get("msg", "invalid")
        location = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            position = location[1] if len(location) > 1 else "?"
            message = f"Malformed JSON at character {position}: {error.get('ctx', {}).get('error', 'unparseable')}"
            location = ("body",)
        errors.append({"field": _field_name(location), "message": message})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "Invalid request"
    return JSONResponse(status_code=422, content={"detail": detail, "errors": errors})


# FastAPI's own answer to a body it cannot decode at all (invalid UTF-8, say), where malformed JSON gets a
# RequestValidationError: both are invalid input, documented as 422 with the "body" field named.
_UNREADABLE_BODY = "There was an error parsing the body"


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY:
        message = "The body cannot be read as JSON (it must be UTF-8 encoded JSON)"
        return JSONResponse(
            status_code=422, content={"detail": f"body: {message}", "errors": [{"field": "body", "message": message}]}
        )
    content = {"detail": str(exc.detail), **getattr(exc, "fields", {})}
    return JSONResponse(status_code=exc.status_code, content=content, headers=getattr(exc, "headers", None))


@app.exception_handler(Exception)
async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug: JSON like every other error, and the traceback in the application's log with the request id
    (uvicorn alone would answer text/plain and print it to its stderr only)."""
    logger.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        status_code=500,
        content={"detail": f"Internal error; it was logged with request id {current_request_id()}"},
    )


@app.exception_handler(OperationalError)
async def database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
    logger.error("Database error on %s: %s", request.url.path, exc)
    return JSONResponse(status_code=503, content={"detail": "The database is unavailable; try again shortly"})


class PoolStats(BaseModel):
    max_size: int
    open_connections: int = Field(description="Connections the pool holds open")
    idle_in_pool: int = Field(description="Open connections not lent to any thread")
    waiting: int = Field(description="Threads waiting for a connection")


class HealthOut(BaseModel):
    status: str
    checks: dict[str, str]
    database_pool: PoolStats | None = Field(
        default=None, description="This process's PostgreSQL connection pool (absent without a pool)"
    )


@releases_db_connection
def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_cache() -> str:
    cache.set("health-check", "ok", 10)
    return "ok" if cache.get("health-check") == "ok" else "cache did not return what was stored"


def _check_broker() -> str:
    if celery_app.conf.broker_url.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_DIR
        return "ok" if folder.is_dir() and os.access(folder, os.W_OK) else f"{folder} is not writable"
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def _pool_stats() -> dict | None:
    if "pool" not in connection.settings_dict.get("OPTIONS", {}):
        return None
    pool = connection.pool
    if pool is None:
        return None
    stats = pool.get_stats()
    return {
        "max_size": pool.max_size,
        "open_connections": stats.get("pool_size", 0),
        "idle_in_pool": stats.get("pool_available", 0),
        "waiting": stats.get("requests_waiting", 0),
    }


def _run_checks() -> dict[str, str]:
    results = {}
    for name, check in (("database", _check_database), ("cache", _check_cache), ("broker", _check_broker)):
        try:
            results[name] = check()
        except Exception as exc:  # report, never raise: this is the health endpoint
            results[name] = f"error: {type(exc).__name__}: {exc}"[:300]
    return results


@app.get(
    "/api/health",
    response_model=HealthOut,
    tags=["health"],
    summary="Reachability of the database, broker and cache (public)",
    description="200 `ok` when all three answer; 200 `degraded` when only the cache or the broker is down "
    "(predictions and review creation go on, background work waits in the outbox); 503 `unavailable` "
    "when the database is down. With `strict=true`, anything unreachable is a 503.",
    responses={
        **error_responses(422),
        503: {"model": HealthOut, "description": "The database (or, with strict, anything) is unreachable"},
    },
)
async def health(
    strict: Annotated[bool, Query(description="Answer 503 when the cache or the broker is down too")] = False,
) -> JSONResponse:
    checks = await run_in_threadpool(_run_checks)
    if all(value == "ok" for value in checks.values()):
        status = "ok"
    elif checks["database"] == "ok" and not strict:
        # A web process without Redis still serves (project/cache.py, project/outbox/): a load balancer or
        # compose health check must not take it out of service for that.
        status = "degraded"
    else:
        status = "unavailable"
    return JSONResponse(
        status_code=503 if status == "unavailable" else 200,
        content={"status": status, "checks": checks, "database_pool": _pool_stats()},
    )


register_database_source(training_metrics)
app.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
# Request ids and request metrics when this app is served on its own; in project.asgi the whole site is
# wrapped once and this copy steps aside. Added last, so it is the outermost middleware.
app.add_middleware(ObservabilityMiddleware)
