"""/api/docs in a real browser with no way out (issue 17): any request to another host is aborted and
recorded, and Swagger UI must still render every operation of the OpenAPI document."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = pytest.mark.browser

DOCUMENTED = [
    ("POST", "/api/reviews/"),
    ("GET", "/api/reviews/"),
    ("POST", "/api/reviews/{review_id}/label"),
    ("POST", "/api/reviews/predict"),
    ("POST", "/api/training/start"),
    ("GET", "/api/training/status/{job_id}"),
    ("GET", "/api/analytics/dashboard"),
    ("GET", "/api/analytics/constructive-feedback"),
]
RENDERED_OPERATIONS = """() => Array.from(document.querySelectorAll('.opblock'), block => [
    block.querySelector('.opblock-summary-method').textContent.trim(),
    block.querySelector('.opblock-summary-path').dataset.path,
])"""


def schema_operations(live_url: str) -> set[tuple[str, str]]:
    paths = httpx.get(f"{live_url}/api/openapi.json").json()["paths"]
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


def test_swagger_ui_renders_every_operation_without_leaving_this_host(page, live_url, tmp_path):
    local = urlsplit(live_url).netloc
    elsewhere: list[str] = []

    def only_local(route):
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != local:
            elsewhere.append(url)
            route.abort()
        else:
            route.continue_()

    page.context.route("**/*", only_local)

    page.goto("/api/docs")
    try:
        page.wait_for_selector('.opblock-post .opblock-summary-path[data-path="/api/reviews/"]')
        page.wait_for_load_state("networkidle")
    finally:
        assert elsewhere == []  # first: a page that needs another host may not render at all

    rendered = {tuple(operation) for operation in page.evaluate(RENDERED_OPERATIONS)}
    assert set(DOCUMENTED) <= rendered
    assert rendered == schema_operations(live_url)
    assert page.title() == "Review Sentiment API - Swagger UI"
    assert page.console.problems == []

    shots = os.environ.get("SCREENSHOT_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=f"{shots or tmp_path}/api-docs.png", full_page=True)
