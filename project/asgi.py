"""One ASGI application: FastAPI for /api, Django for everything else.

Served as `uvicorn project.asgi:application`. Paths of the original seed client
(`/reviews/...`, `/training/...`, `/analytics/...` without the /api prefix) answer
with a 307 redirect to their /api twins; 307 keeps the method and body. /metrics (Prometheus)
is served by the FastAPI app too. Every request gets an id and is counted (project/observability.py).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
django_application = get_asgi_application()  # sets Django up before the routers import models

from project.api import app as api_application  # noqa: E402
from project.bodylimit import BodySizeLimit  # noqa: E402
from project.observability import ObservabilityMiddleware  # noqa: E402

# Django spools a whole body to disk before any view or DATA_UPLOAD_MAX_MEMORY_SIZE check: cap it first.
# The Imports page's form takes review files: its own, larger limit.
django_application = BodySizeLimit(
    django_application, setting="PAGE_MAX_BODY_BYTES", paths={"/imports/": "IMPORT_MAX_UPLOAD_BYTES"}
)

SEED_API_PREFIXES = ("/reviews/", "/training/", "/analytics/")


async def _redirect_to_api(scope, receive, send) -> None:
    location = "/api" + scope["path"]
    if scope.get("query_string"):
        location += "?" + scope["query_string"].decode("latin-1")
    await send(
        {
            "type": "http.response.start",
            "status": 307,
            "headers": [(b"location", location.encode("latin-1")), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _route(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        # Django has no lifespan support; FastAPI's warms the model.
        await api_application(scope, receive, send)
        return
    path = scope.get("path", "")
    if path == "/api" or path.startswith("/api/") or path == "/metrics":
        await api_application(scope, receive, send)
    elif scope["type"] == "http" and (path == "/reviews" or path.startswith(SEED_API_PREFIXES)):
        await _redirect_to_api(scope, receive, send)
    else:
        await django_application(scope, receive, send)


application = ObservabilityMiddleware(_route)
