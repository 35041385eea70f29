"""Reading and writing review files: CSV (with a header row) or JSON lines, by extension."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
csv.field_size_limit(sys.maxsize)


def is_jsonl(path: Path) -> bool:
    return path.suffix.lower() in JSONL_SUFFIXES


def read_rows(path: Path) -> tuple[list[str], Iterator[dict]]:
    """Columns and rows of a CSV (header row) or JSON-lines file, chosen by extension."""
    if is_jsonl(path):
        first_keys: list[str] = []
        with path.open(encoding="utf-8-sig") as handle:
            for line in handle:
                if line.strip():
                    try:
                        first = json.loads(line)
                    except json.JSONDecodeError:
                        break
                    first_keys = list(first) if isinstance(first, dict) else []
                    break

        def jsonl_rows() -> Iterator[dict]:
            with path.open(encoding="utf-8-sig") as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        yield {"__error__": f"line {number}: not JSON ({exc.msg})"}
                        continue
                    yield row if isinstance(row, dict) else {"__error__": f"line {number}: not a JSON object"}

        return first_keys, jsonl_rows()

    handle = path.open(encoding="utf-8-sig", newline="")
    reader = csv.DictReader(handle)
    columns = list(reader.fieldnames or [])

    def csv_rows() -> Iterator[dict]:
        with handle:
            yield from reader

    return columns, csv_rows()
