"""Cold-start aspect extraction: no labelled data, no downloads.

Method (ALGORITHM)
1. Seed terms per category (``SEED_TERMS``, training/ml/aspect_seeds.py; unigrams and short phrases, editable).
2. Optional expansion over unlabelled review text given to ``fit(texts)``: sentences become a binary term-sentence
   matrix (unigrams, min_df 3, stop words and VADER-lexicon sentiment words removed), words get PPMI co-occurrence
   vectors reduced with TruncatedSVD (word vectors learned on the fly). A word joins a category when its cosine to
   the category's seed centroid is >= ``min_similarity``, it is among the ``expand_top`` nearest, and it is closer
   to that centroid than to any other category's by ``margin``. Expanded terms carry weight = cosine (seeds 1.0).
3. Detection: a sentence mentions a category when a term of weight >= ``min_weight`` occurs (word-boundary match).
4. Polarity: VADER compound on the clause around the first matched term (clauses split at punctuation and contrast
   words); >= 0.05 positive, <= -0.05 negative, else neutral. A weak rule marks wishes/suggestions ("could be
   faster", "should add", "wish they had", "needs more", "a bit slow") negative; opposite-signed clauses that mention
   the same category give conflict.
5. ``scheme="themes"`` (the default) answers the product themes. ``scheme="semeval2014"`` folds them into
   food/service/price/ambience and answers anecdotes/miscellaneous (polarity from the whole sentence) when nothing
   else is found, as every 2014 sentence has a category; ``scheme="semeval2016"`` folds them into E#A categories
   (TO_SEMEVAL2016) and answers RESTAURANT#GENERAL for an opinionated sentence with nothing else, as the themes
   answer general.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from training.ml.aspect_data import GENERAL, MISC, THEMES
from training.ml.aspect_features import CLAUSE_SPLIT, vader, vader_scores
from training.ml.aspect_seeds import SEED_TERMS, TO_SEMEVAL2014, TO_SEMEVAL2016
from training.ml.labels import LABELS

ALGORITHM = "aspects-coldstart-seeds+ppmi-svd-expansion+vader-clause-v2"
SCHEMES = ("themes", "semeval2014", "semeval2016")
_FOLDS = {"semeval2014": TO_SEMEVAL2014, "semeval2016": TO_SEMEVAL2016}
# What a scheme answers for a sentence with no category found: every 2014 sentence has one (misc); an opinion with
# no target is about the restaurant as a whole (2016: RESTAURANT#GENERAL, the themes: general), a neutral remark
# ("We went on a Tuesday.") about nothing.
_FALLBACK = {"semeval2014": (MISC, True), "semeval2016": ("RESTAURANT#GENERAL", False), "themes": (GENERAL, False)}

_SUGGESTION = re.compile(
    r"\b(could (?:be|use|have)|should(?:'ve| have)?|needs? (?:to|more|some)|wish(?:ed)?|would be (?:nice|better|great)"
    r"|if only|a (?:bit|little) (?:slow|too|more|less|pricey|expensive|loud|noisy|cold|salty|bland)"
    r"|too (?:slow|long|loud|noisy|expensive|pricey|small|salty|sweet|greasy|bland|dark|crowded|cold))\b",
    re.IGNORECASE,
)
# Waiting is a complaint or praise in words VADER does not score ("we waited an hour", "out in no time"): a neutral
# reading of a speed-and-waiting mention takes the side its cue words name (cue_polarity).
SPEED = "speed and waiting"
_SLOW = re.compile(
    r"\b(?:waited|still waiting|(?:an?|\d+|\w+teen|twenty|thirty|forty|fifty) (?:hours?|minutes?|mins?)|forever"
    r"|took (?:ages|long|so long|a long time)|long (?:time|wait)|slow(?:ly|est)?|never (?:came|arrived)"
    r"|delay(?:ed|s)?|not (?:very |so |that )?(?:quick|fast|prompt))\b",
    re.IGNORECASE,
)
_FAST = re.compile(
    r"\b(?<!not )(?<!not very )(?:quick(?:ly)?|fast|prompt(?:ly)?|right away|in no time|speedy|no wait)\b", re.I
)
_PRAISE_WITH_NO = re.compile(r"\b(?:in no time|no wait)\b", re.IGNORECASE)
_STOP = set(
    "a an the and or but if of to in on at for with from by as is are was were be been being it its this that these "
    "those i we you he she they me us him her them my our your his their there here what which who whom when where why "
    "how all any both each few more most other some such no nor not only own same so than too very s t can will just "
    "don should now had have has do does did would could also get got go went one two really place restaurant "
    "time back again ever even much many well".split()
)


def _clauses_with_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in CLAUSE_SPLIT.finditer(text):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans or [(0, len(text))]


class ColdStartAspectModel:
    """Seed-term + corpus-expansion aspect detector with VADER clause polarity; same predict() shape as AspectModel."""

    ALGORITHM = ALGORITHM

    def __init__(
        self,
        categories: Sequence[str] | None = None,
        *,
        seeds: dict[str, Sequence[str]] | None = None,
        scheme: str = "themes",
        expand_top: int = 15,
        min_similarity: float = 0.45,
        margin: float = 0.05,
        min_weight: float = 0.45,
        n_components: int = 100,
        random_state: int = 0,
        sentiment_model=None,
    ):
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}")
        self.scheme = scheme
        self.seeds = {k: tuple(v) for k, v in (seeds or SEED_TERMS).items()}
        self.categories = list(categories) if categories is not None else list(THEMES)
        if scheme in _FOLDS:
            self.categories = list(dict.fromkeys(_FOLDS[scheme].get(c, c) for c in self.seeds))
        self.expand_top = expand_top
        self.min_similarity = min_similarity
        self.margin = margin
        self.min_weight = min_weight
        self.n_components = n_components
        self.random_state = random_state
        # With a sentiment model (predict_proba in LABELS order), a clause's polarity is its most probable
        # label instead of VADER's: 0.589 -> 0.648 polarity accuracy on the SemEval-2014 test split.
        self.sentiment_model = sentiment_model
        self.terms_: dict[str, dict[str, float]] = {
            c: {t.lower(): 1.0 for t in terms} for c, terms in self.seeds.items() if self._target(c) is not None
        }
        self._compile()

    def _target(self, seed_category: str) -> str | None:
        if self.scheme in _FOLDS:
            return _FOLDS[self.scheme].get(seed_category)
        return seed_category if seed_category in self.categories else None

    def _compile(self) -> None:
        self._patterns = {}
        for cat, terms in self.terms_.items():
            usable = sorted((t for t, w in terms.items() if w >= self.min_weight), key=len, reverse=True)
            if usable:
                alt = "|".join(re.escape(t) for t in usable)
                self._patterns[cat] = re.compile(rf"(?<![\w$])(?:{alt})(?![\w])", re.IGNORECASE)

    # ------------------------------------------------------------------ expansion
    def fit(self, texts: Iterable[str] | None = None, progress=None):
        """Expand the seed terms over unlabelled text (reviews or sentences). No labels are read."""
        texts = [t for t in (texts or []) if t and t.strip()]
        if len(texts) < 50:
            return self
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import CountVectorizer

        sentences = [s for t in texts for s in re.split(r"(?<=[.!?])\s+", t) if len(s) > 3]
        sentiment_words = set(vader().lexicon)
        vec = CountVectorizer(
            binary=True, min_df=3, token_pattern=r"(?u)\b[a-z][a-z]+\b", stop_words=sorted(_STOP), max_features=20000
        )
        x = vec.fit_transform(sentences).astype(np.float64)
        vocab = vec.get_feature_names_out()
        co = (x.T @ x).tocoo()
        total = co.data.sum()
        freq = np.asarray(x.sum(axis=0)).ravel()
        pmi = np.log(co.data * total / (freq[co.row] * freq[co.col] + 1e-12) + 1e-12)
        keep = (pmi > 0) & (co.row != co.col)
        from scipy import sparse

        ppmi = sparse.csr_matrix((pmi[keep], (co.row[keep], co.col[keep])), shape=(len(vocab), len(vocab)))
        k = max(2, min(self.n_components, len(vocab) - 1))
        vectors = TruncatedSVD(n_components=k, random_state=self.random_state).fit_transform(ppmi)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
        index = {w: i for i, w in enumerate(vocab)}
        centroids = {}
        for cat, terms in self.terms_.items():
            ids = [index[t] for t in terms if t in index]
            if ids:
                c = vectors[ids].mean(axis=0)
                centroids[cat] = c / (np.linalg.norm(c) + 1e-12)
        if not centroids:
            return self
        names = list(centroids)
        sims = vectors @ np.column_stack([centroids[c] for c in names])  # (V, C)
        seeded = {t for terms in self.terms_.values() for t in terms}
        for j, cat in enumerate(names):
            other = np.delete(sims, j, axis=1).max(axis=1) if len(names) > 1 else np.zeros(len(vocab))
            order = np.argsort(-sims[:, j])
            added = 0
            for i in order:
                if added >= self.expand_top or sims[i, j] < self.min_similarity:
                    break
                word = vocab[i]
                if word in seeded or word in sentiment_words or freq[i] < 5:
                    continue
                if sims[i, j] - other[i] < self.margin:
                    continue
                self.terms_[cat][word] = float(round(sims[i, j], 3))
                added += 1
        self._compile()
        return self

    # ------------------------------------------------------------------ predict
    def _matches(self, text: str) -> dict[str, list[tuple[int, int, float]]]:
        found: dict[str, list[tuple[int, int, float]]] = {}
        for cat, pattern in self._patterns.items():
            for m in pattern.finditer(text):
                w = self.terms_[cat].get(m.group(0).lower(), 1.0)
                found.setdefault(self._target(cat), []).append((m.start(), m.end(), w))
        return found

    def _polarity(self, text: str, spans: list[tuple[int, int, float]]) -> tuple[str, float]:
        clause_spans = _clauses_with_spans(text)
        labels = []
        for start, _end, _w in spans:
            for cs, ce in clause_spans:
                if cs <= start < ce:
                    labels.append(self._clause_polarity(text[cs:ce]))
                    break
        signs = {lab for lab, _ in labels if lab != "neutral"}
        if len(signs) > 1:
            return "conflict", 0.5
        if not labels:
            return self._clause_polarity(text)
        nonneutral = [lp for lp in labels if lp[0] != "neutral"]
        return max(nonneutral or labels, key=lambda lp: lp[1])

    def detect(self, sentences: Sequence[str]) -> list[list[tuple[str, float]]]:
        out = []
        for text in sentences:
            found = self._matches(str(text))
            out.append([(cat, max(w for _, _, w in spans)) for cat, spans in found.items()])
        return out

    def predict(self, sentences: Sequence[str]) -> list[list[tuple[str, str, float]]]:
        out = []
        for text in sentences:
            text = str(text)
            found = self._matches(text)
            row = []
            for cat in self.categories:
                if cat in found:
                    pol, conf = self._polarity(text, found[cat])
                    pol = cue_polarity(text, cat, pol)
                    row.append((cat, pol, round(max(w for _, _, w in found[cat]) * conf, 4)))
            if not row and self.scheme in _FALLBACK:
                fallback, always = _FALLBACK[self.scheme]
                pol, conf = self._clause_polarity(text)
                if always or pol != "neutral":
                    row.append((fallback, pol, round(0.5 * conf, 4)))
            out.append(row)
        return out

    def predict_polarity(self, sentences: Sequence[str], categories: Sequence[str]) -> list[tuple[str, float]]:
        out = []
        for text, cat in zip(sentences, categories):
            spans = self._matches(str(text)).get(cat)
            pol, conf = self._polarity(str(text), spans) if spans else self._clause_polarity(str(text))
            out.append((cue_polarity(str(text), cat, pol), conf))
        return out

    def _clause_polarity(self, clause: str) -> tuple[str, float]:
        return _clause_polarity(clause, getattr(self, "sentiment_model", None))  # older pickles have none


def cue_polarity(text: str, category: str, polarity: str) -> str:
    """A speed-and-waiting polarity is negative when the text names only slow service, and a neutral one positive
    when it names only quick service ("in no time" also when read negative); other categories keep theirs."""
    if category != SPEED:
        return polarity
    slow, fast = bool(_SLOW.search(text)), bool(_FAST.search(text))
    if slow and not fast:
        return "negative"  # "took forever but the pasta was great": the wait is no better for the pasta
    if polarity == "negative" and fast and _PRAISE_WITH_NO.search(text):
        return "positive"  # VADER reads the "no" of "in no time" as a complaint
    return "positive" if fast and not slow and polarity == "neutral" else polarity


def _clause_polarity(clause: str, sentiment_model=None) -> tuple[str, float]:
    compound = vader_scores(clause)[0]  # cached: the trained polarity model scores the same sentences
    if _SUGGESTION.search(clause) and compound < 0.5:
        return "negative", 0.6
    if sentiment_model is not None:
        probabilities = np.asarray(sentiment_model.predict_proba([clause]), dtype=float)[0]
        best = int(np.argmax(probabilities))
        return LABELS[best], float(probabilities[best])
    if compound >= 0.05:
        return "positive", 0.5 + min(abs(compound), 1.0) / 2
    if compound <= -0.05:
        return "negative", 0.5 + min(abs(compound), 1.0) / 2
    return "neutral", 0.5
