"""Offline language detection tuned for reviews (no Django).

py3langid alone misreads short English texts ("nice" -> Croatian) and romanised
Hindi ("Hinglish", common in the Zomato data) has no language code of its own. So
a review counts as English when most of its words are known English words (the
pyspellchecker English frequency list above a frequency floor, the VADER
sentiment lexicon and common review vocabulary), or when
py3langid says English and a fair share of words are known. Everything else gets
py3langid's code and is flagged as not English.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_LATIN_WORD = re.compile(r"^[a-z]+$")
ENGLISH_FREQUENCY_FLOOR = 1000
REVIEW_WORDS = """
food service staff waiter waitress restaurant place menu dish dishes meal meals table order ordered price prices
value ambience ambiance atmosphere music drink drinks bar coffee tea wine beer pizza pasta burger burgers fries
chicken beef pork fish rice noodles sushi salad soup dessert desserts cake bread breakfast lunch dinner brunch taste
tasted tasty flavor flavour portion portions location parking wait waited minutes hour hours quick slow clean dirty
friendly rude manager owner chef kitchen reservation booking delivery takeout spicy sweet sour salty fresh cold hot
warm cheap expensive overpriced worth visit visited came went back again definitely recommend recommended
"""


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    language: str
    is_english: bool
    english_word_share: float


# Both resources take a second or two to build. Under a lock, so that the threads of a
# server's pool that all meet them at once build them once, not once each.
_build_lock = threading.Lock()
_english_word_set: frozenset[str] | None = None
_langid_ready = False


def _english_words() -> frozenset[str]:
    global _english_word_set
    if _english_word_set is None:
        with _build_lock:
            if _english_word_set is None:
                _english_word_set = _build_english_words()
    return _english_word_set


def _build_english_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
    from spellchecker import SpellChecker
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    lexicon = SentimentIntensityAnalyzer().lexicon
    words = {word for word in lexicon if _LATIN_WORD.match(word)}
    frequencies = SpellChecker(language="en").word_frequency.dictionary
    # The floor drops rare entries (typos, foreign loan words) from the web-scale list.
    common = {word for word, count in frequencies.items() if count >= ENGLISH_FREQUENCY_FLOOR}
    return frozenset(words | common | set(ENGLISH_STOP_WORDS) | set(REVIEW_WORDS.split()))


def _identifier():
    global _langid_ready
    import py3langid

    if not _langid_ready:
        with _build_lock:
            if not _langid_ready:
                py3langid.classify("warm up")  # loads its model into py3langid's module global
                _langid_ready = True
    return py3langid


def warm_up() -> None:
    """Build the word list and load the identifier now (servers call this at start-up)."""
    _english_words()
    _identifier()


def detect_language(text: str) -> LanguageGuess:
    words = [word.lower() for word in _WORD.findall(text)]
    if not words:
        return LanguageGuess(language="und", is_english=False, english_word_share=0.0)
    known = _english_words()
    share = sum(1 for word in words if word in known) / len(words)
    if share >= 0.5:  # most reviews: no need for the slower identifier
        return LanguageGuess(language="en", is_english=True, english_word_share=round(share, 3))
    guess, _ = _identifier().classify(text)
    if guess == "en" and share >= 0.3:
        return LanguageGuess(language="en", is_english=True, english_word_share=round(share, 3))
    # langid calls code-mixed romanised text English surprisingly often; with few
    # known English words it is not English whatever the guess.
    language = guess if guess != "en" else "und"
    return LanguageGuess(language=language, is_english=False, english_word_share=round(share, 3))
