"""One trained aspect model per annotation scheme, stored together as one artifact (one ModelVersion). No Django.

Schemes
- ``themes``: the ten product themes (training/ml/aspect_data.THEMES) that extraction stores and managers see.
- ``semeval2014``: food, service, price, ambience, anecdotes/miscellaneous (predict_file --aspect-scheme semeval2014).
- ``semeval2016``: the twelve ENTITY#ATTRIBUTE categories as the 2016 files spell them (--aspect-scheme semeval2016),
  so results compare with the literature.

A bundle holds the schemes that had annotations when it was trained; a scheme it lacks is served by the cold start
(training.aspects.get_aspect_model). Artifacts saved before bundles held one SemEval-2014 model:
``as_bundle`` reads them as a bundle of that one scheme.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

THEMES = "themes"
SEMEVAL2014 = "semeval2014"
SEMEVAL2016 = "semeval2016"
SCHEMES = (THEMES, SEMEVAL2014, SEMEVAL2016)


class AspectModelBundle:
    """The models of one trained aspect version by scheme; picklable (joblib)."""

    def __init__(self, models: Mapping[str, object]):
        unknown = set(models) - set(SCHEMES)
        if unknown:
            raise ValueError(f"unknown aspect schemes: {', '.join(sorted(unknown))}")
        if not models:
            raise ValueError("an aspect bundle needs at least one model")
        self.models = {scheme: models[scheme] for scheme in SCHEMES if scheme in models}

    @property
    def schemes(self) -> list[str]:
        return list(self.models)

    @property
    def algorithm(self) -> str:
        """The schemes it carries, then the algorithm of its first model (the themes one when trained)."""
        first = next(iter(self.models.values()))
        return f"{'+'.join(self.models)}:{getattr(first, 'algorithm', type(first).__name__)}"

    def model_for(self, scheme: str):
        """The scheme's trained model, or None when this bundle has none for it."""
        if scheme not in SCHEMES:
            raise ValueError(f"unknown aspect scheme {scheme!r}")
        return self.models.get(scheme)


def as_bundle(artifact) -> AspectModelBundle:
    """A loaded aspect artifact as a bundle: older artifacts are a single SemEval-2014 AspectModel."""
    if isinstance(artifact, AspectModelBundle):
        return artifact
    return AspectModelBundle({SEMEVAL2014: artifact})


def score_aspects(
    model,
    sentences: Sequence[str],
    gold: Sequence[Sequence[tuple[str, str]]],
    known: Sequence[Collection[str] | None] | None = None,
) -> dict:
    """Category micro-F1 (precision, recall) and polarity accuracy over the gold (sentence, category) pairs (SemEval
    subtask 4: polarity predicted for the gold categories). ``known`` per sentence: score only the categories its
    gold states (None: all), so a partly annotated sentence counts neither a right guess nor a miss it cannot tell."""
    predicted = model.predict(list(sentences))
    tp = fp = fn = 0
    for i, (guess, truth) in enumerate(zip(predicted, gold, strict=True)):
        guessed = {category for category, _, _ in guess}
        true = {category for category, _ in truth}
        stated = known[i] if known is not None else None
        if stated is not None:
            guessed &= set(stated)
        tp, fp, fn = tp + len(guessed & true), fp + len(guessed - true), fn + len(true - guessed)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    micro_f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    pairs = [(s, c, p) for s, truth in zip(sentences, gold, strict=True) for c, p in truth]
    if pairs:
        polarities = model.predict_polarity([s for s, _, _ in pairs], [c for _, c, _ in pairs])
        polarity_accuracy = sum(1 for (_, _, p), (q, _) in zip(pairs, polarities, strict=True) if p == q) / len(pairs)
    else:
        polarity_accuracy = 0.0
    return {
        "n": len(sentences),
        "micro_f1": round(micro_f1, 4),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "polarity_accuracy": round(polarity_accuracy, 4),
    }


def merge_review_aspects(per_sentence: Iterable[list[tuple[str, str, float]]]) -> list[dict]:
    """One entry per category for a whole review; different polarities on one category are a conflict."""
    merged: dict[str, set[str]] = {}
    for aspects in per_sentence:
        for category, polarity, _ in aspects:
            merged.setdefault(category, set()).add(polarity)
    result = []
    for category, polarities in merged.items():
        if len(polarities) == 1:
            polarity = polarities.pop()
        elif polarities & {"positive"} and polarities & {"negative"}:
            polarity = "conflict"
        else:
            polarity = sorted(polarities - {"neutral"})[0] if polarities - {"neutral"} else "neutral"
        result.append({"category": category, "polarity": polarity})
    return result
