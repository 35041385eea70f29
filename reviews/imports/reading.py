"""Reading and writing review files: CSV (with a header row) or JSON lines, by extension.

CSV files may be separated by commas, semicolons, tabs or pipes (csv_delimiter); .tsv files by tabs.

A .json file may also hold one JSON array of objects (what most tools export): it is read whole,
so very large files are better as JSON lines, which stream.
"""

from __future__ import annotations

import codecs
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
csv.field_size_limit(sys.maxsize)


class UnreadableFile(ValueError):
    """The file as a whole cannot be read (not UTF-8 text, or a JSON array that is not valid JSON)."""


def check_utf8(path: Path) -> None:
    """Fail before the first row rather than in the middle of an import or a prediction file: both read
    UTF-8 (with or without a BOM). Streams the file in blocks, so any size is checked in bounded memory."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset = 1, 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                line += block[: exc.start].count(b"\n")
                raise UnreadableFile(
                    f"{path.name} is not UTF-8 text: byte 0x{exc.object[exc.start]:02x} near offset "
                    f"{offset + exc.start} (line {line}); save the file as UTF-8 (from a spreadsheet: CSV UTF-8)"
                ) from None
            line += block.count(b"\n")
            offset += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise UnreadableFile(f"{path.name} is not UTF-8 text: it ends inside a multi-byte character") from None


UTF8 = "utf-8-sig"  # with or without a byte-order mark
WINDOWS_1252 = "cp1252"  # what Excel's plain "CSV" and many Windows tools write in Western locales


def file_encoding(path: Path) -> str:
    """UTF-8 when the whole file is UTF-8; otherwise Windows-1252 when every byte of it is a Windows-1252
    character (a text in it is then read as its writer meant, "Café" rather than a decoding error);
    otherwise UnreadableFile naming the first byte that is not UTF-8."""
    try:
        check_utf8(path)
        return UTF8
    except UnreadableFile as not_utf8:
        decoder = codecs.getincrementaldecoder(WINDOWS_1252)()
        try:
            with path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    decoder.decode(block)
        except UnicodeDecodeError:
            raise not_utf8 from None
        return WINDOWS_1252


TAB_SUFFIXES = {".tsv", ".tab"}
DELIMITERS = (",", ";", "\t", "|")


def csv_delimiter(path: Path, encoding: str) -> str:
    """Tab for .tsv files; otherwise the separator the header row uses most (comma when it uses none).

    Spreadsheets in much of Europe save "CSV" with semicolons, and many datasets ship as tab- or
    pipe-separated text; read with commas, such a file has one column and nothing imports. The
    header row names the columns, so it rarely holds a separator as text (csv.Sniffer, which reads
    the rows too, is misled by commas inside review texts).
    """
    if path.suffix.lower() in TAB_SUFFIXES:
        return "\t"
    with path.open(encoding=encoding, newline="") as handle:
        header = handle.readline()
    counts = {delimiter: _count_outside_quotes(header, delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])  # ties go to the earlier: comma first
    return best if counts[best] else ","


def _count_outside_quotes(line: str, character: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == character and not quoted:
            count += 1
    return count


def is_jsonl(path: Path) -> bool:
    return path.suffix.lower() in JSONL_SUFFIXES


def _holds_a_json_array(path: Path, encoding: str) -> bool:
    with path.open(encoding=encoding) as handle:
        while chunk := handle.read(4096):
            if stripped := chunk.lstrip():
                return stripped[0] == "["
    return False


def _json_array_rows(path: Path, encoding: str) -> tuple[list[str], Iterator[dict]]:
    with path.open(encoding=encoding) as handle:
        try:
            document = json.load(handle)
        except json.JSONDecodeError as exc:
            raise UnreadableFile(
                f"{path.name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None
        except RecursionError:
            raise UnreadableFile(f"{path.name} is nested too deeply to read") from None
    if not isinstance(document, list):
        raise UnreadableFile(f"{path.name} holds a JSON {type(document).__name__}, not an array of objects")
    first = next((item for item in document if isinstance(item, dict)), {})

    def array_rows() -> Iterator[dict]:
        for number, item in enumerate(document, start=1):
            yield item if isinstance(item, dict) else {"__error__": f"item {number}: not a JSON object"}

    return list(first), array_rows()


def _distinct(columns: list[str]) -> list[str]:
    """A header naming a column twice gets "name.1", "name.2" for the later copies (as pandas reads it):
    a dict row would otherwise keep only the last copy's value, under the first one's name."""
    seen: set[str] = set()
    result = []
    for column in columns:
        name, copy = column, 0
        while name in seen:
            copy += 1
            name = f"{column}.{copy}"
        seen.add(name)
        result.append(name)
    return result


def read_rows(path: Path, encoding: str | None = None) -> tuple[list[str], Iterator[dict]]:
    """Columns and rows of a CSV (header row), JSON-lines or JSON-array file, chosen by extension.

    Raises UnreadableFile when the file is neither UTF-8 nor Windows-1252 text (file_encoding) or a JSON
    array file is not valid JSON as a whole."""
    encoding = encoding or file_encoding(path)  # a caller that already knows it saves a pass over the file
    if is_jsonl(path) and _holds_a_json_array(path, encoding):
        return _json_array_rows(path, encoding)
    if is_jsonl(path):
        first_keys: list[str] = []
        with path.open(encoding=encoding) as handle:
            for line in handle:
                if line.strip():
                    try:
                        first = json.loads(line)
                    except json.JSONDecodeError:
                        break
                    first_keys = list(first) if isinstance(first, dict) else []
                    break

        def jsonl_rows() -> Iterator[dict]:
            with path.open(encoding=encoding) as handle:
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

    handle = path.open(encoding=encoding, newline="")
    reader = csv.DictReader(handle, delimiter=csv_delimiter(path, encoding))
    columns = _distinct(list(reader.fieldnames or []))
    reader.fieldnames = columns

    def csv_rows() -> Iterator[dict]:
        with handle:
            yield from reader

    return columns, csv_rows()
