"""What a sentiment model of the accurate kind is made of, in one sentence for its model page: whether the staff's
labels moved the shipped head, and how much of each prediction comes from the model of the store's own words."""

from __future__ import annotations

from training.ml import finetuned
from training.models import ModelVersion


def accurate_composition(version: ModelVersion) -> str:
    """The sentence, or an empty string for any other model."""
    if version.kind != ModelVersion.Kind.SENTIMENT:
        return ""
    if version.algorithm == finetuned.SHIPPED_ALGORITHM:
        return (
            "Reads reviews with the review reader that ships with the product (fine-tuned on public restaurant "
            "reviews); not trained on your reviews yet. Your first training that passes the gate replaces it."
        )
    if version.algorithm != finetuned.ALGORITHM:
        return ""
    parameters = version.parameters or {}
    moved, unseen, share = (parameters.get(key) for key in ("head_refit_examples", "unseen_reviews", "fast_share"))
    if moved:
        text = (
            f"Adapted to your reviews: its review reader was retrained on {moved:,} of them "
            "and reads them clearly better."
        )
    elif isinstance(unseen, int) and unseen < finetuned.MIN_REFIT_EXAMPLES:
        text = (
            f"Uses the shipped review reader as it is: {unseen:,} of your reviews were new to it, and it is "
            f"retrained on them from {finetuned.MIN_REFIT_EXAMPLES}."
        )
    elif isinstance(unseen, int):
        text = (
            f"Uses the shipped review reader as it is: retrained on the {unseen:,} of your reviews that were new to "
            "it, it did not read them clearly better."
        )
    else:
        text = "Uses the shipped review reader as it is."
    if isinstance(share, (int, float)):
        text += f" {round(share * 100)}% of each prediction comes from a model of the words in your own reviews."
    return text
