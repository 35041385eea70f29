"""An export from Yelp or Google is dated and grouped by business without options: import_reviews (and
the Imports page, through the same import_file) find the date and business columns by their usual names."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from reviews.models import Review

pytestmark = pytest.mark.django_db


def run(path, *extra) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_reviews", str(path), *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_yelp_export_is_dated_and_grouped_by_business_without_options(tmp_path):
    path = tmp_path / "yelp.csv"
    path.write_text(
        "business_id,date,review_id,stars,text\n"
        "b1,2011-01-26,r1,5,Excellent breakfast on the terrace\n"
        "b2,2008-07-02,r2,1,Cold eggs and a rude waiter\n"
    )

    out, err = run(path)

    assert "2 imported" in out
    stored = {r.text[:9]: r for r in Review.objects.all()}
    assert timezone.localtime(stored["Excellent"].review_date).date() == dt.date(2011, 1, 26)
    assert stored["Cold eggs"].business == "b2"
    assert "read the dates from column 'date' and the businesses from column 'business_id', found by name" in err


def test_a_date_column_found_by_name_that_holds_no_date_leaves_the_review_undated(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("date,text\nnot a date,Lovely staff\n2020-03-04,Slow kitchen\n")

    out, _ = run(path)

    assert "2 imported" in out and "0 invalid" in out
    assert Review.objects.get(text="Lovely staff").review_date is None
    assert Review.objects.get(text="Slow kitchen").review_date is not None


def test_a_date_column_named_by_the_option_still_refuses_a_row_that_is_not_a_date(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("date,text\nnot a date,Lovely staff\n2020-03-04,Slow kitchen\n")

    out, _ = run(path, "--date-col", "date")

    assert "1 imported" in out and "1 invalid" in out


def test_a_time_column_is_not_taken_for_the_date(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("time,text\n15:54,Lovely staff\n")

    run(path)

    assert Review.objects.get().review_date is None
