"""Which reviews are held out for evaluation: a pure function of the review id, so a review never moves
between training and evaluation, and every layer (the labelling queue's blind items, training, monitoring)
agrees without asking the database."""

from __future__ import annotations

import hashlib

EVALUATION_SHARE_PERCENT = 20


def in_evaluation_bucket(review_id: int) -> bool:
    """Deterministic ~20% hold-out."""
    digest = hashlib.blake2b(str(review_id).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % 100 < EVALUATION_SHARE_PERCENT
