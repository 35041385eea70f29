from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from reviews import votes
from reviews.roles import LABELLER, MANAGER
from tests.browser.conftest import log_in, orm
from tests.factories import ModelVersionFactory, ReviewFactory, UserFactory
from training.models import TrainingJob

pytestmark = pytest.mark.browser

PRAISE = ["Delicious food", "Friendly staff", "Lovely atmosphere", "Great value", "Perfect pasta", "Amazing desserts"]
COMPLAINTS = ["Cold food", "Rude waiter", "Dirty tables", "Terrible service", "Overpriced and bland", "Awful smell"]
SHRUGS = ["It was fine", "Nothing special", "Average meal", "Okay portions", "Decent enough", "Standard menu"]
SUGGESTIONS = ["They should add more vegetarian dishes", "Please open earlier on Sundays", "Hire more waiters"]
BUSINESSES = ["Trattoria Roma", "Spice Garden", "Blue Fin", "Casa Verde"]
SOURCES = ["google", "yelp", "tripadvisor"]


def seed_reviews(count: int = 90) -> None:
    from django.utils import timezone

    rng = random.Random(7)
    now = timezone.now()
    for i in range(count):
        rating, phrases, label = [(5, PRAISE, "positive"), (1, COMPLAINTS, "negative"), (3, SHRUGS, "neutral")][i % 3]
        text = ". ".join(rng.sample(phrases, 2)) + ". "
        if i % 4 == 0:
            text += rng.choice(PRAISE) + " but " + rng.choice(COMPLAINTS).lower() + ". " + rng.choice(SUGGESTIONS) + "."
        confidence = rng.uniform(0.4, 0.95)
        rest = (1 - confidence) / 2
        scores = {name: (confidence if name == label else rest) for name in ("positive", "neutral", "negative")}
        ReviewFactory(
            text=text,
            rating=rating,
            business=BUSINESSES[i % len(BUSINESSES)],
            source=SOURCES[i % len(SOURCES)],
            review_date=now - timezone.timedelta(days=rng.randint(0, 80)),
            predicted_label=label,
            predicted_confidence=confidence,
            predicted_scores=scores,
        )


def seed_aspects() -> None:
    """Aspects and suggestions as the Celery task stores them after ingest (ReviewFactory skips ingest)."""
    from reviews.models import Review
    from training.aspect_extraction import review_extract_aspects

    review_extract_aspects(list(Review.objects.values_list("id", flat=True)))


def seed_agreement() -> None:
    from django.conf import settings

    from reviews.models import Review

    ana, ben = UserFactory(username="ana", role=LABELLER), UserFactory(username="ben", role=LABELLER)
    previous = getattr(settings, "LABELLING_DOUBLE_SHARE", None)
    settings.LABELLING_DOUBLE_SHARE = 1.0
    try:
        for i, review in enumerate(Review.objects.order_by("id")[:8]):
            votes.review_vote(review_id=review.pk, label=review.predicted_label, user_id=ana.pk)
            second = review.predicted_label if i % 4 else "neutral"
            votes.review_vote(review_id=review.pk, label=second, user_id=ben.pk)
    finally:
        if previous is None:
            del settings.LABELLING_DOUBLE_SHARE
        else:
            settings.LABELLING_DOUBLE_SHARE = previous


