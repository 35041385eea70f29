"""Labels from the staff pages beyond the queue: a label set from the review page against the label it showed,
double-labelling votes and their agreement, and the disagreements a lead resolves.

Every write that two labellers could race on is a compare-and-set (an UPDATE ... WHERE that only one
caller can win, or a unique constraint), so it behaves the same on SQLite, where select_for_update is a
no-op, and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections import defaultdict
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from reviews.labelling import LABELS, double_label_share, reservation_seconds
from reviews.models import LabelVote, Review
from reviews.services import review_label, review_unlabel


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
