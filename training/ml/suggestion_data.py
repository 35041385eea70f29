"""Suggestion-mining sentences: the SemEval-2019 Task 9 CSV files and our own review-domain sentences.

Pure Python, no Django. SemEval-2019 Task 9 ships two files in slightly different shapes
(SOURCE.md beside the shared data says so in detail):

- ``V1.4_Training.csv``: no header, ``id,sentence,label``, CRLF, UTF-8, and most sentences wrapped in an
  extra pair of literal double quotes inside the CSV field (three double quotes on each side in the file).
- ``SubtaskA_Trial_Test_Labeled.csv``: a header ``id,sentence,label``, CRLF, and a few stray bytes that are not
  UTF-8, so it is read as latin-1.

``read_semeval2019_csv`` reads either; ``review_domain_sentences`` loads ``data/review_suggestions.csv``, the
restaurant/hotel/shop/product sentences written for this project (forum text alone transfers badly to reviews).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

REVIEW_SUGGESTIONS_CSV = Path(__file__).resolve().parent / "data" / "review_suggestions.csv"
_HEADER = ("id", "sentence", "label")


@dataclass(frozen=True)
class LabelledSentence:
    sentence_id: str
    text: str
    label: int  # 1 = suggestion (improvement proposed or advice given), 0 = not


class SentenceList(list):
    """A list of LabelledSentence that remembers how many rows of its file were skipped (blank or unusable)."""

    skipped: int = 0


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # The trial file carries a dozen stray 0xE6/0x90/0xA9 bytes; latin-1 maps every byte, so nothing is lost.
        return raw.decode("latin-1")


def _strip_outer_quotes(text: str) -> str:
    """Remove one literal pair of surrounding double quotes, the training file's extra wrapping."""
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1].strip()
    return text


def read_semeval2019_csv(path: str | Path) -> SentenceList:
    """Read a SemEval-2019 Task 9 Subtask A file (training or labelled trial) into LabelledSentence rows.

    Blank rows, rows without a 0/1 label and rows with an empty sentence are skipped and counted in
    ``result.skipped``. A file in which no row has this shape raises ValueError saying what was expected."""
    path = Path(path)
    text = _decode(path.read_bytes())
    sentences = SentenceList()
    skipped = 0
    rows_seen = 0
    for row_number, row in enumerate(csv.reader(io.StringIO(text, newline=""))):
        if not row or not any(cell.strip() for cell in row):
            continue
        rows_seen += 1
        if row_number == 0 and tuple(cell.strip().lower() for cell in row[:3]) == _HEADER:
            rows_seen -= 1
            continue
        if len(row) != 3 or row[2].strip() not in ("0", "1"):
            skipped += 1
            continue
        sentence_id, sentence, label = row
        sentence = _strip_outer_quotes(sentence)
        if not sentence:
            skipped += 1
            continue
        sentences.append(LabelledSentence(sentence_id.strip(), sentence, int(label.strip())))
    if not sentences:
        raise ValueError(
            f"{path.name}: not a SemEval-2019 Task 9 file (expected rows of id,sentence,label with label 0 or 1, "
            f"an optional 'id,sentence,label' header; {rows_seen} non-blank rows, none usable)"
        )
    sentences.skipped = skipped
    return sentences


def review_domain_sentences(path: str | Path = REVIEW_SUGGESTIONS_CSV) -> SentenceList:
    """The review-domain training sentences (columns text,label); ids are ``review-<row number>``."""
    sentences = SentenceList()
    with open(path, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=1):
            text, label = (row.get("text") or "").strip(), (row.get("label") or "").strip()
            if not text or label not in ("0", "1"):
                sentences.skipped += 1
                continue
            sentences.append(LabelledSentence(f"review-{number}", text, int(label)))
    return sentences