def seed_monitoring(count: int = 12) -> None:
    """Hourly snapshots (accuracy sliding under the threshold, drift rising), the schedule's
    history, alerts and a weekly evaluation, as the monitoring and models pages show them."""
    from django.utils import timezone

    from reviews.models import Review
    from training.models import Alert, AlertChannel, EvaluationReport, ModelVersion, MonitoringSnapshot, ScheduledRun

    version = ModelVersion.objects.order_by("id").first() or ModelVersionFactory(name="sentiment-0001")
    now = timezone.now()
    for i in range(count):
        accuracy, n = round(0.9 - 0.012 * i, 4), 60 + 8 * i
        psi = round(0.02 + 0.022 * i, 4)
        alarms = [f"prediction distribution shifted (PSI {psi} > 0.2, n={300 + 20 * i})"] if psi > 0.2 else []
        if i == count - 1:
            trigger = {"decision": "retrain", "reason": f"live accuracy {accuracy} < 0.8 on {n} labels"}
        elif alarms:
            trigger = {"decision": "cooldown", "reason": "; ".join(alarms) + " (job 1 started within cooldown)"}
        else:
            trigger = {"decision": "none", "reason": "accuracy and drift within thresholds"}
        snapshot = MonitoringSnapshot.objects.create(
            model_version=version,
            window_days=7,
            live_accuracy={
                "all": {
                    "n": n,
                    "accuracy": accuracy,
                    "ci_low": round(accuracy - 0.07, 4),
                    "ci_high": round(accuracy + 0.05, 4),
                },
                "blind": {"n": n // 3, "accuracy": round(accuracy - 0.03, 4), "ci_low": 0.6, "ci_high": 0.95},
            },
            rating_agreement={"n": 500 + 10 * i, "agreement": round(0.93 - 0.004 * i, 4)},
            drift={
                "predictions": 300 + 20 * i,
                "prediction_psi": psi,
                "confidence_psi": round(0.03 + 0.01 * i, 4),
                "oov_rate": round(0.05 + 0.003 * i, 4),
                "oov_reference": 0.05,
                "negative_spikes": [
                    {
                        "business": "Blue Fin",
                        "reviews": 14,
                        "negative": 9,
                        "negative_share": 0.643,
                        "baseline_share": 0.18,
                        "p_value": 0.0004,
                    }
                ]
                if i == count - 1
                else [],
            },
            alarms=alarms,
            trigger=trigger,
        )
        MonitoringSnapshot.objects.filter(pk=snapshot.pk).update(created_at=now - timezone.timedelta(hours=count - i))
    ScheduledRun.objects.create(task="monitor-hourly", slot=f"{now:%Y-%m-%dT%H}", outcome="done", reason="retrain")
    ScheduledRun.objects.create(
        task="retrain-daily",
        slot=f"{now:%Y-%m-%d}",
        outcome="skipped",
        reason="Too little new data: 4 new labels, 9 new rated reviews",
    )
    ScheduledRun.objects.create(task="evaluate-weekly", slot=f"{now:%G-W%V}", outcome="done", reason="macro-F1 0.81")
    channel = AlertChannel.objects.create(name="Ops webhook", kind="webhook", target="http://127.0.0.1:9/hook")
    Alert.objects.create(
        channel=channel, event="drift", subject="Prediction distribution shifted", status="sent", attempts=1
    )
    Alert.objects.create(
        channel=channel,
        event="negative_spike",
        subject="Negative reviews spike at Blue Fin",
        status="failed",
        attempts=4,
        error="Connection refused",
    )
    review = Review.objects.filter(predicted_label="positive").first()
    EvaluationReport.objects.create(
        model_version=version,
        evaluation_set={"kind": "human-labels", "size": 120},
        metrics={"macro_f1": 0.8123, "ece": 0.0412, "brier": 0.2931, "n": 120},
        fresh_labels={"macro_f1": 0.7744, "n": 36},
        sample_errors=[
            {
                "review_id": review.pk if review else None,
                "text": "Cold food. Rude waiter.",
                "label": "negative",
                "predicted": "positive",
                "confidence": 0.91,
            }
        ],
    )


PAGES = {
    "dashboard": "/",
    "labelling": "/labelling/",
    "bulk-labelling": "/labelling/bulk/",
    "agreement": "/labelling/agreement/",
    "reviews": "/explore/",
    "insights": "/insights/",
    "models": "/models/",
    "jobs": "/jobs/",
    "monitoring": "/monitoring/",
}


def test_every_page_loads_cleanly_and_every_chart_renders(page):
    orm(UserFactory, username="sam", is_staff=True, is_superuser=True)
    orm(seed_reviews)
    orm(seed_aspects)
    orm(seed_agreement)
    orm(seed_monitoring)
    log_in(page, "sam")
    shots = os.environ.get("SCREENSHOT_DIR")

    for name, path in PAGES.items():
        page.goto(path)
        page.wait_for_load_state("networkidle")
        if name == "dashboard":
            for chart in ("distribution", "trend", "source", "business", "rating", "themes"):
                page.wait_for_selector(f"#chart-{chart} svg.main-svg", timeout=20_000)
        if name == "models":
            page.wait_for_selector("#chart-f1 svg.main-svg, #chart-f1 p")
        if name == "insights":
            page.wait_for_selector("#chart-aspects svg.main-svg", timeout=20_000)
            assert page.locator("#issues tbody th").count() > 0
            assert page.locator("#quotes blockquote").count() > 0
        if name == "monitoring":
            for chart in ("accuracy", "drift", "oov"):
                page.wait_for_selector(f"#chart-{chart} svg.main-svg", timeout=20_000)
            assert page.evaluate("document.getElementById('chart-accuracy').data.length") == 5
        if name == "models":
            page.click("#evaluation-reports details summary")
            page.wait_for_selector("#evaluation-reports details[open] li")
        if name == "labelling":
            page.wait_for_function("document.getElementById('card').dataset.reviewId")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{shots}/{name}.png", full_page=True)
    page.goto("/explore/")
    page.click("tbody tr:first-child td a")
    page.wait_for_selector("text=Label history")
    page.wait_for_selector("#aspect-editor")
    if shots:
        page.screenshot(path=f"{shots}/review.png", full_page=True)
    # Phone width: the navigation and the labelling card still fit.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/labelling/")
    page.wait_for_function("document.getElementById('card').dataset.reviewId")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    if shots:
        page.screenshot(path=f"{shots}/labelling-phone.png", full_page=True)

    assert page.console.problems == []


def test_dashboard_filters_apply_to_the_charts(page):
    orm(UserFactory, username="sam", is_staff=True)
    orm(seed_reviews)
    log_in(page, "sam")

    page.goto("/?source=yelp&granularity=week")
    page.wait_for_selector("#chart-source svg.main-svg")
    sources = page.evaluate("document.getElementById('chart-source').data[0].x")

    assert sources == ["yelp"]
    assert page.console.problems == []


def test_a_labeller_corrects_an_aspect_on_the_review_page(page):
    from reviews.models import ReviewAspect

    orm(UserFactory, username="lea", role=LABELLER)
    review = orm(ReviewFactory, text="Great food but the waiter could be friendlier!")
    orm(seed_aspects)
    log_in(page, "lea")

    page.goto(f"/explore/{review.pk}/")
    page.select_option("#id_aspects-1-polarity", "conflict")
    page.select_option("#id_aspects-2-category", "price and value")
    page.select_option("#id_aspects-2-polarity", "negative")
    page.click("#aspect-editor button[type=submit]")
    page.wait_for_selector(".flash.success")

    staff = orm(
        lambda: sorted(
            ReviewAspect.objects.filter(review_id=review.pk, source="staff").values_list("category", "polarity")
        )
    )
    assert staff == [("food quality", "positive"), ("price and value", "negative"), ("service and staff", "conflict")]
    # The staff rows replace the model's two mentions.
    assert page.locator("#stored-aspects tbody tr").count() == 3
    model_mentions = ReviewAspect.objects.filter(review_id=review.pk, source="model", is_suggestion=False)
    assert orm(model_mentions.count) == 0
    assert page.console.problems == []


def test_a_manager_starts_a_training_job_and_watches_it_finish(page):
    from tests.live import running_worker

    orm(UserFactory, username="mona", role=MANAGER)
    orm(seed_reviews)
    log_in(page, "mona")

    with running_worker() as worker_log:
        page.goto("/jobs/")
        page.fill("#min_samples", "20")
        page.click("#start-job")
        page.wait_for_selector(".flash.success")
        row = page.locator("#jobs tr").first
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = row.get_attribute("data-status")
            if status in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.5)
        assert status == "succeeded", worker_log.read_text()[-3000:]
        assert row.locator("[role=progressbar]").get_attribute("aria-valuenow") == "100"

    job = orm(lambda: TrainingJob.objects.select_related("requested_by").get())
    assert job.parameters == {"min_samples": 20}
    assert job.requested_by.username == "mona"
    page.goto("/models/")
    page.wait_for_selector("#chart-f1 svg.main-svg")
    assert page.console.problems == []
