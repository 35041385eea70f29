"""The staff Imports page: a manager uploads a review file, a worker imports it, the page shows the result."""

from __future__ import annotations

import asyncio

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from reviews.imports.columns import ImportOptions
from reviews.imports.jobs import import_job_create, import_job_run
from reviews.models import ImportJob, Review
from reviews.roles import LABELLER, MANAGER
from tests.factories import UserFactory
from tests.project.test_bodylimit import call_asgi

pytestmark = pytest.mark.django_db

FILMS = b"id,text,rating,verdict\na,A triumph of a film,9,1\nb,Dull and far too long,2,0\nc,,5,1\n"


def manager() -> Client:
    client = Client()
    client.force_login(UserFactory(role=MANAGER))
    return client


def upload(client: Client, name: str, content: bytes, **fields):
    return client.post("/imports/", {"file": SimpleUploadedFile(name, content), **fields})


def test_an_uploaded_file_is_imported_by_the_worker_and_its_summary_shown(django_capture_on_commit_callbacks):
    client = manager()

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, "films.csv", FILMS, id_col="id", label_col="verdict", source="festival")

    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.status == "succeeded" and job.rows_done == 2 and bytes(job.content) == b""
    assert job.summary["counts"] == {"rows": 3, "imported": 2, "labelled": 2, "skipped (no text)": 1}
    assert any("0-10 scale" in note for note in job.summary["notes"])
    assert any("0 = negative, 1 = positive" in note for note in job.summary["notes"])
    stored = {r.external_id: (r.source, r.rating, r.human_label) for r in Review.objects.all()}
    assert stored == {"a": ("festival", 4.5, "positive"), "b": ("festival", 1, "negative")}
    page = client.get("/imports/").content.decode()
    assert "films.csv: 3 rows, 2 imported" in page and "Succeeded" in page


def test_the_same_file_uploaded_twice_adds_nothing(django_capture_on_commit_callbacks):
    client = manager()

    with django_capture_on_commit_callbacks(execute=True):
        upload(client, "films.csv", FILMS, id_col="id")
        upload(client, "films.csv", FILMS, id_col="id")

    second = ImportJob.objects.order_by("id").last()
    assert second.summary["counts"]["already present"] == 2 and "imported" not in second.summary["counts"]
    assert Review.objects.count() == 2


@pytest.mark.parametrize(
    ("name", "content", "fields", "message"),
    [
        ("films.csv", FILMS, {"text_col": "body"}, "Column &#x27;body&#x27; (--text-col) is not in the file"),
        ("films.csv", b"title,stars\nNice,5\n", {}, "No text column found"),
        ("films.xlsx", FILMS, {}, "upload a .csv, .tsv, .jsonl, .ndjson or .json file"),
        ("films.csv", b"  \n", {}, "films.csv is empty"),
        ("films.csv", b"text\n\x81\x8d\x8f\x90\x9d\n", {}, "films.csv is not UTF-8"),
        ("films.csv", FILMS, {"label_map": "1=great"}, "Label map"),
        ("films.csv", FILMS, {"rating_scale": "7"}, "Select a valid choice"),
    ],
)
def test_an_upload_that_cannot_be_imported_is_refused_at_once_and_nothing_queued(name, content, fields, message):
    response = upload(manager(), name, content, **fields)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ImportJob.objects.exists() and not Review.objects.exists()


def test_a_file_larger_than_the_limit_is_refused_with_the_setting_named():
    with override_settings(IMPORT_MAX_UPLOAD_BYTES=50):
        response = upload(manager(), "films.csv", FILMS)

    assert response.status_code == 400
    assert "IMPORT_MAX_UPLOAD_BYTES" in response.content.decode()


def test_labellers_cannot_import_and_do_not_see_the_page_in_the_menu():
    client = Client()
    client.force_login(UserFactory(role=LABELLER))

    assert upload(client, "films.csv", FILMS).status_code == 403
    assert 'href="/imports/"' not in client.get("/explore/").content.decode()
    assert 'href="/imports/"' in manager().get("/explore/").content.decode()


def test_a_job_runs_once_even_when_its_task_is_delivered_twice(django_capture_on_commit_callbacks):
    user = UserFactory(role=MANAGER)
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_create(
            upload=SimpleUploadedFile("films.csv", FILMS), options=ImportOptions(id_col="id"), requested_by_id=user.pk
        )

    assert ImportJob.objects.get(pk=job.pk).status == "succeeded"
    assert import_job_run(job.pk) is None
    assert Review.objects.count() == 2


def test_a_job_whose_file_no_longer_fits_its_options_fails_with_the_reason():
    job = ImportJob.objects.create(file_name="films.csv", content=FILMS, options={"text_col": "body"})

    finished = import_job_run(job.pk)

    assert finished.status == "failed" and "Column 'body' (--text-col) is not in the file" in finished.error
    assert bytes(finished.content) == b"" and not Review.objects.exists()


@pytest.mark.parametrize(
    ("path", "size", "refused_by"),
    [
        ("/imports/", 5_000, None),
        ("/imports/", 20_000, "IMPORT_MAX_UPLOAD_BYTES"),
        ("/explore/", 5_000, "PAGE_MAX_BODY_BYTES"),
    ],
)
def test_the_imports_form_has_its_own_body_limit(transactional_db, settings, path, size, refused_by):
    from project.asgi import application

    settings.PAGE_MAX_BODY_BYTES, settings.IMPORT_MAX_UPLOAD_BYTES = 1_000, 10_000
    status, _, body, _ = asyncio.run(
        call_asgi(application, path=path, headers=[(b"content-length", str(size).encode())], body_parts=[b"x" * size])
    )

    if refused_by:
        assert status == 413 and refused_by in body.decode()
    else:
        assert status == 403  # through the guard, to Django (which wants a CSRF token)


def test_the_admin_lists_imports_read_only():
    ImportJob.objects.create(file_name="films.csv", content=FILMS, status="succeeded", rows_done=2)
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    listing = client.get("/admin/reviews/importjob/")
    job = ImportJob.objects.get()
    detail = client.get(f"/admin/reviews/importjob/{job.pk}/change/")

    assert listing.status_code == 200 and "films.csv" in listing.content.decode()
    assert detail.status_code == 200 and "A triumph" not in detail.content.decode()
    assert client.get("/admin/reviews/importjob/add/").status_code == 403


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("reviews.jsonl", b'{"review": "Lovely brunch", "stars": 5}\n{"review": "Cold coffee", "stars": 1}\n'),
        ("reviews.json", b'[{"review": "Lovely brunch", "stars": 5}, {"review": "Cold coffee", "stars": 1}]'),
        ("reviews.tsv", b"review\tstars\nLovely brunch\t5\nCold coffee\t1\n"),
    ],
)
def test_json_lines_json_arrays_and_tab_separated_files_import_alike(django_capture_on_commit_callbacks, name, content):
    with django_capture_on_commit_callbacks(execute=True):
        upload(manager(), name, content)

    assert ImportJob.objects.get().status == "succeeded"
    assert dict(Review.objects.values_list("text", "rating")) == {"Lovely brunch": 5, "Cold coffee": 1}
