"""The labelling queue: which review a labeller sees next, reservations and progress (votes and agreement:
reviews/votes.py).

Services (writes) and selectors (reads) for the staff labelling page. Every write that
two labellers could race on is a compare-and-set (an UPDATE ... WHERE that only one
caller can win, or a unique constraint), so it behaves the same on SQLite, where
select_for_update is a no-op, and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db.models import Case, Count, F, FloatField, Max, Min, Q, QuerySet, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Least
from django.utils import timezone

from reviews.filters import ReviewFilters, scoped
from reviews.models import LabelEvent, LabelVote, Review, Sentiment
from reviews.selectors import MixedVerdict, business_names, mixed_verdicts
from reviews.serving import explain_texts, labels_needed
from training.ml import selection
from training.ml.holdout import in_evaluation_bucket

LABELS = [choice.value for choice in Sentiment]
KEY_LABELS = {"1": Sentiment.POSITIVE, "2": Sentiment.NEUTRAL, "3": Sentiment.NEGATIVE}


class Order:
    UNCERTAIN = "uncertain"
    NEWEST = "newest"
    DISAGREEMENT = "disagreement"
    RANDOM = "random"
    CHOICES = [
        (UNCERTAIN, "Most uncertain first"),
        (NEWEST, "Newest first"),
        (DISAGREEMENT, "Rating disagrees with prediction"),
        (RANDOM, "Random"),
    ]


def reservation_seconds() -> int:
    return int(getattr(settings, "LABELLING_RESERVATION_SECONDS", 120))


def double_label_share() -> float:
    return float(getattr(settings, "LABELLING_DOUBLE_SHARE", 0.1))


def uncertain_random_share() -> float:
    return float(getattr(settings, "LABELLING_UNCERTAIN_RANDOM_SHARE", 0.2))


def cold_start_labels() -> int:
    return int(getattr(settings, "LABELLING_COLD_START_LABELS", 100))


@dataclass(frozen=True)
class QueueFilters(ReviewFilters):
    """The queue's filters (reviews.filters, its date convention) and its order."""

    order: str = Order.UNCERTAIN

    def as_query(self) -> dict[str, str]:
        values = {
            "order": self.order,
            "source": self.source or "",
            "business": self.business or "",
            "predicted_label": self.predicted_label or "",
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
        }
        return {key: value for key, value in values.items() if value}


# --- Selectors ------------------------------------------------------------------------


def _free_for(user_id: int, now: dt.datetime) -> Q:
    """Not reserved by anyone else right now (an expired reservation is free)."""
    return Q(reserved_until__isnull=True) | Q(reserved_until__lt=now) | Q(reserved_by_id=user_id)


def _score(name: str):
    return Cast(KT(f"predicted_scores__{name}"), FloatField())


def margin_expression():
    """Top-1 minus top-2 probability of the three classes: 2*max + min - sum (sum is ~1)."""
    scores = [_score(label) for label in LABELS]
    return 2 * F("predicted_confidence") + Least(*scores) - (scores[0] + scores[1] + scores[2])


def _cold_start() -> bool:
    """Fewer human labels than LABELLING_COLD_START_LABELS (counted no further than that)."""
    needed = cold_start_labels()
    return needed > 0 and Review.objects.filter(human_label__isnull=False).values("id")[:needed].count() < needed


def _uncertain_ids(reviews: QuerySet[Review], limit: int, rng: random.Random) -> list[int]:
    """The most uncertain reviews by stored margin (SQL, a shortlist a few times the page), re-ranked by the
    queue's one selection (training.ml.selection: near-duplicates apart, the predicted classes shared)."""
    shortlist = list(
        reviews.filter(predicted_scores__isnull=False)
        .annotate(margin=margin_expression())
        .order_by("margin", "id")
        .values_list("id", "text", "predicted_scores")[: limit * selection.DEFAULT_SHORTLIST_FACTOR]
    )
    if not shortlist:
        return []
    scores = [row[2] or {} for row in shortlist]
    probabilities = np.array([[float(row.get(label, 0.0)) for label in LABELS] for row in scores])
    order = selection.select_for_labelling(
        probabilities,
        len(shortlist),
        features=selection.text_features([text for _, text, _ in shortlist]),
        rng=np.random.default_rng(rng.getrandbits(64)),
    )
    return [shortlist[position][0] for position in order]


