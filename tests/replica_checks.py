"""Checks of the read replica, run by tests/project/test_replica.py in a pytest of their own with
DATABASE_REPLICA_URL set (not collected by the main run: they need the `replica` alias from settings).

The test runner makes `replica` a mirror of the test database (TEST: {"MIRROR": "default"}) with a
connection of its own, so each query can be traced to the alias that ran it."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.db import connections, router, transaction
from django.test.utils import CaptureQueriesContext

from analytics import charts, selectors
from project import db_router
from project.db_router import REPLICA, read_alias, replica_reads
from reviews.filters import ReviewFilters as ScopeFilters
from reviews.models import Review
from tests.factories import TokenFactory, UserFactory

pytestmark = [
    pytest.mark.skipif(REPLICA not in settings.DATABASES, reason="needs DATABASE_REPLICA_URL"),
    pytest.mark.django_db(transaction=True, databases=["default", REPLICA]),
]


@pytest.fixture(scope="module", autouse=True)
def _close_replica_pool(django_db_blocker):
    """The replica alias has a pool of its own; the test database can only be dropped once it is closed."""
    yield
    if REPLICA not in settings.DATABASES:
        return
    with django_db_blocker.unblock():
        connections[REPLICA].close_pool()


@pytest.fixture
def routed(monkeypatch) -> list[tuple[str, str]]:
    """Every read decision of the router, from any thread: (model, alias)."""
    decisions: list[tuple[str, str]] = []
    lock = threading.Lock()
    original = db_router.ReplicaRouter.db_for_read

    def spy(self, model, **hints):
        alias = original(self, model, **hints) or "default"
        with lock:
            decisions.append((model._meta.label if model is not None else "-", alias))
        return alias

    monkeypatch.setattr(db_router.ReplicaRouter, "db_for_read", spy)
    return decisions


def make_reviews(n: int = 3) -> None:
    Review.objects.bulk_create(
        [
            Review(text=f"Review {i}: lovely food", source="google", rating=4, predicted_label="positive")
            for i in range(n)
        ]
    )


def test_the_replica_mirrors_the_test_database_on_a_connection_of_its_own():
    assert connections[REPLICA].settings_dict["NAME"] == connections["default"].settings_dict["NAME"]
    assert connections[REPLICA] is not connections["default"]


def test_analytics_selectors_read_from_the_replica_and_writes_go_to_default():
    make_reviews()
    replica = connections[REPLICA]
    with CaptureQueriesContext(connections["default"]) as on_default, CaptureQueriesContext(replica) as on_replica:
        data = selectors.dashboard(filters=ScopeFilters())
        chart = charts.distribution(ScopeFilters())
    assert data["total_reviews"] == 3
    assert chart is not None
    assert on_replica.captured_queries, "the analytics selectors ran no query on the replica"
    assert not on_default.captured_queries, [q["sql"] for q in on_default.captured_queries]

    with CaptureQueriesContext(connections["default"]) as on_default, CaptureQueriesContext(replica) as on_replica:
        with replica_reads():
            assert router.db_for_read(Review) == REPLICA
            assert router.db_for_write(Review) == "default"
            Review.objects.create(text="Written inside an analytics block", source="api")
    assert any(q["sql"].startswith("INSERT") for q in on_default.captured_queries)
    assert not any("INSERT" in q["sql"] for q in on_replica.captured_queries)


def test_reads_outside_analytics_stay_on_default():
    make_reviews(1)
    replica = connections[REPLICA]
    with CaptureQueriesContext(connections["default"]) as on_default, CaptureQueriesContext(replica) as on_replica:
        assert Review.objects.count() == 1
    assert router.db_for_read(Review) == "default"
    assert on_default.captured_queries and not on_replica.captured_queries


def test_reads_inside_a_transaction_on_default_stay_on_default():
    with replica_reads(), transaction.atomic():
        Review.objects.create(text="Not committed yet", source="api")
        assert router.db_for_read(Review) == "default"
        assert read_alias() == "default"
        assert Review.objects.filter(source="api").count() == 1  # the replica could not see it yet


def test_the_analytics_api_reads_from_the_replica_while_auth_and_predict_use_default(routed):
    from fastapi.testclient import TestClient

    from project.asgi import application

    headers = {"Authorization": f"Token {TokenFactory(user=UserFactory(is_superuser=True)).key}"}
    make_reviews()
    with TestClient(application) as api:
        routed.clear()
        response = api.get("/api/analytics/dashboard", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["total_reviews"] == 3
        aliases = dict(routed)
        assert aliases["reviews.Review"] == REPLICA
        assert aliases["authtoken.Token"] == "default"  # authentication is not an analytics read

        routed.clear()
        response = api.post("/api/reviews/predict", json={"text": "Great food"}, headers=headers)
        assert response.status_code == 200, response.text
        assert all(alias == "default" for _, alias in routed), routed
