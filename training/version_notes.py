"""What a sentiment model of the accurate kind is made of, in one sentence for its model page: whether the staff's
labels moved the shipped head, and how much of each prediction comes from the model of the store's own words."""

from __future__ import annotations

from training.ml import finetuned
from training.models import ModelVersion


def accurate_composition(version: ModelVersion) -> str:
    """ "" for any other model."""
    if version.kind != ModelVersion.Kind.SENTIMENT:
        return ""
    if version.algorithm == finetuned.SHIPPED_ALGORITHM:
        return (
            "Reads reviews with the fine-tuned encoder and head that ship with the product; not trained on your "
            "reviews yet. Your first training of this kind that passes the gate replaces it."
        )
    if version.algorithm != finetuned.ALGORITHM:
        return ""
    parameters = version.parameters or {}
    moved, share = parameters.get("head_refit_examples"), parameters.get("fast_share")
    if moved:
        head = f"its head refit on {moved:,} of your reviews, which it reads clearly better than the shipped head"
    else:
        head = (
            "the shipped head: refit on your reviews it did not read them clearly better (or fewer than "
            f"{finetuned.MIN_REFIT_EXAMPLES} of them were new to the encoder)"
        )
    text = f"Reads reviews with the shipped fine-tuned encoder and {head}."
    if isinstance(share, (int, float)):
        text += f" {round(share * 100)}% of each prediction comes from a model of your reviews' own words."
    return text
