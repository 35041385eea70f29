"""Suggestions a manager can read: clean requests, grouped by meaning, ranked by how many customers ask.

From the newest SUGGESTION_SAMPLE suggestion rows in scope (an index-ordered, bounded read; the per-theme
totals stay exact, from the report's counts):

1. Sentences the detector is not sure of (a score under SHOWN_MIN_SCORE; staff-saved ones score 1) and sentences
   that are no request (analytics.wording.suggestion_problem: fragments, questions, advice to other customers or
   readers, someone else's words, talk about stars, narrative, no request at all) are left out.
2. The rest are grouped under their theme (general-like categories as "general"): first by normalised text,
   then the MEANING_LIMIT largest groups are merged by meaning -- MiniLM sentence embeddings
   (training.ml.encoder) when the bundled model is installed, TF-IDF vectors otherwise -- when their
   representatives are at least as similar as the threshold. (The first report in a process builds the
   encoder's ONNX session, a few seconds; embeddings are cached per sentence after that.)
3. A group's score counts each asking review once, weighted by recency (half-life RECENCY_HALF_LIFE_DAYS
   before the period's end) and by its rating (a 1-star review's ask weighs twice a 5-star one's; unrated:
   as a 3-star). Groups are ranked by score, then by reviews.
4. Its text is its most frequent wording, with profanity masked (`masked`: true).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata

import numpy as np

from analytics.taxonomy import theme_of
from analytics.wording import is_offensive, masked, suggestion_problem, tidy, trimmed
from reviews.models import ReviewAspect
from training.ml import encoder

SUGGESTION_SAMPLE = 2000
# A list a manager acts on wants precision more than recall: on the 697 hand-annotated Yelp/Zomato sentences
# (bench/gold.py) the shipped detector is right on 55% of what it flags at its own threshold, 78% at 0.8
# (recall 0.67 -> 0.48). Every suggestion row still counts in the per-theme totals.
SHOWN_MIN_SCORE = 0.8
SUGGESTION_GROUPS_PER_ASPECT = 5
TOP_SUGGESTIONS = 10
MEANING_LIMIT = 300
ENCODER_SIMILARITY = 0.7
TFIDF_SIMILARITY = 0.5
RECENCY_HALF_LIFE_DAYS = 30
FILLER = frozenset({"the", "a", "an", "they", "you", "really", "please", "just", "some", "maybe", "definitely", "very"})


@functools.lru_cache(maxsize=50_000)  # the same suggestion sentences come back in every report
def normalise_suggestion(text: str) -> str:
    """Near-duplicate key: case, accents, punctuation, filler and spacing do not matter."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(word for word in re.findall(r"[a-z0-9]+", text) if word not in FILLER)


@functools.lru_cache(maxsize=50_000)  # the same sentences come back in every report
def _prepared(category: str, sentence: str) -> tuple[str, str, str] | None:
    """(theme, shown text, near-duplicate key), or None when the sentence is no request."""
    if suggestion_problem(sentence) is not None:
        return None
    text = trimmed(tidy(sentence))
    key = normalise_suggestion(text)
    return (theme_of(category), text, key) if key else None


def _weight(at: dt.datetime, rating, end: dt.datetime) -> float:
    age_days = max(0.0, (end - at).total_seconds() / 86400)
    stars = float(rating) if rating is not None else 3.0
    return 0.5 ** (age_days / RECENCY_HALF_LIFE_DAYS) * (1 + (5 - stars) / 4)


def _vectors(texts: list[str]) -> tuple[np.ndarray, float]:
    """Unit vectors of the texts and the cosine similarity at which two of them say the same."""
    if encoder.is_available():
        return encoder.shared_encoder().encode(texts), ENCODER_SIMILARITY
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer(stop_words="english", ngram_range=(1, 2), sublinear_tf=True).fit_transform(texts)
    return matrix.toarray(), TFIDF_SIMILARITY


