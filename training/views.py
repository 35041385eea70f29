"""Staff pages for models and training jobs."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


@login_required
def models_page(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {})


model_page = promote = rollback = jobs_page = start_job = cancel_job = models_page


@login_required
def jobs_status(request: HttpRequest) -> JsonResponse:
    return JsonResponse({})
