"""A screenshot of the Models page's learning curve, from a fresh install that staff label step by step.

    .venv/bin/python bench/learning_curve_screen.py [--reviews 3000] [--steps 300,600,1200,2000] [--out DIR]

A fresh embedded install in a temporary VAR_DIR (SQLite, tasks inline) imports the first --reviews reviews of the
shared Yelp part 1 *without* their stars (as a business's own reviews arrive), then, for each step, labels more
of them as a labeller would (the label each review's stars imply: 1-2 negative, 3 neutral, 4-5 positive; the
reviews in a fixed shuffled order) and runs `manage.py train --wait`. EVALUATION_MIN_HUMAN_LABELS is 50 here, so
the gate scores on held-out human labels from the first step (the product's default waits for 200). Then Chromium
logs in through Django's form and saves the Models page as models-learning-curve.png; the figures of the curve
are printed. Reads the shared data from SHARED_DATA_DIR (default ../shared/data); copies none of it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.insights_screens import PASSWORD, free_port, logged_in_page, manage  # noqa: E402

LABEL_OF_STARS = {1: "negative", 2: "negative", 3: "neutral", 4: "positive", 5: "positive"}


def unrated_sample(data_dir: Path, rows: int, folder: Path) -> tuple[Path, dict[str, str]]:
    """The first `rows` Yelp reviews without their stars, and each review id's label from its stars."""
    source = data_dir / "yelp_reviews_10k_train" / "yelp_train_part1.csv"
    target = folder / "yelp-unrated.csv"
    labels: dict[str, str] = {}
    with source.open(newline="", encoding="utf-8") as handle, target.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=["review_id", "text", "date", "business_id"])
        writer.writeheader()
        for index, row in enumerate(csv.DictReader(handle)):
            if index >= rows:
                break
            writer.writerow({key: row[key] for key in ("review_id", "text", "date", "business_id")})
            labels[row["review_id"]] = LABEL_OF_STARS[int(float(row["stars"]))]
    return target, labels


LABEL_SCRIPT = """
import json, sys
from django.contrib.auth import get_user_model
from reviews.models import Review
from reviews.services import review_bulk_label
wanted = json.loads(sys.stdin.read())
ids = dict(Review.objects.filter(external_id__in=list(wanted)).values_list("external_id", "id"))
user = get_user_model().objects.get(username="manager")
print(review_bulk_label(labels={ids[key]: label for key, label in wanted.items() if key in ids}, user_id=user.pk))
"""


def label(env: dict, labels: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", LABEL_SCRIPT],
        cwd=ROOT,
        env=env,
        input=json.dumps(labels),
        text=True,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=3000)
    parser.add_argument("--steps", default="300,600,1200,2000")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    data_dir = Path(os.environ.get("SHARED_DATA_DIR", ROOT.parent / "shared" / "data"))
    folder = Path(tempfile.mkdtemp(prefix="learning-curve-"))
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(
        VAR_DIR=str(folder / "var"),
        CELERY_TASK_ALWAYS_EAGER="true",
        EVALUATION_MIN_HUMAN_LABELS="50",
        DJANGO_SUPERUSER_USERNAME="manager",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        DJANGO_SUPERUSER_EMAIL="manager@example.com",
    )
    manage(env, "migrate", "-v0")
    manage(env, "createsuperuser", "--noinput")
    sample, gold = unrated_sample(data_dir, args.reviews, folder)
    seconds = manage(
        env, "import_reviews", str(sample), "--text-col", "text", "--id-col", "review_id", "--date-col", "date",
        "--business-col", "business_id", "--source", "yelp",
    )  # fmt: skip
    print(f"imported {len(gold):,} unrated reviews in {seconds:.0f} s", flush=True)
    order = sorted(gold)
    random.Random(7).shuffle(order)
    for step in (int(n) for n in args.steps.split(",")):
        label(env, {key: gold[key] for key in order[:step]})
        seconds = manage(env, "train", "--wait")
        print(f"{step:,} human labels: trained in {seconds:.0f} s", flush=True)

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "project.asgi:application", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    try:
        return _screen(f"http://127.0.0.1:{port}", Path(args.out))
    finally:
        server.terminate()
        server.wait(timeout=30)


def _screen(base: str, out: Path) -> int:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser, page = logged_in_page(playwright, base)
        page.goto(f"{base}/models/")
        page.wait_for_load_state("networkidle")
        page.wait_for_selector("#chart-learning .main-svg")
        page.locator("#learning-curve").screenshot(path=str(out / "models-learning-curve.png"))
        curve = json.loads(page.locator("#learning-data").text_content())
        browser.close()
    for point in curve["human"]:
        labels, accuracy, held_out = point["labels"], point["accuracy"], point["evaluated_on"]
        print(f"  {labels:>6,} human labels: accuracy {accuracy:.3f} on {held_out} held out")
    print(curve["summary"])
    print(f"wrote {out / 'models-learning-curve.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
