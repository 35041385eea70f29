from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analytics.selectors import ScopeFilters, dashboard


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"stats": dashboard(filters=ScopeFilters(), trend_days=30)})
