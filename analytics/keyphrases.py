"""Key phrases of feedback sentences: "slow service", "cold fries", "friendly staff", never "one" or "because".

Candidates are runs of one to three words inside a clause (punctuation and contrast words end a clause) that
neither start nor end with a function word, hold no function word inside (except "of": "lack of parking"),
and are not bare sentiment or generic words on their own ("good", "place", "food"); "the fries were cold"
also gives "cold fries" (subject, copula, adjective: the adjective before its noun). A phrase counts once per
sentence; a single word that is part of a chosen longer phrase most of the time is not listed again.

Function words are scikit-learn's ENGLISH_STOP_WORDS plus contractions and conversational filler that the
list lacks ("don't", "like", "got"). Keyphrase packages were weighed: YAKE (yake 0.7.3) declares LGPLv3
in its licence field and GPLv3 in its classifiers, so this plain, dependency-free method is used instead.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

FILLER = frozenset(
    """don't didn't doesn't can't couldn't won't wouldn't isn't wasn't aren't weren't haven't hasn't hadn't
    shouldn't i'm i've i'd i'll it's that's there's they're they've we're we've we'd you're you've you'd
    he's she's let's what's like just really got get gets getting go goes going went gone come came also
    even ever still way lot lots bit thing things stuff time times day days said told say says tell ok okay
    oh yes yeah maybe probably pretty quite super actually literally definitely absolutely totally wish wished
    want wanted need needs needed hope hoped make makes sure try tried trying know knew think thought feel
    look looked looking little new old big whole ask asked let lets guess seem seemed able kind sort did does
    doing suggest suggested eat ate right stop stopped""".split()
)
FUNCTION_WORDS = frozenset(ENGLISH_STOP_WORDS) | FILLER
# Words that say nothing on their own (they do inside a phrase: "slow service", "good value").
BARE = frozenset(
    """good great bad nice best better worse worst amazing awesome excellent terrible horrible awful fine ok
    place restaurant food service staff experience visit love loved like liked hate recommend order ordered
    meal dinner lunch people guy guys star stars review reviews""".split()
)
INSIDE = frozenset({"of"})
COPULAS = frozenset({"is", "was", "are", "were", "seemed", "seems", "felt", "feels", "tasted", "tastes", "looked"})
INTENSIFIERS = frozenset({"very", "really", "so", "too", "quite", "pretty", "super", "extremely", "bit", "a", "little"})
MAX_WORDS = 3
_CLAUSE_BREAK = re.compile(r"[.!?;:,()\"“”]|\b(?:but|and|or|although|though|however|because|so)\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z][a-z'’-]*[a-z]|[a-z]")


def _words(clause: str) -> list[str]:
    return [w.replace("’", "'") for w in _WORD.findall(clause.lower())]


def sentence_phrases(sentence: str) -> set[str]:
    """The candidate phrases of one sentence."""
    phrases: set[str] = set()
    for clause in _CLAUSE_BREAK.split(sentence or ""):
        words = _words(clause)
        for size in range(1, MAX_WORDS + 1):
            for i in range(len(words) - size + 1):
                gram = words[i : i + size]
                if gram[0] in FUNCTION_WORDS or gram[-1] in FUNCTION_WORDS:
                    continue
                if any(w in FUNCTION_WORDS and w not in INSIDE for w in gram[1:-1]):
                    continue
                if size == 1 and (len(gram[0]) < 3 or gram[0] in BARE):
                    continue
                if size > 1 and all(w in BARE for w in gram):
                    continue
                phrases.add(" ".join(gram))
        phrases.update(_predicates(words))
    return phrases


def _predicates(words: list[str]) -> set[str]:
    """ "fries were (very) cold" -> "cold fries": the content word before a copula, described by the first
    content word after it."""
    found: set[str] = set()
    for i, word in enumerate(words):
        if word not in COPULAS or i == 0 or words[i - 1] in FUNCTION_WORDS:
            continue
        j = i + 1
        while j < len(words) and words[j] in INTENSIFIERS:
            j += 1
        if j < len(words) and words[j] not in FUNCTION_WORDS and len(words[j]) > 2:
            found.add(f"{words[j]} {words[i - 1]}")
    return found


def _parts(phrase: str) -> set[str]:
    words = phrase.split()
    return {" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)} - {phrase}


def key_phrases(sentences: Iterable[str], top: int = 12, min_count: int = 2) -> list[tuple[str, int]]:
    """The `top` phrases most sentences mention (at least `min_count`), longer phrases first on ties."""
    return key_phrases_of((sentence_phrases(sentence) for sentence in sentences), top=top, min_count=min_count)


def key_phrases_of(phrase_sets: Iterable[set[str]], top: int = 12, min_count: int = 2) -> list[tuple[str, int]]:
    """key_phrases from each sentence's sentence_phrases."""
    counts: Counter[str] = Counter()
    for phrases in phrase_sets:
        counts.update(phrases)
    # A phrase seen at least half the time inside a longer frequent one ("cold" in "cold fries") adds nothing.
    inside: dict[str, int] = {}
    for phrase, n in counts.items():
        if n >= min_count and " " in phrase:
            for part in _parts(phrase):
                inside[part] = max(inside.get(part, 0), n)
    ranked = sorted(
        ((phrase, n) for phrase, n in counts.items() if n >= min_count and inside.get(phrase, 0) * 2 < n),
        key=lambda item: (-item[1], -len(item[0].split()), item[0]),
    )
    return ranked[:top]
