"""Every CSV the platform writes defuses cells a spreadsheet would run as formulas (project/spreadsheet.py)."""

from __future__ import annotations

import pytest

from project.spreadsheet import spreadsheet_safe


@pytest.mark.parametrize(
    "cell",
    ['=HYPERLINK("http://evil.example","click")', "+SUM(A1:A9)", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1", "=1"],
)
def test_a_cell_that_starts_a_formula_gets_an_apostrophe(cell):
    assert spreadsheet_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-1", "+3.5", "-0.25", "1e5", "-2E-3", ".5", "42"])
def test_numbers_written_as_text_stay_numbers(cell):
    assert spreadsheet_safe(cell) == cell


@pytest.mark.parametrize("value", [-1, 3.5, 0, None])
def test_values_that_are_not_text_are_left_as_they_are_and_none_is_empty(value):
    assert spreadsheet_safe(value) == ("" if value is None else value)


def test_ordinary_text_is_untouched():
    assert spreadsheet_safe("Great food, slow service") == "Great food, slow service"