def _ordered(reviews: QuerySet[Review], order: str, rng: random.Random) -> tuple[QuerySet[Review], bool]:
    """The queue in this order, and whether it starts at a random place (the uncertain order: _uncertain_ids)."""
    if order == Order.NEWEST:
        return reviews.order_by("-effective_at", "-id"), False
    if order == Order.DISAGREEMENT:
        # High stars predicted negative (or low stars predicted positive), most confident mistakes first.
        clash = Q(rating__gte=4, predicted_label=Sentiment.NEGATIVE) | Q(
            rating__lte=2, predicted_label=Sentiment.POSITIVE
        )
        mild = Q(rating__gte=4, predicted_label=Sentiment.NEUTRAL) | Q(rating__lte=2, predicted_label=Sentiment.NEUTRAL)
        return (
            reviews.filter(clash | mild)
            .annotate(strength=Case(When(clash, then=Value(0)), default=Value(1)))
            .order_by("strength", "-predicted_confidence", "id")
        ), False
    # Random without ORDER BY RANDOM() (a full sort on a big table): start at a random id.
    # Between the smallest and largest id: ids need not start near 0 (deleted rows, sequences).
    bounds = reviews.aggregate(low=Min("id"), high=Max("id"))
    pivot = rng.randint(bounds["low"] or 0, bounds["high"] or 0)
    return reviews.filter(id__gte=pivot).order_by("id"), True


