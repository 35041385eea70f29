"""plotly.js for the staff pages' charts, served from the installed plotly wheel (no CDN, no copy in the repository)."""

from __future__ import annotations

import functools
from pathlib import Path

import plotly
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

PLOTLY_VERSION = plotly.__version__
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
# The version is in the URL, so browsers may cache it for a year.
PLOTLY_URL = f"/vendor/plotly-{PLOTLY_VERSION}.min.js"


@functools.cache
def _plotly_bytes() -> bytes:
    return PLOTLY_JS.read_bytes()


@require_GET
def plotly_js(request: HttpRequest) -> HttpResponse:
    """Read once per process and sent whole: a streamed file makes Django's ASGI handler warn on every request."""
    response = HttpResponse(_plotly_bytes(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response
