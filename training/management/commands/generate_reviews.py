"""manage.py generate_reviews --count N [--seed S] [--batch 10000] [--jobs J]: a large, realistic data set.

Recombines sentences from the shared Yelp, Zomato and SemEval texts (settings.SHARED_DATA_DIR) into new
reviews, so the vocabulary grows the way real data does:

- each review draws a star rating (the rating mix of the source data), then 1-6 sentences taken from
  source reviews with that same star rating (SemEval sentences join the 4-5 star pools when positive and the
  1-2 star pools when negative), so the text agrees with its rating;
- a business out of 2,000 generated names (skewed: a few businesses get many reviews, most get few),
  a source (google, yelp, tripadvisor, zomato, website), an author and a date over the last two years;
- no exact duplicates: every text is checked against the texts generated in this run and those already
  in the table, and redrawn on a collision (`SELECT count(*) - count(DISTINCT md5(text))` stays 0);
- predicted by the deployed model in batches (predicted_label/confidence/scores/by/at), and the matching
  ingest Prediction rows are written too; language "en", is_english true, created_at now.

On PostgreSQL both tables are loaded with COPY (ids reserved from the identity sequence first, so the
Prediction rows can point at their reviews); elsewhere (SQLite) it falls back to bulk_create.
`--jobs 2` predicts in forked worker processes while the main process COPYs the previous batch.
Prints the throughput of each stage and overall.

`--aspects` also stores each review's aspect rows (reviews.ReviewAspect) exactly as the Celery extraction
(training.aspect_extraction.review_extract_aspects) would with the deployed aspect model: the same sentence split,
one row per (sentence, aspect) plus a suggestion row for suggestion sentences, the review's filter columns
copied. Sentences recur across generated reviews, so each distinct sentence is predicted once and reused.
`--aspects-only` writes them for existing reviews that have no model-made aspects yet (no new reviews).
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections import defaultdict, deque
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from reviews.models import Prediction, Review, ReviewAspect
from reviews.sql import analyze_after_bulk_load
from training import synthetic_reviews
from training.aspects import current_aspect_champion, get_aspect_model
from training.ml.predictor import scores_from_probabilities
from training.registry import get_deployed_model
from training.synthetic_reviews import AspectRows, Generator, digest


class Command(BaseCommand):
    help = "Generate realistic reviews by recombining sentences of the shared data sets (COPY on PostgreSQL)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--count", type=int, default=0, help="How many reviews to add")
        parser.add_argument("--seed", type=int, default=0, help="Random seed (default 0)")
        parser.add_argument("--batch", type=int, default=10_000, help="Rows per predict + COPY batch")
        parser.add_argument(
            "--jobs", type=int, default=1, help="Prediction processes (forked; >1 overlaps prediction and COPY)"
        )
        parser.add_argument("--data-dir", default=None, help="Default: settings.SHARED_DATA_DIR")
        parser.add_argument(
            "--aspects", action="store_true", help="Also store aspect rows, predicted by the deployed aspect model"
        )
        parser.add_argument(
            "--aspects-only",
            action="store_true",
            help="Only store aspect rows for existing reviews without model-made aspects (no new reviews)",
        )

    def handle(self, *args, **options) -> None:

        count, batch_size, jobs = options["count"], max(1, options["batch"]), max(1, options["jobs"])
        data_dir = Path(options["data_dir"] or getattr(settings, "SHARED_DATA_DIR", "../shared/data"))
        postgres = connection.vendor == "postgresql"
        aspects = None
        if options["aspects"] or options["aspects_only"]:
            champion = current_aspect_champion()
            synthetic_reviews.set_worker_models(aspect_model=get_aspect_model())
            aspects = AspectRows(synthetic_reviews.worker_aspect_model(), champion.pk if champion else None)
            self.stdout.write(f"Aspect model: {champion.name if champion else 'cold start'}")
        if options["aspects_only"]:
            self._aspects_only(aspects, batch_size, jobs)
            return
        if count < 1:
            raise CommandError("--count must be at least 1")

        started = time.perf_counter()
        existing: set[bytes] = set()
        if Review.objects.exists():
            if postgres:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT decode(md5(text), 'hex') FROM reviews_review")
                    existing = {bytes(row[0]) for row in cursor.fetchall()}
            else:
                existing = {digest(t) for t in Review.objects.values_list("text", flat=True).iterator()}
        generator = Generator(data_dir, options["seed"], existing)
        deployed = get_deployed_model()
        synthetic_reviews.set_worker_models(model=deployed.model)
        self.stdout.write(
            f"{generator.vocabulary_sentences:,} source sentences (ratings {generator.ratings}), "
            f"{len(existing):,} existing reviews, model {deployed.name} (#{deployed.version_id}), "
            f"{'COPY' if postgres else 'bulk_create'}, {jobs} prediction process(es); "
            f"setup {time.perf_counter() - started:.1f}s"
        )

        pool = multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 else None
        if aspects is not None:
            aspects.pool = pool
        stage = defaultdict(float)
        done = 0
        pending: deque = deque()
        loop_started = time.perf_counter()

        def write(rows: list[dict], probabilities) -> None:
            nonlocal done
            t = time.perf_counter()
            results = scores_from_probabilities(probabilities)
            stage["scores"] += time.perf_counter() - t
            t = time.perf_counter()
            with transaction.atomic():
                if postgres:
                    ids = self._copy(rows, results, deployed.version_id)
                else:
                    ids = self._bulk_create(rows, results, deployed.version_id)
                stage["insert"] += time.perf_counter() - t
                if aspects is not None:
                    t = time.perf_counter()
                    predicted_before = aspects.seconds
                    aspect_rows = aspects.rows(
                        [
                            (pk, r["text"], r["review_date"], r["source"], r["business"], r["rating"])
                            for pk, r in zip(ids, rows, strict=True)
                        ]
                    )
                    stage["aspect predict"] += aspects.seconds - predicted_before
                    t2 = time.perf_counter()
                    aspects.write(aspect_rows)
                    stage["aspect insert"] += time.perf_counter() - t2
                    stage["aspect other"] += t2 - t - (aspects.seconds - predicted_before)
                    stage["aspect rows"] += len(aspect_rows)
            done += len(rows)
            elapsed = time.perf_counter() - loop_started
            self.stdout.write(f"  {done:,}/{count:,} reviews, {done / elapsed:,.0f}/s overall")

        try:
            remaining = count
            while remaining > 0 or pending:
                if remaining > 0:
                    size = min(batch_size, remaining)
                    remaining -= size
                    t = time.perf_counter()
                    rows = generator.batch(size, timezone.now())
                    stage["generate"] += time.perf_counter() - t
                    texts = [row["text"] for row in rows]
                    if pool is None:
                        t = time.perf_counter()
                        probabilities = deployed.model.predict_proba(texts)
                        stage["predict"] += time.perf_counter() - t
                        write(rows, probabilities)
                        continue
                    pending.append((rows, pool.apply_async(synthetic_reviews.predict_worker, (texts,))))
                    if len(pending) <= jobs and remaining > 0:
                        continue
                rows, result = pending.popleft()
                t = time.perf_counter()
                probabilities = result.get()
                stage["wait for predict"] += time.perf_counter() - t
                write(rows, probabilities)
        finally:
            if pool is not None:
                pool.close()
                pool.join()

        tables = ["reviews_review", "reviews_prediction"] + (["reviews_reviewaspect"] if aspects is not None else [])
        analyze_after_bulk_load(connection, tables, done)
        elapsed = time.perf_counter() - loop_started
        self.stdout.write(
            self.style.SUCCESS(
                f"Generated {done:,} reviews in {elapsed:.1f}s: {done / elapsed if elapsed else 0:,.0f} reviews/s "
                f"({generator.collisions} duplicate draws redrawn)"
            )
        )
        self.stdout.write("  stage seconds: " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in stage.items()))
        if aspects is not None:
            per_review = stage["aspect rows"] / max(done, 1)
            self.stdout.write(
                f"  aspects: {int(stage['aspect rows']):,} rows ({per_review:.2f} per review), "
                f"{aspects.predicted:,} distinct sentences predicted in {aspects.seconds:.1f}s "
                f"({aspects.predicted / aspects.seconds if aspects.seconds else 0:,.0f} sentences/s)"
            )

    def _aspects_only(self, aspects: AspectRows, batch_size: int, jobs: int) -> None:
        """Aspect rows for the existing reviews that have no model-made aspects, in id order."""
        from django.db.models import Exists, OuterRef

        aspects.pool = multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 else None
        has_aspects = ReviewAspect.objects.filter(review=OuterRef("pk"), source=ReviewAspect.Source.MODEL)
        started, done, stored, after = time.perf_counter(), 0, 0, 0
        try:
            while True:
                batch = list(
                    Review.objects.filter(pk__gt=after)
                    .filter(~Exists(has_aspects))
                    .order_by("pk")
                    .values_list("pk", "text", "effective_at", "source", "business", "rating")[:batch_size]
                )
                if not batch:
                    break
                after = batch[-1][0]
                rows = aspects.rows(batch)
                with transaction.atomic():
                    aspects.write(rows)
                done, stored = done + len(batch), stored + len(rows)
                elapsed = time.perf_counter() - started
                self.stdout.write(
                    f"  {done:,} reviews, {stored:,} aspect rows, {aspects.predicted:,} distinct sentences predicted; "
                    f"{done / elapsed:,.0f} reviews/s overall"
                )
        finally:
            if aspects.pool is not None:
                aspects.pool.close()
                aspects.pool.join()
        analyze_after_bulk_load(connection, ["reviews_reviewaspect"], stored)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Stored {stored:,} aspect rows for {done:,} reviews ({stored / max(done, 1):.2f} per review) in "
                f"{elapsed:.1f}s: {done / elapsed if elapsed else 0:,.0f} reviews/s; {aspects.predicted:,} distinct "
                f"sentences predicted in {aspects.seconds:.1f}s"
            )
        )

    @staticmethod
    def _copy(rows: list[dict], results, version_id: int) -> list[int]:
        # In the caller's transaction (with the aspect rows, when asked for).
        now = timezone.now()
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('reviews_review', 'id')) FROM generate_series(1, %s)",
                (len(rows),),
            )
            ids = [row[0] for row in cursor.fetchall()]
            scores = [json.dumps(result.scores) for result in results]
            with cursor.copy(
                "COPY reviews_review (id, text, source, rating, business, author, review_date, created_at,"
                " language, is_english, predicted_label, predicted_confidence, predicted_scores,"
                " predicted_by_id, predicted_at) FROM STDIN"
            ) as copy:
                for review_id, row, result, score in zip(ids, rows, results, scores, strict=True):
                    copy.write_row(
                        (review_id, row["text"], row["source"], row["rating"], row["business"], row["author"],
                         row["review_date"], now, "en", True, result.label, result.confidence, score,
                         version_id, now)
                    )  # fmt: skip
            with cursor.copy(
                "COPY reviews_prediction (review_id, model_version_id, label, confidence, scores, is_ingest,"
                " created_at) FROM STDIN"
            ) as copy:
                for review_id, result, score in zip(ids, results, scores, strict=True):
                    copy.write_row((review_id, version_id, result.label, result.confidence, score, True, now))
        return ids

    @staticmethod
    def _bulk_create(rows: list[dict], results, version_id: int) -> list[int]:

        now = timezone.now()
        with transaction.atomic():
            reviews = Review.objects.bulk_create(
                [
                    Review(
                        **row,
                        language="en",
                        is_english=True,
                        predicted_label=result.label,
                        predicted_confidence=result.confidence,
                        predicted_scores=result.scores,
                        predicted_by_id=version_id,
                        predicted_at=now,
                    )
                    for row, result in zip(rows, results, strict=True)
                ],
                batch_size=1000,
            )
            Prediction.objects.bulk_create(
                [
                    Prediction(
                        review_id=review.pk,
                        model_version_id=version_id,
                        label=result.label,
                        confidence=result.confidence,
                        scores=result.scores,
                        is_ingest=True,
                    )
                    for review, result in zip(reviews, results, strict=True)
                ],
                batch_size=1000,
            )
        return [review.pk for review in reviews]
