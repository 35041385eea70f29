"""Which reviews are held out for evaluation: a pure function of the review id, so a review never moves
between training and evaluation, and every layer (the labelling queue's blind items, training, monitoring)
agrees without asking the database."""

from __future__ import annotations

import hashlib

from training.ml.aspect_data import group_key

EVALUATION_SHARE_PERCENT = 20


def in_evaluation_bucket(review_id: int) -> bool:
    """Deterministic ~20% hold-out."""
    digest = hashlib.blake2b(str(review_id).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % 100 < EVALUATION_SHARE_PERCENT


def text_in_evaluation_bucket(text: str) -> bool:
    """The same ~20% hold-out for annotated sentences, by normalised text: the same sentence from two
    files (or with other spacing or case) never sits on both sides, and a model built elsewhere with
    this function (the shipped defaults) is never scored on a sentence it learned from."""
    digest = hashlib.blake2b(group_key(text).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % 100 < EVALUATION_SHARE_PERCENT
