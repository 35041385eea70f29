"""manage.py predict_file IN --text-col text --out OUT: predictions for a file, row for row."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from reviews.files import is_jsonl, read_rows
from reviews.services import predict_texts

BATCH_SIZE = 2000
PREDICTION_FIELDS = ["label", "confidence", "score_positive", "score_neutral", "score_negative"]


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

    def handle(self, *args, input: str, text_col: str, out: str, batch_size: int, **options) -> None:
        source = Path(input)
        if not source.is_file():
            raise CommandError(f"No such file: {source}")
        columns, rows = read_rows(source)
        if columns and text_col not in columns:
            raise CommandError(f"Column {text_col!r} is not in the file; columns: {', '.join(columns)}")
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Input columns come first (minus any that would clash with ours), then the prediction.
        kept = [column for column in columns if column not in PREDICTION_FIELDS]
        progress = tqdm(desc=f"Predicting {source.name}", unit=" rows", file=sys.stderr, mininterval=0.5)
        written = 0
        with target.open("w", encoding="utf-8", newline="") as handle:
            writer = None
            if not is_jsonl(target):
                writer = csv.DictWriter(handle, fieldnames=kept + PREDICTION_FIELDS, extrasaction="ignore")
                writer.writeheader()
            batch: list[dict] = []

            def flush() -> None:
                nonlocal written
                texts = [_text_of(row, text_col) for row in batch]
                valid = [i for i, text in enumerate(texts) if text]
                results = predict_texts([texts[i] for i in valid]).results if valid else []
                by_row = dict(zip(valid, results, strict=True))
                for i, row in enumerate(batch):
                    output = {column: row.get(column) for column in kept} if writer else dict(row)
                    result = by_row.get(i)
                    output.update(
                        {
                            "label": result.label if result else None,
                            "confidence": result.confidence if result else None,
                            "score_positive": result.scores["positive"] if result else None,
                            "score_neutral": result.scores["neutral"] if result else None,
                            "score_negative": result.scores["negative"] if result else None,
                        }
                    )
                    if writer:
                        writer.writerow({k: "" if v is None else v for k, v in output.items()})
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


def _text_of(row: dict, text_col: str) -> str:
    value = row.get(text_col)
    if not isinstance(value, str):
        return ""
    # Same cleaning as the API: NULs dropped, surrounding whitespace ignored.
    return value.replace("\x00", "").strip()
