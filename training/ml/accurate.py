"""The accurate kind before the fine-tuned encoder (training/ml/finetuned.py): the TF-IDF model blended with a head
on the bundled MiniLM's embeddings. Training no longer builds it; versions trained with it still load and serve, and
bench/quality.py keeps it as a comparison row.

Bag-of-words models read short texts badly ("not bad at all", "could have been better"): few
words, each seen in other contexts. A pretrained sentence encoder knows such phrases. This model
keeps the default hashed TF-IDF + LR model (text_classifier) for every text and adds a logistic
regression on the MiniLM sentence embedding (training/ml/encoder.py):

* short texts (at most ``short_words`` words) get ``head_weight`` x P_head(text) + the rest x
  P_base(text);
  (0.3 by default: on the bench's splits 0.3 lifted Yelp, Zomato and SemEval-sentence scores alike,
  while 0.6 helped the polar SemEval sentences more but hurt Zomato's short, often neutral reviews);
* longer texts get P_base only: there TF-IDF has words enough, and blending in the head's view of
  a review's first and last sentence moved Yelp/Zomato macro-F1 by +0.003 at most (bench notes),
  while a full 128-token encode would cut throughput to ~70 reviews/s.

The head learns from the training reviews themselves: short reviews as they are, and the first
and last sentence of longer reviews carrying the review's label (weak, but the encoder
generalises from it). At most ``max_head_examples`` such texts are encoded, so training time
stays bounded at a million reviews.

No Django imports.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from training.ml import encoder, text_classifier
from training.ml.labels import LABELS

ALGORITHM = "tfidf-logreg+minilm"

Progress = Callable[[float, str], None]

_WORDS = re.compile(r"\w+")


def word_count(text: str) -> int:
    return len(_WORDS.findall(text))


def verdict_sentences(text: str) -> list[str]:
    """First and last sentence of a longer text (or the text itself when it has one sentence)."""
    return text_classifier.edge_sentences(text) or [str(text).strip()]


class EmbeddingBlendSentimentModel:
    """Fitted model (picklable with joblib; the encoder itself is shared per process, not pickled)."""

    # A MiniLM encode costs milliseconds: worth a Redis lookup (reviews.services.uses_prediction_cache).
    cache_predictions = True
    ALGORITHM = ALGORITHM

    def __init__(
        self,
        base: text_classifier.HashedTfidfSentimentModel,
        head: LogisticRegression,
        *,
        short_words: int,
        head_weight: float,
    ) -> None:
        self.base = base
        self.head = head
        self.short_words = short_words
        self.head_weight = head_weight
        classes = list(head.classes_)
        self._order = [classes.index(label) if label in classes else None for label in LABELS]

    def _head_proba(self, embeddings: np.ndarray) -> np.ndarray:
        raw = self.head.predict_proba(embeddings)
        out = np.zeros((raw.shape[0], len(LABELS)))
        for column, source in enumerate(self._order):
            if source is not None:
                out[:, column] = raw[:, source]
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, len(LABELS)))
        probabilities = self.base.predict_proba(texts)
        short = [i for i, text in enumerate(texts) if text.strip() and word_count(text) <= self.short_words]
        if short:
            head = self._head_proba(encoder.shared_encoder().encode([texts[i] for i in short]))
            probabilities[short] = self.head_weight * head + (1.0 - self.head_weight) * probabilities[short]
        return probabilities

    def explain(self, text: str, top_k: int = 8) -> list[tuple[str, float]]:
        # The embedding has no per-word weights; the words that moved the TF-IDF part are the
        # honest answer to "which words pushed the score".
        return self.base.explain(text, top_k=top_k)


def fit(
    texts: Sequence[str],
    labels: Sequence[str],
    weights: Sequence[float] | None = None,
    progress: Progress | None = None,
    *,
    short_words: int = 40,
    head_weight: float = 0.3,
    head_c: float = 0.3,
    max_head_examples: int = 40_000,
    encode_chunk: int = 2_000,
    seed: int = 0,
) -> EmbeddingBlendSentimentModel:
    """Train the accurate model. progress(fraction, message) may raise to cancel."""

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    texts = [str(t) for t in texts]
    labels = list(labels)
    weights_array = np.ones(len(texts)) if weights is None else np.asarray(weights, dtype=float)
    base = text_classifier.fit(
        texts, labels, weights_array, progress=lambda fraction, message: report(0.6 * fraction, message)
    )

    pieces: list[str] = []
    piece_rows: list[int] = []
    for index, text in enumerate(texts):
        parts = [text] if word_count(text) <= short_words else verdict_sentences(text)
        parts = [p for p in parts if p.strip()]
        pieces.extend(parts)
        piece_rows.extend([index] * len(parts))
    if len(pieces) > max_head_examples:
        keep = np.sort(np.random.default_rng(seed).choice(len(pieces), max_head_examples, replace=False))
        pieces = [pieces[i] for i in keep]
        piece_rows = [piece_rows[i] for i in keep]

    embeddings = np.zeros((len(pieces), encoder.EMBEDDING_DIM), dtype=np.float32)
    sentence_encoder = encoder.shared_encoder()
    for start in range(0, len(pieces), encode_chunk):
        report(0.6 + 0.35 * start / max(len(pieces), 1), f"Encoding {start:,} of {len(pieces):,} sentences (MiniLM)")
        embeddings[start : start + encode_chunk] = sentence_encoder.encode(pieces[start : start + encode_chunk])
    report(0.95, "Fitting the embedding head")
    rows = np.asarray(piece_rows, dtype=int)
    head = LogisticRegression(C=head_c, max_iter=3000, class_weight="balanced")
    head.fit(embeddings, np.asarray(labels, dtype=object)[rows], sample_weight=weights_array[rows])
    report(1.0, "Done")
    return EmbeddingBlendSentimentModel(base, head, short_words=short_words, head_weight=head_weight)
