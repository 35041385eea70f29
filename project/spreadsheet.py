"""CSV cells a spreadsheet would run as formulas.

Excel, LibreOffice and Google Sheets treat a cell starting with = + - @ (or a tab or carriage return
before one) as a formula, so a review text like ``=HYPERLINK("http://evil", "click")`` would become
live in the manager's spreadsheet. Every CSV the platform writes passes its text cells through here:
such a cell gets a leading apostrophe, which spreadsheets show as plain text (OWASP's advice for CSV
injection). Numbers stay numbers, also as text ("-1", "+3.5": a spreadsheet reads them as numbers, not
formulas). JSON exports are left exactly as stored.

`manage.py predict_file` does not use it: it copies the caller's own file, whose cells are no safer or
riskier for being copied, and its output must join back to its input value for value (an id like
"-EtZp6H9Mee44tQ0ijjFxA" came back as "'-EtZp6H9Mee44tQ0ijjFxA").
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def spreadsheet_safe(value):
    """The value as a CSV cell: None as empty, text that would start a formula behind an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value
