"""Business display names: reviews keep the source's business id, pages and the API show its name."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from reviews import businesses, selectors, services
from reviews.models import Business, Review
from reviews.roles import LABELLER, MANAGER
from reviews.schemas import ReviewIn
from tests.factories import ReviewFactory, UserFactory

YELP = (
    "review_id,business_id,business_name,text,stars\n"
    "r1,b-x1,Trattoria Roma,Great pasta and lovely staff,5\n"
    "r2,b-y2,Spice Garden,Too spicy for me,2\n"
    "r3,b-x1,,Nice terrace,4\n"
    "r4,b-z3,,No name for this one,3\n"
)


def import_file(path, *extra) -> str:
    out = StringIO()
    call_command(
        "import_reviews", str(path), "--id-col", "review_id", "--business-col", "business_id",
        "--business-name-col", "business_name", *extra, stdout=out, stderr=StringIO(),
    )  # fmt: skip
    return out.getvalue()


@pytest.fixture
def yelp(tmp_path):
    path = tmp_path / "yelp.csv"
    path.write_text(YELP)
    return path


def names() -> dict[str, str]:
    return dict(Business.objects.values_list("key", "name"))


def test_an_import_with_a_business_name_column_stores_the_names_and_the_api_returns_them(api, manager_headers, yelp):
    out = import_file(yelp)

    assert "4 imported" in out
    assert names() == {"b-x1": "Trattoria Roma", "b-y2": "Spice Garden"}
    assert set(Review.objects.values_list("business", flat=True)) == {"b-x1", "b-y2", "b-z3"}  # ids stay
    listed = api.get("/api/reviews/", params={"ordering": "id"}, headers=manager_headers).json()["results"]
    assert [(r["business"], r["business_name"]) for r in listed] == [
        ("b-x1", "Trattoria Roma"),
        ("b-y2", "Spice Garden"),
        ("b-x1", "Trattoria Roma"),
        ("b-z3", None),
    ]
    filtered = api.get("/api/reviews/", params={"business": "b-x1"}, headers=manager_headers).json()
    assert filtered["total"] == 2


@pytest.mark.django_db
def test_an_empty_name_cell_keeps_the_stored_name_and_the_last_name_wins(tmp_path, yelp):
    import_file(yelp)
    later = tmp_path / "later.csv"
    later.write_text(
        "review_id,business_id,business_name,text\n"
        "r5,b-x1,,Still lovely\n"
        "r6,b-y2,Spice Garden Deli,Renamed place\n"
        "r7,b-y2,  ,Blank name\n"
        "r8,b-z3,Blue Fin,Now with a name\n"
        "r9,b-z3,Blue Fin Bar,Renamed in the same file\n"
    )

    import_file(later, "--batch-size", "2")

    assert names() == {"b-x1": "Trattoria Roma", "b-y2": "Spice Garden Deli", "b-z3": "Blue Fin Bar"}


@pytest.mark.django_db
def test_a_business_name_column_without_a_business_column_is_refused(tmp_path):
    names_only = tmp_path / "names-only.csv"
    names_only.write_text("review_id,place_name,text\nr1,Trattoria Roma,Great pasta\n")
    with pytest.raises(CommandError, match="--business-col"):
        call_command("import_reviews", str(names_only), "--business-name-col", "place_name", stdout=StringIO())

    assert not Review.objects.exists() and not Business.objects.exists()


@pytest.mark.django_db
def test_a_business_id_column_found_by_its_name_takes_the_names_too(yelp):
    err = StringIO()
    call_command("import_reviews", str(yelp), "--business-name-col", "business_name", stdout=StringIO(), stderr=err)

    assert names() == {"b-x1": "Trattoria Roma", "b-y2": "Spice Garden"}
    assert "read the businesses from column 'business_id', found by name" in err.getvalue()


@pytest.mark.django_db
def test_the_imports_page_reads_a_business_name_column(django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = Client()
    client.force_login(UserFactory(role=MANAGER))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/imports/",
            {
                "file": SimpleUploadedFile("yelp.csv", YELP.encode()),
                "business_col": "business_id",
                "business_name_col": "business_name",
            },
        )

    assert response.status_code == 302
    assert names() == {"b-x1": "Trattoria Roma", "b-y2": "Spice Garden"}


def test_a_review_posted_with_a_business_name_stores_it_and_returns_it(api, manager_headers):
    body = {"text": "Lovely pasta.", "business": "b-x1", "business_name": "  Trattoria Roma  "}

    response = api.post("/api/reviews/", json=body, headers=manager_headers)

    assert response.status_code == 201
    assert (response.json()["business"], response.json()["business_name"]) == ("b-x1", "Trattoria Roma")
    assert names() == {"b-x1": "Trattoria Roma"}
    again = api.post("/api/reviews/", json={"text": "Still good.", "business": "b-x1"}, headers=manager_headers)
    assert again.json()["business_name"] == "Trattoria Roma"  # known from before, kept without a name
    unknown = api.post("/api/reviews/", json={"text": "Who?", "business": "b-q9"}, headers=manager_headers)
    assert unknown.json()["business_name"] is None
    single = api.get(f"/api/reviews/{again.json()['id']}", headers=manager_headers).json()
    assert single["business_name"] == "Trattoria Roma"


@pytest.mark.parametrize(
    ("business_name", "message"),
    [
        ("x" * 201, "at most 200 characters"),
        (42, "valid string"),
        (["Trattoria"], "valid string"),
    ],
)
def test_an_invalid_business_name_is_a_422_with_a_message(api, manager_headers, business_name, message):
    body = {"text": "Fine.", "business": "b-x1", "business_name": business_name}

    response = api.post("/api/reviews/", json=body, headers=manager_headers)

    assert response.status_code == 422
    assert "body.business_name" in [error["field"] for error in response.json()["errors"]]
    assert message in response.json()["detail"]
    assert not Review.objects.exists() and not Business.objects.exists()


def test_a_business_name_without_a_business_is_a_422_saying_so(api, manager_headers):
    response = api.post("/api/reviews/", json={"text": "Fine.", "business_name": "Roma"}, headers=manager_headers)

    assert response.status_code == 422
    assert "business_name needs business" in response.json()["detail"]


def test_the_bulk_endpoint_stores_the_last_name_of_each_business(api, manager_headers):
    reviews = [
        {"text": "Good.", "business": "b-x1", "business_name": "Roma"},
        {"text": "Better.", "business": "b-x1", "business_name": "Trattoria Roma"},
        {"text": "Plain.", "business": "b-x1", "business_name": ""},
        {"text": "Hot.", "business": "b-y2", "business_name": "Spice Garden"},
        {"text": "Bad.", "business": "b-y2", "business_name": "y" * 201},
    ]

    response = api.post("/api/reviews/bulk", json={"reviews": reviews}, headers=manager_headers)

    body = response.json()
    assert (body["created"], body["invalid"]) == (4, 1)
    assert body["results"][4]["errors"][0]["field"] == "business_name"
    assert names() == {"b-x1": "Trattoria Roma", "b-y2": "Spice Garden"}


@pytest.mark.django_db
def test_the_upsert_writes_only_names_that_changed():
    assert businesses.business_names_upsert(names={"b-x1": "Roma", "b-y2": "Garden", "b-z3": ""}) == 2
    assert businesses.business_names_upsert(names={"b-x1": "Roma", "b-y2": "Spice Garden"}) == 1
    assert names() == {"b-x1": "Roma", "b-y2": "Spice Garden"}


@pytest.mark.django_db
def test_the_selectors_fall_back_to_the_key():
    Business.objects.create(key="b-x1", name="Trattoria Roma")

    assert selectors.business_names(["b-x1", "b-q9"]) == {"b-x1": "Trattoria Roma", "b-q9": "b-q9"}
    assert selectors.business_label("b-x1") == "Trattoria Roma"
    assert selectors.business_label("b-q9") == "b-q9"
    assert selectors.business_label("") == ""


@pytest.mark.django_db
def test_the_admin_can_edit_a_name():
    business = Business.objects.create(key="b-x1", name="Roma")
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    listing = client.get("/admin/reviews/business/?q=roma")
    response = client.post(f"/admin/reviews/business/{business.pk}/change/", {"name": "Trattoria Roma"})

    assert listing.status_code == 200 and "b-x1" in listing.content.decode()
    assert response.status_code == 302
    business.refresh_from_db()
    assert (business.key, business.name) == ("b-x1", "Trattoria Roma")


@pytest.mark.django_db
def test_the_reviews_pages_show_the_name_while_the_filter_keeps_the_id():
    Business.objects.create(key="b-x1", name="Trattoria Roma")
    named = ReviewFactory(business="b-x1", text="Lovely pasta")
    ReviewFactory(business="b-q9", text="Unnamed place")
    client = Client()
    client.force_login(UserFactory(role=MANAGER))

    listing = client.get("/explore/").content.decode()
    filtered = client.get("/explore/", {"business": "b-x1"}).content.decode()
    page = client.get(f"/explore/{named.pk}/").content.decode()

    assert "Trattoria Roma" in listing and ">b-q9<" in listing
    assert '<option value="b-x1" label="Trattoria Roma">' in listing and '<option value="b-q9">' in listing
    assert "Lovely pasta" in filtered and "Unnamed place" not in filtered
    assert "Trattoria Roma" in page and "(b-x1)" in page


@pytest.mark.django_db
def test_the_labelling_queue_shows_the_name():
    Business.objects.create(key="b-x1", name="Trattoria Roma")
    for _ in range(2):
        services.review_create(data=ReviewIn(text="Lovely pasta", business="b-x1"))
    client = Client()
    client.force_login(UserFactory(role=LABELLER))

    page = client.get("/labelling/").content.decode()
    items = json.loads(client.get("/labelling/next.json", {"count": 2}).content)["items"]

    assert '<option value="b-x1" label="Trattoria Roma">' in page
    assert {(item["business"], item["business_name"]) for item in items} == {("b-x1", "Trattoria Roma")}


@pytest.mark.django_db
def test_creates_gathered_into_one_statement_store_one_name_per_business_and_answer_with_the_names(on_postgres):
    if not on_postgres:
        pytest.skip("the one-statement create is PostgreSQL's")
    from project.celery import app
    from reviews.api import _create_many

    app.conf.task_always_eager = False  # the one-statement path; restored by the autouse fixture in conftest
    Business.objects.create(key="b-y2", name="Spice Garden")
    items = [
        ReviewIn(text="Good.", business="b-x1", business_name="Roma"),
        ReviewIn(text="Better.", business="b-x1", business_name="Trattoria Roma"),
        ReviewIn(text="Hot.", business="b-y2"),
        ReviewIn(text="Who?", business="b-q9"),
        ReviewIn(text="Nowhere."),
    ]

    answers = _create_many(items)

    assert [(out.business, out.business_name, created) for out, created in answers] == [
        ("b-x1", "Trattoria Roma", True),
        ("b-x1", "Trattoria Roma", True),
        ("b-y2", "Spice Garden", True),
        ("b-q9", None, True),
        ("", None, True),
    ]
    assert names() == {"b-x1": "Trattoria Roma", "b-y2": "Spice Garden"}


@pytest.mark.django_db(transaction=True)
def test_a_backup_keeps_the_names(settings, tmp_path):
    from training.registry import forget_deployed_model

    settings.MODEL_ARTIFACT_DIR = tmp_path / "models"
    Business.objects.create(key="b-x1", name="Trattoria Roma")
    out = StringIO()
    call_command("backup", "--to", str(tmp_path / "backups"), stdout=out)
    call_command("flush", interactive=False, verbosity=0)
    forget_deployed_model()
    assert not Business.objects.exists()

    call_command("restore", out.getvalue().strip().splitlines()[-1], stdout=StringIO())

    assert names() == {"b-x1": "Trattoria Roma"}
