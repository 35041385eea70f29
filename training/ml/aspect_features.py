"""Pieces both aspect models use (training/ml/aspects.py, trained; training/ml/aspect_coldstart.py, cold start):
clause splitting, VADER scores, sentence embeddings, a sentiment model's probabilities per text, the sparse
category crossing and per-category threshold tuning. No Django."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy import sparse

from training.ml.encoder import shared_encoder

CLAUSE_SPLIT = re.compile(
    r"[,;:!?()\u2014]|\.(?=\s|$)|\s-\s|\b(?:but|although|though|however|while|whereas|yet|except)\b", re.IGNORECASE
)

_VADER = None


def vader():
    global _VADER
    if _VADER is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _VADER = SentimentIntensityAnalyzer()
    return _VADER


@lru_cache(maxsize=50_000)
def vader_scores(text: str) -> tuple[float, float, float, float]:
    """(compound, pos, neg, neu); cached, because the trained polarity model and the cold start score the same
    sentences and clauses (VADER is a tenth of extraction's time after the encoder)."""
    s = vader().polarity_scores(text)
    return s["compound"], s["pos"], s["neg"], s["neu"]


# The aspect models read int8 MiniLM embeddings: twice the encoder's speed, scores within 0.005 of the float
# encoder's on the SemEval held-out sentences (bench/extraction.py compares both).
QUANTIZED_EMBEDDINGS = True


def embed(texts: Sequence[str]) -> np.ndarray:
    """Sentence embeddings from the bundled MiniLM (training/ml/encoder.py), each distinct text encoded once
    per process while it stays in the encoder's cache (detection and polarity read the same sentences)."""
    return shared_encoder(quantized=QUANTIZED_EMBEDDINGS).encode(list(texts))


def vader_rows(texts: Sequence[str]) -> np.ndarray:
    """VADER scores per text, each distinct text scored once."""
    scores = {text: vader_scores(text) for text in dict.fromkeys(texts)}
    return np.array([scores[text] for text in texts])


def transform_distinct(vectorizer, texts: Sequence[str]):
    """``vectorizer.transform(texts)`` with each distinct text analysed once (a sentence with several categories
    appears once per (sentence, category) pair)."""
    unique = list(dict.fromkeys(texts))
    if len(unique) == len(texts):
        return vectorizer.transform(texts)
    row = {text: i for i, text in enumerate(unique)}
    return vectorizer.transform(unique)[[row[text] for text in texts]]


def sentiment_rows(model, texts: Sequence[str]) -> np.ndarray:
    """The sentiment model's class probabilities per text, each distinct text scored once."""
    unique = list(dict.fromkeys(texts))
    proba = np.asarray(model.predict_proba(unique), dtype=float) if unique else np.zeros((0, 3))
    row = {text: i for i, text in enumerate(unique)}
    return proba[[row[text] for text in texts]] if texts else proba


def clauses(text: str) -> list[str]:
    parts = [p.strip() for p in CLAUSE_SPLIT.split(text)]
    parts = [p for p in parts if re.search(r"\w", p)]
    return parts or [text]


def row_khatri_rao(a, onehot):
    """Row-wise Kronecker product of sparse ``a`` (n x d) with a one-hot ``onehot`` (n x k): n x (k*d)."""
    a = sparse.csr_matrix(a)
    n, d = a.shape
    k = onehot.shape[1]
    cat = np.full(n, -1)
    oh = sparse.csr_matrix(onehot)
    for i in range(n):
        cols = oh.indices[oh.indptr[i] : oh.indptr[i + 1]]
        if len(cols):
            cat[i] = cols[0]
    row_nnz = np.diff(a.indptr)
    keep = np.repeat(cat >= 0, row_nnz)
    offsets = np.repeat(np.where(cat >= 0, cat, 0) * d, row_nnz)
    data = a.data[keep]
    indices = (a.indices + offsets)[keep]
    indptr = np.concatenate([[0], np.cumsum(np.where(cat >= 0, row_nnz, 0))])
    return sparse.csr_matrix((data, indices, indptr), shape=(n, k * d))


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    if y.sum() == 0:
        return 0.5
    best_t, best_f = 0.5, -1.0
    for t in np.arange(0.05, 0.96, 0.01):
        pred = p >= t
        tp = float((pred & (y == 1)).sum())
        f = 2 * tp / (pred.sum() + y.sum()) if (pred.sum() + y.sum()) else 0.0
        if f > best_f + 1e-9:
            best_t, best_f = float(t), f
    return best_t
