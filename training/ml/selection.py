"""Which unlabelled reviews a labeller sees next: the one home of the labelling queue's selection.

The live queue (reviews/labelling.py, the "most uncertain first" order) and the labelling simulation
(training/labelling_simulation.py, `manage.py simulate_labelling`) both call `select_for_labelling`, so the
simulation measures the product's own queue.

Given the current model's class probabilities for the candidates (and, optionally, their feature rows), it
returns the positions of the next `k` to show:

* a `random_share` of them drawn uniformly from all candidates (keeps the labelled data representative,
  not only the hard cases);
* the rest by uncertainty (the margin between the two most probable classes, smallest first) from a
  shortlist of the `shortlist_factor * k` most uncertain, picked greedily: each pick's score is its margin
  plus `diversity` times its largest cosine similarity to the reviews picked before it (so the queue does
  not show near-identical reviews one after another), and each predicted class gets at most its share
  of the picks while others are left (class balance: the rare classes are the ones macro-F1 needs).

Measured choices (bench/labelling_simulation.py, docs/benchmarks.md) are the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

DEFAULT_SHORTLIST_FACTOR = 2
DEFAULT_DIVERSITY = 0.3


@dataclass(frozen=True)
class QueuePolicy:
    """The queue's knobs (settings LABELLING_UNCERTAIN_RANDOM_SHARE and LABELLING_COLD_START_LABELS)."""

    random_share: float = 0.2
    cold_start_labels: int = 100
    shortlist_factor: int = DEFAULT_SHORTLIST_FACTOR
    diversity: float = DEFAULT_DIVERSITY
    class_balance: bool = True


def next_for_labelling(
    probabilities: np.ndarray,
    k: int,
    *,
    labelled: int,
    features=None,
    rng: np.random.Generator | None = None,
    policy: QueuePolicy | None = None,
) -> list[int]:
    """The uncertain queue's next `k` positions, with `labelled` human labels so far.

    Cold start: until `cold_start_labels` reviews are labelled, picks are a uniform random sample. The
    uncertainty of a model that learned from no labels (the lexicon) points at odd reviews, and a model
    trained on those is worse than the lexicon (Yelp macro-F1 0.29-0.36 after 100 such labels against 0.50
    after 100 random ones); after a random first sample, uncertainty pays from the next step on.
    """
    policy = policy or QueuePolicy()
    rng = rng if rng is not None else np.random.default_rng()
    n = np.asarray(probabilities).shape[0]
    k = max(0, min(int(k), n))
    cold = min(k, max(0, policy.cold_start_labels - labelled))
    if cold == k:
        return [int(i) for i in rng.choice(n, size=k, replace=False)]
    picks = select_for_labelling(
        probabilities,
        k - cold,
        features=features,
        random_share=policy.random_share,
        rng=rng,
        shortlist_factor=policy.shortlist_factor,
        diversity=policy.diversity,
        class_balance=policy.class_balance,
    )
    if cold:
        rest = np.setdiff1d(np.arange(n), picks)
        picks += [int(i) for i in rng.choice(rest, size=cold, replace=False)]
    return picks


