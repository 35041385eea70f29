from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from analytics import views as analytics_views
from project.plotly import PLOTLY_URL, plotly_js
from reviews import labelling_views
from reviews import review_views as review_page_views
from reviews import views as review_views
from training import monitoring_views
from training import views as training_views

labelling = [
    path("", labelling_views.labelling_page, name="labelling"),
    path("next.json", labelling_views.labelling_next, name="labelling-next"),
    path("label.json", labelling_views.labelling_label, name="labelling-label"),
    path("skip.json", labelling_views.labelling_skip, name="labelling-skip"),
    path("undo.json", labelling_views.labelling_undo, name="labelling-undo"),
    path("release.json", labelling_views.labelling_release, name="labelling-release"),
    path("progress.json", labelling_views.labelling_progress, name="labelling-progress"),
    path("bulk/", review_views.bulk_page, name="labelling-bulk"),
    path("agreement/", labelling_views.agreement_page, name="labelling-agreement"),
]

urlpatterns = [
    path("", analytics_views.dashboard_page, name="home"),
    path("labelling/", include(labelling)),
    path("explore/", review_views.explore_page, name="explore"),
    path("explore/export.csv", review_views.export_csv, name="explore-export"),
    path("explore/<int:review_id>/", review_page_views.review_page, name="review"),
    path("explore/<int:review_id>/aspects/", review_page_views.review_aspects_save, name="review-aspects"),
    path("explore/<int:review_id>/suggestions/", review_page_views.review_suggestions_save, name="review-suggestions"),
    path("explore/<int:review_id>/label/", review_page_views.review_label_save, name="review-label"),
    path("imports/", review_views.imports_page, name="imports"),
    path("insights/", analytics_views.insights_page, name="insights"),
    path("insights/themes.json", analytics_views.themes_json, name="insights-themes"),
    path("insights/export.csv", analytics_views.insights_export_csv, name="insights-export"),
    path("monitoring/", monitoring_views.monitoring_page, name="monitoring"),
    path("monitoring/run/", monitoring_views.monitoring_run_now, name="monitoring-run"),
    path("models/", training_views.models_page, name="models"),
    path("models/<int:version_id>/", training_views.model_page, name="model"),
    path("models/<int:version_id>/promote/", training_views.promote, name="model-promote"),
    path("models/rollback/", training_views.rollback, name="model-rollback"),
    path("jobs/", training_views.jobs_page, name="jobs"),
    path("jobs/status.json", training_views.jobs_status, name="jobs-status"),
    path("jobs/start/", training_views.start_job, name="job-start"),
    path("jobs/<int:job_id>/cancel/", training_views.cancel_job, name="job-cancel"),
    path(PLOTLY_URL.lstrip("/"), plotly_js, name="plotly-js"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("favicon.ico", RedirectView.as_view(url="/static/favicon.svg", permanent=True)),
]
