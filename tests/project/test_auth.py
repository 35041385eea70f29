from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from rest_framework.authtoken.models import Token

from project.api import app
from project.auth import resolve_token_sync
from reviews.roles import LABELLER, MANAGER
from tests.factories import ReviewFactory, TokenFactory, UserFactory

PUBLIC_PATHS = {"/api/health", "/api/docs", "/api/openapi.json", "/api/docs/oauth2-redirect"}


def protected_endpoints() -> list[tuple[str, str]]:
    """(method, path) of every API endpoint that needs a token, path parameters set to 1.

    FastAPI keeps included routers as lazy wrappers in `app.routes`; iter_route_contexts
    flattens them, so an endpoint added to any router is covered here without a list to edit.
    """
    endpoints = []
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute) or context.path in PUBLIC_PATHS:
            continue
        path = re.sub(r"\{[^}]+\}", "1", context.path)
        endpoints.extend((method, path) for method in sorted(context.methods))
    return endpoints


def key_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].split()[1]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Every role fixture creates a user; the default hasher costs half a second each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_the_endpoint_list_sees_the_endpoints_of_every_router():
    endpoints = protected_endpoints()

    assert ("POST", "/api/reviews/") in endpoints
    assert ("DELETE", "/api/reviews/1") in endpoints
    assert ("POST", "/api/training/start") in endpoints
    assert ("GET", "/api/analytics/dashboard") in endpoints
    assert not [path for _, path in endpoints if path in PUBLIC_PATHS]


class TestWithoutAValidToken:
    @pytest.mark.parametrize(
        "authorization",
        [
            None,
            "",
            "Token nope",
            "Token ",
            "Token",
            "Basic x",
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "nope",
            "Token " + "a" * 40,
            "Token " + "a" * 500,
        ],
    )
    def test_every_protected_endpoint_answers_401_with_a_json_detail_and_a_challenge(self, api, authorization):
        headers = {} if authorization is None else {"Authorization": authorization}
        wrong = []
        for method, path in protected_endpoints():
            response = api.request(method, path, headers=headers)
            is_json = response.headers.get("content-type") == "application/json"
            detail = response.json().get("detail") if is_json else None
            challenge = response.headers.get("WWW-Authenticate")
            if response.status_code != 401 or not (isinstance(detail, str) and detail) or challenge != "Token":
                wrong.append((method, path, response.status_code, challenge, response.text[:120]))

        assert wrong == []

    def test_the_detail_says_how_to_authenticate(self, api):
        missing = api.get("/api/reviews/").json()["detail"]
        malformed = api.get("/api/reviews/", headers={"Authorization": "Basic x"}).json()["detail"]
        unknown = api.get("/api/reviews/", headers={"Authorization": "Token nope"}).json()["detail"]

        assert "Authorization: Token <key>" in missing
        assert "Malformed" in malformed
        assert unknown == "Invalid token"

    def test_a_token_of_an_inactive_user_is_refused(self, api):
        token = TokenFactory(user=UserFactory(role=MANAGER, is_active=False))

        response = api.get("/api/reviews/", headers={"Authorization": f"Token {token.key}"})

        assert response.status_code == 401


class TestRoles:
    def test_a_user_without_a_role_is_refused_everywhere(self, api, no_role_headers):
        allowed = [
            (method, path, response.status_code)
            for method, path in protected_endpoints()
            if (response := api.request(method, path, headers=no_role_headers)).status_code != 403
        ]

        assert allowed == []

    def test_the_403_detail_names_the_missing_permission(self, api, labeller_headers):
        response = api.post("/api/training/start", json={}, headers=labeller_headers)

        assert response.status_code == 403
        assert "training.start_trainingjob" in response.json()["detail"]

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("POST", "/api/reviews/", {"text": "Lovely place"}),
            ("POST", "/api/reviews/bulk", {"reviews": [{"text": "Lovely place"}]}),
            ("DELETE", "/api/reviews/{id}", None),
            ("POST", "/api/training/start", {"min_samples": 10}),
        ],
    )
    def test_a_labeller_may_not_ingest_delete_or_train(self, api, labeller_headers, method, path, body):
        review = ReviewFactory()

        response = api.request(method, path.format(id=review.pk), json=body, headers=labeller_headers)

        assert response.status_code == 403

    def test_a_labeller_may_read_predict_label_export_and_follow_training(self, api, labeller_headers):
        review = ReviewFactory()
        calls = [
            ("GET", "/api/reviews/", None),
            ("GET", f"/api/reviews/{review.pk}", None),
            ("POST", "/api/reviews/predict", {"text": "Lovely place"}),
            ("POST", f"/api/reviews/{review.pk}/label", {"label": "positive"}),
            ("GET", "/api/reviews/export", None),
            ("GET", "/api/training/jobs", None),
            ("GET", "/api/analytics/dashboard", None),
        ]

        statuses = {
            path: api.request(method, path, json=body, headers=labeller_headers).status_code
            for method, path, body in calls
        }

        assert statuses == {path: 200 for _, path, _ in calls}

    def test_a_manager_may_create_reviews_and_start_training(self, api, manager_headers):
        created = api.post("/api/reviews/", json={"text": "Lovely place"}, headers=manager_headers)
        started = api.post("/api/training/start", json={"min_samples": 10}, headers=manager_headers)

        assert created.status_code == 201
        assert started.status_code == 202

    def test_a_superuser_may_call_every_endpoint(self, api, admin_headers):
        ReviewFactory()
        refused = [
            (method, path, response.status_code)
            for method, path in protected_endpoints()
            if (response := api.request(method, path, headers=admin_headers)).status_code in (401, 403)
            or response.status_code >= 500
        ]

        assert refused == []


