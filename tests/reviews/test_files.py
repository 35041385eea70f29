"""Review files are read however common tools separate their columns."""

from __future__ import annotations

import pytest

from reviews.imports.reading import read_rows


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("comma.csv", 'text,rating\n"Great, really great",5\n'),
        ("excel-europe.csv", 'text;rating\n"Great, really great";5\n'),
        ("dataset.tsv", "text\trating\nGreat, really great\t5\n"),
        ("tabs-named-csv.csv", "text\trating\nGreat, really great\t5\n"),
        ("pipes.csv", "text|rating\nGreat, really great|5\n"),
    ],
)
def test_a_file_separated_by_commas_semicolons_tabs_or_pipes_reads_the_same_rows(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)

    columns, rows = read_rows(path)

    assert columns == ["text", "rating"]
    assert list(rows) == [{"text": "Great, really great", "rating": "5"}]


def test_a_separator_inside_a_quoted_header_name_does_not_decide(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('"review; full text",stars\n"Fine; really",4\n')

    columns, rows = read_rows(path)

    assert columns == ["review; full text", "stars"]
    assert list(rows) == [{"review; full text": "Fine; really", "stars": "4"}]


def test_a_single_column_file_reads_as_comma_separated(tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text('text\n"Good food; slow service, though"\n')

    columns, rows = read_rows(path)

    assert columns == ["text"]
    assert list(rows) == [{"text": "Good food; slow service, though"}]
