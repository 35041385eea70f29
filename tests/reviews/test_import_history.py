"""The Imports page lists every import: uploads from the page and `manage.py import_reviews` runs alike."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from reviews.imports import jobs as import_jobs
from reviews.imports.columns import ImportOptions
from reviews.imports.jobs import import_job_create, import_job_run_command, import_jobs_in_progress
from reviews.models import ImportJob, Review
from reviews.roles import MANAGER
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FILMS = (
    "id,text,rating\n"
    "a,A triumph of a film,5\n"
    "b,Dull and far too long,1\n"
    "c,,4\n"
    "d,Watchable once,3\n"
    "e,Dated in the future,2\n"
)


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_reviews", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def imports_page() -> str:
    client = Client()
    client.force_login(UserFactory(role=MANAGER))
    response = client.get("/imports/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def films(tmp_path):
    path = tmp_path / "films.csv"
    path.write_text(FILMS)
    return path


def test_a_command_line_import_appears_on_the_imports_page_with_its_file_counts_and_command_line(films):
    run(str(films), "--id-col", "id")
    run(str(films), "--id-col", "id")

    first, second = ImportJob.objects.order_by("id")
    assert (first.origin, first.status, first.requested_by, first.file_name) == (
        "command",
        "succeeded",
        None,
        "films.csv",
    )
    assert first.size_bytes == films.stat().st_size and bytes(first.content) == b""
    assert first.summary["counts"] == {"rows": 5, "imported": 4, "skipped (no text)": 1}
    assert first.rows_done == 4 and first.started_at and first.finished_at >= first.started_at
    assert second.summary["counts"] == {"rows": 5, "already present": 4, "skipped (no text)": 1}
    page = imports_page()
    assert page.count("films.csv: 5 rows") == 2 and "command line" in page and "Succeeded" in page
    rows = page.split('<tr data-origin="command">')[1:]
    assert [cells(row)[3:7] for row in rows] == [["0", "4", "1", "0"], ["4", "0", "1", "0"]]  # newest first


def cells(row: str) -> list[str]:
    """The text of a table row's cells, tags removed."""
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]


def test_the_command_names_the_os_user_who_ran_it(films, monkeypatch):
    monkeypatch.setattr(import_jobs.getpass, "getuser", lambda: "deploy")

    run(str(films))

    assert ImportJob.objects.get().run_by == "deploy"
    assert "command line (deploy)" in imports_page()


def test_a_failing_command_line_import_is_listed_as_failed_with_the_reason(tmp_path):
    path = tmp_path / "titles.csv"
    path.write_text("title,stars\nNice,5\n")

    with pytest.raises(CommandError, match="No text column found"):
        run(str(path))

    job = ImportJob.objects.get()
    assert (job.origin, job.status) == ("command", "failed")
    assert "No text column found" in job.error and job.finished_at is not None
    page = imports_page()
    assert "titles.csv" in page and "Failed" in page and "No text column found" in page
    assert not Review.objects.exists()


def test_a_missing_file_is_listed_as_failed_and_the_command_fails_as_before(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run(str(tmp_path / "nope.csv"))

    job = ImportJob.objects.get()
    assert (job.file_name, job.status, job.origin) == ("nope.csv", "failed", "command")
    assert job.error.startswith("No such file")


def test_the_command_prints_what_it_printed_before(films):
    out, _ = run(str(films), "--id-col", "id", "--date-col", "rating")

    job = ImportJob.objects.get()
    assert out.splitlines()[0] == job.summary["line"]
    assert out.splitlines()[1:] == [f"  {n} x {reason}" for reason, n in job.summary["reasons"]]


def test_a_command_import_records_its_progress_and_counts_as_it_goes(films):
    seen = []

    def on_batch(rows: int) -> None:
        job = ImportJob.objects.get()
        seen.append((job.status, job.rows_done, job.summary.get("counts", {}).get("imported")))

    import_job_run_command(films, ImportOptions(id_col="id", batch_size=2), on_batch=on_batch)

    # on_batch is called once the job's row count is updated, before the batch's counts are.
    assert seen == [("running", 2, None), ("running", 4, 2)]
    assert ImportJob.objects.get().status == "succeeded"


def test_an_interrupted_command_import_is_recorded_as_failed_and_the_interruption_goes_on(films, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(import_jobs, "import_file", interrupted)

    with pytest.raises(KeyboardInterrupt):
        run(str(films))

    job = ImportJob.objects.get()
    assert (job.status, job.error) == ("failed", "Interrupted")


def test_uploads_and_command_imports_are_listed_together_newest_first(films, django_capture_on_commit_callbacks):
    user = UserFactory(role=MANAGER, username="maria")
    run(str(films), "--source", "cli")
    with django_capture_on_commit_callbacks(execute=True):
        import_job_create(
            upload=SimpleUploadedFile("upload.csv", FILMS.encode()), options=ImportOptions(), requested_by_id=user.pk
        )

    page = imports_page()

    assert page.index("upload.csv") < page.index("films.csv")
    assert "maria" in page and "command line" in page
    upload, command = ImportJob.objects.order_by("-id")
    assert upload.summary["counts"] == command.summary["counts"]  # the same counters on both paths


def test_a_running_command_import_keeps_the_page_reloading_until_it_is_old():
    job = ImportJob.objects.create(origin="command", file_name="big.csv", status="running")
    assert import_jobs_in_progress([job])

    ImportJob.objects.filter(pk=job.pk).update(started_at=job.created_at - import_jobs.COMMAND_JOB_WATCHED_FOR)
    job.refresh_from_db()

    assert not import_jobs_in_progress([job])


def test_the_admin_shows_where_an_import_came_from(films):
    run(str(films))
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    listing = client.get("/admin/reviews/importjob/?origin__exact=command").content.decode()
    detail = client.get(f"/admin/reviews/importjob/{ImportJob.objects.get().pk}/change/").content.decode()

    assert "films.csv" in listing and "Command line" in listing
    assert "Command line" in detail and "Run by" in detail
