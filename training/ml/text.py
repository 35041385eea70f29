"""Sentence splitting and suggestion cues (pure functions, no Django).

First version of the constructive-feedback engine: a review is split into
sentences, each sentence is scored by the deployed sentiment model, and sentences
that propose a change are recognised by modal/wish constructions. The aspect
engine (its own issue) replaces the cue list with a learned model.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+|(?<=[.!?])(?=[A-Z])")
_CONTRAST = re.compile(r"\b(but|however|although|though|except|yet)\b", re.IGNORECASE)

# Constructions that propose a change or voice a wish.
SUGGESTION_CUES = re.compile(
    r"\b("
    r"(could|should|would|might|must|need(?:s)? to|ought to)\s+(?:\w+\s+){0,2}?"
    r"(be|have|add|use|improve|consider|try|offer|get|make|hire|train|fix|change|clean|reduce|increase|lower|do|work|start|stop|bring|keep|include|serve|update|provide|put|give|allow|open|expand|invest)"
    r"|wish(?:ed)?\b"
    r"|hope(?:fully)?\b"
    r"|it would be (nice|great|better|good)"
    r"|would (love|like|prefer|appreciate)"
    r"|please\b"
    r"|suggest(?:ion)?\b"
    r"|recommend (?:that )?(?:they|you|the)\b"
    r"|(?:needs?|requires?) (?:more|better|some|a|an)\b"
    r"|room for improvement"
    r"|if only"
    r"|(?:more|better) \w+ (?:would|could)"
    r"|why not\b"
    r")",
    re.IGNORECASE,
)


def split_sentences(text: str) -> list[str]:
    parts = (part.strip() for part in _SENTENCE_END.split(text))
    return [part for part in parts if len(part) >= 3]


def split_clauses(sentence: str) -> list[str]:
    """'Great food but slow service' -> ['Great food', 'slow service']."""
    pieces = [piece.strip(" ,;") for piece in _CONTRAST.split(sentence)]
    return [piece for piece in pieces if piece and not _CONTRAST.fullmatch(piece) and len(piece) >= 3]


def is_suggestion(sentence: str) -> bool:
    return SUGGESTION_CUES.search(sentence) is not None
