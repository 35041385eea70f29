"""The default trained sentiment model: hashed word 1-2-gram TF-IDF with negation marking + logistic regression.

Design (measured in bench/quality.py, see bench/README.md):

* Text is lower-cased and every word after a negation cue ("not", "no", "never", "n't", ...)
  up to the next punctuation mark gets a ``neg_`` prefix, so "not good" and "good" are
  different features even as unigrams (this is what short sentences need).
* Features are word 1-2-grams hashed into 2**20 columns (no vocabulary to hold in memory),
  sublinear TF, IDF from document frequencies, L2-normalised rows, float32.
  Hashed columns seen in fewer than ``min_df`` documents are dropped.
* A class-balanced multinomial logistic regression gives calibrated-ish probabilities
  whose columns follow LABELS.

Memory stays bounded for very large training sets: texts are hashed in chunks, the
document frequencies are counted over all of them, and at most ``max_nnz`` non-zero
feature values are kept for the regression (beyond that, rows are subsampled uniformly,
seeded). ``fit`` is the single entry point used by training/sentiment_training.py.

``PipelineSentimentModel`` (the first version, a vocabulary TF-IDF pipeline) stays so
artifacts saved before this module changed still load; both kinds are stored under the
same ALGORITHM string because both are plain joblib pickles with ``predict_proba``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import normalize

from training.ml.labels import LABEL_INDEX, LABELS

try:  # the Cython loop behind HashingVectorizer, called directly on the single-text path
    from sklearn.feature_extraction._hashing_fast import transform as _hash_features
except ImportError:  # pragma: no cover - a future scikit-learn moved it: the sklearn path still works
    _hash_features = None

ALGORITHM = "tfidf-logreg"

Progress = Callable[[float, str], None]

NEGATION_CUES = (
    r"not|no|never|cannot|nothing|nobody|none|nor|neither|without|hardly|barely|nowhere|\w+n['’]t|"
    r"dont|didnt|doesnt|isnt|wasnt|werent|wont|cant|couldnt|wouldnt|shouldnt|havent|hasnt|hadnt|arent|aint"
)
_NEGATION_SCOPE = re.compile(r"\b(" + NEGATION_CUES + r")\b([^.,!?;:()\n]*)")
_WORD = re.compile(r"\b(\w+)")
NEGATION_PREFIX = "neg_"


def mark_negation(text: str) -> str:
    """Lower-case, and prefix each word in a negation's scope (up to punctuation) with ``neg_``."""
    return _NEGATION_SCOPE.sub(lambda m: m.group(1) + _WORD.sub(NEGATION_PREFIX + r"\1", m.group(2)), str(text).lower())


def make_hasher(n_features: int = 2**20) -> HashingVectorizer:
    return HashingVectorizer(
        preprocessor=mark_negation,
        ngram_range=(1, 2),
        n_features=n_features,
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    )


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def edge_sentences(text: str, min_words: int = 3) -> list[str]:
    """First and last sentence of a multi-sentence text (for short-text augmentation)."""
    sentences = [s.strip() for s in _SENTENCE_END.split(str(text)) if len(s.split()) >= min_words]
    if len(sentences) < 2:
        return []
    return [sentences[0], sentences[-1]]


