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
# better-profanity's own substitutions (its censor() is ~0.1 s a sentence: too slow for a report, so its word
# list is matched here as one compiled pattern, leetspeak and "*" included).
LEET = {"a": "a@4*", "e": "e3*", "i": "i1!l*", "l": "l1", "o": "o0*", "s": "s$5z", "t": "t7", "g": "g9"}


@functools.cache
def _profanity_pattern() -> re.Pattern:
    words = set(read_wordlist(get_complete_path_of_file("profanity_wordlist.txt"))) | set(EXTRA_ABUSIVE_WORDS)

    def variant(word: str) -> str:
        return r"\s+".join(
            "".join(f"[{re.escape(LEET[c])}]" if c in LEET else re.escape(c) for c in part) for part in word.split()
        )

    alternatives = "|".join(variant(word) for word in sorted(words, key=len, reverse=True) if word.strip())
    return re.compile(rf"(?<![\w@$*])(?:{alternatives})(?![\w@$*])", re.IGNORECASE)


def is_offensive(text: str) -> bool:
    return _profanity_pattern().search(text) is not None


def masked(text: str) -> str:
    return _profanity_pattern().sub(MASK, text)


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
