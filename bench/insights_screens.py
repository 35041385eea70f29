"""Screenshots of the Insights page on the shared Yelp and Zomato reviews, as a new install shows them.

    .venv/bin/python bench/insights_screens.py [--yelp-rows 4000] [--out docs/screenshots]

A fresh embedded install in a temporary VAR_DIR (SQLite, the shipped default models deployed by migrate),
the reviews imported with `import_reviews` (aspects and suggestions extracted inline: CELERY_TASK_ALWAYS_EAGER),
the rollups built, then the web server started and Chromium logged in through Django's form. It writes
insights-yelp.png and insights-zomato.png (all time, one source each) and prints how long each step took.
Reads the shared data from SHARED_DATA_DIR (default ../shared/data); copies none of it into the repository.
"""

from __future__ import annotations

import argparse
import csv
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
PASSWORD = "insights-screens-1"


def manage(env: dict, *args: str) -> float:
    started = time.monotonic()
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def yelp_sample(data_dir: Path, rows: int, folder: Path) -> Path:
    """The first `rows` reviews of Yelp part 1 (a fixed sample, so the screenshot is reproducible)."""
    source = data_dir / "yelp_reviews_10k_train" / "yelp_train_part1.csv"
    target = folder / "yelp.csv"
    with source.open(newline="", encoding="utf-8") as handle, target.open("w", newline="", encoding="utf-8") as out:
        reader = csv.DictReader(handle)
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames)
        writer.writeheader()
        for index, row in enumerate(reader):
            if index >= rows:
                break
            writer.writerow(row)
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--yelp-rows", type=int, default=4000)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--reuse", help="The folder of an earlier run: take the pictures again without importing")
    args = parser.parse_args()
    data_dir = Path(os.environ.get("SHARED_DATA_DIR", ROOT.parent / "shared" / "data"))
    folder = Path(args.reuse) if args.reuse else Path(tempfile.mkdtemp(prefix="insights-screens-"))
    env = {
        key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}
    }
    env.update(
        VAR_DIR=str(folder / "var"),
        CELERY_TASK_ALWAYS_EAGER="true",
        DJANGO_SUPERUSER_USERNAME="manager",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        DJANGO_SUPERUSER_EMAIL="manager@example.com",
    )
    timings = {"migrate": manage(env, "migrate", "-v0")}
    if not args.reuse:
        _load(env, data_dir, folder, args.yelp_rows, timings)
    port = free_port()
    server = subprocess.Popen(
        [PYTHON, "-m", "uvicorn", "project.asgi:application", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    try:
        _screens(f"http://127.0.0.1:{port}", Path(args.out), timings)
    finally:
        server.terminate()
        server.wait(timeout=30)
    for step, seconds in timings.items():
        print(f"{step:>24}: {seconds:7.1f} s")


def _load(env: dict, data_dir: Path, folder: Path, yelp_rows: int, timings: dict) -> None:
    """A manager account, the Yelp sample and the Zomato file imported, the rollups built."""
    manage(env, "createsuperuser", "--noinput")
    yelp = yelp_sample(data_dir, yelp_rows, folder)
    timings["import yelp"] = manage(
        env, "import_reviews", str(yelp), "--text-col", "text", "--rating-col", "stars", "--id-col", "review_id",
        "--date-col", "date", "--business-col", "business_id", "--source", "yelp",
    )  # fmt: skip
    zomato = data_dir / "zomato_restaurant_reviews_train" / "zomato_train.csv"
    timings["import zomato"] = manage(
        env, "import_reviews", str(zomato), "--text-col", "Review", "--rating-col", "Rating", "--date-col", "Time",
        "--business-col", "Restaurant", "--source", "zomato",
    )  # fmt: skip
    timings["rollups"] = manage(env, "rebuild_rollups")


def logged_in_page(playwright, base: str):
    """Chromium (the system's), and a page logged in as the manager through Django's form, once the server answers."""
    for _ in range(120):
        try:
            socket.create_connection((base.split("//")[1].split(":")[0], int(base.rsplit(":", 1)[1])), 1).close()
            break
        except OSError:
            time.sleep(0.5)
    browser = playwright.chromium.launch(
        executable_path="/usr/bin/chromium",
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state("networkidle")
    return browser, page


def _screens(base: str, out: Path, timings: dict) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser, page = logged_in_page(playwright, base)
        for source in ("yelp", "zomato"):
            started = time.monotonic()
            page.goto(f"{base}/insights/?period=all&source={source}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out / f"insights-{source}.png"), full_page=True)
            timings[f"insights page ({source})"] = time.monotonic() - started
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
