"""Loaders for the shared benchmark data (pure Python, no Django, no pandas).

Used by bench/quality.py and the model tests. Every loader returns plain lists so the
same code runs in tests without optional dependencies.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import sys
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from training.ml.labels import LABELS, rating_to_label

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

SPLIT_SEED = "quality-bench-v1"
TEST_SHARE = 0.2


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: str
    rating: float
    source: str


def default_data_dir() -> Path:
    env = os.environ.get("SHARED_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def normalise(text: str) -> str:
    """NFKC, lower-case, whitespace collapsed: the key used to keep duplicates on one side of a split."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower()).strip()


def _rated(text: str, rating_value: str, source: str) -> Example | None:
    text = (text or "").strip()
    try:
        rating = float(rating_value)
    except (TypeError, ValueError):
        return None  # "Like" and other non-numeric ratings
    if not text or rating != rating:  # empty text or NaN
        return None
    return Example(text=text, label=rating_to_label(rating), rating=rating, source=source)


def load_yelp(data_dir: Path) -> list[Example]:
    folder = Path(data_dir) / "yelp_reviews_10k_train"
    examples = []
    for path in sorted(folder.glob("yelp_train_part*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                example = _rated(row.get("text", ""), row.get("stars", ""), "yelp")
                if example is not None:
                    examples.append(example)
    return examples


def load_zomato(data_dir: Path) -> list[Example]:
    path = Path(data_dir) / "zomato_restaurant_reviews_train" / "zomato_train.csv"
    examples = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            example = _rated(row.get("Review", ""), row.get("Rating", ""), "zomato")
            if example is not None:
                examples.append(example)
    return examples


def _sentence_polarity(polarities: list[str]) -> str | None:
    if polarities and all(p == "positive" for p in polarities):
        return "positive"
    if polarities and all(p == "negative" for p in polarities):
        return "negative"
    return None  # no opinion, mixed, neutral or conflict


def load_semeval_sentences(data_dir: Path) -> list[tuple[str, str]]:
    """(sentence, positive|negative) from SemEval-2014 and -2016 restaurant train files, deduplicated by text."""
    data_dir = Path(data_dir)
    found: dict[str, tuple[str, str]] = {}
    conflicting: set[str] = set()

    def add(text: str, label: str | None) -> None:
        if not text or label is None:
            return
        key = normalise(text)
        if key in found and found[key][1] != label:
            conflicting.add(key)
        found.setdefault(key, (text.strip(), label))

    path14 = data_dir / "semeval2014_restaurants_train" / "Restaurants_Train_v2.xml"
    if path14.exists():
        for sentence in ET.parse(path14).getroot().iter("sentence"):
            polarities = [t.get("polarity") for t in sentence.iter("aspectTerm")]
            polarities += [c.get("polarity") for c in sentence.iter("aspectCategory")]
            add(sentence.findtext("text", ""), _sentence_polarity(polarities))
    path16 = data_dir / "semeval2016_restaurants_train" / "ABSA16_Restaurants_Train_SB1_v2.xml"
    if path16.exists():
        for sentence in ET.parse(path16).getroot().iter("sentence"):
            polarities = [o.get("polarity") for o in sentence.iter("Opinion")]
            add(sentence.findtext("text", ""), _sentence_polarity(polarities))
    return [value for key, value in found.items() if key not in conflicting]


def _bucket(key: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}|{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split(examples: list[Example], *, share: float = TEST_SHARE, salt: str = SPLIT_SEED) -> tuple[list, list]:
    """Fixed, seeded, stratified split; rows sharing a normalised text stay on one side.

    Within each label, unique texts are ordered by a salted hash and the first `share`
    of them go to the test side, so the split never changes between runs or machines.
    """
    first_label: dict[str, str] = {}
    for example in examples:
        first_label.setdefault(normalise(example.text), example.label)
    test_keys: set[str] = set()
    for label in LABELS:
        keys = sorted((k for k, v in first_label.items() if v == label), key=lambda k: _bucket(k, salt))
        test_keys.update(keys[: round(share * len(keys))])
    train = [e for e in examples if normalise(e.text) not in test_keys]
    test = [e for e in examples if normalise(e.text) in test_keys]
    return train, test
