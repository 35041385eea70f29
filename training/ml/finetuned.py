"""The accurate sentiment kind: all-MiniLM-L6-v2 fine-tuned as a review classifier, shipped as an int8 graph.

The encoder and a linear head were fine-tuned end to end on the shared Yelp and Zomato reviews (a build step with
PyTorch, bench/finetune_encoder.py; never at run time). They ship in training/pretrained/ as an int8 ONNX graph
(`GRAPH_FILE`, < 30 MB) and the head's numbers (`HEAD_FILE`), built by `manage.py build_default_models --only
sentiment_encoder`. A bag-of-words model trained on the same reviews scores 0.03-0.04 macro-F1 below it on held-out
reviews, mostly on the neutral class (docs/benchmarks.md).

A customer's training never touches the encoder (no PyTorch). It fits:
* the fast kind's TF-IDF model on their reviews (lexicon_prior.fit). That model gives the ingest prediction at
  once (`ingest_model`); the full model re-scores new reviews in Celery batches, since it reads 150-550 reviews/s on
  2 cores against thousands;
* the head again, on the fine-tuned embeddings of their reviews, regularised towards the shipped head rather than
  towards zero (`refit_head`): a head fitted from scratch on the same reviews loses the fine-tune's gain (the
  end-to-end head learned with the encoder), while a pull towards the shipped one keeps it and still moves
  where the customer's labels disagree;
* and predicts `(1 - tfidf_weight) * P_head + tfidf_weight * P_tfidf`: the TF-IDF part knows the customer's own
  words (dish names, local slang) that the encoder only knows through sub-words.

No Django imports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax

from training.ml import encoder, lexicon_prior, model_choice, text_classifier
from training.ml.datasets import normalise
from training.ml.labels import LABEL_INDEX, LABELS
from training.ml.lexicon import LexiconSentimentModel
from training.ml.review_encoder import graph_digest, review_encoder

ALGORITHM = "finetuned-minilm-int8+head-refit+tfidf-blend-v1"
SHIPPED_ALGORITHM = "finetuned-minilm-int8-shipped-head-v1"  # shipped_model(): no file of its own
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
GRAPH_FILE = "sentiment-minilm-int8.onnx"
HEAD_FILE = "sentiment-minilm-head.json"
TFIDF_WEIGHT = 0.4  # the fast model's share of the blend without reviews to choose it on (bench/README.md)
FAST_WEIGHTS = (0.0, 0.2, 0.4, 0.6)  # the shares a training run chooses from
MIN_REFIT_EXAMPLES = 150  # fewer reviews the encoder never saw: keep the shipped head (30 to validate a refit)
HEAD_STRENGTH = 0.3  # the pull towards the shipped head (bench/README.md)

Progress = Callable[[float, str], None]


def is_available() -> bool:
    return (SHIPPED_DIR / GRAPH_FILE).is_file() and (SHIPPED_DIR / HEAD_FILE).is_file() and encoder.is_available()


@dataclass(frozen=True)
class LinearHead:
    """logits = scale * embedding @ weight.T + bias, in LABELS order (the fine-tune scaled the unit-length
    embedding by `scale` so that its logits could grow without huge weights)."""

    weight: np.ndarray  # (3, 384)
    bias: np.ndarray  # (3,)
    scale: float

    @classmethod
    def read(cls, path: Path) -> LinearHead:
        data = json.loads(path.read_text())
        if list(data["labels"]) != list(LABELS):
            raise ValueError(f"{path} orders its classes {data['labels']}, not {list(LABELS)}")
        return cls(np.asarray(data["weight"], dtype=float), np.asarray(data["bias"], dtype=float), float(data["scale"]))

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(embeddings, dtype=float) @ self.weight.T + self.bias

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        return softmax(self.logits(embeddings), axis=1)


def refit_head(
    prior: LinearHead,
    embeddings: np.ndarray,
    labels: Sequence[str],
    weights: Sequence[float] | None = None,
    *,
    strength: float,
) -> LinearHead:
    """The head that minimises the class-balanced, weighted cross-entropy on these examples plus
    strength * ||(weight, bias) - prior||^2: with few labels it stays near the shipped head, with many it
    follows them. Convex; L-BFGS from the prior."""
    x = np.asarray(embeddings, dtype=float) * prior.scale
    y = np.array([LABEL_INDEX[label] for label in labels])
    sample = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    present = np.bincount(y, minlength=len(LABELS)) > 0
    # Balanced: each class present carries the same total weight (the fine-tune's loss was balanced too).
    class_totals = np.bincount(y, weights=sample, minlength=len(LABELS))
    balance = np.where(present, sample.sum() / (present.sum() * np.maximum(class_totals, 1e-12)), 0.0)
    w = sample * balance[y]
    w = w / w.sum()
    onehot = np.eye(len(LABELS))[y]
    prior_vector = np.concatenate([prior.weight.ravel(), prior.bias])
    shape = prior.weight.shape

    def loss_and_gradient(vector: np.ndarray) -> tuple[float, np.ndarray]:
        weight, bias = vector[: prior.weight.size].reshape(shape), vector[prior.weight.size :]
        log_p = log_softmax(x @ weight.T + bias, axis=1)
        difference = vector - prior_vector
        loss = -(w * (onehot * log_p).sum(1)).sum() + strength * difference @ difference
        residual = (np.exp(log_p) - onehot) * w[:, None]
        gradient = np.concatenate([(residual.T @ x).ravel(), residual.sum(0)]) + 2 * strength * difference
        return loss, gradient

    result = minimize(loss_and_gradient, prior_vector, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return LinearHead(result.x[: prior.weight.size].reshape(shape), result.x[prior.weight.size :], prior.scale)


class FinetunedSentimentModel:
    """Fitted model (picklable with joblib: it keeps the head's numbers and the graph's digest, not the graph)."""

    cache_predictions = True  # an encode costs ~10 ms: worth a Redis lookup
    ALGORITHM = ALGORITHM

    def __init__(
        self,
        base: text_classifier.HashedTfidfSentimentModel,
        head: LinearHead,
        *,
        tfidf_weight: float,
        graph_digest: str,
        graph_name: str = GRAPH_FILE,
    ) -> None:
        self.base = base
        self.head = head
        self.tfidf_weight = tfidf_weight
        self.graph_digest = graph_digest
        self.graph_name = graph_name
        self.refit_examples = 0  # how many reviews moved the head (fit sets it)
        self.unseen_examples = 0  # how many training reviews were new to the encoder (fit sets it)

    @property
    def ingest_model(self) -> text_classifier.HashedTfidfSentimentModel:
        """What scores a review on arrival; this model re-scores it in Celery (training.rescoring)."""
        return self.base

    def _graph(self) -> Path:
        path = SHIPPED_DIR / self.graph_name
        if not path.is_file():
            raise FileNotFoundError(2, "The fine-tuned encoder this model was trained on is missing", str(path))
        if graph_digest(path) != self.graph_digest:
            raise RuntimeError(
                f"This model's head was fitted on encoder {self.graph_digest}; {path} is {graph_digest(path)} "
                "(a newer release): train the accurate kind again"
            )
        return path

    def head_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.head.predict_proba(review_encoder(self._graph()).encode(list(texts)))

    @staticmethod
    def blend(head: np.ndarray, tfidf: np.ndarray, tfidf_weight: float = TFIDF_WEIGHT) -> np.ndarray:
        return (1.0 - tfidf_weight) * np.asarray(head) + tfidf_weight * np.asarray(tfidf)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(text) for text in texts]
        if not texts:
            return np.zeros((0, len(LABELS)))
        if not self.tfidf_weight:
            return self.head_proba(texts)
        return self.blend(self.head_proba(texts), self.base.predict_proba(texts), self.tfidf_weight)

    def explain(self, text: str, top_k: int = 8) -> list[tuple[str, float]]:
        # The encoder has no per-word weights; the TF-IDF part's words are the honest answer.
        return self.base.explain(text, top_k=top_k)


def shipped_model() -> FinetunedSentimentModel:
    """What a fresh install serves before its first sentiment training (training.defaults): the shipped head alone
    (held-out Yelp / Zomato macro-F1 0.711 / 0.763), with the lexicon baseline as its fast part (the ingest
    prediction and the explanations, as before the default shipped). Built at load, never pickled."""
    return FinetunedSentimentModel(
        LexiconSentimentModel(), shipped_head(), tfidf_weight=0.0, graph_digest=graph_digest(SHIPPED_DIR / GRAPH_FILE)
    )


def shipped_encoder():
    """The shipped fine-tuned encoder (one per process)."""
    return review_encoder(SHIPPED_DIR / GRAPH_FILE)


def shipped_head() -> LinearHead:
    return LinearHead.read(SHIPPED_DIR / HEAD_FILE)


def text_key(text: str) -> str:
    """A review's key in the fine-tune's training set: a short hash of its normalised text."""
    return hashlib.blake2b(normalise(str(text)).encode(), digest_size=8).hexdigest()


@cache
def trained_on() -> frozenset[str]:
    """The keys of the reviews the shipped encoder was fine-tuned on (kept in its head file)."""
    path = SHIPPED_DIR / HEAD_FILE
    return frozenset(json.loads(path.read_text()).get("trained_on", [])) if path.is_file() else frozenset()


def unseen_rows(texts: Sequence[str]) -> np.ndarray:
    """Positions of the texts the shipped encoder was not fine-tuned on. It learned its own training reviews:
    their embeddings sit further from the boundary than an unseen review's, and a head refit on them draws it in
    the wrong place (bench/README.md), so only the others move the head."""
    seen = trained_on()
    return np.array([i for i, text in enumerate(texts) if text_key(text) not in seen], dtype=int)


CV_FOLDS = 5
MAX_CV_ROWS = 2_000  # more unseen reviews: one held-out fifth (400+ reviews) is precise enough, and cheaper


def held_out_parts(count: int, seed: int = 0) -> list[np.ndarray]:
    """Positions to hold out, one array per check: all CV_FOLDS fifths while the reviews are few (every review is
    checked once, five times the evidence of one fifth), a single fifth once they are many."""
    order = np.random.default_rng(seed).permutation(count)
    return [order[fold::CV_FOLDS] for fold in range(CV_FOLDS if count <= MAX_CV_ROWS else 1)]


@dataclass(frozen=True)
class CustomerHead:
    head: LinearHead
    moved_by: int  # how many reviews moved it (0: the shipped head itself)
    checked: np.ndarray  # the positions its choice was checked on (held out in turn)
    checked_proba: np.ndarray  # the chosen head's probabilities there, each from a head fitted without them


def customer_head(
    embeddings: np.ndarray,
    labels: Sequence[str],
    weights: Sequence[float],
    *,
    strength: float = HEAD_STRENGTH,
    prior: LinearHead | None = None,
    parts: list[np.ndarray] | None = None,
    check_weights: Sequence[float] | None = None,
) -> CustomerHead:
    """The head for these (unseen) reviews. A refit replaces the shipped head only where it reads the customer's
    reviews clearly better: refit without each held-out part in turn, it must beat the shipped head's macro-F1 on
    the held-out reviews on most paired resamples (model_choice.clearly_better). On held-out Yelp and Zomato
    reviews (the domain the head was fine-tuned on) a refit rarely does, and a weak pull cost up to 0.06; on
    SemEval sentences (another domain) a pull of 0.1-0.3 gained 0.01 (bench/README.md). Fewer than
    MIN_REFIT_EXAMPLES reviews, or a single class, keep the shipped head unchecked. check_weights: how much each
    review counts in that check (model_choice.importance_weights), else equally."""
    prior = prior or shipped_head()
    labels = list(labels)
    embeddings, weights = np.asarray(embeddings), np.asarray(weights, dtype=float)
    if len(labels) < MIN_REFIT_EXAMPLES or len(set(labels)) < 2:
        return CustomerHead(prior, 0, np.zeros(0, dtype=int), np.zeros((0, len(LABELS))))
    parts = parts if parts is not None else held_out_parts(len(labels))
    checked = np.concatenate(parts)
    refit_proba = np.zeros((len(checked), len(LABELS)))
    at = 0
    for held in parts:
        fitted = np.setdiff1d(np.arange(len(labels)), held)
        trial = refit_head(prior, embeddings[fitted], [labels[i] for i in fitted], weights[fitted], strength=strength)
        refit_proba[at : at + len(held)] = trial.predict_proba(embeddings[held])
        at += len(held)
    shipped_proba = prior.predict_proba(embeddings[checked])
    counts = None if check_weights is None else np.asarray(check_weights, dtype=float)[checked]
    if not model_choice.clearly_better(refit_proba, shipped_proba, [labels[i] for i in checked], weights=counts):
        return CustomerHead(prior, 0, checked, shipped_proba)
    return CustomerHead(
        refit_head(prior, embeddings, labels, weights, strength=strength), len(labels), checked, refit_proba
    )


def choose_fast_weight(
    head: np.ndarray, fast: np.ndarray, labels: Sequence[str], weights: Sequence[float] | None = None
) -> float:
    """The fast model's share of the blend: the default, unless another share reads these held-out reviews clearly
    better (model_choice.clearly_better). Its best share depends on what it learned from: with a few hundred
    labels it is weak and drags the head down; trained on 12,615 rated reviews it adds 0.004-0.008, and a share
    picked by the best score on a few dozen held-out reviews followed their noise (bench/README.md)."""
    blends = {w: FinetunedSentimentModel.blend(head, fast, w) for w in FAST_WEIGHTS}
    scores = {w: model_choice.weighted_macro_f1(blends[w], labels, weights) for w in FAST_WEIGHTS}
    best = max(FAST_WEIGHTS, key=lambda w: (round(scores[w], 4), -abs(w - TFIDF_WEIGHT)))
    if best != TFIDF_WEIGHT and model_choice.clearly_better(
        blends[best], blends[TFIDF_WEIGHT], labels, weights=weights
    ):
        return best
    return TFIDF_WEIGHT


def fit(
    texts: Sequence[str],
    labels: Sequence[str],
    weights: Sequence[float] | None = None,
    progress: Progress | None = None,
    *,
    head_strength: float = HEAD_STRENGTH,
    max_head_examples: int = 20_000,
    max_trial_examples: int = 50_000,
    encode_chunk: int = 1_000,
    seed: int = 0,
    embed: Callable[[np.ndarray], np.ndarray] | None = None,
    fit_fast: Callable[[np.ndarray], text_classifier.HashedTfidfSentimentModel] | None = None,
    check_weights: Sequence[float] | None = None,
) -> FinetunedSentimentModel:
    """Train the accurate model on the shipped encoder. progress(fraction, message) may raise to cancel.

    The head is refit on the reviews the encoder never saw, where that clearly reads them better (customer_head).
    With at least MIN_REFIT_EXAMPLES of them, the blend is chosen on the same held-out parts: the fast model
    fitted without each part in turn, and the default share kept unless another clearly wins there
    (choose_fast_weight); with fewer, TFIDF_WEIGHT. embed(rows) and fit_fast(rows)
    (rows: positions in texts) replace encoding and the fast kind's fit where the caller has them (the labelling
    simulation encodes its pool once). check_weights: each text's weight in those checks, correcting for how the
    labelling queue chose it (model_choice.importance_weights); else equal."""

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    if not is_available():
        raise FileNotFoundError(2, "The shipped fine-tuned encoder is missing", str(SHIPPED_DIR / GRAPH_FILE))
    texts = [str(text) for text in texts]
    labels = list(labels)
    weights_array = np.ones(len(texts)) if weights is None else np.asarray(weights, dtype=float)
    graph = SHIPPED_DIR / GRAPH_FILE
    if fit_fast is None:

        def fit_fast(rows: np.ndarray) -> text_classifier.HashedTfidfSentimentModel:
            return lexicon_prior.fit(
                [texts[i] for i in rows], [labels[i] for i in rows], weights_array[rows], lambda f, m: None
            )

    if embed is None:
        review_vectors = review_encoder(graph)

        def embed(rows: np.ndarray) -> np.ndarray:
            vectors = np.zeros((len(rows), encoder.EMBEDDING_DIM), dtype=np.float32)
            for start in range(0, len(rows), encode_chunk):
                chunk = rows[start : start + encode_chunk]
                report(0.2 + 0.6 * start / max(len(rows), 1), f"Encoding {start:,} of {len(rows):,} reviews")
                vectors[start : start + len(chunk)] = review_vectors.encode([texts[i] for i in chunk])
            return vectors

    report(0.02, "Fitting the fast part")
    base = fit_fast(np.arange(len(texts)))
    rng = np.random.default_rng(seed)
    rows = unseen_rows(texts)
    if len(rows) > max_head_examples:
        rows = np.sort(rng.choice(rows, max_head_examples, replace=False))
    embeddings = embed(rows)
    row_labels, row_weights = [labels[i] for i in rows], weights_array[rows]
    report(0.85, f"Checking a head refit on {len(rows):,} reviews")
    row_checks = None if check_weights is None else np.asarray(check_weights, dtype=float)[rows]
    parts = held_out_parts(len(rows), seed)
    chosen = customer_head(
        embeddings,
        row_labels,
        row_weights,
        strength=head_strength,
        parts=parts,
        check_weights=row_checks,
    )
    fast_weight = TFIDF_WEIGHT
    if len(chosen.checked):
        report(0.9, "Choosing the blend on the same held-out reviews")
        fast_proba = np.zeros_like(chosen.checked_proba)
        at = 0
        for held in parts:  # the same order as chosen.checked
            others = np.setdiff1d(np.arange(len(texts)), rows[held])
            if len(others) > max_trial_examples:
                others = np.sort(rng.choice(others, max_trial_examples, replace=False))
            fast_proba[at : at + len(held)] = fit_fast(others).predict_proba([texts[i] for i in rows[held]])
            at += len(held)
        fast_weight = choose_fast_weight(
            chosen.checked_proba,
            fast_proba,
            [row_labels[i] for i in chosen.checked],
            None if row_checks is None else row_checks[chosen.checked],
        )
    head, moved_by = chosen.head, chosen.moved_by
    report(1.0, "Done")
    model = FinetunedSentimentModel(base, head, tfidf_weight=fast_weight, graph_digest=graph_digest(graph))
    model.refit_examples = moved_by
    model.unseen_examples = len(rows)
    return model
