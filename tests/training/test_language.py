"""Language detection: English reviews pass, romanised Hindi is flagged, and the models load once."""

from __future__ import annotations

import threading

import pytest

from training.ml import language


@pytest.mark.parametrize(
    "text",
    ["nice", "The pasta was superb and the staff friendly.", "Worst service ever, never again!"],
)
def test_english_reviews_are_english_even_when_short(text):
    assert language.detect_language(text).is_english


@pytest.mark.parametrize(
    "text",
    ["khana bahut accha tha aur service bhi mast thi", "Das Essen war ausgezeichnet und der Service freundlich."],
)
def test_other_languages_are_flagged(text):
    guess = language.detect_language(text)
    assert not guess.is_english
    assert guess.language != "en"


def test_text_without_words_has_no_language():
    assert language.detect_language("12345 !!!").language == "und"


def test_threads_that_meet_the_identifier_at_once_load_it_once(monkeypatch):
    import py3langid.langid as langid

    loads = []
    original = langid._load_identifier

    def counting_load(*args, **kwargs):
        loads.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(langid, "_load_identifier", counting_load)
    monkeypatch.setattr(langid, "IDENTIFIER", None)
    monkeypatch.setattr(language, "_langid_ready", False)
    start = threading.Barrier(8)
    results = []

    def detect() -> None:
        start.wait()
        results.append(language.detect_language("Das Essen war ausgezeichnet.").language)

    threads = [threading.Thread(target=detect) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(loads) == 1
    assert results == ["de"] * 8
