"""manage.py predict_file IN --text-col text --out OUT: predictions for a file, row for row."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from reviews.imports.reading import (
    JSONL_SUFFIXES,
    TAB_SUFFIXES,
    WINDOWS_1252,
    UnreadableFile,
    file_encoding,
    is_jsonl,
    read_rows,
)
from reviews.schemas import is_blank_text
from training.aspect_extraction import read_sentences
from training.aspects import get_aspect_model
from training.ml.aspect_schemes import SEMEVAL2014, SEMEVAL2016, THEMES, merge_review_aspects
from training.ml.text import split_sentences
from training.serving import predict_texts
from training.suggestions import sentence_suggestions

BATCH_SIZE = 2000
PREDICTION_FIELDS = ["label", "confidence", "score_positive", "score_neutral", "score_negative"]
SUGGESTION_FIELDS = ["is_suggestion", "suggestion_score"]
OUT_SUFFIXES = {".csv", *TAB_SUFFIXES, *JSONL_SUFFIXES}


class Command(BaseCommand):
    help = (
        "Predict every row of a CSV/JSONL file with the deployed model and write CSV/JSONL (by --out's extension): "
        "exactly one output row per input row, in order; empty or invalid texts get empty fields."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("input")
        parser.add_argument("--text-col", default="text")
        parser.add_argument("--out", required=True)
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        parser.add_argument(
            "--aspect-scheme",
            choices=[SEMEVAL2014, SEMEVAL2016],
            help="Write aspects only, as {aspects: [{category, polarity}]} in the SemEval-2014 categories (food, "
            "service, price, ambience, anecdotes/miscellaneous) or the SemEval-2016 ones (FOOD#QUALITY, ...)",
        )
        parser.add_argument(
            "--aspects", action="store_true", help="Add aspects (category, polarity, sentence) and suggestions"
        )
        parser.add_argument(
            "--suggestions",
            action="store_true",
            help="Add is_suggestion (1 when any sentence of the row is a suggestion) and suggestion_score "
            "(the highest sentence score, 0..1) to whatever else is written",
        )

    def handle(self, *args, input: str, text_col: str, out: str, batch_size: int, **options) -> None:
        aspect_scheme, with_aspects = options.get("aspect_scheme"), options.get("aspects")
        with_suggestions = bool(options.get("suggestions"))
        if aspect_scheme and with_aspects:
            raise CommandError("--aspects and --aspect-scheme are two output formats; choose one")
        source = Path(input)
        if not source.is_file():
            raise CommandError(f"No such file: {source}")
        try:
            encoding = file_encoding(source)
            if encoding == WINDOWS_1252:
                self.stderr.write(f"{source.name} is not UTF-8: read as Windows-1252")
            columns, rows = read_rows(source, encoding)
        except UnreadableFile as exc:
            raise CommandError(str(exc)) from None
        if columns and text_col not in columns:
            raise CommandError(f"Column {text_col!r} is not in the file; columns: {', '.join(columns)}")
        target = Path(out)
        if target.suffix.lower() not in OUT_SUFFIXES:
            self.stderr.write(f"{target.name}: not .csv, .tsv, .jsonl or .json: written as CSV")
        target.parent.mkdir(parents=True, exist_ok=True)
        # Input columns come first (minus any that would clash with ours), then the prediction.
        fields = PREDICTION_FIELDS
        if aspect_scheme:
            fields = ["aspects"]
        elif with_aspects:
            fields = PREDICTION_FIELDS + ["aspects", "suggestions"]
        if with_suggestions:
            fields = fields + SUGGESTION_FIELDS
        # An input column named like one of ours (a test set's gold "label") is kept as input_<name>.
        renamed = {column: _free_name(f"input_{column}", columns) for column in columns if column in fields}
        kept = [renamed.get(column, column) for column in columns]
        progress = tqdm(desc=f"Predicting {source.name}", unit=" rows", file=sys.stderr, mininterval=0.5)
        written = 0
        with target.open("w", encoding="utf-8", newline="") as handle:
            writer = None
            if not is_jsonl(target):
                # A .tsv out gets tabs; any other name the comma CSV every tool reads.
                delimiter = "\t" if target.suffix.lower() in TAB_SUFFIXES else ","
                writer = csv.DictWriter(handle, fieldnames=kept + fields, extrasaction="ignore", delimiter=delimiter)
                writer.writeheader()
            batch: list[dict] = []

            def flush() -> None:
                nonlocal written
                texts = [_text_of(row, text_col) for row in batch]
                valid = [i for i, text in enumerate(texts) if text]
                results = predict_texts([texts[i] for i in valid]).results if valid and not aspect_scheme else []
                by_row = dict(zip(valid, results, strict=False))
                sentences = _row_sentences(texts, valid) if (aspect_scheme or with_aspects or with_suggestions) else []
                # --aspects lists each sentence's suggestion too: the detector reads every sentence once for both.
                flags = sentence_suggestions([s for _, s in sentences]) if with_suggestions or with_aspects else None
                aspects_by_row = (
                    _aspects(sentences, detailed=bool(with_aspects), scheme=aspect_scheme or THEMES, flags=flags)
                    if (aspect_scheme or with_aspects)
                    else {}
                )
                suggestions_by_row = _row_suggestions(sentences, flags) if with_suggestions else {}
                for i, row in enumerate(batch):
                    if writer:
                        output = {renamed.get(column, column): row.get(column) for column in columns}
                    else:
                        output = {
                            (_free_name(f"input_{key}", row) if key in fields else key): value
                            for key, value in row.items()
                        }
                    result = by_row.get(i)
                    if aspect_scheme:
                        output["aspects"] = aspects_by_row.get(i, {}).get("aspects", [])
                    else:
                        output.update(
                            {
                                "label": result.label if result else None,
                                "confidence": result.confidence if result else None,
                                "score_positive": result.scores["positive"] if result else None,
                                "score_neutral": result.scores["neutral"] if result else None,
                                "score_negative": result.scores["negative"] if result else None,
                            }
                        )
                        if with_aspects:
                            output.update(aspects_by_row.get(i, {"aspects": [], "suggestions": []}))
                    if with_suggestions:
                        flag, score = suggestions_by_row.get(i, (None, None))
                        output.update({"is_suggestion": flag, "suggestion_score": score})
                    if writer:
                        writer.writerow(
                            {
                                k: ""
                                if v is None
                                else (json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v)
                                for k, v in output.items()
                            }
                        )
                    else:
                        output.pop("__error__", None)
                        handle.write(json.dumps(output, ensure_ascii=False, default=str) + "\n")
                written += len(batch)
                progress.update(len(batch))
                batch.clear()

            for row in rows:
                batch.append(row)
                if len(batch) >= batch_size:
                    flush()
            flush()
        progress.close()
        self.stderr.write(f"Wrote {written} predictions to {target}")


def _free_name(name: str, taken) -> str:
    while name in taken:
        name = f"input_{name}"
    return name


def _text_of(row: dict, text_col: str) -> str:
    value = row.get(text_col)
    if not isinstance(value, str):
        return ""
    # Same cleaning as the API: NULs dropped, surrounding whitespace ignored, invisible-only text empty.
    text = value.replace("\x00", "").strip()
    return "" if is_blank_text(text) else text


def _row_sentences(texts: list[str], valid: list[int]) -> list[tuple[int, str]]:
    """(row, sentence) for every sentence of every valid row; a row without sentence breaks is one sentence."""
    return [(i, sentence) for i in valid for sentence in (split_sentences(texts[i]) or [texts[i]])]


def _row_suggestions(sentences: list[tuple[int, str]], flags: list[tuple[bool, float]]) -> dict[int, tuple]:
    """(is_suggestion 1/0, suggestion_score) per row from its sentences' flags: a row is a suggestion when any
    of its sentences is, and its score is its highest sentence score."""
    out: dict[int, tuple[int, float]] = {}
    for (i, _), (flag, score) in zip(sentences, flags, strict=True):
        best_flag, best_score = out.get(i, (0, 0.0))
        out[i] = (max(best_flag, int(flag)), max(best_score, round(score, 4)))
    return out


def _aspects(
    sentences: list[tuple[int, str]], *, detailed: bool, scheme: str, flags: list[tuple[bool, float]] | None
) -> dict[int, dict]:
    """Aspects per row in the scheme's categories: merged over the row's sentences (--aspect-scheme), or per
    sentence with the suggestions (--aspects, the product themes: a suggestion is listed with its theme, not as
    a mention; training.aspect_extraction)."""
    model = get_aspect_model(scheme)
    texts = [sentence for _, sentence in sentences]
    per_row: dict[int, list] = {}
    if not detailed:
        for (i, _), aspects in zip(sentences, model.predict(texts) if texts else [], strict=True):
            per_row.setdefault(i, []).append(aspects)
        return {i: {"aspects": merge_review_aspects(items)} for i, items in per_row.items()}
    for (i, sentence), reading in zip(sentences, read_sentences(model, texts, flags=flags), strict=True):
        row = per_row.setdefault(i, {"aspects": [], "suggestions": []})
        row["aspects"].extend(
            {"category": category, "polarity": polarity, "sentence": sentence}
            for category, polarity, _ in reading.mentions
        )
        if reading.suggestion:
            row["suggestions"].append({"sentence": sentence, "aspect": reading.suggestion[0]})
    return per_row
