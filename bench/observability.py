"""Per-request cost of project/observability.py's middleware (request id, context variable, X-Request-ID
header, request counter and latency histogram in multiprocess mode) around a trivial ASGI app.

    VAR_DIR=/tmp/obs-bench .venv/bin/python bench/observability.py [--requests 200000]

Prints the CPU time per request without and with the middleware, and the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from project.observability import ObservabilityMiddleware  # noqa: E402

ROUTE = SimpleNamespace(path="/api/reviews/predict")  # what Starlette's router puts in the scope
HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"wrk"),
    (b"authorization", b"Token 0123456789abcdef0123456789abcdef01234567"),
    (b"content-type", b"application/json"),
    (b"content-length", b"42"),
]
START = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
BODY = {"type": "http.response.body", "body": b'{"label":"positive"}'}


async def trivial_app(scope, receive, send) -> None:
    scope["route"] = ROUTE
    await send(dict(START))
    await send(BODY)


async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message) -> None:
    pass


async def per_request_seconds(app, requests: int, headers: list) -> float:
    # CPU time of this process: on a shared machine, wall time would count other processes' turns.
    started = time.process_time()
    for _ in range(requests):
        scope = {"type": "http", "method": "POST", "path": "/api/reviews/predict", "headers": headers}
        await app(scope, receive, send)
    return (time.process_time() - started) / requests


async def main(requests: int) -> None:
    wrapped = ObservabilityMiddleware(trivial_app)
    with_id = [*HEADERS, (b"x-request-id", b"client-supplied-id-0001")]
    for label, headers in (("new id", HEADERS), ("caller's id", with_id)):
        await per_request_seconds(wrapped, 1000, headers)  # warm: label children, mmap files
        bare = min([await per_request_seconds(trivial_app, requests, headers) for _ in range(3)])
        observed = min([await per_request_seconds(wrapped, requests, headers) for _ in range(3)])
        print(
            f"{label:12s} bare {bare * 1e6:6.2f} µs  with middleware {observed * 1e6:6.2f} µs  "
            f"overhead {(observed - bare) * 1e6:6.2f} µs per request"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().requests))