class TestPublicEndpoints:
    def test_health_is_public_and_reports_every_dependency_ok(self, api):
        response = api.get("/api/health")

        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert {name: body["checks"][name] for name in ("database", "cache", "broker")} == {
            "database": "ok",
            "cache": "ok",
            "broker": "ok",
        }

    def test_health_with_the_cache_or_broker_down_is_degraded_but_serving(self, api, monkeypatch):
        import project.api

        def unreachable():
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

        monkeypatch.setattr(project.api, "_check_cache", unreachable)

        relaxed = api.get("/api/health")
        strict = api.get("/api/health", params={"strict": "true"})

        assert (relaxed.status_code, relaxed.json()["status"]) == (200, "degraded")
        assert relaxed.json()["checks"]["cache"].startswith("error: ConnectionError")
        assert (strict.status_code, strict.json()["status"]) == (503, "unavailable")

    def test_health_with_the_database_down_is_unavailable(self, api, monkeypatch):
        import project.api

        def unreachable():
            raise ConnectionError("connection refused")

        monkeypatch.setattr(project.api, "_check_database", unreachable)

        response = api.get("/api/health")

        assert (response.status_code, response.json()["status"]) == (503, "unavailable")

    @pytest.mark.parametrize("path", ["/api/docs", "/api/openapi.json"])
    def test_the_documentation_is_public(self, api, path):
        assert api.get(path).status_code == 200


class TestTokenCache:
    def test_a_repeated_token_check_does_not_query_the_database(self, transactional_db, django_assert_num_queries):
        token = TokenFactory(user=UserFactory(username="maria", role=LABELLER))

        first = resolve_token_sync(token.key)
        with django_assert_num_queries(0):
            second = resolve_token_sync(token.key)

        assert first is not None
        assert first.username == "maria"
        assert "reviews.label_review" in first.permissions
        assert second == first

    def test_an_unknown_key_resolves_to_nobody(self, transactional_db):
        assert resolve_token_sync("0" * 40) is None

    def test_a_deleted_token_stops_working_at_once(self, api, labeller_headers):
        assert api.get("/api/reviews/", headers=labeller_headers).status_code == 200

        Token.objects.get(key=key_of(labeller_headers)).delete()

        assert api.get("/api/reviews/", headers=labeller_headers).status_code == 401

    def test_deleting_the_user_stops_the_token_at_once(self, api, labeller_headers):
        assert api.get("/api/reviews/", headers=labeller_headers).status_code == 200

        Token.objects.get(key=key_of(labeller_headers)).user.delete()

        assert api.get("/api/reviews/", headers=labeller_headers).status_code == 401

    def test_deactivating_the_user_stops_the_token_at_once(self, api, labeller_headers):
        assert api.get("/api/reviews/", headers=labeller_headers).status_code == 200
        user = Token.objects.get(key=key_of(labeller_headers)).user

        user.is_active = False
        user.save()

        assert api.get("/api/reviews/", headers=labeller_headers).status_code == 401

    def test_removing_the_manager_role_takes_effect_at_once(self, api, manager_headers):
        user = Token.objects.get(key=key_of(manager_headers)).user
        assert api.post("/api/reviews/", json={"text": "Lovely"}, headers=manager_headers).status_code == 201

        user.groups.remove(Group.objects.get(name=MANAGER))

        assert api.post("/api/reviews/", json={"text": "Lovely"}, headers=manager_headers).status_code == 403
        assert api.get("/api/reviews/", headers=manager_headers).status_code == 403

    def test_removing_a_user_from_the_group_side_takes_effect_at_once(self, api, manager_headers):
        user = Token.objects.get(key=key_of(manager_headers)).user
        assert api.post("/api/reviews/", json={"text": "Lovely"}, headers=manager_headers).status_code == 201

        Group.objects.get(name=MANAGER).user_set.remove(user)

        assert api.post("/api/reviews/", json={"text": "Lovely"}, headers=manager_headers).status_code == 403

    def test_emptying_the_group_takes_effect_at_once(self, api, manager_headers):
        assert api.post("/api/reviews/", json={"text": "Lovely"}, headers=manager_headers).status_code == 201

        Group.objects.get(name=MANAGER).user_set.clear()

        assert api.post("/api/reviews/", json={"text": "Lovely"}, headers=manager_headers).status_code == 403

    def test_switching_a_manager_to_labeller_narrows_what_the_token_may_do(self, api, manager_headers):
        user = Token.objects.get(key=key_of(manager_headers)).user
        assert api.post("/api/reviews/", json={"text": "Lovely"}, headers=manager_headers).status_code == 201

        user.groups.set([Group.objects.get(name=LABELLER)])

        assert api.post("/api/reviews/", json={"text": "Lovely"}, headers=manager_headers).status_code == 403
        assert api.get("/api/reviews/", headers=manager_headers).status_code == 200

    def test_granting_a_role_takes_effect_at_once(self, api, no_role_headers):
        assert api.get("/api/reviews/", headers=no_role_headers).status_code == 403

        Token.objects.get(key=key_of(no_role_headers)).user.groups.add(Group.objects.get(name=LABELLER))

        assert api.get("/api/reviews/", headers=no_role_headers).status_code == 200


