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
(reviews.aspects.review_extract_aspects) would with the deployed aspect model: the same sentence split,
one row per (sentence, aspect) plus a suggestion row for suggestion sentences, the review's filter columns
copied. Sentences recur across generated reviews, so each distinct sentence is predicted once and reused.
`--aspects-only` writes them for existing reviews that have no model-made aspects yet (no new reviews).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import random
import re
import time
from collections import defaultdict, deque
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from reviews.sql import analyze_after_bulk_load

SOURCES = ["google", "yelp", "tripadvisor", "zomato", "website"]
SOURCE_WEIGHTS = [0.35, 0.25, 0.15, 0.15, 0.10]
BUSINESS_COUNT = 2000
SENTENCE_COUNTS = [1, 2, 3, 4, 5, 6]
SENTENCE_WEIGHTS = [0.10, 0.20, 0.25, 0.20, 0.15, 0.10]
SEMEVAL_SHARE = 0.15  # chance that a sentence comes from SemEval when the rating has a SemEval pool
DAYS = 730

_ADJECTIVES = (
    "Golden Blue Red Green Little Big Royal Rustic Urban Happy Silver Spicy Sweet Old New Lucky Hidden Sunny "
    "Cozy Grand Wild Humble Velvet Copper Smoky Salty Crispy Fresh Secret Twin"
).split()
_NOUNS = (
    "Spoon Fork Table Kitchen Garden Oven Lantern Harbor Olive Pepper Basil Lotus Dragon Tiger Oak Maple Cedar "
    "Bean Leaf Fig Lemon Onion Barrel Anchor Bridge Corner Market Mill Nest Owl Palm Pearl Pine Rose Sage Saffron "
    "Tandoor Noodle Dumpling Taco"
).split()
_KINDS = (
    "Bistro Cafe Grill Diner Kitchen Brasserie Trattoria Eatery House Bar Tavern Canteen Bakery Pizzeria Dhaba "
    "Steakhouse Sushi Bar"
).split()
_FIRST = (
    "Alex Sam Priya Maria John Wei Fatima Lucas Emma Ravi Olivia Noah Aisha Mateo Sofia Arjun Chloe Daniel Mei "
    "Hannah Omar Laura Kenji Ana Tom Grace Ivan Zoe Nikhil Sara"
).split()
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")

# Set in the parent before forking, so the prediction workers share the loaded models.
_MODEL = None
_ASPECT_MODEL = None
ASPECT_CHUNK = 2000  # distinct new sentences per aspect prediction call


def _predict_worker(texts: list[str]):
    return _MODEL.predict_proba(texts)


def _aspect_worker(sentences: list[str]):
    return _ASPECT_MODEL.predict(sentences)


