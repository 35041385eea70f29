"""Password guessing on the staff login and the admin login is throttled (django-axes): after
LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that pair is refused with 429
until the cool-off passes or an administrator unlocks it."""

from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
LIMIT = 3


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=15)


def log_in(client: Client, username: str, password: str, *, address: str = "10.0.0.1", path="/accounts/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def guess_wrong(client: Client, username: str, times: int, *, address: str = "10.0.0.1", path="/accounts/login/"):
    for _ in range(times):
        response = log_in(client, username, "not the password", address=address, path=path)
        assert response.status_code in (200, 429)
    return response


def is_logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_wrong_passwords_below_the_limit_only_show_the_form_again():
    UserFactory(username="maria")
    client = Client()
    response = guess_wrong(client, "maria", LIMIT - 1)
    assert response.status_code == 200
    assert log_in(client, "maria", PASSWORD).status_code == 302
    assert is_logged_in(client)


def test_after_the_limit_even_the_right_password_is_refused_with_429():
    UserFactory(username="maria")
    client = Client()
    response = guess_wrong(client, "maria", LIMIT)
    assert response.status_code == 429
    assert "Too many login attempts" in response.content.decode()

    response = log_in(client, "maria", PASSWORD)
    assert response.status_code == 429
    assert not is_logged_in(client)


def test_the_lockout_holds_only_for_that_username_from_that_address():
    UserFactory(username="maria")
    UserFactory(username="jon")
    guess_wrong(Client(), "maria", LIMIT, address="10.0.0.1")

    assert log_in(Client(), "jon", PASSWORD, address="10.0.0.1").status_code == 302  # other user, same address
    other_office = Client()
    assert log_in(other_office, "maria", PASSWORD, address="10.0.0.2").status_code == 302  # same user, elsewhere
    assert is_logged_in(other_office)


def test_a_successful_login_resets_the_count():
    UserFactory(username="maria")
    client = Client()
    guess_wrong(client, "maria", LIMIT - 1)
    assert log_in(client, "maria", PASSWORD).status_code == 302
    client.logout()

    assert guess_wrong(client, "maria", LIMIT - 1).status_code == 200
    assert log_in(client, "maria", PASSWORD).status_code == 302


def test_the_lockout_ends_after_the_cool_off():
    UserFactory(username="maria")
    guess_wrong(Client(), "maria", LIMIT)
    assert log_in(Client(), "maria", PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
    assert log_in(Client(), "maria", PASSWORD).status_code == 302


def test_an_administrator_can_unlock_a_user_at_once():
    UserFactory(username="maria")
    guess_wrong(Client(), "maria", LIMIT)
    assert log_in(Client(), "maria", PASSWORD).status_code == 429

    call_command("axes_reset_username", "maria", stdout=None)
    assert log_in(Client(), "maria", PASSWORD).status_code == 302


def test_the_admin_login_is_throttled_too():
    UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    guess_wrong(client, "root", LIMIT, path="/admin/login/")
    response = log_in(client, "root", PASSWORD, path="/admin/login/")
    assert response.status_code == 429
    assert not is_logged_in(client)


def test_failed_attempts_are_recorded_for_the_admin_without_the_password():
    UserFactory(username="maria")
    guess_wrong(Client(), "maria", 2)
    attempt = AccessAttempt.objects.get(username="maria")
    assert attempt.failures_since_start == 2
    assert attempt.ip_address == "10.0.0.1"
    assert "not the password" not in attempt.post_data


def test_with_the_throttle_off_guessing_is_never_refused(settings):
    settings.AXES_ENABLED = False  # what LOGIN_FAILURE_LIMIT=0 sets (tests/project/test_settings.py)
    UserFactory(username="maria")
    client = Client()
    assert guess_wrong(client, "maria", LIMIT * 3).status_code == 200
    assert log_in(client, "maria", PASSWORD).status_code == 302


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
@pytest.mark.parametrize("username", ["u" * 300, "nul\x00name"])
def test_a_login_with_an_overlong_or_nul_username_is_an_ordinary_failure(path, username):
    response = log_in(Client(), username, "wrong", path=path)

    assert response.status_code == 200  # the form again, with its error, not a 500
    for attempt in AccessAttempt.objects.all():  # the form refuses a NUL before any attempt is recorded
        assert len(attempt.username) <= 255 and "\x00" not in attempt.username


def test_a_brute_force_run_gets_its_few_guesses_then_a_message_it_can_read(monkeypatch):
    from django.contrib.auth.models import User

    UserFactory(username="maria")
    checked = []
    check_password = User.check_password
    monkeypatch.setattr(User, "check_password", lambda user, raw: checked.append(raw) or check_password(user, raw))
    client = Client()

    answers = [log_in(client, "maria", f"guess-{n}").status_code for n in range(50)]

    assert answers[: LIMIT - 1] == [200] * (LIMIT - 1)  # the form again, with its error
    assert set(answers[LIMIT - 1 :]) == {429}
    assert len(checked) == LIMIT  # once locked, no password is even tried
    page = " ".join(log_in(client, "maria", PASSWORD).content.decode().split())
    assert "Too many login attempts" in page
    assert "paused for 15 minutes" in page  # how long to wait, in words
    assert "axes_reset_username maria" in page  # and who can unlock it at once
