"""Helpers shared by the benchmarks that run the real stack (bench/api.py, bench/import_train.py)."""

from __future__ import annotations

import io
import os
import subprocess
import time
from pathlib import Path


def dsn(url: str) -> str:
    """A DATABASE_URL as psycopg takes it."""
    return url.replace("postgres://", "postgresql://", 1)


def ensure_database(url: str, *, recreate: bool = False) -> None:
    """Create the bench database if it is missing (drop it first with recreate)."""
    import psycopg

    base, name = dsn(url).split("?")[0].rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        if recreate:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}", flush=True)


def stack_env(database_url: str, redis_url: str, var_dir: Path) -> dict[str, str]:
    """Settings for the bench process and the servers it starts: one database, quiet logs, no MLflow."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DEBUG": "false",
        "MLFLOW_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ensure_trained_model(data_dir: Path):
    """The deployed sentiment model, trained first if only the baseline is deployed: the shared Yelp
    and Zomato files go in through `import_reviews` and `train --wait` fits, gates and promotes.
    Needs django.setup() with the bench database; returns the champion ModelVersion."""
    from django.core.management import call_command

    from training.ml import lexicon
    from training.models import ModelVersion

    def trained_champion():
        return (
            ModelVersion.objects.filter(kind=ModelVersion.Kind.SENTIMENT, stage=ModelVersion.Stage.CHAMPION)
            .exclude(algorithm=lexicon.ALGORITHM)
            .first()
        )

    version = trained_champion()
    if version is not None:
        return version
    started = time.perf_counter()
    print("no trained model in the bench database: importing the shared Yelp and Zomato files", flush=True)
    yelp = {"text_col": "text", "rating_col": "stars", "id_col": "review_id", "business_col": "business_id"}
    zomato = {"text_col": "Review", "rating_col": "Rating", "business_col": "Restaurant"}
    for path, options in (
        (data_dir / "yelp_reviews_10k_train" / "yelp_train_part1.csv", yelp),
        (data_dir / "yelp_reviews_10k_train" / "yelp_train_part2.csv", yelp),
        (data_dir / "zomato_restaurant_reviews_train" / "zomato_train.csv", zomato),
    ):
        call_command("import_reviews", str(path), source=path.parent.name.split("_")[0], verbosity=0, **options)
    print("training (manage.py train --wait)", flush=True)
    call_command("train", wait=True, model="sentiment", stdout=io.StringIO(), stderr=io.StringIO())
    version = trained_champion()
    if version is None:  # the gate kept the baseline: deploy the newest candidate anyway
        candidate = ModelVersion.objects.filter(kind=ModelVersion.Kind.SENTIMENT).order_by("-pk").first()
        call_command("promote", candidate.name, stdout=io.StringIO())
        version = trained_champion()
    print(f"trained {version.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return version


def run_measured(command: list[str], *, cwd: Path, env: dict | None = None, log: Path | None = None) -> dict:
    """Run a command to completion: wall seconds and the peak RSS of that process (wait4)."""
    started = time.perf_counter()
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    try:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log:
            out.close()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:] if log else ""
        raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}\n{tail}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024)}
