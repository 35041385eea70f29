"""What a manager may read: clean, short sentences without profanity, and suggestions that ask the business
for something.

Profanity comes from better-profanity's word list (leetspeak included), plus a few words about people that a
report to staff should not quote. A sentence with any of them is
masked ("****") where it is shown and left out where a cleaner one can stand in (quotes).

A suggestion row is whatever the suggestion detector flagged; many are not something a manager can act on.
`suggestion_problem` says why a sentence is left out: too short or too long to read as one request, a
question (to other customers, usually), advice to other customers or readers ("try the tiramisu",
"I recommend", "you should"), someone else's words in quotation marks or reported speech, talk about stars
and ratings, narrative of the visit ("we waited", "I ordered"), or no request at all (no modal, wish or
imperative a manager could act on).
"""

from __future__ import annotations

import functools
import re
import unicodedata

from better_profanity.utils import get_complete_path_of_file, read_wordlist

EXTRA_ABUSIVE_WORDS = ("prostitute", "prostitutes", "hooker", "hookers", "junkie", "junkies", "crackhead")
QUOTE_MAX_CHARS = 160
SUGGESTION_MIN_WORDS = 4
SUGGESTION_MAX_WORDS = 30
MASK = "****"
# better-profanity's censor() takes ~0.1 s a sentence, too slow for a report: its word list is matched here
# token by token (a set lookup; its multi-word entries as word n-grams), with its leetspeak substitutions
# undone first ("sh1t", "@ss") and "*" standing for any letter ("f*ck").
LEET = str.maketrans({"@": "a", "4": "a", "3": "e", "1": "i", "!": "i", "0": "o", "$": "s", "5": "s", "7": "t"})
_TOKEN = re.compile(r"[\w@$*!]+")


@functools.cache
def _word_list() -> tuple[frozenset[str], frozenset[tuple[str, ...]], dict[int, tuple[str, ...]]]:
    """(single words, multi-word entries, single words by length for "*" patterns)."""
    entries = {entry.strip().lower() for entry in read_wordlist(get_complete_path_of_file("profanity_wordlist.txt"))}
    entries |= set(EXTRA_ABUSIVE_WORDS)
    words = frozenset(entry for entry in entries if entry and " " not in entry)
    phrases = frozenset(tuple(entry.split()) for entry in entries if " " in entry)
    by_length: dict[int, list[str]] = {}
    for word in words:
        by_length.setdefault(len(word), []).append(word)
    return words, phrases, {length: tuple(found) for length, found in by_length.items()}


def _is_profane_token(token: str) -> bool:
    words, _, by_length = _word_list()
    canonical = token.lower().translate(LEET).strip("!")
    if canonical in words:
        return True
    if "*" in canonical and canonical.strip("*"):
        pattern = re.compile(re.escape(canonical).replace(r"\*", "[a-z]"))
        return any(pattern.fullmatch(word) for word in by_length.get(len(canonical), ()))
    return False


def _profane_spans(text: str) -> list[tuple[int, int]]:
    _, phrases, _ = _word_list()
    tokens = list(_TOKEN.finditer(text))
    spans = [(m.start(), m.end()) for m in tokens if _is_profane_token(m.group())]
    if phrases:
        canonical = [m.group().lower().translate(LEET) for m in tokens]
        for size in {len(phrase) for phrase in phrases}:
            for i in range(len(tokens) - size + 1):
                if tuple(canonical[i : i + size]) in phrases:
                    spans.append((tokens[i].start(), tokens[i + size - 1].end()))
    return sorted(spans)


@functools.lru_cache(maxsize=50_000)
def is_offensive(text: str) -> bool:
    return bool(_profane_spans(text))


def masked(text: str) -> str:
    """The text with each profane word (or phrase) replaced by MASK."""
    pieces, position = [], 0
    for start, end in _profane_spans(text):
        if start >= position:
            pieces += [text[position:start], MASK]
            position = end
    return "".join(pieces) + text[position:]


_LEADING_JUNK = re.compile(r"^[\W_]+", re.UNICODE)


