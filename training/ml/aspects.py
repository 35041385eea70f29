"""Sentence-level aspect-category detection + per-category polarity (scikit-learn only, no Django).

    model = AspectModel()                       # categories are learned from the labels given to fit()
    model.fit(sentences, aspects)               # aspects: per sentence a list of (category, polarity)
    model.predict(["Great food but service could be faster!"])
    # -> [[("food", "positive", 0.93), ("service", "negative", 0.71)]]

Method (ALGORITHM):
- Detection: one binary logistic regression per category on [word 1-2-gram TF-IDF | char_wb 2-5-gram TF-IDF]
  (sublinear tf). The decision threshold of each category is tuned on out-of-fold probabilities of the training data
  (k-fold inside fit(); nothing outside the training data is used) to maximise that category's F1. When every
  training sentence has at least one aspect (SemEval-2014 style), a sentence with no category above threshold gets
  its most probable category.
- Polarity of a (sentence, category) pair: one multinomial logistic regression over positive/negative/neutral/conflict
  (whichever occur) on [sentence word 1-2-gram TF-IDF | the same features crossed with the category (a per-category
  copy, so shared and category-specific evidence are both learned) | TF-IDF of the clause most relevant to the
  category (clauses split at punctuation and contrast words, chosen by the category's detector) | VADER scores of
  the sentence and of that clause, crossed with the category].
- With ``embeddings=True`` both the detector and the polarity model also get the 384-d MiniLM sentence embedding
  (training/ml/encoder.py) of the sentence (crossed with the category for polarity): +0.03 micro-F1 and +0.03
  polarity accuracy in validation, at the cost of encoding every sentence once. Clauses are then chosen by
  TF-IDF-only copies of the detectors, so they need no encoding (``clause_embeddings=True`` also encodes the chosen
  clause: 2.5x the encoder work for no gain in validation).
- With a ``sentiment_model`` (any object whose ``predict_proba(texts)`` gives class probabilities in the order of
  training.ml.labels.LABELS, e.g. the deployed review sentiment model), the polarity model also gets them for the
  sentence and for the chosen clause, crossed with the category. The sentiment model learned from thousands of rated
  reviews, the polarity model from a few thousand annotated sentences: +0.024 polarity accuracy in validation and
  +0.016 on the test split (bench/aspects.py). It is stored with the aspect model, so predictions use the same one.
- Categories listed in ``cold_start_categories`` (or in ``taxonomy`` but absent from the labels) are detected by a
  ``ColdStartAspectModel``'s seed terms (training/ml/aspect_coldstart.py), beside the trained categories; their
  polarity comes from the trained polarity model's shared (category-independent) features. The seeds are not
  expanded over the training sentences: a few thousand sentences teach co-occurrence, not synonyms ("staff",
  "table", "asked" joined speed and waiting and cleanliness), and cost 0.31 / 0.11 F1 on the review-sentence gold.
  ``seed_backed_categories`` ({category: terms}) are learned and also found by those terms (what the annotation
  never names: SemEval's LOCATION#GENERAL is the neighbourhood, never parking).

Confidence of a predicted (category, polarity) = P(category) * P(polarity | sentence, category).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.multiclass import OneVsRestClassifier

from training.ml.aspect_coldstart import ColdStartAspectModel, cue_polarity
from training.ml.aspect_features import (
    best_threshold,
    clauses,
    embed,
    row_khatri_rao,
    sentiment_rows,
    transform_distinct,
    vader_rows,
)
from training.ml.aspect_seeds import SEED_TERMS

ALGORITHM = "aspects-tfidf-ovr-lr-tuned+clause-crossed-polarity-lr-v1"
ALGORITHM_WITH_EMBEDDINGS = ALGORITHM + "+minilm"
SENTIMENT_SUFFIX = "+sentiment"

Progress = Callable[[str, float], None] | None


def _report(progress: Progress, stage: str, fraction: float) -> None:
    if progress is not None:
        progress(stage, fraction)


class AspectModel:
    """Trained aspect-category detector + polarity classifier; see the module docstring. Picklable (joblib)."""

    ALGORITHM = ALGORITHM

    def __init__(
        self,
        *,
        taxonomy: Sequence[str] | None = None,
        cold_start_categories: Sequence[str] = (),
        seed_backed_categories: Mapping[str, Sequence[str]] | None = None,
        min_examples: int = 5,
        folds: int = 3,
        detect_c: float = 8.0,
        polarity_c: float = 4.0,
        clause_features: bool = True,
        vader_features: bool = True,
        min_one: bool | None = None,
        random_state: int = 0,
        embeddings: bool = False,
        embedding_weight: float = 1.0,
        clause_embeddings: bool = False,
        sentiment_model=None,
    ):
        self.taxonomy = list(taxonomy) if taxonomy is not None else None
        self.cold_start_categories = list(cold_start_categories)
        self.seed_backed_categories = dict(seed_backed_categories or {})
        self.min_examples = min_examples
        self.folds = folds
        self.detect_c = detect_c
        self.polarity_c = polarity_c
        self.clause_features = clause_features
        self.vader_features = vader_features
        self.min_one = min_one
        self.random_state = random_state
        self.embeddings = embeddings
        self.embedding_weight = embedding_weight
        self.clause_embeddings = clause_embeddings
        self.sentiment_model = sentiment_model

    @property
    def algorithm(self) -> str:
        name = ALGORITHM_WITH_EMBEDDINGS if getattr(self, "embeddings", False) else ALGORITHM
        return name + SENTIMENT_SUFFIX if getattr(self, "sentiment_model", None) is not None else name

    # ------------------------------------------------------------------ features
    def _detect_vectorizers(self):
        word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, token_pattern=r"(?u)\b\w+\b")
        char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, max_features=150000)
        return word, char

    def _detect_matrix(self, texts: Sequence[str], fit: bool = False, vecs=None, with_embeddings: bool = True):
        word, char = vecs if vecs is not None else (self.det_word_, self.det_char_)
        if fit:
            blocks = [word.fit_transform(texts), char.fit_transform(texts)]
        else:
            blocks = [word.transform(texts), char.transform(texts)]
        if with_embeddings and getattr(self, "embeddings", False):
            blocks.append(sparse.csr_matrix(self.embedding_weight * embed(texts)))
        return sparse.hstack(blocks).tocsr()

    def _category_scores(self, texts: Sequence[str]) -> np.ndarray:
        """P(category | text) for the trained categories, shape (n, k)."""
        if not texts:
            return np.zeros((0, len(self.categories_)))
        x = self._detect_matrix(texts)
        return np.column_stack([clf.predict_proba(x)[:, 1] for clf in self.detectors_])

    def _clause_scores(self, clause_texts: Sequence[str]) -> np.ndarray:
        """Category scores used only to pick a clause: with embeddings on, TF-IDF-only detectors,
        so the clauses of a sentence need not be encoded (that tripled the encoder's work)."""
        clause_detectors = getattr(self, "clause_detectors_", None)
        if clause_detectors is None:
            return self._category_scores(clause_texts)
        x = self._detect_matrix(clause_texts, with_embeddings=False)
        return np.column_stack([clf.predict_proba(x)[:, 1] for clf in clause_detectors])

    def _best_clauses(self, texts: Sequence[str], cats: Sequence[str]) -> list[str]:
        """For each (text, category) pair the clause the category's detector likes most."""
        # A sentence with several categories appears once per pair: split and score it once.
        unique = list(dict.fromkeys(texts))
        split = {text: clauses(text) for text in unique}
        flat = [c for text in unique for c in split[text] if len(split[text]) > 1]
        scores = self._clause_scores(flat) if flat else None
        offsets, pos = {}, 0
        for text in unique:
            if len(split[text]) > 1:
                offsets[text] = pos
                pos += len(split[text])
        out = []
        for text, cat in zip(texts, cats):
            parts = split[text]
            idx = self.cat_index_.get(cat)
            if len(parts) == 1:
                out.append(parts[0])
            elif idx is None:
                out.append(" ".join(parts))
            else:
                start = offsets[text]
                out.append(parts[int(np.argmax(scores[start : start + len(parts), idx]))])
        return out

    def _polarity_matrix(self, texts: Sequence[str], cats: Sequence[str], fit: bool = False):
        n = len(texts)
        if fit:
            self.pol_word_ = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
            base = self.pol_word_.fit_transform(texts)
        else:
            base = transform_distinct(self.pol_word_, texts)
        k = len(self.categories_)
        cat_idx = np.array([self.cat_index_.get(c, -1) for c in cats])
        blocks = [base]
        # crossed copy: column block per category (unknown categories get no crossed features)
        rows = np.arange(n)
        onehot = sparse.csr_matrix(
            (np.ones(int((cat_idx >= 0).sum())), (rows[cat_idx >= 0], cat_idx[cat_idx >= 0])), shape=(n, k)
        )
        blocks.append(row_khatri_rao(base, onehot))
        blocks.append(onehot)
        dense = []
        if self.clause_features:
            clause_texts = self._best_clauses(texts, cats)
            if fit:
                self.pol_clause_ = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
                blocks.append(self.pol_clause_.fit_transform(clause_texts))
            else:
                blocks.append(transform_distinct(self.pol_clause_, clause_texts))
        if self.vader_features:
            dense.append(vader_rows(texts))
            if self.clause_features:
                dense.append(vader_rows(clause_texts))
        sentiment_model = getattr(self, "sentiment_model", None)  # models saved before it have none
        if sentiment_model is not None:
            dense.append(sentiment_rows(sentiment_model, texts))
            if self.clause_features:
                dense.append(sentiment_rows(sentiment_model, clause_texts))
        if getattr(self, "embeddings", False):
            dense.append(self.embedding_weight * embed(texts))
            if self.clause_features and getattr(self, "clause_embeddings", False):
                dense.append(self.embedding_weight * embed(clause_texts))
        if dense:
            d = sparse.csr_matrix(np.hstack(dense))
            blocks.append(d)
            blocks.append(row_khatri_rao(d, onehot))
        return sparse.hstack(blocks).tocsr()

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        sentences: Sequence[str],
        aspects: Sequence[Sequence[tuple[str, str]]],
        progress: Progress = None,
        *,
        known: Sequence[Collection[str] | None] | None = None,
    ):
        """``known`` (optional, per sentence): the categories whose presence or absence its labels state (None: all).
        A category's detector learns only from the sentences that state it, so coarser annotations (a 2014 "food"
        that may be any of three themes) teach what they can without teaching false negatives."""
        sentences = [str(s) for s in sentences]
        if len(sentences) != len(aspects) or (known is not None and len(known) != len(sentences)):
            raise ValueError("sentences, aspects and known differ in length")
        counts: dict[str, int] = {}
        for labels in aspects:
            for cat in {c for c, _ in labels}:
                counts[cat] = counts.get(cat, 0) + 1
        order = self.taxonomy if self.taxonomy is not None else sorted(counts)
        self.categories_ = [
            c for c in order if counts.get(c, 0) >= self.min_examples and c not in self.cold_start_categories
        ]
        if not self.categories_:
            raise ValueError("no category has enough labelled sentences")
        self.cat_index_ = {c: i for i, c in enumerate(self.categories_)}
        wanted_cold = list(self.cold_start_categories)
        if self.taxonomy is not None:
            wanted_cold += [c for c in self.taxonomy if c not in self.cat_index_ and c not in wanted_cold]
        self.min_one_ = all(len(a) > 0 for a in aspects) if self.min_one is None else self.min_one
        y = np.array([[int(any(c == cat for c, _ in labels)) for cat in self.categories_] for labels in aspects])
        stated = np.array(
            [[k is None or cat in k for cat in self.categories_] for k in (known or [None] * len(sentences))],
            dtype=bool,
        ).reshape(y.shape)

        # thresholds from out-of-fold probabilities
        _report(progress, "detection-thresholds", 0.0)
        oof = np.zeros(y.shape, dtype=float)
        folds = KFold(n_splits=self.folds, shuffle=True, random_state=self.random_state) if self.folds > 1 else None
        if folds is not None and len(sentences) >= 4 * self.folds:
            for fold, (tr, va) in enumerate(folds.split(sentences)):
                vecs = self._detect_vectorizers()
                xtr = self._detect_matrix([sentences[i] for i in tr], fit=True, vecs=vecs)
                xva = self._detect_matrix([sentences[i] for i in va], vecs=vecs)
                for j in range(len(self.categories_)):
                    rows = stated[tr, j]
                    if not rows.any() or y[tr, j][rows].min() == y[tr, j][rows].max():
                        oof[va, j] = y[tr, j][rows].max() if rows.any() else 0.0
                        continue
                    clf = LogisticRegression(
                        C=self.detect_c, max_iter=2000, class_weight="balanced", solver="liblinear"
                    )
                    oof[va, j] = clf.fit(xtr[rows], y[tr, j][rows]).predict_proba(xva)[:, 1]
                _report(progress, "detection-thresholds", (fold + 1) / self.folds)
            self.thresholds_ = np.array(
                [best_threshold(y[stated[:, j], j], oof[stated[:, j], j]) for j in range(len(self.categories_))]
            )
        else:
            self.thresholds_ = np.full(len(self.categories_), 0.5)

        _report(progress, "detection", 0.0)
        self.det_word_, self.det_char_ = self._detect_vectorizers()
        x = self._detect_matrix(sentences, fit=True)
        self.detectors_ = []
        for j in range(len(self.categories_)):
            clf = LogisticRegression(C=self.detect_c, max_iter=2000, class_weight="balanced", solver="liblinear")
            rows = stated[:, j]
            if y[rows, j].min() == y[rows, j].max():
                clf = _Constant(float(y[rows, j][0]))
            else:
                clf.fit(x[rows], y[rows, j])
            self.detectors_.append(clf)
        self.clause_detectors_ = None
        if self.embeddings and not self.clause_embeddings:
            x_words = self._detect_matrix(sentences, with_embeddings=False)
            self.clause_detectors_ = []
            for j, clf in enumerate(self.detectors_):
                if not isinstance(clf, _Constant):
                    clf = LogisticRegression(
                        C=self.detect_c, max_iter=2000, class_weight="balanced", solver="liblinear"
                    ).fit(x_words[stated[:, j]], y[stated[:, j], j])
                self.clause_detectors_.append(clf)
        _report(progress, "detection", 1.0)

        _report(progress, "polarity", 0.0)
        pairs = [(s, c, p) for s, labels in zip(sentences, aspects) for c, p in labels if c in self.cat_index_]
        pairs += [(s, c, p) for s, labels in zip(sentences, aspects) for c, p in labels if c in wanted_cold]
        px = self._polarity_matrix([p[0] for p in pairs], [p[1] for p in pairs], fit=True)
        py = np.array([p[2] for p in pairs])
        if len(set(py)) == 1:
            self.polarity_ = _Constant(0.0, classes=np.array(sorted(set(py))))
        else:
            self.polarity_ = OneVsRestClassifier(
                LogisticRegression(C=self.polarity_c, max_iter=3000, solver="liblinear")
            )
            self.polarity_.fit(px, py)
        self.polarity_classes_ = [str(c) for c in self.polarity_.classes_]
        _report(progress, "polarity", 1.0)

        self.cold_start_ = None
        seeded = wanted_cold + [c for c in self.seed_backed_categories if c not in wanted_cold]
        if seeded:
            seeds = {**SEED_TERMS, **self.seed_backed_categories}
            self.cold_start_ = ColdStartAspectModel(categories=seeded, seeds=seeds)
        self.n_train_ = len(sentences)
        return self

    # ------------------------------------------------------------------ predict
    @property
    def categories(self) -> list[str]:
        extra = self.cold_start_.categories if getattr(self, "cold_start_", None) is not None else []
        return list(self.categories_) + [c for c in extra if c not in self.cat_index_]

    def detect(self, sentences: Sequence[str]) -> list[list[tuple[str, float]]]:
        """Detected categories with P(category) per sentence (trained categories, then cold-start ones)."""
        sentences = [str(s) for s in sentences]
        probs = self._category_scores(sentences)
        out = []
        for row in probs:
            found = [(self.categories_[j], float(row[j])) for j in np.nonzero(row >= self.thresholds_)[0]]
            if not found and self.min_one_ and len(row):
                j = int(np.argmax(row / np.maximum(self.thresholds_, 1e-6)))
                found = [(self.categories_[j], float(row[j]))]
            out.append(found)
        if self.cold_start_ is not None:
            for found, extra in zip(out, self.cold_start_.detect(sentences)):
                learned = {category for category, _ in found}
                found.extend((category, p) for category, p in extra if category not in learned)
        return out

    def polarity_proba(self, sentences: Sequence[str], categories: Sequence[str]) -> np.ndarray:
        """P(polarity | sentence, category) for aligned pairs; columns follow ``polarity_classes_``."""
        if not sentences:
            return np.zeros((0, len(self.polarity_classes_)))
        x = self._polarity_matrix([str(s) for s in sentences], list(categories))
        return self.polarity_.predict_proba(x)

    def predict_polarity(self, sentences: Sequence[str], categories: Sequence[str]) -> list[tuple[str, float]]:
        """Polarity (and its probability) of each aligned (sentence, category) pair: SemEval subtask 4 style."""
        proba = self.polarity_proba(sentences, categories)
        labels = [(self.polarity_classes_[int(np.argmax(p))], float(np.max(p))) for p in proba]
        # The cold-start themes' cue words (no annotation teaches them): "we waited an hour" is a complaint.
        return [(cue_polarity(str(s), c, label), p) for s, c, (label, p) in zip(sentences, categories, labels)]

    def predict(self, sentences: Sequence[str]) -> list[list[tuple[str, str, float]]]:
        detected = self.detect(sentences)
        flat = [(i, c, p) for i, found in enumerate(detected) for c, p in found]
        pols = self.predict_polarity([sentences[i] for i, _, _ in flat], [c for _, c, _ in flat])
        out: list[list[tuple[str, str, float]]] = [[] for _ in sentences]
        for (i, cat, pc), (pol, pp) in zip(flat, pols):
            out[i].append((cat, pol, round(pc * pp, 4)))
        return out


class _Constant:
    def __init__(self, value: float, classes=None):
        self.value = value
        self.classes_ = classes

    def predict_proba(self, x):
        n = x.shape[0]
        if self.classes_ is not None:
            return np.ones((n, 1))
        return np.column_stack([np.full(n, 1 - self.value), np.full(n, self.value)])
