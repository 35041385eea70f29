from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from reviews import votes
from reviews.models import Review
from reviews.roles import LABELLER, MANAGER
from tests.factories import ModelVersionFactory, ReviewFactory, TrainingJobFactory, UserFactory
from training.aspect_extraction import review_extract_aspects
from training.models import Deployment, ModelVersion, TrainingJob

pytestmark = pytest.mark.django_db

PAGES = [
    "/",
    "/labelling/",
    "/labelling/bulk/",
    "/labelling/agreement/",
    "/explore/",
    "/insights/",
    "/models/",
    "/jobs/",
]
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def logged_in(user, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def with_token(client: Client, data: dict) -> dict:
    client.get("/jobs/")
    return {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}


def scored(label: str = "negative", confidence: float = 0.6, **fields) -> Review:
    others = [name for name in ("positive", "neutral", "negative") if name != label]
    scores = {label: confidence, others[0]: (1 - confidence) / 2, others[1]: (1 - confidence) / 2}
    return ReviewFactory(predicted_label=label, predicted_confidence=confidence, predicted_scores=scores, **fields)


@pytest.fixture
def staff():
    return logged_in(UserFactory(is_staff=True))


@pytest.fixture
def manager():
    return logged_in(UserFactory(role=MANAGER))


@pytest.fixture
def labeller():
    return logged_in(UserFactory(role=LABELLER))


@pytest.mark.parametrize("path", PAGES + ["/explore/export.csv", "/labelling/progress.json", "/jobs/status.json"])
def test_every_page_needs_a_login(path):
    response = Client().get(path)

    assert response.status_code in (302, 401)
    if response.status_code == 302:
        assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_the_navigation_bar(staff, path):
    scored(rating=5, business="Blue Fin", text="Great food but the service was slow and rude. Please add more staff.")

    response = staff.get(path)

    assert response.status_code == 200, path
    content = response.content.decode()
    for link in ('href="/labelling/"', 'href="/explore/"', 'href="/insights/"', 'href="/models/"', 'href="/jobs/"'):
        assert link in content
    assert 'href="/admin/"' in content  # staff
    assert 'rel="icon"' in content


def test_non_staff_users_see_no_admin_link(labeller):
    assert 'href="/admin/"' not in labeller.get("/explore/").content.decode()


def test_the_favicon_redirects_to_the_svg():
    response = Client().get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == "/static/favicon.svg"


def test_plotly_is_served_from_the_wheel_with_long_caching(staff):
    page = staff.get("/").content.decode()
    url = page.split('<script src="/vendor/')[1].split('"')[0]

    response = staff.get("/vendor/" + url)

    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert b"plotly" in response.content[:2000].lower()


def test_dashboard_filters_reach_every_chart(staff):
    scored(source="yelp", business="Blue Fin", rating=5)
    scored(source="google", business="Spice Garden", rating=1)

    response = staff.get("/?source=yelp&granularity=week")

    charts = response.context["charts"]
    assert charts["distribution"]["total"] == 1
    assert charts["by_source"]["names"] == ["yelp"]
    assert charts["by_business"]["names"] == ["Blue Fin"]
    assert sum(charts["trend"]["total"]) == 1
    assert sum(map(sum, charts["rating_vs_predicted"]["z"])) == 1
    assert set(response.context["timings"]) == {
        "distribution",
        "trend",
        "by_source",
        "by_business",
        "rating_vs_predicted",
    }


def test_themes_come_from_the_constructive_feedback(staff):
    review = scored(
        business="Blue Fin", text="The pasta was lovely but the waiter was rude. You should hire friendlier waiters."
    )
    review_extract_aspects([review.pk])  # as after ingest: the feedback reads the stored aspects

    response = staff.get("/insights/themes.json?business=Blue+Fin")

    assert response.status_code == 200
    themes = response.json()["themes"]
    assert themes["analysed_reviews"] == 1
    assert "rude waiter" in themes["terms"] and "hire friendlier waiters" in themes["terms"]


def test_a_user_without_a_role_cannot_open_the_staff_pages():
    client = logged_in(UserFactory())

    for path in PAGES[1:]:
        response = client.get(path)
        assert response.status_code == 403, path
        assert b"You need the permission" in response.content, path  # says why


def test_a_user_without_a_role_sees_the_dashboard_without_the_review_texts_themes():
    response = logged_in(UserFactory()).get("/")

    assert response.status_code == 200
    assert b'id="chart-themes"' not in response.content
    assert b'id="chart-themes"' in logged_in(UserFactory(role=LABELLER)).get("/").content


def test_a_labeller_cannot_start_training_or_promote(labeller):
    version = ModelVersionFactory()

    assert labeller.post("/jobs/start/", {"min_samples": 5}).status_code == 403
    assert labeller.post(f"/models/{version.pk}/promote/", {"confirm": "yes"}).status_code == 403
    assert labeller.post("/models/rollback/", {"confirm": "yes"}).status_code == 403
    assert not TrainingJob.objects.exists()
    assert "Start a job" not in labeller.get("/jobs/").content.decode()


@pytest.mark.parametrize(
    "path,data",
    [
        ("/jobs/start/", {"min_samples": 5}),
        ("/models/rollback/", {"confirm": "yes"}),
        ("/labelling/bulk/", {"label": "negative", "scope": "all", "confirmed": "yes"}),
        ("/labelling/agreement/", {"review_id": 1, "label": "negative"}),
    ],
)
def test_state_changing_forms_need_the_csrf_token(path, data):
    client = logged_in(UserFactory(is_staff=True), csrf=True)
    scored()

    assert client.post(path, data).status_code == 403
    assert not TrainingJob.objects.exists()
    assert not Review.objects.filter(human_label__isnull=False).exists()


def test_a_manager_starts_a_job_with_min_samples(manager):
    response = manager.post("/jobs/start/", {"min_samples": 123})

    assert response.status_code == 302
    job = TrainingJob.objects.get()
    assert job.parameters == {"min_samples": 123}
    assert job.trigger == TrainingJob.Trigger.STAFF
    status = manager.get("/jobs/status.json").json()["jobs"][0]
    assert (status["id"], status["status"], status["requested_by"]) == (job.pk, "queued", job.requested_by.username)


@pytest.mark.parametrize("sent", ["1_000", "+5", "\u0663", "5.0", "-1", "0", "1e3", "1000000000"])
def test_min_samples_must_be_plain_digits_in_range(manager, sent):
    response = manager.post("/jobs/start/", {"min_samples": sent}, follow=True)

    assert "min_samples must be a whole number" in response.content.decode()
    assert not TrainingJob.objects.exists()


def test_a_failed_jobs_error_is_shown(staff):
    TrainingJobFactory(status=TrainingJob.Status.FAILED, error="Only 3 labelled or rated reviews; 50 needed")

    status = staff.get("/jobs/status.json").json()["jobs"][0]

    assert status["error"] == "Only 3 labelled or rated reviews; 50 needed"
    assert status["is_final"]


def test_a_second_job_is_refused_while_one_is_active(manager):
    TrainingJobFactory(status=TrainingJob.Status.RUNNING)

    response = manager.post("/jobs/start/", {"min_samples": 5}, follow=True)

    assert "one job runs at a time" in response.content.decode()
    assert TrainingJob.objects.count() == 1


def test_a_manager_cancels_a_queued_job(manager):
    job = TrainingJobFactory(status=TrainingJob.Status.QUEUED)

    manager.post(f"/jobs/{job.pk}/cancel/")

    job.refresh_from_db()
    assert job.status == TrainingJob.Status.CANCELLED
    assert job.cancel_requested


def test_promotion_needs_the_confirmation_and_is_recorded_with_the_user():
    user = UserFactory(role=MANAGER)
    client = logged_in(user)
    version = ModelVersionFactory(metrics={"evaluation": {"macro_f1": 0.7, "per_class": {}, "confusion_matrix": []}})

    client.post(f"/models/{version.pk}/promote/", {})
    assert ModelVersion.objects.get(pk=version.pk).stage == ModelVersion.Stage.CANDIDATE

    client.post(f"/models/{version.pk}/promote/", {"confirm": "yes", "reason": "better on neutral"})
    assert ModelVersion.objects.get(pk=version.pk).stage == ModelVersion.Stage.CHAMPION
    deployment = Deployment.objects.filter(model_version=version).get()
    assert (deployment.user, deployment.action, deployment.reason) == (user, "manual", "better on neutral")

    client.post("/models/rollback/", {"confirm": "yes"})
    assert ModelVersion.objects.get(pk=version.pk).stage == ModelVersion.Stage.ARCHIVED
    assert Deployment.objects.order_by("-id").first().action == "rollback"
    assert Deployment.objects.order_by("-id").first().user == user


def test_the_models_page_rolls_back_each_kind_of_model_on_its_own(manager):
    from training import registry, versions

    registry.model_version_ensure_baseline()
    for version in (
        ModelVersionFactory(name="sentiment-1", algorithm="tfidf-logreg"),
        ModelVersionFactory(name="aspects-1", kind="aspects", algorithm="aspects"),
        ModelVersionFactory(name="aspects-2", kind="aspects", algorithm="aspects"),
    ):
        versions.model_version_promote(version=version)

    page = manager.get("/models/").content.decode()
    assert "I want to roll back to baseline-lexicon" in page
    assert "I want to roll back to aspects-1" in page
    assert '<input type="hidden" name="kind" value="aspects">' in page

    manager.post("/models/rollback/", {"confirm": "yes"})  # no kind: the sentiment model, as before
    assert registry.current_champion().name == "baseline-lexicon"
    assert registry.current_champion("aspects").name == "aspects-2"
    manager.post("/models/rollback/", {"confirm": "yes", "kind": "aspects"})
    assert registry.current_champion("aspects").name == "aspects-1"
    assert registry.current_champion().name == "baseline-lexicon"


def test_a_second_click_on_the_same_rollback_form_does_not_undo_the_first(manager):
    import re

    from training import registry, versions

    registry.model_version_ensure_baseline()
    versions.model_version_promote(version=ModelVersionFactory(name="sentiment-1"))
    page = manager.get("/models/").content.decode()
    seen = re.search(r'name="kind" value="sentiment">\s*<input type="hidden" name="deployment" value="(\d+)"', page)
    form = {"confirm": "yes", "kind": "sentiment", "deployment": seen.group(1)}

    first = manager.post("/models/rollback/", form, follow=True)
    second = manager.post("/models/rollback/", form, follow=True)

    assert "baseline-lexicon is deployed again" in first.content.decode()
    assert "changed since the page was loaded" in second.content.decode()
    assert registry.current_champion().name == "baseline-lexicon"
    assert Deployment.objects.filter(action="rollback").count() == 1


def test_an_unknown_rollback_kind_is_refused_with_a_message(manager):
    from training import registry, versions

    registry.model_version_ensure_baseline()
    versions.model_version_promote(version=ModelVersionFactory(name="sentiment-1"))

    response = manager.post("/models/rollback/", {"confirm": "yes", "kind": "everything"}, follow=True)

    assert "Unknown model kind &#x27;everything&#x27;; use one of sentiment, aspects" in response.content.decode()
    assert registry.current_champion().name == "sentiment-1"


def test_the_model_page_shows_metrics_gate_and_the_mlflow_link(staff, settings):
    settings.MLFLOW_UI_URL = "http://mlflow.local:5000"
    version = ModelVersionFactory(
        mlflow_run_id="abc123",
        metrics={
            "evaluation": {
                "macro_f1": 0.71,
                "accuracy": 0.8,
                "n": 10,
                "ece": 0.05,
                "brier": 0.3,
                "per_class": {"positive": {"precision": 0.9, "recall": 0.8, "f1": 0.85, "support": 5}},
                "confusion_matrix": [[4, 1, 0], [0, 2, 1], [0, 0, 2]],
            }
        },
    )

    content = staff.get(f"/models/{version.pk}/").content.decode()
    listing = staff.get("/models/").content.decode()

    assert "0.71" in content and "0.85" in content and "0.05" in content
    assert 'href="http://mlflow.local:5000/#/runs/abc123"' in content
    assert 'href="http://mlflow.local:5000/#/runs/abc123"' in listing


def test_no_mlflow_link_without_the_setting(staff, settings):
    settings.MLFLOW_UI_URL = ""
    version = ModelVersionFactory(mlflow_run_id="abc123")

    assert "#/runs/abc123" not in staff.get(f"/models/{version.pk}/").content.decode()


def test_bulk_labelling_confirms_the_count_then_applies(manager):
    for _ in range(3):
        scored(source="yelp")
    scored(source="google")

    confirm = manager.post(
        "/labelling/bulk/", {"source": "yelp", "labelled": "no", "scope": "all", "label": "positive"}
    )
    assert confirm.status_code == 200
    assert confirm.context["count"] == 3
    assert Review.objects.filter(human_label__isnull=False).count() == 0

    done = manager.post(
        "/labelling/bulk/",
        {
            "source": "yelp",
            "labelled": "no",
            "scope": "all",
            "label": "positive",
            "confirmed": "yes",
            "selection": confirm.context["selection"],
        },
        follow=True,
    )
    assert "Labelled 3 reviews as positive" in done.content.decode()
    assert Review.objects.filter(source="yelp", human_label="positive").count() == 3
    assert Review.objects.get(source="google").human_label is None


def test_bulk_labelling_selected_rows_only(labeller):
    reviews = [scored() for _ in range(4)]
    ids = [reviews[0].pk, reviews[2].pk]

    labeller.post("/labelling/bulk/", {"scope": "selected", "review_ids": ids, "label": "neutral", "confirmed": "yes"})

    assert set(Review.objects.filter(human_label="neutral").values_list("id", flat=True)) == set(ids)


def test_the_explorer_searches_filters_sorts_and_paginates(staff):
    scored(text="The tiramisu was heavenly", rating=5, business="Blue Fin")
    for i in range(30):
        scored(text=f"Ordinary meal number {i}", rating=3)

    found = staff.get("/explore/?q=tiramisu")
    assert [r.text for r in found.context["page"]] == ["The tiramisu was heavenly"]
    page_two = staff.get("/explore/?rating_max=3&sort=-rating&page=2")
    assert page_two.context["page"].number == 2
    assert len(page_two.context["page"]) == 5


def test_the_review_page_shows_predictions_labels_and_history(staff):
    review = scored()
    user = UserFactory(role=LABELLER, username="lara")
    votes.review_vote(review_id=review.pk, label="positive", user_id=user.pk)

    content = staff.get(f"/explore/{review.pk}/").content.decode()

    assert "lara" in content and "Label history" in content and "Current prediction" in content


def test_the_csv_export_follows_the_filters_and_defuses_formulas(staff):
    scored(source="yelp", text='=HYPERLINK("http://evil")', business="Blue Fin")
    scored(source="google")

    response = staff.get("/explore/export.csv?source=yelp")

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1
    assert rows[0]["text"].startswith("'=")


def test_the_export_needs_the_export_permission():
    assert logged_in(UserFactory()).get("/explore/export.csv").status_code == 403


def test_review_text_business_and_author_are_escaped_everywhere(staff, settings):
    settings.LABELLING_DOUBLE_SHARE = 1.0
    review = scored(text=f"Awful. {XSS} You should fix it.", business=XSS, author=XSS, rating=5)
    other = scored(text="Nice but slow. Please hire more staff.", business=XSS)
    ana, ben = UserFactory(role=LABELLER), UserFactory(role=LABELLER)
    votes.review_vote(review_id=other.pk, label="positive", user_id=ana.pk)
    votes.review_vote(review_id=other.pk, label="negative", user_id=ben.pk)

    for path in PAGES + [f"/explore/{review.pk}/", f"/explore/{other.pk}/", "/explore/?q=Awful"]:
        content = staff.get(path).content.decode()
        assert "<script>alert" not in content, path
        assert "<img src=x" not in content, path
    assert "&lt;script&gt;" in staff.get(f"/explore/{review.pk}/").content.decode()
    # The labelling page gets the text as JSON and renders it with textContent.
    client = logged_in(UserFactory(role=LABELLER))
    items = client.get("/labelling/next.json?count=5").json()["items"]
    assert any(item["business"] == XSS for item in items)


@pytest.mark.django_db
def test_a_model_page_shows_the_reliability_table():
    version = ModelVersionFactory(
        metrics={
            "evaluation": {
                "macro_f1": 0.7,
                "calibration": [{"low": 0.8, "high": 0.9, "count": 12, "confidence": 0.85, "accuracy": 0.83}],
            }
        }
    )
    client = Client()
    client.force_login(UserFactory(is_staff=True))

    page = client.get(f"/models/{version.pk}/").content.decode()

    assert "Reliability" in page and "0.83" in page
