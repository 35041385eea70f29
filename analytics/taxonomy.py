"""The product themes the aspect rows are filed under, and which of them say nothing actionable.

The aspect model files every mention under one of THEMES. Rows stored before the themes existed
say "anecdotes/miscellaneous" (SemEval-2014's catch-all) where the themes say "general": both
are GENERAL_CATEGORIES, which the report never ranks as an issue or a strength (a review's overall
mood is not something a manager can fix) and whose suggestions it shows under "general".
"""

from __future__ import annotations

from training.ml.aspect_data import GENERAL as GENERAL
from training.ml.aspect_data import GENERAL_CATEGORIES as GENERAL_CATEGORIES
from training.ml.aspect_data import THEMES as THEMES


def is_general(category: str) -> bool:
    return category in GENERAL_CATEGORIES


def theme_of(category: str) -> str:
    """The category as shown: every general-like category is "general"."""
    return GENERAL if is_general(category) else category
