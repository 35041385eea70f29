"""The fast sentiment model's trainer: with few examples, the lexicon's opinion joins the TF-IDF features.

A fresh install serves the VADER lexicon (training/ml/lexicon.py, ~0.48 macro-F1 on Yelp). The first few
hundred human labels alone train a TF-IDF regression that is worse than that (0.27 at 100 labels, 0.54 at
600). With the lexicon's three class log-probabilities as three more columns, the regression starts from the
lexicon's opinion and learns how far to trust it: 0.51 at 100 labels, 0.55 at 300, 0.57 at 600 (Yelp, mean of
3 seeds, random labels, columns at scale 1-3; the shipped 0.5: bench/labelling_simulation.py). From ~1,500
examples the plain TF-IDF model is as good on Yelp (0.61 against 0.61 at 1,500 star labels, 0.655 against 0.642
at 3,000) and about 5x faster to serve (VADER costs ~1 ms a review), so `fit` trains the plain model from
PRIOR_MAX_EXAMPLES on.

`fit` is what sentiment training calls for the "fast" kind, and the labelling simulation too (one code path).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from training.ml import text_classifier
from training.ml.labels import LABELS
from training.ml.lexicon import LexiconSentimentModel

ALGORITHM = text_classifier.ALGORITHM
PRIOR_ALGORITHM = "tfidf-logreg+vader"
PRIOR_MAX_EXAMPLES = 1500
# The columns' size next to an L2-normalised TF-IDF row. On Yelp 1 to 3 measured the same; the larger, the more
# the regression leans on the lexicon where it is blind: at 2, "we found cold food" stayed neutral after 187
# rated reviews had taught "cold food" negative (tests/training/test_aspects.py); at 0.5 the words win there.
PRIOR_SCALE = 0.5


def lexicon_compounds(texts: Sequence[str]) -> np.ndarray:
    """VADER's compound polarity of each text (the slow part of a prediction: compute once, pass around)."""
    lexicon = _shared_lexicon()
    return np.array([lexicon.compound(str(text)) for text in texts], dtype=np.float64)


_LEXICON: LexiconSentimentModel | None = None


def _shared_lexicon() -> LexiconSentimentModel:
    global _LEXICON
    if _LEXICON is None:
        _LEXICON = LexiconSentimentModel()
    return _LEXICON


def prior_columns(compounds: np.ndarray) -> np.ndarray:
    """The lexicon model's three class log-probabilities (LABELS order), scaled: the extra feature columns."""
    lexicon = _shared_lexicon()
    k, bias = lexicon.steepness, lexicon.neutral_bias
    c = np.asarray(compounds, dtype=np.float64)
    logits = np.column_stack([k * c, bias - k * np.abs(c), -k * c])
    logits -= logits.max(axis=1, keepdims=True)
    log_probabilities = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return PRIOR_SCALE * log_probabilities / k


def lexicon_probabilities(compounds: np.ndarray) -> np.ndarray:
    """What the lexicon model (LexiconSentimentModel.predict_proba) gives for these compound polarities."""
    return np.exp(prior_columns(compounds) * _shared_lexicon().steepness / PRIOR_SCALE)


class LexiconPriorSentimentModel(text_classifier.HashedTfidfSentimentModel):
    """Hashed TF-IDF columns plus three lexicon columns, one multinomial regression over both."""

    ALGORITHM = PRIOR_ALGORITHM
    cache_predictions = True  # VADER costs about a millisecond a review: worth a cache lookup

    def transform(self, texts: Sequence[str], compounds: np.ndarray | None = None) -> sp.csr_matrix:
        texts = [str(text) for text in texts]
        if compounds is None:
            compounds = lexicon_compounds(texts)
        words = self._tfidf(self.hasher.transform(texts))
        return sp.hstack([words, sp.csr_matrix(prior_columns(compounds))], format="csr")

    def predict_proba(self, texts: Sequence[str], compounds: np.ndarray | None = None) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, len(LABELS)))
        return self._to_labels_order(self.classifier.predict_proba(self.transform(texts, compounds)))


def _unfitted(labels: Sequence[str]) -> LogisticRegression:
    placeholder = LogisticRegression()
    placeholder.classes_ = np.array(sorted(set(labels)), dtype=object)
    return placeholder


def fit(
    texts: Sequence[str],
    labels: Sequence[str],
    weights: Sequence[float] | None = None,
    progress: text_classifier.Progress | None = None,
    *,
    compounds: np.ndarray | None = None,
    c: float = 2.0,
) -> text_classifier.HashedTfidfSentimentModel:
    """The fast kind's model: with the lexicon columns below PRIOR_MAX_EXAMPLES examples, the plain TF-IDF
    model (text_classifier.fit) from there on. compounds: lexicon_compounds(texts) if already computed."""
    if len(texts) >= PRIOR_MAX_EXAMPLES:
        return text_classifier.fit(texts, labels, weights, progress)
    text_classifier.check_training_labels(texts, labels)
    if progress is not None:
        progress(0.0, f"Hashing word 1-2-grams and scoring the lexicon on {len(texts)} texts")
    texts = [str(text) for text in texts]
    hasher = text_classifier.make_hasher()
    counts = hasher.transform(texts).tocsr()
    n = len(texts)
    df = np.bincount(counts.indices, minlength=hasher.n_features)
    min_df = 2 if n >= 200 else 1
    idf = np.where(df >= min_df, np.log((1.0 + n) / (1.0 + df)) + 1.0, 0.0).astype(np.float32)
    model = LexiconPriorSentimentModel(hasher, idf, _unfitted(labels))  # its classifier is replaced below
    features = model.transform(texts, lexicon_compounds(texts) if compounds is None else compounds)
    if progress is not None:
        progress(0.5, f"Fitting logistic regression on {n} texts with the lexicon's prior")
    # As text_classifier.fit: fit on the used columns only, then scatter the coefficients back.
    used = np.flatnonzero(features.getnnz(axis=0) > 0)
    classifier = LogisticRegression(C=c, max_iter=1000, tol=1e-3, class_weight="balanced")
    sample_weight = None if weights is None else np.asarray(weights, dtype=np.float64)
    classifier.fit(features[:, used], np.asarray(labels, dtype=object), sample_weight=sample_weight)
    full = np.zeros((classifier.coef_.shape[0], features.shape[1]), dtype=classifier.coef_.dtype)
    full[:, used] = classifier.coef_
    classifier.coef_ = np.asfortranarray(full)
    classifier.n_features_in_ = features.shape[1]
    model.classifier = classifier
    classes = list(classifier.classes_)
    model._order = [classes.index(label) if label in classes else None for label in LABELS]
    if progress is not None:
        progress(0.95, "Model fitted")
    return model
