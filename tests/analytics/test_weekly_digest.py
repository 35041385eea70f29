"""The weekly digest per business: built by a service, sent through the alert channels on Mondays."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from analytics.digest import digest_send_weekly, digest_text, weekly_digest
from tests.analytics.mentions import mentions
from training.alerts import alert_deliver
from training.models import Alert, AlertChannel
from training.schedules import SCHEDULES

pytestmark = pytest.mark.django_db


def busy_week():
    mentions("service and staff", "negative", 8, days_ago=3, sentence=None)
    mentions("service and staff", "positive", 10, days_ago=15)
    mentions("food quality", "positive", 9, days_ago=2)
    mentions("general", "negative", 6, days_ago=2)
    mentions("menu and options", "neutral", 2, days_ago=2, suggestion=True, sentence="Add more vegan options please.")
    mentions("menu and options", "neutral", 1, days_ago=12, suggestion=True, sentence="Print the prices outside.")
    mentions("food quality", "negative", 5, days_ago=3, business="Elsewhere")


def test_the_digest_names_issues_a_strength_emerging_issues_and_new_suggestions():
    busy_week()

    digest = weekly_digest(business="Roma")

    assert (digest["date_from"], digest["date_to"]) == (
        timezone.localdate() - dt.timedelta(days=7),
        timezone.localdate() - dt.timedelta(days=1),
    )
    assert [issue["category"] for issue in digest["top_issues"]] == ["service and staff"]
    assert digest["top_issues"][0]["quotes"]
    assert digest["top_strength"]["category"] == "food quality"
    [emerging] = digest["emerging_issues"]
    assert (emerging["category"], emerging["negative_share"], emerging["previous_negative_share"]) == (
        "service and staff",
        1.0,
        0.0,
    )
    assert [s["text"] for s in digest["new_suggestions"]] == ["Add more vegan options please."]


def test_a_suggestion_asked_in_the_weeks_before_is_not_new():
    mentions("menu and options", "neutral", 1, days_ago=2, suggestion=True, sentence="Add more vegan options please.")
    mentions("menu and options", "neutral", 1, days_ago=12, suggestion=True, sentence="Add more vegan options!")

    assert weekly_digest(business="Roma")["new_suggestions"] == []


def test_the_digest_goes_to_the_channels_that_want_it_one_per_business(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    busy_week()
    AlertChannel.objects.create(name="Managers", kind="email", target="boss@example.com", events=["weekly_digest"])
    AlertChannel.objects.create(name="Ops", kind="email", target="ops@example.com", events=["job_failed"])

    sent = digest_send_weekly()

    assert sent == 2  # Roma and Elsewhere
    alerts = Alert.objects.filter(event="weekly_digest").order_by("subject")
    assert [a.channel.name for a in alerts] == ["Managers", "Managers"]
    roma = next(a for a in alerts if "Roma" in a.subject)
    assert roma.payload["digest"]["top_issues"][0]["category"] == "service and staff"
    assert alert_deliver(alert=roma).status == "sent"  # what the outbox's task does after commit
    [message] = mail.outbox
    body = message.body
    assert body == roma.payload["text"]
    assert "Issues to fix:" in body and "- service and staff: 100% negative of 8" in body
    assert "New suggestions:" in body and "Add more vegan options please." in body


def test_the_text_says_when_nothing_stood_out():
    digest = weekly_digest(business="Quiet Place")

    text = digest_text(digest)

    assert "Issues to fix: none stood out this week." in text


def test_the_digest_is_scheduled_on_mondays_at_seven():
    [schedule] = [s for s in SCHEDULES if s.name == "weekly-digest"]

    assert (schedule.task, schedule.minute, schedule.hour, schedule.day_of_week) == (
        "analytics.send_weekly_digests",
        "0",
        "7",
        "1",
    )


def test_the_insights_page_shows_the_digest_of_the_business_in_scope(client):
    from tests.factories import UserFactory

    busy_week()
    client.force_login(UserFactory(is_staff=True))
    today = timezone.localdate()

    response = client.get(
        "/insights/", {"business": "Roma", "date_from": str(today - dt.timedelta(days=29)), "date_to": str(today)}
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="digest"' in content and "Weekly digest" in content
    assert response.context["digest"]["top_strength"]["category"] == "food quality"
    assert 'id="peers"' in content and 'id="top-suggestions"' in content
