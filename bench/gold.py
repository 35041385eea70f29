"""The hand-annotated review-sentence gold sample: themes, polarities and suggestions.

    from bench.gold import load_review_sentence_gold
    gold = load_review_sentence_gold()  # None when the shared data is absent

bench/data/review_sentences_gold.csv holds only locations and labels (the review texts are not ours to
copy): each row names a review in the shared Yelp or Zomato train file and a sentence index into
`training.ml.text.split_sentences(review_text)`, the splitter the product uses. Loading reads each review
file once, splits the named reviews and checks every sentence against the row's sha1, so a changed file
or a changed splitter fails loudly instead of silently scoring the wrong sentence.
Guidelines, sampling and counts: bench/data/README.md.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from training.ml.aspect_data import POLARITIES as POLARITIES
from training.ml.aspect_data import THEMES
from training.ml.text import split_sentences

ROOT = Path(__file__).resolve().parents[1]
GOLD_CSV = ROOT / "bench" / "data" / "review_sentences_gold.csv"

PRODUCT_THEMES = THEMES
SAMPLES = ("random", "suggestion_enriched", "theme_enriched")
SUGGESTION_TARGETS = ("business", "customers")


@dataclass(frozen=True)
class ReviewSource:
    """Where a dataset's reviews live in the shared data folder, and how a row is keyed."""

    folder: str
    text_column: str
    key_column: str | None  # None: the key is the 0-based data row index as csv.DictReader reads the file


REVIEW_SOURCES = {
    "yelp": ReviewSource(folder="yelp_reviews_10k_train", text_column="text", key_column="review_id"),
    "zomato": ReviewSource(folder="zomato_restaurant_reviews_train", text_column="Review", key_column=None),
}


@dataclass(frozen=True)
class GoldSentence:
    dataset: str
    review_key: str
    sentence_index: int
    text: str
    themes: tuple[str, ...]
    polarities: dict[str, str]
    is_suggestion: int
    suggestion_target: str  # "business", "customers", or "" for a non-suggestion
    sample: str  # "random", "suggestion_enriched" or "theme_enriched"


class GoldDriftError(ValueError):
    """A gold row no longer points at the sentence that was annotated."""


def sentence_sha1(sentence: str) -> str:
    return hashlib.sha1(sentence.encode("utf-8")).hexdigest()[:12]


def default_data_dir() -> Path:
    env = os.environ.get("SHARED_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def read_gold_rows(gold_csv: Path = GOLD_CSV) -> list[dict[str, str]]:
    with gold_csv.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def load_review_sentence_gold(data_dir: Path | None = None, *, gold_csv: Path = GOLD_CSV) -> list[GoldSentence] | None:
    """Every gold row with its sentence text, in file order; None when the shared review files are absent."""
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    rows = read_gold_rows(gold_csv)
    texts = _review_texts(data_dir, rows)
    if texts is None:
        return None
    return [_gold_sentence(row, texts) for row in rows]


def _review_texts(data_dir: Path, rows: list[dict[str, str]]) -> dict[tuple[str, str, str], str] | None:
    """(dataset, file, review_key) -> review text, for the reviews the gold names; each file read once."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        wanted.setdefault((row["dataset"], row["file"]), set()).add(row["review_key"])
    texts: dict[tuple[str, str, str], str] = {}
    for (dataset, file_name), keys in wanted.items():
        source = REVIEW_SOURCES[dataset]
        path = data_dir / source.folder / file_name
        if not path.exists():
            return None
        with path.open(newline="", encoding="utf-8") as handle:
            for index, review in enumerate(csv.DictReader(handle)):
                key = review[source.key_column] if source.key_column else str(index)
                if key in keys:
                    texts[(dataset, file_name, key)] = review[source.text_column]
    return texts


def _gold_sentence(row: dict[str, str], texts: dict[tuple[str, str, str], str]) -> GoldSentence:
    where = f"{row['dataset']} {row['file']} review {row['review_key']} sentence {row['sentence_index']}"
    review_text = texts.get((row["dataset"], row["file"], row["review_key"]))
    if review_text is None:
        raise GoldDriftError(f"gold row {where}: the review is not in the shared data file")
    sentences = split_sentences(review_text)
    index = int(row["sentence_index"])
    if index >= len(sentences):
        raise GoldDriftError(f"gold row {where}: the review now splits into {len(sentences)} sentences")
    text = sentences[index]
    if sentence_sha1(text) != row["sentence_sha1"]:
        raise GoldDriftError(
            f"gold row {where}: sha1 {sentence_sha1(text)} != {row['sentence_sha1']} "
            "(the review file or training.ml.text.split_sentences changed since annotation)"
        )
    themes = tuple(row["themes"].split(";")) if row["themes"] else ()
    polarities = dict(pair.split("=", 1) for pair in row["polarities"].split(";")) if row["polarities"] else {}
    return GoldSentence(
        dataset=row["dataset"],
        review_key=row["review_key"],
        sentence_index=index,
        text=text,
        themes=themes,
        polarities=polarities,
        is_suggestion=int(row["is_suggestion"]),
        suggestion_target=row["suggestion_target"],
        sample=row["sample"],
    )
