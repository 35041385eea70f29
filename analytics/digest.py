"""The weekly digest per business: what to fix, what to keep, what is new -- one message a manager reads on
Monday morning.

For the DIGEST_DAYS local days before the digest day (Monday to Sunday when sent on a Monday) at one
business, from the constructive-feedback report (analytics.aspect_report, so the same verdicts, quotes and
suggestion cleaning):

- top_issues: up to TOP_ISSUES issues (aspects significantly more criticised than praised) with quotes;
- top_strength: the best strength with a quote, or None;
- emerging_issues: themes whose negative share this week is higher than over the BEFORE_WEEKS weeks before,
  with at least EMERGING_MIN_MENTIONS mentions this week and a two-proportion z-test p < EMERGING_ALPHA;
- new_suggestions: this week's best suggestion groups that none of the weeks before asked (by normalised
  wording or by meaning, as the report groups them).

digest_send_weekly sends one digest per business with mentions in the week through the alert channels that
want the "weekly_digest" event (training.alerts); analytics.send_weekly_digests runs it on Mondays at 07:00
site time (training.schedules).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from analytics.aspect_report import EMERGING_ALPHA, aspect_report, two_proportion_p_value
from analytics.suggestions import normalise_suggestion
from analytics.taxonomy import is_general
from reviews.filters import ReviewFilters, day_start
from reviews.models import ReviewAspect
from reviews.selectors import business_label
from training.alerts import WEEKLY_DIGEST, alert_notify

DIGEST_DAYS = 7
BEFORE_WEEKS = 4
TOP_ISSUES = 3
NEW_SUGGESTIONS = 5
EMERGING_MIN_MENTIONS = 5


def digest_week(today: dt.date) -> tuple[dt.date, dt.date]:
    """The DIGEST_DAYS local days that end the day before `today`."""
    return today - dt.timedelta(days=DIGEST_DAYS), today - dt.timedelta(days=1)


def _report(business: str, first: dt.date, last: dt.date) -> dict:
    filters = ReviewFilters(business=business, date_from=first, date_to=last)
    return aspect_report(filters=filters, with_peers=False)


def _emerging(week: dict, before: dict) -> list[dict]:
    earlier = {aspect["category"]: aspect for aspect in before["aspects"]}
    found = []
    for aspect in week["aspects"]:
        previous = earlier.get(aspect["category"])
        if is_general(aspect["category"]) or previous is None or aspect["mentions"] < EMERGING_MIN_MENTIONS:
            continue
        if aspect["negative_share"] <= previous["negative_share"]:
            continue
        p_value = two_proportion_p_value(
            aspect["negative"], aspect["mentions"], previous["negative"], previous["mentions"]
        )
        if p_value is not None and p_value < EMERGING_ALPHA:
            found.append(
                {
                    "category": aspect["category"],
                    "mentions": aspect["mentions"],
                    "negative_share": aspect["negative_share"],
                    "previous_negative_share": previous["negative_share"],
                    "p_value": round(p_value, 6),
                }
            )
    return sorted(found, key=lambda item: (item["p_value"], item["category"]))


def _new_suggestions(week: dict, before: dict) -> list[dict]:
    asked_before = {
        normalise_suggestion(group["text"]) for theme in before["suggestions"] for group in theme["groups"]
    } | {normalise_suggestion(group["text"]) for group in before["top_suggestions"]}
    fresh = [group for group in week["top_suggestions"] if normalise_suggestion(group["text"]) not in asked_before]
    return fresh[:NEW_SUGGESTIONS]


def weekly_digest(*, business: str, today: dt.date | None = None) -> dict:
    """The digest of `business` for the week before `today` (default: today, site time)."""
    first, last = digest_week(today or timezone.localdate())
    week = _report(business, first, last)
    before = _report(business, first - dt.timedelta(weeks=BEFORE_WEEKS), first - dt.timedelta(days=1))
    strengths = week["strengths"]
    return {
        "business": business,
        "business_name": business_label(business),
        "date_from": first,
        "date_to": last,
        "aspect_reviews": week["aspect_reviews"],
        "top_issues": week["issues_to_fix"][:TOP_ISSUES],
        "top_strength": strengths[0] if strengths else None,
        "emerging_issues": _emerging(week, before),
        "new_suggestions": _new_suggestions(week, before),
    }


def digest_text(digest: dict) -> str:
    """The digest as plain text (the email body)."""

    def percent(share) -> str:
        return f"{share * 100:.0f}%"

    lines = [f"{digest['business_name']}: {digest['date_from']:%-d %b} – {digest['date_to']:%-d %b %Y}", ""]
    lines.append("Issues to fix:" if digest["top_issues"] else "Issues to fix: none stood out this week.")
    for issue in digest["top_issues"]:
        lines.append(f"- {issue['category']}: {percent(issue['negative_share'])} negative of {issue['mentions']}")
        lines.extend(f'    "{quote["sentence"]}"' for quote in issue["quotes"])
    strength = digest["top_strength"]
    if strength:
        lines += ["", f"Strength to keep: {strength['category']} ({percent(strength['positive_share'])} positive)"]
        lines.extend(f'    "{quote["sentence"]}"' for quote in strength["quotes"][:1])
    if digest["emerging_issues"]:
        lines += ["", "Emerging issues (vs the 4 weeks before):"]
        for item in digest["emerging_issues"]:
            now, before = percent(item["negative_share"]), percent(item["previous_negative_share"])
            lines.append(f"- {item['category']}: {now} negative, was {before}")
    if digest["new_suggestions"]:
        lines += ["", "New suggestions:"]
        lines.extend(
            f"- {item['text']} ({item['reviews']} review{'s' if item['reviews'] != 1 else ''})"
            for item in digest["new_suggestions"]
        )
    return "\n".join(lines)


def _jsonable(value):
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def digest_businesses(today: dt.date) -> list[str]:
    """Businesses with aspect mentions in the week before `today`."""
    first, last = digest_week(today)
    rows = ReviewAspect.objects.filter(
        is_suggestion__in=[False, True],
        review_effective_at__gte=day_start(first),
        review_effective_at__lt=day_start(last + dt.timedelta(days=1)),
    ).exclude(review_business="")
    return sorted(rows.order_by().values_list("review_business", flat=True).distinct())


def digest_send_weekly(*, today: dt.date | None = None) -> int:
    """Queue one weekly_digest alert per business with mentions last week; the number of digests."""
    today = today or timezone.localdate()
    sent = 0
    for business in digest_businesses(today):
        digest = weekly_digest(business=business, today=today)
        subject = f"Weekly digest: {digest['business_name']}, {digest['date_from']:%-d %b} – {digest['date_to']:%-d %b}"
        alert_notify(
            event=WEEKLY_DIGEST, subject=subject, payload={"text": digest_text(digest), "digest": _jsonable(digest)}
        )
        sent += 1
    return sent