def _augmented(
    texts: Sequence[str], y: np.ndarray, w: np.ndarray, share: float
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Add the first/last sentences of positive and negative texts, labelled like their review, at weight share."""
    extra_texts, extra_labels, extra_weights = [], [], []
    for text, label, weight in zip(texts, y, w):
        if label == "neutral":
            continue  # a 3-star review's single sentences are usually not neutral
        for sentence in edge_sentences(text):
            extra_texts.append(sentence)
            extra_labels.append(label)
            extra_weights.append(weight * share)
    all_texts = list(texts) + extra_texts
    return (
        all_texts,
        np.concatenate([y, np.asarray(extra_labels, dtype=object)]),
        np.concatenate([w, np.asarray(extra_weights, dtype=np.float64)]),
    )


def _chunks(texts: Sequence[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(texts), size):
        yield [str(t) for t in texts[start : start + size]]


# Up to this many texts per call, predict_proba scores each text with _predict_one.
LEAN_BATCH_MAX = 4


class HashedTfidfSentimentModel:
    """Fitted model: hasher + IDF vector + multinomial LR; picklable with joblib."""

    def __init__(self, hasher: HashingVectorizer, idf: np.ndarray, classifier: LogisticRegression) -> None:
        self.hasher = hasher
        self.idf = idf.astype(np.float32)
        self.classifier = classifier
        classes = list(classifier.classes_)
        self._order = [classes.index(label) if label in classes else None for label in LABELS]

    # -- features -------------------------------------------------------
    def _tfidf(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        return tfidf_rows(counts, self.idf)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self._tfidf(self.hasher.transform([str(t) for t in texts]))

    # -- prediction -----------------------------------------------------
    def _to_labels_order(self, raw: np.ndarray) -> np.ndarray:
        out = np.zeros((raw.shape[0], len(LABELS)))
        for column, source in enumerate(self._order):
            if source is not None:
                out[:, column] = raw[:, source]
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, len(LABELS)))
        if len(texts) <= LEAN_BATCH_MAX and _hash_features is not None:
            return np.vstack([self._predict_one(str(text)) for text in texts])
        return self._to_labels_order(self.classifier.predict_proba(self.transform(texts)))

    def _predict_one(self, text: str) -> np.ndarray:
        """The same arithmetic as the batch path in plain numpy, for one text.

        For one text, scikit-learn's input validation and sparse-matrix construction cost
        about twice the arithmetic itself; the API's single-text predictions come this way.
        tests/training/test_ml_model.py checks that both paths agree.
        """
        analyzer = self.__dict__.get("_analyzer")
        if analyzer is None:
            analyzer = self._analyzer = self.hasher.build_analyzer()
        terms = analyzer(text)
        columns = np.empty(0, dtype=np.int32)
        values = np.empty(0, dtype=np.float32)
        if terms:
            hashed, _, _ = _hash_features([[(term, 1) for term in terms]], self.hasher.n_features, np.float32, False, 0)
            columns, counts = np.unique(hashed, return_counts=True)
            values = np.log(counts.astype(np.float32)) + np.float32(1.0)
            values *= self.idf[columns]
            kept = values != 0.0  # columns below min_df have idf 0
            columns, values = columns[kept], values[kept]
            norm = np.sqrt(np.dot(values, values))
            if norm > 0:
                values /= norm
        classifier = self.classifier
        decision = classifier.coef_[:, columns] @ values.astype(np.float64) + classifier.intercept_
        if decision.shape[0] == 1:  # two classes: scikit-learn's binary logistic
            positive = 1.0 / (1.0 + np.exp(-decision[0]))
            raw = np.array([1.0 - positive, positive])
        else:
            raw = np.exp(decision - decision.max())
            raw /= raw.sum()
        return self._to_labels_order(raw[np.newaxis, :])[0]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_analyzer", None)  # rebuilt on first use
        return state

    def explain(self, text: str, top_k: int = 8) -> list[tuple[str, float]]:
        """Terms that pushed the predicted class most: tf-idf value x (coef[predicted] - mean coef[others]).

        Positive weight: the term pushed towards the predicted label; negative: against it.
        Negated words are shown as "not <word>" ("neg_" marking removed).
        """
        row = self.transform([text])
        probabilities = self.predict_proba([text])[0]
        predicted = int(probabilities.argmax())
        source = self._order[predicted]
        if source is None or row.nnz == 0:
            return []
        coef = self.classifier.coef_
        others = [i for i in range(coef.shape[0]) if i != source]
        direction = coef[source] - coef[others].mean(axis=0) if others else coef[source]
        terms = sorted(set(self.hasher.build_analyzer()(text)))
        if not terms:
            return []
        hashed = FeatureHasher(n_features=self.hasher.n_features, input_type="string", alternate_sign=False)
        columns = hashed.transform([[term] for term in terms]).indices
        values = dict(zip(row.indices.tolist(), row.data.tolist()))
        weights: dict[str, float] = {}
        for term, column in zip(terms, columns):
            value = values.get(int(column))
            if value is None:
                continue
            shown = display_term(term)
            weights[shown] = weights.get(shown, 0.0) + float(value * direction[column])
        ranked = sorted(weights.items(), key=lambda item: abs(item[1]), reverse=True)
        return [(term, round(weight, 6)) for term, weight in ranked[:top_k] if weight != 0.0]


def predict_proba_together(models: Sequence[object], texts: Sequence[str]) -> list[np.ndarray]:
    """Each model's probabilities on the same texts (the gate scores candidate and champion).

    Hashing the texts is most of a prediction's cost; models of this module that hash the
    same way share one hashing pass and only apply their own IDF and regression.
    """
    texts = [str(text) for text in texts]
    results: list[np.ndarray | None] = [None] * len(models)
    shared: dict[str, sp.csr_matrix] = {}
    for position, model in enumerate(models):
        if type(model) is not HashedTfidfSentimentModel or len(texts) <= LEAN_BATCH_MAX:  # subclasses add columns
            results[position] = np.asarray(model.predict_proba(texts))
            continue
        key = repr(sorted(model.hasher.get_params().items()))
        if key not in shared:
            shared[key] = model.hasher.transform(texts).tocsr()
        features = tfidf_rows(shared[key].copy(), model.idf)
        results[position] = model._to_labels_order(model.classifier.predict_proba(features))
    return results  # type: ignore[return-value]


def display_term(term: str) -> str:
    words = term.split(" ")
    shown = []
    for word in words:
        if word.startswith(NEGATION_PREFIX):
            word = word[len(NEGATION_PREFIX) :]
            negated_before = bool(shown) and (shown[-1].startswith("not ") or re.fullmatch(NEGATION_CUES, shown[-1]))
            if not negated_before and not (shown and shown[-1] in ("didn", "doesn", "don", "isn", "wasn")):
                word = "not " + word
        shown.append(word)
    return " ".join(shown)


def tfidf_rows(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear TF x IDF, rows L2-normalised, in place on a float32 CSR matrix of counts."""
    counts = counts.tocsr()
    if counts.dtype != np.float32:
        counts = counts.astype(np.float32)
    data = counts.data
    np.log(data, out=data)
    data += 1.0
    data *= idf[counts.indices]
    normalize(counts, copy=False)
    counts.eliminate_zeros()
    return counts


def check_training_labels(texts: Sequence[str], labels: Sequence[str]) -> None:
    """What every sentiment fit needs: one known label per text, at least two classes."""
    if len(texts) != len(labels):
        raise ValueError("texts and labels differ in length")
    if len(set(labels)) < 2:
        raise ValueError("need at least two classes to train")
    unknown = set(labels) - set(LABEL_INDEX)
    if unknown:
        raise ValueError(f"unknown labels {sorted(unknown)}")


def fit(
    texts: Sequence[str],
    labels: Sequence[str],
    weights: Sequence[float] | None = None,
    progress: Progress | None = None,
    *,
    c: float = 2.0,
    min_df: int | None = None,
    n_features: int = 2**20,
    max_nnz: int = 120_000_000,
    chunk_size: int = 20_000,
    seed: int = 0,
    sentence_augmentation: float = 0.0,
) -> HashedTfidfSentimentModel:
    """Train the default model. labels are LABELS strings; weights (e.g. 3.0 for human labels) are optional.

    progress(fraction, message) is called a few times; it may raise to cancel.
    """

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    n = len(texts)
    check_training_labels(texts, labels)
    if min_df is None:
        min_df = 2 if n >= 200 else 1
    hasher = make_hasher(n_features)
    y = np.asarray(labels, dtype=object)
    w = np.ones(n, dtype=np.float64) if weights is None else np.asarray(weights, dtype=np.float64)
    if sentence_augmentation > 0:
        texts, y, w = _augmented(texts, y, w, sentence_augmentation)
        n = len(texts)

    # Pass 1: hash every text once, count document frequencies; keep chunks of counts.
    report(0.0, f"Hashing word 1-2-grams of {n} texts")
    df = np.zeros(n_features, dtype=np.int64)
    chunks: list[sp.csr_matrix] = []
    total_nnz = 0
    n_chunks = max(1, -(-n // chunk_size))
    for number, chunk in enumerate(_chunks(texts, chunk_size)):
        counts = hasher.transform(chunk).tocsr()
        counts.indices = counts.indices.astype(np.int32, copy=False)
        df += np.bincount(counts.indices, minlength=n_features)
        chunks.append(counts)
        total_nnz += counts.nnz
        if number % 10 == 9:
            report(0.4 * (number + 1) / n_chunks, f"Hashed {min(n, (number + 1) * chunk_size)} of {n} texts")

    keep_column = df >= min_df
    idf = np.where(keep_column, np.log((1.0 + n) / (1.0 + df)) + 1.0, 0.0).astype(np.float32)

    # Bound memory: past max_nnz feature values, keep a seeded uniform sample of rows.
    row_keep = np.ones(n, dtype=bool)
    if total_nnz > max_nnz:
        rng = np.random.default_rng(seed)
        row_keep = rng.random(n) < max_nnz / total_nnz
        report(0.42, f"Keeping {int(row_keep.sum())} of {n} texts for the regression (memory bound)")

    # Pass 2: TF-IDF per chunk, copied into one preallocated CSR (peak = result + one chunk).
    report(0.45, "Weighting features (TF-IDF)")
    parts_nnz = []
    for number, counts in enumerate(chunks):
        rows = row_keep[number * chunk_size : number * chunk_size + counts.shape[0]]
        if not rows.all():
            counts = counts[rows]
        counts.data[~keep_column[counts.indices]] = 0.0
        counts.eliminate_zeros()
        chunks[number] = counts
        parts_nnz.append(counts.nnz)
    kept_rows = int(row_keep.sum())
    data = np.empty(sum(parts_nnz), dtype=np.float32)
    indices = np.empty(sum(parts_nnz), dtype=np.int32)
    indptr = np.zeros(kept_rows + 1, dtype=np.int64)
    at_value, at_row = 0, 0
    for number in range(len(chunks)):
        part = tfidf_rows(chunks[number], idf)
        chunks[number] = None  # type: ignore[call-overload]  # free as we go
        data[at_value : at_value + part.nnz] = part.data
        indices[at_value : at_value + part.nnz] = part.indices
        indptr[at_row + 1 : at_row + 1 + part.shape[0]] = part.indptr[1:] + at_value
        at_value += part.nnz
        at_row += part.shape[0]
    if at_value != data.size:  # tfidf_rows may drop explicit zeros
        data, indices = data[:at_value], indices[:at_value]
    if indptr[-1] <= np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)
    # Fit on the used columns only (a 2**20-wide coefficient matrix makes each solver step slow),
    # then scatter the coefficients back so prediction works on raw hashed columns.
    used = np.flatnonzero(keep_column)
    remap = np.full(n_features, -1, dtype=np.int32)
    remap[used] = np.arange(used.size, dtype=np.int32)
    for start in range(0, indices.size, 10_000_000):  # in place, in slices: no second index array
        indices[start : start + 10_000_000] = remap[indices[start : start + 10_000_000]]
    features = sp.csr_matrix((data, indices, indptr), shape=(kept_rows, max(1, used.size)))
    del chunks

    report(0.5, f"Fitting logistic regression on {kept_rows} texts, {used.size} features")
    classifier = LogisticRegression(C=c, max_iter=1000, tol=1e-3, class_weight="balanced")
    classifier.fit(features, y[row_keep], sample_weight=w[row_keep])
    full = np.zeros((classifier.coef_.shape[0], n_features), dtype=classifier.coef_.dtype)
    full[:, used] = classifier.coef_[:, : used.size]
    classifier.coef_ = np.asfortranarray(full)  # coef_.T C-contiguous: sparse @ dense stays fast
    classifier.n_features_in_ = n_features
    report(0.95, "Model fitted")
    return HashedTfidfSentimentModel(hasher, idf, classifier)


# --- first version, kept so artifacts saved before still load -------------------------


class PipelineSentimentModel:
    """Wraps a fitted sklearn pipeline so its columns follow LABELS (artifacts from the first version)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        classes = list(pipeline.classes_)
        self._order = [classes.index(label) if label in classes else None for label in LABELS]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        raw = self.pipeline.predict_proba(list(texts))
        out = np.zeros((raw.shape[0], len(LABELS)))
        for column, source in enumerate(self._order):
            if source is not None:
                out[:, column] = raw[:, source]
        return out
