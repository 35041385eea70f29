"""CSV cells a spreadsheet would run as formulas.

Excel, LibreOffice and Google Sheets treat a cell starting with = + - @ (or a tab or carriage return
before one) as a formula, so a review text like ``=HYPERLINK("http://evil", "click")`` would become
live in the manager's spreadsheet. Every CSV the platform writes passes its text cells through here:
such a cell gets a leading apostrophe, which spreadsheets show as plain text (OWASP's advice for CSV
injection). Numbers stay numbers. JSON exports are left exactly as stored.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """The value as a CSV cell: None as empty, text that would start a formula behind an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
