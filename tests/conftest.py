from __future__ import annotations

import pytest
from django.conf import settings
from fastapi.testclient import TestClient

from project.celery import app as celery_app
from reviews.roles import LABELLER, MANAGER
from tests.factories import TokenFactory, UserFactory
from training.registry import forget_deployed_model


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    # Each test starts from whatever its own database says is deployed.
    forget_deployed_model()
    yield
    forget_deployed_model()


@pytest.fixture(autouse=True)
def _fast_sentiment_kind(settings):
    # Training tests build the fast kind: the accurate kind's encoding adds seconds to each; its own tests
    # (tests/training/test_finetuned_model.py) choose it.
    settings.SENTIMENT_MODEL_KIND = "fast"


@pytest.fixture(autouse=True)
def _celery_runs_inline():
    """In-process tests run tasks eagerly; the end-to-end tests use a real worker."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def broker():
    """Tasks go to the real broker (run by a live worker, if the test starts one), which starts and ends empty."""
    celery_app.conf.task_always_eager = False  # restored by _celery_runs_inline
    celery_app.control.purge()
    yield
    celery_app.control.purge()


@pytest.fixture
def api(transactional_db) -> TestClient:
    """An HTTP client for the whole ASGI app. Endpoints run on other threads, so the
    database is transactional (committed data, flushed after the test)."""
    from project.asgi import application

    return TestClient(application, follow_redirects=False)


def _auth(token) -> dict[str, str]:
    return {"Authorization": f"Token {token.key}"}


@pytest.fixture
def admin_headers(transactional_db) -> dict[str, str]:
    user = UserFactory(is_staff=True, is_superuser=True)
    return _auth(TokenFactory(user=user))


@pytest.fixture
def manager_headers(transactional_db) -> dict[str, str]:
    return _auth(TokenFactory(user=UserFactory(role=MANAGER)))


@pytest.fixture
def labeller_headers(transactional_db) -> dict[str, str]:
    return _auth(TokenFactory(user=UserFactory(role=LABELLER)))


@pytest.fixture
def no_role_headers(transactional_db) -> dict[str, str]:
    return _auth(TokenFactory(user=UserFactory()))


@pytest.fixture
def on_postgres() -> bool:
    return settings.IS_POSTGRES
