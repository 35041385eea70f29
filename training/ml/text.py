"""Sentence and clause splitting (pure functions, no Django): the units the aspect model and the suggestion
detector (training/ml/suggestions.py) read."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+|(?<=[.!?])(?=[A-Z])")
_CONTRAST = re.compile(r"\b(but|however|although|though|except|yet)\b", re.IGNORECASE)


def split_sentences(text: str) -> list[str]:
    parts = (part.strip() for part in _SENTENCE_END.split(text))
    return [part for part in parts if len(part) >= 3]


def split_clauses(sentence: str) -> list[str]:
    """'Great food but slow service' -> ['Great food', 'slow service']."""
    pieces = [piece.strip(" ,;") for piece in _CONTRAST.split(sentence)]
    return [piece for piece in pieces if piece and not _CONTRAST.fullmatch(piece) and len(piece) >= 3]