def margins(probabilities: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability of each row (0: a coin toss between two classes)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape[0] == 0:
        return np.zeros(0)
    ordered = np.sort(probabilities, axis=1)
    return ordered[:, -1] - ordered[:, -2]


def _unit_rows(features) -> sp.csr_matrix | np.ndarray:
    if sp.issparse(features):
        features = sp.csr_matrix(features, dtype=np.float64)
        norms = np.sqrt(np.asarray(features.multiply(features).sum(axis=1))).ravel()
        norms[norms == 0] = 1.0
        return sp.diags(1.0 / norms) @ features
    features = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return features / norms


def select_for_labelling(
    probabilities: np.ndarray,
    k: int,
    *,
    features=None,
    random_share: float = 0.0,
    rng: np.random.Generator | None = None,
    shortlist_factor: int = DEFAULT_SHORTLIST_FACTOR,
    diversity: float = DEFAULT_DIVERSITY,
    class_balance: bool = True,
) -> list[int]:
    """Positions (rows of `probabilities`) of the next `k` reviews to label, in the order to show them.

    probabilities: (n, 3) class probabilities of the current model for the n unlabelled candidates.
    features: optional (n, d) rows (sparse or dense) for the diversity term; without them no diversity.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n = probabilities.shape[0]
    k = max(0, min(int(k), n))
    if k == 0:
        return []
    rng = rng if rng is not None else np.random.default_rng()
    margin = margins(probabilities)
    by_margin = np.argsort(margin, kind="stable")

    n_random = _share_of(k, random_share, rng)
    random_picks = [int(i) for i in rng.choice(n, size=n_random, replace=False)] if n_random else []
    taken = np.zeros(n, dtype=bool)
    taken[random_picks] = True
    n_uncertain = k - n_random

    shortlist = [int(i) for i in by_margin if not taken[i]][: max(n_uncertain * shortlist_factor, n_uncertain)]
    picks = _greedy(probabilities, margin, shortlist, n_uncertain, features, diversity, class_balance)
    # Interleave: the random picks spread over the page rather than all at its end.
    ordered = list(picks)
    for position, pick in zip(sorted(rng.choice(k, size=n_random, replace=False).tolist()), random_picks):
        ordered.insert(position, pick)
    return ordered[:k]


def _share_of(k: int, share: float, rng: np.random.Generator) -> int:
    """k x share picks, the fraction rounded up with its probability: a 20% share of a 3-review page is
    0 or 1 random review, 0.6 on average (a fixed rounding would make it 1 every time, 33%)."""
    if share <= 0:
        return 0
    whole, fraction = divmod(k * min(share, 1.0), 1.0)
    return min(k, int(whole) + int(rng.random() < fraction))


def _greedy(probabilities, margin, shortlist, count, features, diversity, class_balance) -> list[int]:
    if count <= 0 or not shortlist:
        return []
    candidates = np.asarray(shortlist)
    score = margin[candidates].copy()
    use_diversity = features is not None and diversity > 0 and len(candidates) > 1
    if use_diversity:
        rows = _unit_rows(features[candidates] if not isinstance(features, list) else np.asarray(features)[candidates])
        nearest = np.zeros(len(candidates))  # largest similarity to a pick so far
    predicted = probabilities[candidates].argmax(axis=1)
    classes = probabilities.shape[1]
    quota = -(-count // classes)  # ceil: each predicted class's share of the picks
    per_class = np.zeros(classes, dtype=int)
    open_ = np.ones(len(candidates), dtype=bool)
    picks: list[int] = []
    while len(picks) < count and open_.any():
        total = score + (diversity * nearest if use_diversity else 0.0)
        allowed = open_.copy()
        if class_balance:
            under = allowed & (per_class[predicted] < quota)
            if under.any():
                allowed = under
        best = int(np.flatnonzero(allowed)[np.argmin(total[allowed])])
        picks.append(int(candidates[best]))
        open_[best] = False
        per_class[predicted[best]] += 1
        if use_diversity:
            similarity = rows @ rows[best].T
            similarity = similarity.toarray().ravel() if sp.issparse(similarity) else np.asarray(similarity).ravel()
            nearest = np.maximum(nearest, similarity)
    return picks


def text_features(texts) -> sp.csr_matrix:
    """Rows for the diversity term: hashed word 1-2-grams (text_classifier's hasher), sublinear TF x IDF
    over the given texts, L2-normalised. IDF from the candidates themselves, so common words weigh little."""
    from training.ml.text_classifier import make_hasher, tfidf_rows

    counts = make_hasher().transform([str(text) for text in texts]).tocsr()
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
    return tfidf_rows(counts, idf)