class TestCreateApiTokenCommand:
    def run(self, *args) -> str:
        out = StringIO()
        call_command("create_api_token", *args, stdout=out, stderr=StringIO())
        return out.getvalue().strip().splitlines()[-1]

    def test_it_prints_the_users_40_character_key_last(self, db):
        user = UserFactory(username="maria")

        key = self.run("maria")

        assert re.fullmatch(r"[0-9a-f]{40}", key)
        assert Token.objects.get(user=user).key == key

    def test_it_is_idempotent(self, db):
        UserFactory(username="maria")

        assert self.run("maria") == self.run("maria")
        assert Token.objects.count() == 1

    def test_rotate_replaces_the_key(self, db):
        user = UserFactory(username="maria")
        old = self.run("maria")

        new = self.run("maria", "--rotate")

        assert new != old
        assert list(Token.objects.filter(user=user).values_list("key", flat=True)) == [new]

    def test_a_rotated_key_stops_working_at_once(self, transactional_db):
        UserFactory(username="maria", role=LABELLER)
        old = self.run("maria")
        assert resolve_token_sync(old) is not None

        new = self.run("maria", "--rotate")

        assert resolve_token_sync(old) is None
        assert resolve_token_sync(new).username == "maria"

    def test_an_unknown_user_is_an_error(self, db):
        with pytest.raises(CommandError, match="nobody"):
            self.run("nobody")


@pytest.fixture(scope="module")
def schema() -> dict:
    from project.asgi import application

    response = TestClient(application).get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


class TestOpenApiDocument:
    def operations(self, schema: dict):
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                yield method.upper(), path, operation

    def test_every_protected_operation_documents_401_and_403(self, schema):
        undocumented = [
            (method, path)
            for method, path, operation in self.operations(schema)
            if path not in PUBLIC_PATHS and not {"401", "403"} <= set(operation["responses"])
        ]

        assert undocumented == []

    def test_every_endpoint_is_in_the_document(self, schema):
        documented = {(method, re.sub(r"\{[^}]+\}", "1", path)) for method, path, _ in self.operations(schema)}

        assert set(protected_endpoints()) <= documented

    def test_422_responses_use_the_validation_error_schema_with_errors(self, schema):
        components = schema["components"]["schemas"]
        wrong = []
        for method, path, operation in self.operations(schema):
            response = operation["responses"].get("422")
            if response is None:
                continue
            ref = response["content"]["application/json"]["schema"].get("$ref", "")
            if ref != "#/components/schemas/ValidationErrorOut":
                wrong.append((method, path, ref))

        assert wrong == []
        assert "errors" in components["ValidationErrorOut"]["required"]
        assert "HTTPValidationError" not in components
