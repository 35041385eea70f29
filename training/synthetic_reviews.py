"""Realistic synthetic reviews for benchmarks and demos (`manage.py generate_reviews`): sentences of the
shared data sets recombined by star rating, generated businesses, sources and dates, and aspect rows as the
Celery extraction would store them."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import re
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from reviews.aspects import SUGGESTION_POLARITY
from reviews.models import ReviewAspect
from training.aspect_extraction import read_sentences
from training.ml.datasets import load_semeval_sentences, load_yelp, load_zomato
from training.ml.text import split_sentences

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


def set_worker_models(*, model=None, aspect_model=None) -> None:
    """The models forked prediction workers use: module globals, inherited by fork, never pickled."""
    global _MODEL, _ASPECT_MODEL
    if model is not None:
        _MODEL = model
    if aspect_model is not None:
        _ASPECT_MODEL = aspect_model


def worker_aspect_model():
    return _ASPECT_MODEL


def predict_worker(texts: list[str]):
    return _MODEL.predict_proba(texts)


def aspect_worker(sentences: list[str]):
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

        started = time.perf_counter()
        chunks = [sentences[i : i + ASPECT_CHUNK] for i in range(0, len(sentences), ASPECT_CHUNK)]
        if self.pool is not None and len(chunks) > 1:
            results = [a for chunk in self.pool.map(aspect_worker, chunks) for a in chunk]
        else:
            results = [a for chunk in chunks for a in self.model.predict(chunk)]
        for sentence, reading in zip(sentences, read_sentences(self.model, sentences, results), strict=True):
            rows = [(c, p, float(conf), False) for c, p, conf in reading.mentions]
            if reading.suggestion:
                theme, score = reading.suggestion
                rows.insert(0, (theme, SUGGESTION_POLARITY, score, True))
            self.cache[sentence] = rows
        self.predicted += len(sentences)
        self.seconds += time.perf_counter() - started

    def rows(self, reviews) -> list[tuple]:
        """reviews: (review_id, text, effective_at, source, business, rating) -> COPY rows of COLUMNS."""

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


def digest(text: str) -> bytes:
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
            key = digest(text)
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