class AspectRows:
    """Aspect rows of reviews as review_extract_aspects stores them, each distinct sentence predicted once."""

    COLUMNS = (
        "review_id, sentence, category, polarity, confidence, is_suggestion, model_version_id, source, created_at,"
        " review_effective_at, review_source, review_business, review_rating"
    )

    def __init__(self, model, version_id: int | None, pool=None) -> None:
        self.model, self.version_id, self.pool = model, version_id, pool
        # sentence -> (aspect rows as (category, polarity, confidence, is_suggestion))
        self.cache: dict[str, list[tuple[str, str, float, bool]]] = {}
        self.predicted = 0
        self.seconds = 0.0

    def _predict(self, sentences: list[str]) -> None:
        from reviews.aspects import _suggestion_aspect
        from training.ml.text import is_suggestion

        started = time.perf_counter()
        chunks = [sentences[i : i + ASPECT_CHUNK] for i in range(0, len(sentences), ASPECT_CHUNK)]
        if self.pool is not None and len(chunks) > 1:
            results = [a for chunk in self.pool.map(_aspect_worker, chunks) for a in chunk]
        else:
            results = [a for chunk in chunks for a in self.model.predict(chunk)]
        for sentence, aspects in zip(sentences, results, strict=True):
            rows = [(c, p, float(conf), False) for c, p, conf in aspects]
            if is_suggestion(sentence):
                c, p, conf = _suggestion_aspect(aspects)
                rows.append((c, p, float(conf), True))
            self.cache[sentence] = rows
        self.predicted += len(sentences)
        self.seconds += time.perf_counter() - started

    def rows(self, reviews) -> list[tuple]:
        """reviews: (review_id, text, effective_at, source, business, rating) -> COPY rows of COLUMNS."""
        from training.ml.text import split_sentences

        split = [(review, split_sentences(review[1])) for review in reviews]
        missing = list(dict.fromkeys(s for _, sentences in split for s in sentences if s not in self.cache))
        if missing:
            self._predict(missing)
        now = timezone.now()
        out = []
        for (review_id, _text, effective_at, source, business, rating), sentences in split:
            for sentence in sentences:
                for category, polarity, confidence, suggestion in self.cache[sentence]:
                    out.append(
                        (review_id, sentence, category, polarity, confidence, suggestion, self.version_id, "model",
                         now, effective_at, source, business, rating)
                    )  # fmt: skip
        return out

    def write(self, rows: list[tuple]) -> None:
        from reviews.models import ReviewAspect

        if connection.vendor == "postgresql":
            connection.ensure_connection()
            with connection.connection.cursor() as cursor:
                with cursor.copy(f"COPY reviews_reviewaspect ({self.COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            return
        names = [name.strip() for name in self.COLUMNS.split(",")]
        ReviewAspect.objects.bulk_create([ReviewAspect(**dict(zip(names, row))) for row in rows], batch_size=1000)


def business_names(count: int, rng: random.Random) -> list[str]:
    names: set[str] = set()
    ordered: list[str] = []
    while len(ordered) < count:
        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {rng.choice(_KINDS)}"
        if name in names:
            name = f"{name} {rng.choice(['Downtown', 'Uptown', 'Riverside', 'Central', 'West', 'East'])}"
        if name in names:
            continue
        names.add(name)
        ordered.append(name)
    return ordered


def _sentences(text: str) -> list[str]:
    out = []
    for part in _SENTENCE_END.split(text):
        part = " ".join(part.split())
        if 3 <= len(part) <= 400 and any(c.isalpha() for c in part):
            out.append(part)
    return out


def sentence_pools(data_dir: Path) -> tuple[dict[int, list[str]], dict[int, list[str]], dict[int, int]]:
    """(pools by star rating 1-5 from Yelp and Zomato, SemEval pools by rating, rating counts of the sources)."""
    from training.ml.datasets import load_semeval_sentences, load_yelp, load_zomato

    pools: dict[int, set[str]] = defaultdict(set)
    rating_counts: dict[int, int] = defaultdict(int)
    examples = []
    for loader in (load_yelp, load_zomato):
        try:
            examples.extend(loader(data_dir))
        except FileNotFoundError:
            continue
    for example in examples:
        stars = min(5, max(1, int(round(example.rating))))
        rating_counts[stars] += 1
        pools[stars].update(_sentences(example.text))
    semeval: dict[int, list[str]] = {}
    try:
        polar = load_semeval_sentences(data_dir)
    except (FileNotFoundError, OSError):
        polar = []
    positive = sorted({" ".join(t.split()) for t, label in polar if label == "positive"})
    negative = sorted({" ".join(t.split()) for t, label in polar if label == "negative"})
    for stars in (4, 5):
        if positive:
            semeval[stars] = positive
    for stars in (1, 2):
        if negative:
            semeval[stars] = negative
    return {k: sorted(v) for k, v in pools.items()}, semeval, dict(rating_counts)


def _digest(text: str) -> bytes:
    return hashlib.md5(text.encode()).digest()


class Generator:
    def __init__(self, data_dir: Path, seed: int, existing: set[bytes]) -> None:
        self.rng = random.Random(seed)
        self.pools, self.semeval, counts = sentence_pools(data_dir)
        if not self.pools:
            raise CommandError(f"No Yelp or Zomato data under {data_dir} (set SHARED_DATA_DIR)")
        self.ratings = sorted(self.pools)
        self.rating_weights = [counts.get(r, 1) for r in self.ratings]
        # The same 2,000 names whatever the seed, so runs with different seeds add to the same businesses.
        self.businesses = business_names(BUSINESS_COUNT, random.Random("businesses"))
        # Zipf-like: the first businesses get many reviews, the long tail few.
        self.business_weights = [1 / (rank + 1) ** 0.8 for rank in range(len(self.businesses))]
        self.seen = existing
        self.collisions = 0
        self.vocabulary_sentences = sum(len(p) for p in self.pools.values()) + sum(
            len(set(p)) for p in {id(p): p for p in self.semeval.values()}.values()
        )

    def text(self, stars: int) -> str:
        rng = self.rng
        pool = self.pools[stars]
        extra = self.semeval.get(stars)
        while True:
            n = rng.choices(SENTENCE_COUNTS, SENTENCE_WEIGHTS)[0]
            picked = [
                rng.choice(extra) if extra and rng.random() < SEMEVAL_SHARE else rng.choice(pool) for _ in range(n)
            ]
            text = " ".join(picked)
            key = _digest(text)
            if key not in self.seen:
                self.seen.add(key)
                return text
            self.collisions += 1

    def batch(self, size: int, now: dt.datetime) -> list[dict]:
        rng = self.rng
        stars_list = rng.choices(self.ratings, self.rating_weights, k=size)
        sources = rng.choices(SOURCES, SOURCE_WEIGHTS, k=size)
        businesses = rng.choices(self.businesses, self.business_weights, k=size)
        rows = []
        for stars, source, business in zip(stars_list, sources, businesses):
            seconds = rng.random() * DAYS * 86400
            rows.append(
                {
                    "text": self.text(stars),
                    "source": source,
                    "rating": Decimal(stars),
                    "business": business,
                    "author": f"{rng.choice(_FIRST)} {chr(65 + rng.randrange(26))}.",
                    "review_date": (now - dt.timedelta(seconds=seconds)).replace(microsecond=0),
                }
            )
        return rows


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
        from reviews.models import Review
        from training.ml.predictor import scores_from_probabilities
        from training.registry import get_deployed_model

        global _MODEL, _ASPECT_MODEL
        count, batch_size, jobs = options["count"], max(1, options["batch"]), max(1, options["jobs"])
        data_dir = Path(options["data_dir"] or getattr(settings, "SHARED_DATA_DIR", "../shared/data"))
        postgres = connection.vendor == "postgresql"
        aspects = None
        if options["aspects"] or options["aspects_only"]:
            from training.aspects import current_aspect_champion, get_aspect_model

            champion = current_aspect_champion()
            _ASPECT_MODEL = get_aspect_model()
            aspects = AspectRows(_ASPECT_MODEL, champion.pk if champion else None)
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
                existing = {_digest(t) for t in Review.objects.values_list("text", flat=True).iterator()}
        generator = Generator(data_dir, options["seed"], existing)
        deployed = get_deployed_model()
        _MODEL = deployed.model
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
                    pending.append((rows, pool.apply_async(_predict_worker, (texts,))))
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

        from reviews.models import Review, ReviewAspect

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
        from reviews.models import Prediction, Review

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
