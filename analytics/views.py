"""Staff pages for analytics: the dashboard (Plotly charts) and the insights page."""

from __future__ import annotations

from pathlib import Path

import plotly
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

PLOTLY_VERSION = plotly.__version__
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@require_GET
def plotly_js(request: HttpRequest) -> FileResponse:
    """plotly.js straight from the installed plotly wheel (no CDN, no copy in the repository).
    The version is in the URL, so browsers may cache it for a year."""
    response = FileResponse(open(PLOTLY_JS, "rb"), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


@login_required
def dashboard_page(request: HttpRequest) -> HttpResponse:
    from analytics.selectors import ScopeFilters, dashboard

    return render(request, "home.html", {"stats": dashboard(filters=ScopeFilters(), trend_days=30)})


@login_required
def insights_page(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {})
