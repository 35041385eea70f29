"""Benchmark: label 100 reviews by keyboard in a real browser.

Starts the real ASGI server (uvicorn) on a throwaway database under var/bench-labelling,
loads it with reviews, logs in with Chromium through Playwright and presses 1/2/3
a hundred times. Prints the p50/p95 latency of each label action (key press to the
server's confirmation that the label is saved), the time until the next review shows,
and labels per minute. Run:

    .venv/bin/python bench/labelling.py [--reviews 300] [--labels 100]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def prepare(var_dir: Path, reviews: int) -> None:
    os.environ.update(VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="project.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from reviews.models import Review
    from reviews.roles import LABELLER
    from reviews.schemas import ReviewIn
    from reviews.services import review_bulk_create
    from tests.factories import UserFactory

    call_command("migrate", verbosity=0)
    UserFactory(username="bench", role=LABELLER)
    phrases = [
        "Great food",
        "Rude waiter",
        "It was fine",
        "Lovely staff",
        "Cold soup",
        "Average value",
        "Amazing desserts",
    ]
    items = [
        ReviewIn(
            text=f"{phrases[i % 7]} and {phrases[(i * 3) % 7].lower()}. Visit {i}.", source="bench", rating=1 + i % 5
        )
        for i in range(reviews)
    ]
    review_bulk_create(items=items)
    print(f"{Review.objects.count()} reviews ready", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reviews", type=int, default=300)
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    var_dir = ROOT / "var" / "bench-labelling"
    shutil.rmtree(var_dir, ignore_errors=True)
    var_dir.mkdir(parents=True)
    prepare(var_dir, args.reviews)

    from playwright.sync_api import sync_playwright

    from tests.live import free_port

    port = free_port()
    env = {
        **os.environ,
        "VAR_DIR": str(var_dir),
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{var_dir / 'db.sqlite3'}"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "project.asgi:application", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(300):
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(base_url=base)
            page.goto("/accounts/login/")
            page.fill("#id_username", "bench")
            page.fill("#id_password", "correct horse battery")
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            page.goto("/labelling/")
            page.wait_for_function("document.getElementById('card').dataset.reviewId")
            shown = []
            started = time.perf_counter()
            for i in range(args.labels):
                current = page.locator("#card").get_attribute("data-review-id")
                t0 = time.perf_counter()
                page.keyboard.press("123"[i % 3])
                page.wait_for_function(f"document.getElementById('card').dataset.reviewId !== '{current}'")
                shown.append((time.perf_counter() - t0) * 1000)
                # One action at a time: the next key only after this label is saved, so each
                # latency is one round trip, not a backlog of key presses faster than any human.
                page.wait_for_function(f"window.labellingTimings.length === {i + 1}", timeout=30_000)
            page.wait_for_function("window.labellingState.ops.length === 0", timeout=60_000)
            elapsed = time.perf_counter() - started
            saved = page.evaluate("window.labellingTimings")
            browser.close()
    finally:
        server.terminate()
        server.wait(10)

    print(f"labels: {len(saved)} saved in {elapsed:.1f} s -> {len(saved) / elapsed * 60:.0f} labels/minute")
    print(
        f"label action (key press -> saved on the server): p50 {statistics.median(saved):.1f} ms, "
        f"p95 {percentile(saved, 95):.1f} ms, max {max(saved):.1f} ms"
    )
    print(
        f"next review on screen after the key: p50 {statistics.median(shown):.1f} ms, "
        f"p95 {percentile(shown, 95):.1f} ms"
    )


if __name__ == "__main__":
    main()
