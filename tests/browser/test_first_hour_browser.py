"""The first hour of a new user, in the browser, on the real server with a real worker: log in, an empty
dashboard that says what to do, an import of reviews dated years ago through the Imports page, a dashboard
and insights that show them at once on the default period, a training job from the Jobs page, and five
labels from the review page. With SCREENSHOT_DIR set, each step is saved as docs/screenshots/ shows."""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
import time
from pathlib import Path

import pytest

from tests.browser.conftest import log_in, orm
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

PRAISE = ["The pasta was superb", "Friendly staff", "Lovely terrace", "Great value for money", "Amazing desserts"]
COMPLAINTS = ["The soup was cold", "Rude waiter", "Dirty tables", "We waited an hour for our food", "Overpriced"]
SHRUGS = ["It was fine", "Nothing special", "An average meal", "Okay portions", "Decent enough"]
PLACES = [("b-roma", "Trattoria Roma"), ("b-spice", "Spice Garden"), ("b-fin", "Blue Fin")]
NEWEST = dt.date(2012, 11, 30)


def yelp_like_file(path: Path, count: int = 150) -> Path:
    """Reviews written between 2009 and 2012, as an old Yelp export would hold."""
    rng = random.Random(3)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review_id", "stars", "text", "date", "business_id", "business_name"])
        for i in range(count):
            stars, phrases = [(5, PRAISE), (1, COMPLAINTS), (3, SHRUGS)][i % 3]
            text = f"Visit number {i}. " + ". ".join(rng.sample(phrases, 2)) + "."
            day = NEWEST - dt.timedelta(days=0 if i == 0 else rng.randrange(4 * 365))
            key, name = PLACES[i % len(PLACES)]
            writer.writerow([f"r{i}", stars, text, day.isoformat(), key, name])
    return path


def wait_for(check, *, timeout: float = 120, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = orm(check)
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_first_hour_of_a_new_user(page, live_url, tmp_path):
    from reviews.models import Review, ReviewAspect
    from tests.live import running_worker
    from training.models import TrainingJob
    from training.registry import model_version_ensure_baseline

    shots = os.environ.get("SCREENSHOT_DIR")

    def shot(name: str) -> None:
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{shots}/{name}.png", full_page=True)

    orm(model_version_ensure_baseline)  # what migrate leaves on a fresh install
    orm(UserFactory, username="owner", is_staff=True, is_superuser=True)

    with running_worker() as worker:
        # Log in: an empty dashboard that says what to do next.
        page.goto("/accounts/login/")
        shot("first-hour-1-login")
        log_in(page, "owner")
        page.goto("/")
        guidance = page.locator("#no-reviews")
        assert guidance.is_visible()
        assert guidance.locator("a[href='/imports/']").count() == 1
        assert "manage.py import_reviews" in guidance.inner_text()
        page.wait_for_selector("#chart-distribution p")  # an empty chart says so instead of an empty axis
        shot("first-hour-2-empty-dashboard")

        # Import a file of reviews dated years ago through the Imports page.
        page.goto("/imports/")
        page.set_input_files("input[type=file]", str(yelp_like_file(tmp_path / "yelp-2009-2012.csv")))
        page.click("#import-form summary")  # the optional columns; date and business_id are found by name
        page.fill("#id_business_name_col", "business_name")
        page.fill("#id_id_col", "review_id")
        shot("first-hour-3-import-form")
        page.click("#import-form button[type=submit]")
        wait_for(lambda: Review.objects.count() == 150, what="the import", timeout=180)
        page.goto("/imports/")
        page.wait_for_selector("#imports tbody tr .tag.succeeded")
        assert "yelp-2009-2012.csv" in page.inner_text("#imports")
        shot("first-hour-4-imported")

        # The dashboard shows them at once, on the 90 days up to the newest review, and says so.
        page.goto("/")
        assert page.locator("#no-reviews").count() == 0
        in_window = orm(lambda: Review.objects.filter(review_date__date__gte=NEWEST - dt.timedelta(days=89)).count())
        assert page.inner_text(".cards .card:first-child .n").strip() == str(in_window)
        assert "30 Nov 2012" in page.inner_text("#period-note")
        page.wait_for_selector("#chart-business svg.main-svg")
        assert "Trattoria Roma" in page.inner_text("#chart-business")
        shot("first-hour-5-dashboard")
        with page.expect_navigation():
            page.click("#period-links >> text=All time")
        assert page.inner_text(".cards .card:first-child .n").strip() == "150"

        # Insights, once the worker has extracted the aspects the import queued.
        wait_for(lambda: ReviewAspect.objects.exists(), what="aspect extraction", timeout=180)
        page.goto("/insights/")
        assert "30 Nov 2012" in page.inner_text("#period-note")
        page.wait_for_selector("#chart-aspects svg.main-svg", timeout=20_000)
        shot("first-hour-6-insights")

        # Train from the Jobs page.
        page.goto("/jobs/")
        page.click("#start-job")
        job = wait_for(
            lambda: TrainingJob.objects.filter(status__in=["succeeded", "failed"]).first(),
            what="the training job",
            timeout=300,
        )
        assert job.status == "succeeded", (job.error, worker.read_text()[-3000:])
        page.goto("/jobs/")
        shot("first-hour-7-trained")

        # Label five reviews from the review page, with its buttons and keys.
        ids = orm(lambda: list(Review.objects.order_by("id").values_list("id", flat=True)[:5]))
        for index, review_id in enumerate(ids):
            page.goto(f"/explore/{review_id}/")
            with page.expect_navigation():
                if index % 2:
                    page.click("button[name=label][value=negative]")
                else:
                    page.keyboard.press("1")
        page.goto(f"/explore/{ids[-1]}/")
        shot("first-hour-8-labelled")
        assert orm(lambda: Review.objects.filter(pk__in=ids, human_label__isnull=False).count()) == 5

    assert page.console.problems == []
