"""The labelling queue: which review a labeller sees next, reservations, votes and agreement.

Services (writes) and selectors (reads) for the staff labelling page. Every write that
two labellers could race on is a compare-and-set (an UPDATE ... WHERE that only one
caller can win, or a unique constraint), so it behaves the same on SQLite, where
select_for_update is a no-op, and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, F, FloatField, Max, Min, Q, QuerySet, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Least
from django.utils import timezone

from reviews.models import LabelEvent, LabelVote, Review, Sentiment
from reviews.selectors import business_names
from reviews.services import explain_texts, review_label, review_unlabel
from training.datasets import in_evaluation_bucket
from training.retraining import retraining_need

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


@dataclass(frozen=True)
class QueueFilters:
    order: str = Order.UNCERTAIN
    source: str | None = None
    business: str | None = None
    predicted_label: str | None = None
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None

    def as_query(self) -> dict[str, str]:
        values = {
            "order": self.order,
            "source": self.source or "",
            "business": self.business or "",
            "predicted_label": self.predicted_label or "",
            "date_from": self.date_from.date().isoformat() if self.date_from else "",
            "date_to": self.date_to.date().isoformat() if self.date_to else "",
        }
        return {key: value for key, value in values.items() if value}


# --- Selectors ------------------------------------------------------------------------


def _scoped(reviews: QuerySet[Review], filters: QueueFilters) -> QuerySet[Review]:
    if filters.source:
        reviews = reviews.filter(source=filters.source)
    if filters.business:
        reviews = reviews.filter(business=filters.business)
    if filters.predicted_label:
        reviews = reviews.filter(predicted_label=filters.predicted_label)
    if filters.date_from:
        reviews = reviews.filter(effective_at__gte=filters.date_from)
    if filters.date_to:
        reviews = reviews.filter(effective_at__lt=filters.date_to)
    return reviews


def _free_for(user_id: int, now: dt.datetime) -> Q:
    """Not reserved by anyone else right now (an expired reservation is free)."""
    return Q(reserved_until__isnull=True) | Q(reserved_until__lt=now) | Q(reserved_by_id=user_id)


def _score(name: str):
    return Cast(KT(f"predicted_scores__{name}"), FloatField())


def margin_expression():
    """Top-1 minus top-2 probability of the three classes: 2*max + min - sum (sum is ~1)."""
    scores = [_score(label) for label in LABELS]
    return 2 * F("predicted_confidence") + Least(*scores) - (scores[0] + scores[1] + scores[2])


def _ordered(reviews: QuerySet[Review], order: str, rng: random.Random) -> tuple[QuerySet[Review], bool]:
    """The queue in this order, and whether it starts at a random place."""
    if order == Order.UNCERTAIN and rng.random() < uncertain_random_share():
        order = Order.RANDOM  # keeps the labelled data representative, not only the hard cases
    if order == Order.UNCERTAIN:
        uncertain = reviews.filter(predicted_scores__isnull=False).annotate(margin=margin_expression())
        return uncertain.order_by("margin", "id"), False
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
    base = _scoped(Review.objects.filter(_free_for(user_id, now)), filters).exclude(id__in=list(exclude))
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
        fresh, from_random_start = _ordered(base.filter(human_label__isnull=True), filters.order, rng)
        ids += [pk for pk in fresh.values_list("id", flat=True)[: limit * 3] if pk not in ids]
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
        labels_needed=retraining_need()["labels_needed"],
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


class VoteStatus:
    SAVED = "saved"
    SECOND_SAVED = "second_saved"
    ALREADY_LABELLED = "already_labelled"
    ALREADY_VOTED = "already_voted"
    MISSING = "missing"


class PageLabel:
    """Outcomes of review_label_shown."""

    SAVED = "saved"
    UNCHANGED = "unchanged"
    CHANGED_SINCE = "changed_since"


def review_label_shown(*, review: Review, label: str, shown: str | None, user_id: int) -> str:
    """Label a review from the review page, which showed it with the label `shown` (None: unlabelled).
    Returns a PageLabel.

    An unlabelled review gets a vote through review_vote, so double labelling and agreement count it as
    on the labelling page; a labelled one is relabelled as the API does (kept in its history). Either
    way only if its label is still the one the page showed: a label given by someone else since wins.
    """
    if review.human_label != shown:
        return PageLabel.CHANGED_SINCE
    if review.human_label == label:
        return PageLabel.UNCHANGED
    if review.human_label is None:
        status = review_vote(review_id=review.pk, label=label, user_id=user_id)
        if status == VoteStatus.SAVED:
            return PageLabel.SAVED
        if status != VoteStatus.ALREADY_VOTED:  # labelled by someone else between our read and the vote
            return PageLabel.CHANGED_SINCE
        # This labeller's vote stands but the label was taken off since (API, admin): label it again below.
    with transaction.atomic():  # compare-and-set on the label the page showed
        if not Review.objects.select_for_update().filter(pk=review.pk, human_label=shown).exists():
            return PageLabel.CHANGED_SINCE
        review_label(review=review, label=label, user_id=user_id)
    return PageLabel.SAVED


def review_vote(*, review_id: int, label: str, user_id: int, rng: random.Random | None = None) -> str:
    """Record this labeller's label. Returns a VoteStatus.

    First label: a LabelVote with ordinal 1 (unique per review, so of two racing
    labellers exactly one wins) and the review's human label. A share of first
    labels asks for a second vote; the second label is only a vote, it does not
    overwrite the first (disagreements are resolved on the agreement page).
    """
    if label not in LABELS:
        raise ValueError(f"Unknown label {label!r}")
    rng = rng or random.Random()
    review = Review.objects.filter(pk=review_id).first()
    if review is None:
        return VoteStatus.MISSING
    votes = {vote.ordinal: vote for vote in LabelVote.objects.filter(review_id=review_id)}
    if any(vote.user_id == user_id for vote in votes.values()):
        return VoteStatus.ALREADY_VOTED
    try:
        with transaction.atomic():
            if review.human_label is None:
                LabelVote.objects.create(
                    review_id=review_id,
                    user_id=user_id,
                    label=label,
                    ordinal=1,
                    wants_second=rng.random() < double_label_share(),
                )
                # Compare-and-set on the label itself too: a label from the admin or the
                # API since we read the review wins, and this vote is rolled back.
                if Review.objects.filter(pk=review_id, human_label__isnull=True).update(reserved_until=None) != 1:
                    raise IntegrityError("labelled elsewhere")
                review_label(review=review, label=label, user_id=user_id)
                status = VoteStatus.SAVED
            elif 1 in votes and votes[1].wants_second and 2 not in votes:
                LabelVote.objects.create(review_id=review_id, user_id=user_id, label=label, ordinal=2)
                status = VoteStatus.SECOND_SAVED
            else:
                return VoteStatus.ALREADY_LABELLED
    except IntegrityError:
        return VoteStatus.ALREADY_LABELLED
    Review.objects.filter(pk=review_id, reserved_by_id=user_id).update(reserved_by=None, reserved_until=None)
    return status


def review_unvote(*, review_id: int, user_id: int) -> bool:
    """Undo this labeller's vote on a review (the `u` key). Only the labeller's own,
    and only while nobody has voted after them."""
    vote = LabelVote.objects.filter(review_id=review_id, user_id=user_id).first()
    if vote is None:
        return False
    with transaction.atomic():
        if vote.ordinal == 1:
            if LabelVote.objects.filter(review_id=review_id, ordinal=2).exists():
                return False
            review = Review.objects.get(pk=review_id)
            if review.human_labelled_by_id == user_id:
                review_unlabel(review=review, user_id=user_id)
        vote.delete()
    until = timezone.now() + dt.timedelta(seconds=reservation_seconds())
    Review.objects.filter(pk=review_id).update(reserved_by_id=user_id, reserved_until=until)
    return True


class NoOpenDisagreement(Exception):
    """The review is not a disagreement waiting to be settled (never double-labelled alike, or settled)."""


def _open_disagreement(review: Review) -> bool:
    votes = {vote.ordinal: vote for vote in LabelVote.objects.filter(review_id=review.pk, ordinal__in=[1, 2])}
    if len(votes) < 2 or votes[1].label == votes[2].label:
        return False
    return not (review.human_labelled_at and review.human_labelled_at > votes[2].created_at)


def disagreement_resolve(*, review_id: int, label: str, user_id: int) -> Review:
    """Settle a double-labelled review whose labellers disagreed. Only an open disagreement: the form is not a
    way to relabel any review, and a second settle from an out-of-date page must not overwrite the first."""
    with transaction.atomic():
        review = Review.objects.select_for_update().filter(pk=review_id).first()
        if review is None or not _open_disagreement(review):
            raise NoOpenDisagreement(f"Review #{review_id} has no open disagreement (settled already, or never one)")
        return review_label(review=review, label=label, user_id=user_id)


# --- Agreement ------------------------------------------------------------------------


@dataclass
class PairAgreement:
    first: str
    second: str
    reviews: int
    agreed: int
    kappa: float | None


def agreement_by_pair() -> list[PairAgreement]:
    """Cohen's kappa for every pair of labellers who labelled the same reviews."""
    from sklearn.metrics import cohen_kappa_score

    rows = LabelVote.objects.values_list("review_id", "user__username", "label").order_by("review_id", "ordinal")
    by_review: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for review_id, username, label in rows:
        by_review[review_id].append((username or "(deleted)", label))
    pairs: dict[tuple[str, str], tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for votes in by_review.values():
        for (user_a, label_a), (user_b, label_b) in itertools.combinations(sorted(votes), 2):
            pairs[(user_a, user_b)][0].append(label_a)
            pairs[(user_a, user_b)][1].append(label_b)
    result = []
    for (user_a, user_b), (labels_a, labels_b) in sorted(pairs.items()):
        agreed = sum(a == b for a, b in zip(labels_a, labels_b))
        if len(set(labels_a) | set(labels_b)) < 2:
            kappa = 1.0 if agreed == len(labels_a) else None  # kappa is undefined with one class
        else:
            kappa = float(cohen_kappa_score(labels_a, labels_b, labels=LABELS))
        result.append(PairAgreement(user_a, user_b, len(labels_a), agreed, None if kappa is None else round(kappa, 3)))
    return result


@dataclass
class Disagreement:
    review: Review
    votes: list[LabelVote]


def disagreements(*, limit: int = 100) -> list[Disagreement]:
    """Double-labelled reviews whose two labels differ and that nobody has settled since."""
    seconds = LabelVote.objects.filter(ordinal=2).select_related("review", "user").order_by("-id")
    result = []
    for second in seconds.iterator(chunk_size=500):
        first = LabelVote.objects.filter(review_id=second.review_id, ordinal=1).select_related("user").first()
        review = second.review
        if first is None or first.label == second.label:
            continue
        if review.human_labelled_at and review.human_labelled_at > second.created_at:
            continue  # resolved after the second vote
        result.append(Disagreement(review=review, votes=[first, second]))
        if len(result) >= limit:
            break
    return result
