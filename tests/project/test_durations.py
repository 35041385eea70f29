"""Durations on the pages read as words."""

from __future__ import annotations

import datetime as dt

import pytest

from project.templatetags.durations import duration_words


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (dt.timedelta(minutes=15), "15 minutes"),
        (dt.timedelta(minutes=1), "1 minute"),
        (dt.timedelta(seconds=20), "1 minute"),
        (dt.timedelta(hours=1, minutes=30), "1 hour 30 minutes"),
        (dt.timedelta(days=1), "1 day"),
        (None, ""),
    ],
)
def test_a_duration_reads_as_words(value, words):
    assert duration_words(value) == words
