"""Each business's themes next to the other businesses in the same scope."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from django.utils import timezone

from analytics.aspect_report import BASE_TABLE, COPIES, _report, aspect_report
from analytics.aspect_rollups import aspect_rollup_rebuild_all
from tests.analytics.mentions import last_30_days, mentions

pytestmark = pytest.mark.django_db


def three_locations():
    mentions("service and staff", "negative", 13, business="Roma")
    mentions("service and staff", "positive", 12, business="Roma")
    mentions("service and staff", "negative", 3, business="Blue Fin")
    mentions("service and staff", "positive", 7, business="Blue Fin")
    mentions("service and staff", "negative", 3, business="Spice Garden")
    mentions("service and staff", "positive", 7, business="Spice Garden")
    mentions("general", "negative", 9, business="Blue Fin")
    mentions("food quality", "positive", 4, business="Roma")
    mentions("service and staff", "negative", 50, business="Roma", days_ago=60)  # before the period


def theme(peers: list[dict], business: str, category: str) -> dict:
    entry = next(p for p in peers if p["business"] == business)
    return next(t for t in entry["themes"] if t["category"] == category)


def test_a_business_is_compared_with_the_other_businesses_of_the_scope():
    three_locations()

    peers = aspect_report(filters=last_30_days(business="Roma"))["peers"]

    assert [p["business"] for p in peers] == ["Roma"]
    service = theme(peers, "Roma", "service and staff")
    assert (service["mentions"], service["negative_share"]) == (25, 0.52)
    assert (service["peers_mentions"], service["peers_negative_share"]) == (20, 0.3)
    assert service["peers_positive_share"] == 0.7
    food = theme(peers, "Roma", "food quality")
    assert (food["peers_mentions"], food["peers_negative_share"]) == (0, None)
    assert all(t["category"] != "general" for p in peers for t in p["themes"])


def test_without_a_business_filter_every_business_is_listed_busiest_first():
    three_locations()

    assert aspect_report(filters=last_30_days())["peers"] == []  # by default only a filtered business

    peers = aspect_report(filters=last_30_days(), with_peers=True)["peers"]

    assert [p["business"] for p in peers] == ["Roma", "Blue Fin", "Spice Garden"]
    assert theme(peers, "Blue Fin", "service and staff")["peers_negative_share"] == round(16 / 35, 4)


def test_the_rollups_give_the_same_peers_as_the_aspect_rows():
    three_locations()
    mentions("service and staff", "negative", 4, business="Blue Fin", days_ago=45)
    aspect_rollup_rebuild_all()
    now = timezone.now()
    filters = last_30_days()
    filters = dataclasses.replace(filters, date_from=filters.date_from - dt.timedelta(days=30))

    rolled = _report(filters, now, COPIES, rollup=True, with_peers=True)["peers"]
    joined = _report(filters, now, BASE_TABLE, rollup=False, with_peers=True)["peers"]

    assert rolled == joined
    assert theme(rolled, "Blue Fin", "service and staff")["mentions"] == 14
    roma = dataclasses.replace(filters, business="Roma")
    assert _report(roma, now, COPIES, rollup=True)["peers"] == _report(roma, now, BASE_TABLE)["peers"]


def test_the_api_serves_the_peers(api, labeller_headers):
    three_locations()

    period = last_30_days()
    params = {"business": "Roma", "date_from": str(period.date_from), "date_to": str(period.date_to)}

    response = api.get("/api/analytics/constructive-feedback", params=params, headers=labeller_headers)

    assert response.status_code == 200, response.text
    [roma] = response.json()["peers"]
    assert roma["business_name"] == "Roma"
    service = next(t for t in roma["themes"] if t["category"] == "service and staff")
    assert (service["negative_share"], service["peers_negative_share"]) == (0.52, 0.3)


def test_the_api_lists_the_busiest_businesses_when_asked(api, labeller_headers):
    three_locations()
    period = last_30_days()
    params = {"date_from": str(period.date_from), "date_to": str(period.date_to)}

    url = "/api/analytics/constructive-feedback"
    plain = api.get(url, params=params, headers=labeller_headers).json()
    compared = api.get(url, params={**params, "compare_businesses": "true"}, headers=labeller_headers).json()

    assert plain["peers"] == []
    assert [p["business"] for p in compared["peers"]] == ["Roma", "Blue Fin", "Spice Garden"]