def _candidates(*, user_id: int, filters: QueueFilters, exclude: Sequence[int], limit: int, rng: random.Random):
    now = timezone.now()
    base = scoped(filters, Review.objects.filter(_free_for(user_id, now))).exclude(id__in=list(exclude))
    # Reviews waiting for a second, independent label come first (never to the first labeller).
    second = (
        base.filter(votes__wants_second=True, votes__ordinal=1)
        .exclude(votes__user_id=user_id)
        .exclude(votes__ordinal=2)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    ids = list(second)
    seconds = set(ids)
    if len(ids) < limit:
        order = filters.order
        if order == Order.UNCERTAIN and (rng.random() < uncertain_random_share() or _cold_start()):
            order = Order.RANDOM  # keeps the labelled data representative, not only the hard cases
        fresh_reviews = base.filter(human_label__isnull=True)
        if order == Order.UNCERTAIN:
            fresh_ids, from_random_start = _uncertain_ids(fresh_reviews, limit, rng), False
        else:
            fresh, from_random_start = _ordered(fresh_reviews, order, rng)
            fresh_ids = list(fresh.values_list("id", flat=True)[: limit * 3])
        ids += [pk for pk in fresh_ids if pk not in ids]
        if len(ids) < limit and from_random_start:
            # A random start (the random order, or the uncertain queue's random share)
            # landed near the end of the table: wrap around.
            wrap = base.filter(human_label__isnull=True).order_by("id").values_list("id", flat=True)[: limit * 3]
            ids += [pk for pk in wrap if pk not in ids]
    return [(pk, pk in seconds) for pk in ids]


@dataclass
class QueueItem:
    review: Review
    blind: bool
    second_vote: bool
    highlights: list[tuple[str, float]] = field(default_factory=list)
    business_name: str = ""  # the business's display name (its id where none is known)
    mixed: MixedVerdict | None = None  # its aspects praise one theme and fault another (never shown blind)

    def as_json(self) -> dict:
        review = self.review
        scores = review.predicted_scores or {}
        return {
            "id": review.pk,
            "text": review.text,
            "source": review.source,
            "business": review.business,
            "business_name": self.business_name or review.business,
            "author": review.author,
            "rating": float(review.rating) if review.rating is not None else None,
            "date": review.effective_at.date().isoformat() if review.effective_at else None,
            "blind": self.blind,
            "second_vote": self.second_vote,
            "suggestion": None if self.blind else review.predicted_label,
            "confidence": None if self.blind else review.predicted_confidence,
            "scores": {} if self.blind else {label: round(float(scores.get(label, 0.0)), 4) for label in LABELS},
            "highlights": [] if self.blind else [{"term": term, "weight": weight} for term, weight in self.highlights],
            "mixed": None
            if self.blind or self.mixed is None
            else {"positive": self.mixed.praised, "negative": self.mixed.faulted},
        }


def queue_items(reviews: Sequence[Review], *, user_id: int) -> list[QueueItem]:
    if not reviews:
        return []
    ids = [review.pk for review in reviews]
    firsts = set(
        LabelVote.objects.filter(review_id__in=ids, ordinal=1, wants_second=True).values_list("review_id", flat=True)
    )
    items = [
        QueueItem(review=review, blind=in_evaluation_bucket(review.pk), second_vote=review.pk in firsts)
        for review in reviews
    ]
    # Second votes are blind too: the second labeller must not be steered by the model or the first label.
    for item in items:
        item.blind = item.blind or item.second_vote
    explain = [item for item in items if not item.blind]
    if explain:
        for item, terms in zip(explain, explain_texts([item.review.text for item in explain])):
            item.highlights = terms
        # The aspects are model output too: a blind item (evaluation set, second opinion) does not get them.
        mixed = mixed_verdicts(item.review.pk for item in explain)
        for item in explain:
            item.mixed = mixed.get(item.review.pk)
    names = business_names(item.review.business for item in items if item.review.business)
    for item in items:
        item.business_name = names.get(item.review.business, item.review.business)
    return items


@dataclass(frozen=True)
class Progress:
    labelled_today: int
    labelled_by_me: int
    labelled_total: int
    evaluation_set: int
    labels_needed: int
    unlabelled: int

    def as_json(self) -> dict:
        return self.__dict__.copy()


def labelling_progress(*, user_id: int) -> Progress:
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    labelled = Review.objects.filter(human_label__isnull=False)
    counts = Review.objects.aggregate(
        total=Count("id", filter=Q(human_label__isnull=False)),
        unlabelled=Count("id", filter=Q(human_label__isnull=True)),
    )
    labelled_ids = labelled.values_list("id", flat=True).iterator(chunk_size=5000)
    return Progress(
        labelled_today=LabelEvent.objects.filter(created_at__gte=today, label__isnull=False)
        .values("review_id")
        .distinct()
        .count(),
        labelled_by_me=labelled.filter(human_labelled_by_id=user_id).count(),
        labelled_total=counts["total"],
        evaluation_set=sum(1 for pk in labelled_ids if in_evaluation_bucket(pk)),
        labels_needed=labels_needed(),
        unlabelled=counts["unlabelled"],
    )


# --- Services -------------------------------------------------------------------------


def queue_claim(
    *,
    user_id: int,
    filters: QueueFilters,
    exclude: Sequence[int] = (),
    count: int = 3,
    rng: random.Random | None = None,
) -> list[Review]:
    """Reserve up to `count` reviews for this labeller and return them in queue order.

    Each reservation is a compare-and-set UPDATE: it only succeeds while nobody else
    holds the review, so two labellers claiming at the same moment never get the same one.
    """
    rng = rng or random.Random()
    now = timezone.now()
    until = now + dt.timedelta(seconds=reservation_seconds())
    won: list[int] = []
    for review_id, second in _candidates(user_id=user_id, filters=filters, exclude=exclude, limit=count, rng=rng):
        # The WHERE repeats why the review was a candidate: between our read and this
        # write another labeller may have labelled it and let its reservation go.
        still = Q(pk__in=LabelVote.objects.filter(ordinal=1).values("review_id")) & ~Q(
            pk__in=LabelVote.objects.filter(ordinal=2).values("review_id")
        )
        claimed = (
            Review.objects.filter(pk=review_id)
            .filter(_free_for(user_id, now))
            .filter(still if second else Q(human_label__isnull=True))
            .update(reserved_by_id=user_id, reserved_until=until)
        )
        if claimed == 1:
            won.append(review_id)
        if len(won) >= count:
            break
    reviews = Review.objects.in_bulk(won)
    return [reviews[pk] for pk in won if pk in reviews]


def queue_release(*, user_id: int, review_ids: Sequence[int]) -> int:
    """Give reservations back (skip, leaving the page)."""
    return Review.objects.filter(pk__in=list(review_ids), reserved_by_id=user_id).update(
        reserved_by=None, reserved_until=None
    )


def queue_extend(*, user_id: int, review_ids: Sequence[int]) -> int:
    until = timezone.now() + dt.timedelta(seconds=reservation_seconds())
    return Review.objects.filter(pk__in=list(review_ids), reserved_by_id=user_id).update(reserved_until=until)