def tidy(text: str) -> str:
    """One line, no leading punctuation or bullets, no dangling opening quote, first letter capitalised."""
    text = " ".join(unicodedata.normalize("NFKC", text or "").split())
    text = _LEADING_JUNK.sub("", text)
    if text.count('"') == 1:
        text = text.replace('"', "")
    return text[:1].upper() + text[1:]


def trimmed(text: str, limit: int = QUOTE_MAX_CHARS) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:-–— ")
    return f"{cut}…"


def normalised(text: str) -> str:
    """The key that makes "Lovely atmosphere." and "lovely atmosphere!!" the same quote."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(re.findall(r"[a-z0-9]+", text))


_TO_CUSTOMERS = re.compile(
    r"^(?:so |and |but |also )?(?:"
    r"(?:you|u) (?:should|must|have to|need to|gotta|will|won't|can't|cannot|definitely|really)\b"
    r"|if you\b|do yourself|trust me|make sure (?:you|to)\b|be sure to\b|don't (?:miss|forget|bother|waste)\b"
    r"|(?:definitely |must )?(?:try|get|order|go for|skip|avoid) (?:the|their|a|an|this|it)\b"
    r"|(?:i|we) (?:would |'d |highly |definitely |totally )?recommend\b|i'd recommend|highly recommend"
    r"|stay away|go elsewhere|come here|check (?:it|this place) out"
    r")",
    re.IGNORECASE,
)
_REPORTED_SPEECH = re.compile(
    r"\b(?:he|she|they|the (?:waiter|waitress|server|manager|host|hostess|owner|guy|lady|chef)) "
    r"(?:said|says|told|asked|replied|yelled|shouted)\b|[\"“”].{3,}[\"“”]",
    re.IGNORECASE,
)
_NARRATIVE = re.compile(
    r"\b(?:i|we|my \w+|our \w+) (?:(?:was|were|had|went|got|came|sat|left|paid|found|saw|ate|drove|met|thought"
    r"|told|said|took|felt|made|gave|knew|ran|bought|brought|heard|showed up|ended up)"
    r"|(?!(?:need|feed|speed)\b)\w+ed)\b",
    re.IGNORECASE,
)
# Stars and ratings are about the review, not the business: "I would give the service one star."
_RATING_TALK = re.compile(r"\b(?:stars?|rating|rated|review|reviews|yelp)\b", re.IGNORECASE)
# Second person speaks to other readers ("you should be able to see..."), except "you guys" (the staff).
_TO_READERS = re.compile(r"\b(?:you|your|yourself|you're|you'll|you'd)\b(?! guys)", re.IGNORECASE)
# A request: a modal, a wish, or an imperative verb a manager could act on.
_REQUEST = re.compile(
    r"\b(?:should|shouldn't|could|would|ought|must|need|needs|wish|hope|please|suggest|suggestion|if only"
    r"|add|offer|bring|consider|improve|hire|train|fix|clean|open|lower|reduce|expand|keep|stop|start|change"
    r"|update|replace|provide|serve|allow|install|turn|get rid|fire|put|let|print|post|list|label|give|make"
    r"|try|use|play|lower|raise|extend|shorten|double|check|ask|greet|refill|warm|heat|season|salt)\b",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=50_000)
def suggestion_problem(sentence: str) -> str | None:
    """Why this suggestion sentence is no request a manager can act on, or None when it is one."""
    text = tidy(sentence)
    words = text.split()
    if len(words) < SUGGESTION_MIN_WORDS:
        return "too short"
    if len(words) > SUGGESTION_MAX_WORDS:
        return "too long"
    if text.rstrip().endswith("?"):
        return "question"
    if _TO_CUSTOMERS.search(text) or _TO_READERS.search(text):
        return "advice to customers"
    if _REPORTED_SPEECH.search(text):
        return "someone else's words"
    if _RATING_TALK.search(text):
        return "about the rating"
    if _NARRATIVE.search(text):
        return "narrative"
    if not _REQUEST.search(text):
        return "no request"
    return None


def quote_problem(sentence: str) -> str | None:
    """Why a sentence makes a poor quote: someone else's words, or profanity."""
    if _REPORTED_SPEECH.search(sentence):
        return "someone else's words"
    if is_offensive(sentence):
        return "profanity"
    return None
