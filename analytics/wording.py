"""What a manager may read: clean, short sentences without profanity, and suggestions that ask the business
for something.

Profanity comes from better-profanity's maintained word list (leetspeak and repeated letters included),
plus a few words about people that a report to staff should not quote. A sentence with any of them is
masked ("****") where it is shown and left out where a cleaner one can stand in (quotes).

A suggestion row is whatever the suggestion detector flagged; many are not something a manager can act on.
`suggestion_problem` says why a sentence is left out: too short or too long to read as one request, a
question (to other customers, usually), advice to other customers ("try the tiramisu", "I recommend"),
someone else's words in quotation marks or reported speech, or narrative of the visit ("we waited",
"I ordered").
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata

from better_profanity import profanity

EXTRA_ABUSIVE_WORDS = ("prostitute", "prostitutes", "hooker", "hookers", "junkie", "junkies", "crackhead")
QUOTE_MAX_CHARS = 160
SUGGESTION_MIN_WORDS = 4
SUGGESTION_MAX_WORDS = 30

_loaded = False
_load_lock = threading.Lock()


def _profanity():
    global _loaded
    with _load_lock:
        if not _loaded:
            profanity.load_censor_words()
            profanity.add_censor_words(list(EXTRA_ABUSIVE_WORDS))
            _loaded = True
    return profanity


@functools.lru_cache(maxsize=20_000)
def is_offensive(text: str) -> bool:
    return _profanity().contains_profanity(text)


def masked(text: str) -> str:
    return _profanity().censor(text) if is_offensive(text) else text


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
    r"\b(?:i|we|my \w+|our \w+) (?:was|were|had|went|ordered|got|came|asked|tried|walked|sat|waited|left"
    r"|decided|arrived|called|paid|found|saw|ate|drove|showed up|ended up)\b",
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
    if _TO_CUSTOMERS.search(text):
        return "advice to customers"
    if _REPORTED_SPEECH.search(text):
        return "someone else's words"
    if _NARRATIVE.search(text):
        return "narrative"
    return None