def _merge_by_meaning(groups: list[dict]) -> list[dict]:
    """Greedy: each group joins the first larger group of its theme whose wording means the same."""
    if len(groups) < 2:
        return groups
    try:
        vectors, threshold = _vectors([group["text"] for group in groups])
    except ValueError:  # TF-IDF with nothing but stop words
        return groups
    similar = (vectors @ vectors.T) >= threshold  # one matrix product instead of a pair at a time
    leaders = np.zeros(len(groups), dtype=bool)
    merged: list[dict] = []
    for i, group in enumerate(groups):
        candidates = np.flatnonzero(similar[i, :i] & leaders[:i])
        target = next((int(j) for j in candidates if groups[j]["theme"] == group["theme"]), None)
        if target is None:
            leaders[i] = True
            merged.append(group)
        else:
            leader = groups[target]
            leader["rows"].extend(group["rows"])
            for text, n in group["wordings"].items():
                leader["wordings"][text] = leader["wordings"].get(text, 0) + n
    return merged


def _finished(group: dict, end: dt.datetime) -> dict:
    weights: dict[int, float] = {}
    for review_id, at, rating in group["rows"]:
        weights[review_id] = max(weights.get(review_id, 0.0), _weight(at, rating, end))
    ratings = [float(rating) for _, _, rating in group["rows"] if rating is not None]
    text = max(group["wordings"].items(), key=lambda item: (item[1], -len(item[0])))[0]
    return {
        "theme": group["theme"],
        "text": text,  # masked once ranked (_shown): only the groups shown are checked
        "count": len(group["rows"]),
        "reviews": len(weights),
        "score": round(sum(weights.values()), 4),
        "latest": max(at for _, at, _ in group["rows"]),
        "mean_rating": round(sum(ratings) / len(ratings), 2) if ratings else None,
    }


def _shown(group: dict) -> dict:
    if "masked" not in group:
        group["masked"] = is_offensive(group["text"])
        group["text"] = masked(group["text"])
    return group


def suggestion_report(
    rows, start, end, counts: dict[str, int], columns, *, rating_filtered: bool = False
) -> tuple[list[dict], list[dict]]:
    """(per theme: {category, count, groups}, the TOP_SUGGESTIONS best groups across themes)."""
    at = columns.effective_at
    scoped = rows.filter(is_suggestion=True, **{f"{at}__gte": start, f"{at}__lt": end})
    newest = scoped.order_by(f"-{at}", "-id")
    if rating_filtered:
        # The rating is no key of the report's indexes: pick the ids first (an index-only scan of
        # aspect_suggestion_sample, rating included), then read only those rows.
        newest = ReviewAspect.objects.filter(id__in=newest.values("id")[:SUGGESTION_SAMPLE]).order_by(f"-{at}", "-id")
    sample = newest.values_list("category", "sentence", "review_id", at, columns.rating, "confidence")
    exact: dict[tuple[str, str], dict] = {}
    for category, sentence, review_id, moment, rating, confidence in sample[:SUGGESTION_SAMPLE]:
        prepared = _prepared(category, sentence) if confidence >= SHOWN_MIN_SCORE else None
        if prepared is None:
            continue
        theme, text, key = prepared
        group = exact.setdefault((theme, key), {"theme": theme, "text": text, "rows": [], "wordings": {}})
        group["rows"].append((review_id, moment, rating))
        group["wordings"][text] = group["wordings"].get(text, 0) + 1
    ranked = sorted(exact.values(), key=lambda g: (-len(g["rows"]), g["text"]))
    groups = _merge_by_meaning(ranked[:MEANING_LIMIT]) + ranked[MEANING_LIMIT:]
    finished = sorted((_finished(g, end) for g in groups), key=lambda g: (-g["score"], -g["reviews"], g["text"]))
    finished = [_shown(g) for g in finished[:TOP_SUGGESTIONS]] + finished[TOP_SUGGESTIONS:]
    totals: dict[str, int] = {}
    for category, n in counts.items():
        totals[theme_of(category)] = totals.get(theme_of(category), 0) + n
    per_theme = [
        {
            "category": theme,
            "count": count,
            "groups": [_shown(g) for g in [g for g in finished if g["theme"] == theme][:SUGGESTION_GROUPS_PER_ASPECT]],
        }
        for theme, count in sorted(totals.items(), key=lambda item: (-item[1], item[0]))
        if count
    ]
    return per_theme, finished[:TOP_SUGGESTIONS]
