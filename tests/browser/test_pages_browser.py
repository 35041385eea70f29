from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from reviews import labelling
from reviews.roles import LABELLER, MANAGER
from tests.browser.conftest import log_in, orm
from tests.factories import ReviewFactory, UserFactory
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


def seed_agreement() -> None:
    from django.conf import settings

    from reviews.models import Review

    ana, ben = UserFactory(username="ana", role=LABELLER), UserFactory(username="ben", role=LABELLER)
    previous = getattr(settings, "LABELLING_DOUBLE_SHARE", None)
    settings.LABELLING_DOUBLE_SHARE = 1.0
    try:
        for i, review in enumerate(Review.objects.order_by("id")[:8]):
            labelling.review_vote(review_id=review.pk, label=review.predicted_label, user_id=ana.pk)
            second = review.predicted_label if i % 4 else "neutral"
            labelling.review_vote(review_id=review.pk, label=second, user_id=ben.pk)
    finally:
        if previous is None:
            del settings.LABELLING_DOUBLE_SHARE
        else:
            settings.LABELLING_DOUBLE_SHARE = previous


PAGES = {
    "dashboard": "/",
    "labelling": "/labelling/",
    "bulk-labelling": "/labelling/bulk/",
    "agreement": "/labelling/agreement/",
    "reviews": "/explore/",
    "insights": "/insights/",
    "models": "/models/",
    "jobs": "/jobs/",
}


def test_every_page_loads_cleanly_and_every_chart_renders(page):
    orm(UserFactory, username="sam", is_staff=True, is_superuser=True)
    orm(seed_reviews)
    orm(seed_agreement)
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
        if name == "labelling":
            page.wait_for_function("document.getElementById('card').dataset.reviewId")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{shots}/{name}.png", full_page=True)
    page.goto("/explore/")
    page.click("tbody tr:first-child td a")
    page.wait_for_selector("text=Label history")
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
