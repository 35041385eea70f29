"""Request size limits: the ASGI body guard (project/bodylimit.py) and the per-item limits of the schemas."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.conf import settings as django_settings

from project.bodylimit import BodySizeLimit
from reviews.models import Review


def chunks(total: int, size: int = 64 * 1024):
    """A body without Content-Length: httpx sends it chunked."""
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b" " * part


async def call_asgi(app, *, path: str, headers: list[tuple[bytes, bytes]], body_parts: list[bytes]):
    """Drive an ASGI app by hand; record how much of the body it asked for."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "state": {},
    }
    parts = list(body_parts)
    received = []
    sent = []

    async def receive():
        if parts:
            part = parts.pop(0)
            received.append(part)
            return {"type": "http.request", "body": part, "more_body": bool(parts)}
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body, received


class TestTheApiBodyLimit:
    def test_a_content_length_over_the_limit_is_refused_before_the_body_is_read(self, transactional_db, settings):
        from project.asgi import application

        settings.API_MAX_BODY_BYTES = 1000
        status, headers, body, received = asyncio.run(
            call_asgi(
                application,
                path="/api/reviews/bulk",
                headers=[(b"content-type", b"application/json"), (b"content-length", b"5000")],
                body_parts=[b"x" * 5000],
            )
        )

        assert status == 413
        assert received == []
        assert headers[b"content-type"] == b"application/json"
        assert json.loads(body)["detail"] == (
            "The request body is larger than the limit of 1,000 bytes (API_MAX_BODY_BYTES); "
            "send fewer or shorter items per request"
        )

    def test_it_answers_413_without_a_token_too(self, api, settings):
        settings.API_MAX_BODY_BYTES = 1000

        response = api.post("/api/reviews/", content=b"x" * 1001, headers={"Content-Type": "application/json"})

        assert response.status_code == 413

    def test_a_chunked_body_is_cut_when_it_goes_over(self, api, settings, manager_headers):
        settings.API_MAX_BODY_BYTES = 100_000

        response = api.post(
            "/api/reviews/bulk",
            content=chunks(300_000),
            headers={**manager_headers, "Content-Type": "application/json"},
        )

        assert "content-length" not in response.request.headers
        assert response.status_code == 413
        assert "100,000 bytes (API_MAX_BODY_BYTES)" in response.json()["detail"]

    def test_a_chunked_body_read_by_hand_stops_at_the_first_chunk_over(self, transactional_db, settings):
        from project.asgi import application

        settings.API_MAX_BODY_BYTES = 1000
        status, _, body, received = asyncio.run(
            call_asgi(
                application,
                path="/api/reviews/bulk",
                headers=[(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
                body_parts=[b" " * 600, b" " * 600, b" " * 600, b" " * 600],
            )
        )

        assert status == 413
        assert len(received) == 2
        assert "API_MAX_BODY_BYTES" in json.loads(body)["detail"]

    def test_a_chunked_body_under_the_limit_goes_through(self, api, settings, manager_headers):
        settings.API_MAX_BODY_BYTES = 100_000
        payload = json.dumps({"reviews": [{"text": "Lovely place"}] * 10}).encode()

        response = api.post(
            "/api/reviews/bulk",
            content=iter([payload[:50], payload[50:]]),
            headers={**manager_headers, "Content-Type": "application/json"},
        )

        assert response.status_code == 200
        assert response.json()["created"] == 10

    def test_the_default_fits_a_bulk_of_1000_reviews_and_a_predict_of_1000_texts(self, api, manager_headers):
        reviews = [{"text": f"Review {i}: " + "Lovely food, friendly staff. " * 30} for i in range(1000)]

        created = api.post("/api/reviews/bulk", json={"reviews": reviews}, headers=manager_headers)
        predicted = api.post(
            "/api/reviews/predict", json={"texts": [r["text"] for r in reviews]}, headers=manager_headers
        )

        assert created.status_code == 200
        assert created.json()["created"] == 1000
        assert predicted.status_code == 200
        assert len(predicted.json()["predictions"]) == 1000

    def test_the_default_fits_1000_reviews_of_9000_characters_with_every_field(self):
        review = {
            "text": "x" * 9000,
            "source": "s" * 50,
            "rating": 4.5,
            "business": "b" * 200,
            "author": "a" * 200,
            "external_id": "e" * 200,
            "review_date": "2026-11-20T12:00:00+01:00",
        }

        size = len(json.dumps({"reviews": [review] * 1000}).encode())

        assert size <= django_settings.API_MAX_BODY_BYTES

    def test_the_guard_passes_other_scopes_through(self):
        seen = []

        async def app(scope, receive, send):
            seen.append(scope["type"])

        asyncio.run(BodySizeLimit(app, setting="API_MAX_BODY_BYTES")({"type": "lifespan"}, None, None))

        assert seen == ["lifespan"]


class TestThePageBodyLimit:
    def test_django_checks_form_bodies_against_the_same_limit(self):
        assert django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE == django_settings.PAGE_MAX_BODY_BYTES

    def test_a_content_length_over_the_limit_is_refused_before_django_spools_it(self, transactional_db, settings):
        from project.asgi import application

        settings.PAGE_MAX_BODY_BYTES = 1000
        status, _, body, received = asyncio.run(
            call_asgi(
                application,
                path="/accounts/login/",
                headers=[(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", b"5000")],
                body_parts=[b"x" * 5000],
            )
        )

        assert status == 413
        assert received == []
        assert "PAGE_MAX_BODY_BYTES" in json.loads(body)["detail"]

    def test_a_chunked_page_body_is_cut_when_it_goes_over(self, api, settings):
        settings.PAGE_MAX_BODY_BYTES = 100_000

        response = api.post(
            "/accounts/login/", content=chunks(300_000), headers={"Content-Type": "application/x-www-form-urlencoded"}
        )

        assert response.status_code == 413

    def test_a_json_view_refuses_a_body_over_django_s_own_limit(self, transactional_db, settings):
        from django.test import Client

        from reviews.roles import LABELLER
        from tests.factories import UserFactory

        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
        client = Client()
        client.force_login(UserFactory(role=LABELLER))

        response = client.post("/labelling/label.json", data="x" * 2000, content_type="application/json")

        assert response.status_code == 400


class TestPerItemLimits:
    """The schemas' own limits answer 422 with a message that says the limit."""

    @pytest.fixture(autouse=True)
    def _fast_password_hashing(self, settings):
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

    def test_more_than_1000_reviews_in_a_bulk(self, api, manager_headers):
        response = api.post("/api/reviews/bulk", json={"reviews": [{"text": "x"}] * 1001}, headers=manager_headers)

        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"field": "body.reviews", "message": "List should have at most 1000 items after validation, not 1001"}
        ]

    def test_an_empty_bulk(self, api, manager_headers):
        response = api.post("/api/reviews/bulk", json={"reviews": []}, headers=manager_headers)

        assert response.status_code == 422
        assert "at least 1 item" in response.json()["detail"]

    def test_more_than_1000_texts_to_predict(self, api, labeller_headers):
        response = api.post("/api/reviews/predict", json={"texts": ["x"] * 1001}, headers=labeller_headers)

        assert response.status_code == 422
        assert "body.texts: List should have at most 1000 items" in response.json()["detail"]

    def test_a_text_over_20000_characters(self, api, manager_headers):
        response = api.post("/api/reviews/", json={"text": "x" * 20_001}, headers=manager_headers)

        assert response.status_code == 422
        assert response.json()["detail"] == "body.text: String should have at most 20000 characters"
        assert not Review.objects.exists()

    def test_a_text_over_20000_characters_to_predict(self, api, labeller_headers):
        response = api.post("/api/reviews/predict", json={"texts": ["ok", "x" * 20_001]}, headers=labeller_headers)

        assert response.status_code == 422
        assert "body.texts.1: String should have at most 20000 characters" in response.json()["detail"]

    def test_a_too_long_text_in_a_bulk_is_reported_on_its_item(self, api, manager_headers):
        response = api.post(
            "/api/reviews/bulk", json={"reviews": [{"text": "fine"}, {"text": "x" * 20_001}]}, headers=manager_headers
        )

        assert response.status_code == 200
        invalid = response.json()["results"][1]
        assert invalid["status"] == "invalid"
        assert invalid["errors"] == [{"field": "text", "message": "String should have at most 20000 characters"}]

    @pytest.mark.parametrize(("field", "limit"), [("business", 200), ("author", 200), ("source", 50)])
    def test_short_fields_have_their_limits(self, api, manager_headers, field, limit):
        response = api.post("/api/reviews/", json={"text": "ok", field: "x" * (limit + 1)}, headers=manager_headers)

        assert response.status_code == 422
        assert response.json()["detail"] == f"body.{field}: String should have at most {limit} characters"

    def test_page_size_is_capped(self, api, labeller_headers):
        response = api.get("/api/reviews/", params={"page_size": 501}, headers=labeller_headers)

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "query.page_size"
