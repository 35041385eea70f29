"""Security (issue 8): who may call what, login and CSRF on the staff pages, no open redirects,
escaped user input, and filters that cannot reach SQL.

The route tables are built from the apps themselves (FastAPI's routes, Django's URL patterns), so a
new endpoint or page without a rule here fails a test instead of going unchecked.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from fastapi.routing import iter_route_contexts
from rest_framework.authtoken.models import Token

from project.api import app
from reviews import votes
from reviews.aspects import StaffAspect, review_set_staff_aspects
from reviews.models import Review
from reviews.roles import LABELLER, MANAGER
from tests.factories import ModelVersionFactory, ReviewFactory, TokenFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- The API: every route x every role ------------------------------------------------------------

PUBLIC = "public"
# The role an endpoint needs: "labeller" endpoints are open to both roles, "manager" ones to managers only.
# Staff users and superusers may call everything (project.auth.Principal.has_perm).
API_RULES = {
    ("GET", "/api/health"): PUBLIC,
    ("GET", "/api/docs"): PUBLIC,
    ("GET", "/api/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/api/docs/assets/{version}/{name}"): PUBLIC,  # Swagger UI's files (project/apidocs.py)
    ("GET", "/api/openapi.json"): PUBLIC,
    ("POST", "/api/reviews/"): MANAGER,
    ("POST", "/api/reviews/bulk"): MANAGER,
    ("GET", "/api/reviews/"): LABELLER,
    ("POST", "/api/reviews/predict"): LABELLER,
    ("GET", "/api/reviews/export"): LABELLER,
    ("GET", "/api/reviews/{review_id}"): LABELLER,
    ("DELETE", "/api/reviews/{review_id}"): MANAGER,
    ("POST", "/api/reviews/{review_id}/label"): LABELLER,
    ("DELETE", "/api/reviews/{review_id}/label"): LABELLER,
    ("GET", "/api/reviews/{review_id}/aspects"): LABELLER,
    ("POST", "/api/reviews/{review_id}/aspects"): LABELLER,
    ("POST", "/api/reviews/{review_id}/suggestions"): LABELLER,
    ("POST", "/api/training/start"): MANAGER,
    ("GET", "/api/training/status/{job_id}"): LABELLER,
    ("POST", "/api/training/{job_id}/cancel"): MANAGER,
    ("GET", "/api/training/jobs"): LABELLER,
    ("GET", "/api/training/models"): LABELLER,
    ("POST", "/api/training/models/{version}/promote"): MANAGER,
    ("POST", "/api/training/rollback"): MANAGER,
    ("GET", "/api/training/readiness"): LABELLER,
    ("GET", "/api/analytics/dashboard"): LABELLER,
    ("GET", "/api/analytics/constructive-feedback"): LABELLER,
    ("GET", "/api/analytics/monitoring"): LABELLER,
}
# Routes of the FastAPI app outside /api, which project.asgi does not send to token auth.
OUTSIDE_API = {
    "/metrics",  # Prometheus, allowed by client address (its own tests)
}
ROLES = ("anonymous", "no role", "labeller", "manager", "staff", "superuser")


def api_routes() -> set[tuple[str, str]]:
    routes = set()
    for context in iter_route_contexts(app.routes):
        for method in getattr(context, "methods", None) or ():
            if method != "HEAD":
                routes.add((method, context.path))
    return routes


def expected_outcome(rule: str, role: str) -> str:
    if rule == PUBLIC:
        return "ok"
    if role == "anonymous":
        return "401"
    if role == "no role" or (role == "labeller" and rule == MANAGER):
        return "403"
    return "ok"


def outcome(response) -> str:
    if response.status_code in (401, 403) or response.status_code >= 500:
        return str(response.status_code)
    return "ok"  # anything else got past the permission check (404 and 422 included)


def test_every_api_route_has_a_rule():
    routes = {route for route in api_routes() if route[1] not in OUTSIDE_API}

    assert sorted(routes - set(API_RULES)) == [], "a new endpoint needs a rule in API_RULES"
    assert sorted(set(API_RULES) - routes) == [], "API_RULES names an endpoint that no longer exists"
    assert {path for _, path in api_routes() if not path.startswith("/api/")} <= OUTSIDE_API


def test_every_api_route_answers_each_role_as_its_rule_says(api):
    headers = {"anonymous": {}}
    for role, user in (
        ("no role", UserFactory()),
        ("labeller", UserFactory(role=LABELLER)),
        ("manager", UserFactory(role=MANAGER)),
        ("staff", UserFactory(is_staff=True)),
        ("superuser", UserFactory(is_superuser=True)),
    ):
        headers[role] = {"Authorization": f"Token {TokenFactory(user=user).key}"}

    expected, actual = {}, {}
    for (method, path), rule in sorted(API_RULES.items()):
        url = re.sub(r"\{[^}]+\}", "1", path)
        for role in ROLES:
            expected[method, path, role] = expected_outcome(rule, role)
            response = api.request(method, url, headers=headers[role])
            actual[method, path, role] = outcome(response)
            if response.status_code == 401:
                assert response.headers["WWW-Authenticate"] == "Token"

    assert {key: value for key, value in actual.items() if value != expected[key]} == {}


def test_the_role_table_matches_the_permission_each_endpoint_checks():
    """A rule of "labeller" must be a permission the labeller group holds, "manager" one it does not."""
    from reviews.roles import LABELLER_PERMISSIONS, MANAGER_PERMISSIONS

    def permissions(dependant, found):
        for sub in dependant.dependencies:
            name = getattr(sub.call, "__name__", "")
            if name.startswith("require_"):
                found.append(name)
            permissions(sub, found)
        return found

    wrong = []
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context.original_route, "dependant", None)
        for method in getattr(context, "methods", None) or ():
            rule = API_RULES.get((method, context.path))
            if rule in (None, PUBLIC) or dependant is None:
                continue
            needed = permissions(dependant, [])
            held = LABELLER_PERMISSIONS if rule == LABELLER else MANAGER_PERMISSIONS
            names = {"require_" + p.replace(".", "_") for p in held}
            labeller_names = {"require_" + p.replace(".", "_") for p in LABELLER_PERMISSIONS}
            if not needed or not set(needed) <= names or (rule == MANAGER and set(needed) <= labeller_names):
                wrong.append((method, context.path, rule, needed))

    assert wrong == []


# --- Staff pages: login, CSRF, redirects ----------------------------------------------------------

# Pages anyone may open, and why.
PUBLIC_PAGES = {
    "accounts/login/": "the login form",
    "accounts/logout/": "logging out (POST)",
    "accounts/password_reset/": "Django's password reset: always says an email was sent",
    "accounts/password_reset/done/": "Django's password reset",
    "accounts/reset/<uidb64>/<token>/": "Django's password reset: the signed link",
    "accounts/reset/done/": "Django's password reset",
    "favicon.ico": "a redirect to the static icon",
    "vendor/plotly-": "Plotly's JavaScript, served from the wheel",
}


def django_pages() -> list[str]:
    """Every URL pattern outside the admin (which has its own login), parameters set to 1."""

    def walk(patterns, prefix: str):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if str(pattern.pattern) != "admin/":
                    yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    return list(walk(get_resolver().url_patterns, ""))


def is_public(pattern: str) -> bool:
    return any(pattern == public or (public.endswith("-") and pattern.startswith(public)) for public in PUBLIC_PAGES)


def as_url(pattern: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?\w+>", "1", pattern)


STAFF_PAGES = [pattern for pattern in django_pages() if not is_public(pattern)]


def test_the_page_list_sees_the_staff_pages():
    assert {"", "labelling/", "explore/<int:review_id>/", "insights/", "monitoring/run/", "jobs/start/"} <= set(
        STAFF_PAGES
    )
    assert "accounts/password_change/" in STAFF_PAGES  # Django's, but it needs a login too


@pytest.mark.django_db
@pytest.mark.parametrize("pattern", STAFF_PAGES)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_staff_page_sends_anonymous_users_to_the_login(pattern, method):
    url = as_url(pattern)

    response = Client().generic(method, url)

    if pattern.endswith(".json"):
        assert response.status_code == 401, url
        assert response.json()["status"] == "login_required"
    else:
        assert response.status_code == 302, url
        assert response["Location"] == f"/accounts/login/?next={quote(url)}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", [as_url(pattern) for pattern in django_pages()] + ["/admin/", "/admin/reviews/review/", "/admin/logout/"]
)
def test_every_post_needs_the_csrf_token(url):
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post(url, {"confirm": "yes", "label": "negative", "scope": "all", "confirmed": "yes"})

    assert response.status_code == 403, url
    if url.endswith(".json"):  # the pages' JSON views answer JSON, which their scripts read
        assert response.json()["status"] == "csrf_failed", url
    else:
        assert b"CSRF verification failed" in response.content, url


@pytest.mark.django_db
def test_with_the_csrf_token_the_same_post_goes_through():
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(is_staff=True))
    client.get("/jobs/")

    response = client.post(
        "/models/rollback/", {"confirm": "yes", "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    )

    assert response.status_code == 302


@pytest.mark.django_db
def test_json_posts_need_the_csrf_header():
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(role=LABELLER))
    review = ReviewFactory()

    refused = client.post("/labelling/label.json", {"review_id": review.pk, "label": "positive"}, "application/json")
    client.get("/labelling/")
    accepted = client.post(
        "/labelling/label.json",
        {"review_id": review.pk, "label": "positive"},
        "application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )

    assert refused.status_code == 403
    assert accepted.status_code == 200


@pytest.mark.django_db
def test_the_login_form_carries_the_csrf_token():
    content = Client().get("/accounts/login/").content.decode()

    assert 'name="csrfmiddlewaretoken"' in content


OFF_SITE = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https:evil.example",
    " https://evil.example",
    "https://evil.example@testserver/",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
]


@pytest.mark.django_db
@pytest.mark.parametrize("target", OFF_SITE)
def test_logging_in_never_redirects_off_site(target):
    UserFactory(username="maria")
    client = Client()

    page = client.get("/accounts/login/", {"next": target}).content.decode()
    response = client.post(
        "/accounts/login/", {"username": "maria", "password": "correct horse battery", "next": target}
    )

    assert 'name="next" value=""' in page
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_logging_in_follows_a_next_on_this_site():
    UserFactory(username="maria")

    response = Client().post(
        "/accounts/login/", {"username": "maria", "password": "correct horse battery", "next": "/explore/?q=pasta"}
    )

    assert response["Location"] == "/explore/?q=pasta"


@pytest.mark.django_db
@pytest.mark.parametrize("target", OFF_SITE[:4])
def test_logging_out_never_redirects_off_site(target):
    client = Client()
    client.force_login(UserFactory())

    response = client.post("/accounts/logout/", {"next": target})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"


@pytest.mark.django_db
@pytest.mark.parametrize("target", OFF_SITE[:4])
def test_the_admin_login_never_redirects_off_site(target):
    UserFactory(username="root", is_staff=True, is_superuser=True)

    response = Client().post("/admin/login/", {"username": "root", "password": "correct horse battery", "next": target})

    assert response.status_code == 302
    assert response["Location"] == "/"  # LOGIN_REDIRECT_URL, not the target


# --- Escaping ----------------------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
PAYLOAD = f"{SCRIPT} {ATTRIBUTE} </script><svg onload=alert(1)>"


class PageChecker(HTMLParser):
    """Collects what a payload would need to run: event-handler attributes, executable scripts,
    javascript: URLs; and the JSON blocks (json_script) to check they still parse."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.json_blocks: list[str] = []
        self._script: dict | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on") and "alert" in (value or ""):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={value!r}>")
        if tag in ("img", "svg") and any(name in ("onerror", "onload") for name, _ in attrs):
            self.problems.append(f"injected <{tag}>")
        if tag == "script":
            self._script, self._text = dict(attrs), []

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            text = "".join(self._text)
            if self._script.get("type") == "application/json":
                self.json_blocks.append(text)
            elif "alert(" in text:
                self.problems.append(f"script runs {text[:60]!r}")
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            self._text.append(data)


def check_page(content: str) -> tuple[list[str], list]:
    checker = PageChecker()
    checker.feed(content)
    problems = list(checker.problems)
    if PAYLOAD in content or SCRIPT in content or ATTRIBUTE in content:
        problems.append("the raw payload is in the page")
    blocks = []
    for text in checker.json_blocks:
        try:
            blocks.append(json.loads(text))
        except ValueError:
            problems.append(f"a JSON block no longer parses: {text[:80]!r}")
    return problems, blocks


def found_in(value, needle: str) -> bool:
    if isinstance(value, str):
        return needle in value
    if isinstance(value, dict):
        return any(found_in(item, needle) for item in value.values())
    if isinstance(value, list):
        return any(found_in(item, needle) for item in value)
    return False


@pytest.fixture
def hostile_reviews(settings):
    """Reviews whose text, business and author are the payload, shown on every page that shows reviews."""
    settings.LABELLING_DOUBLE_SHARE = 1.0
    when = timezone.now() - dt.timedelta(days=2)
    scores = {"negative": 0.6, "positive": 0.2, "neutral": 0.2}
    fields = {"business": PAYLOAD, "author": PAYLOAD, "review_date": when, "rating": 5, "source": "google"}
    first = ReviewFactory(
        text=f"Awful. {PAYLOAD} You should fix it.",
        predicted_label="negative",
        predicted_confidence=0.6,
        predicted_scores=scores,
        **fields,
    )
    second = ReviewFactory(
        text=f"Slow service {PAYLOAD}. Please hire more staff.",
        predicted_label="negative",
        predicted_confidence=0.6,
        predicted_scores=scores,
        **fields,
    )
    review_set_staff_aspects(review=first, aspects=[StaffAspect("service", "negative", f"Awful. {PAYLOAD}")])
    review_set_staff_aspects(review=second, aspects=[StaffAspect(PAYLOAD[:50], "negative", PAYLOAD)])
    ana, ben = UserFactory(role=LABELLER), UserFactory(role=LABELLER)
    votes.review_vote(review_id=second.pk, label="positive", user_id=ana.pk)
    votes.review_vote(review_id=second.pk, label="negative", user_id=ben.pk)
    ModelVersionFactory()
    return first, second


@pytest.mark.django_db
def test_review_text_business_and_author_are_escaped_on_every_page(hostile_reviews):
    first, second = hostile_reviews
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    today = timezone.localdate()
    period = {"date_from": (today - dt.timedelta(days=29)).isoformat(), "date_to": today.isoformat()}
    pages = [
        "/",
        f"/?{urlencode({'business': PAYLOAD})}",
        "/labelling/",
        f"/labelling/?{urlencode({'business': PAYLOAD, 'source': PAYLOAD})}",
        "/labelling/bulk/",
        f"/labelling/bulk/?{urlencode({'business': PAYLOAD, 'q': PAYLOAD})}",
        "/labelling/agreement/",
        "/explore/",
        f"/explore/?{urlencode({'q': 'Awful', 'business': PAYLOAD, 'sort': PAYLOAD})}",
        f"/explore/{first.pk}/",
        f"/explore/{second.pk}/",
        f"/insights/?{urlencode(period)}",
        f"/insights/?{urlencode({**period, 'business': PAYLOAD, 'source': PAYLOAD})}",
        "/monitoring/",
        "/models/",
        "/jobs/",
        "/admin/reviews/review/",
        f"/admin/reviews/review/?{urlencode({'q': PAYLOAD})}",
        f"/admin/reviews/review/{first.pk}/change/",
        f"/accounts/login/?{urlencode({'next': PAYLOAD})}",
    ]

    problems, shown = {}, {}
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        content = response.content.decode()
        found, blocks = check_page(content)
        if found:
            problems[url] = found
        shown[url] = "&lt;script&gt;alert(1)&lt;/script&gt;" in content or found_in(blocks, PAYLOAD)

    assert problems == {}
    # The payload is there (escaped), so the check above looked at something.
    for url in (
        "/labelling/bulk/",
        "/labelling/agreement/",
        "/explore/",
        f"/explore/{first.pk}/",
        "/admin/reviews/review/",
    ):
        assert shown[url], url
    assert shown[f"/insights/?{urlencode(period)}"]


@pytest.mark.django_db
def test_the_chart_data_keeps_the_payload_as_data_inside_its_script_block(hostile_reviews):
    client = Client()
    client.force_login(UserFactory(is_staff=True))

    content = client.get("/").content.decode()

    problems, blocks = check_page(content)
    assert problems == []
    assert "</script><svg" not in content
    charts = next(block for block in blocks if "by_business" in block)
    assert PAYLOAD in charts["by_business"]["names"]  # a JSON string, not markup
    assert content.count("<script") == content.count("</script>")


@pytest.mark.django_db
def test_the_bulk_confirmation_escapes_the_filter_it_repeats(hostile_reviews):
    client = Client()
    client.force_login(UserFactory(is_staff=True))

    response = client.post("/labelling/bulk/", {"business": PAYLOAD, "q": PAYLOAD, "label": "negative", "scope": "all"})

    assert response.status_code == 200
    problems, _ = check_page(response.content.decode())
    assert problems == []


@pytest.mark.django_db
def test_the_json_views_send_the_payload_as_json_for_text_content(hostile_reviews):
    client = Client()
    client.force_login(UserFactory(role=LABELLER))

    response = client.get("/labelling/next.json?count=5")

    assert response["Content-Type"] == "application/json"
    assert any(item["business"] == PAYLOAD for item in response.json()["items"])


def test_the_page_scripts_never_write_markup():
    """Review text reaches the DOM only as text: no HTML sinks in our scripts."""
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(")

    assert [path.name for path in (ROOT / "static").glob("*.js") if sinks.search(path.read_text())] == []


def test_chart_labels_from_reviews_are_escaped_for_plotly():
    """Plotly renders a subset of HTML in labels (<a href>, <span style>, ...): text from reviews
    (business, source, theme words, aspect categories) goes through plotlyText first."""
    for name in ("charts.js", "insights.js"):
        script = (ROOT / "static" / name).read_text()
        assert "const plotlyText = " in script, name
    charts = (ROOT / "static" / "charts.js").read_text()
    assert "data.names.map(plotlyText)" in charts
    assert "themes.terms.map(plotlyText)" in charts
    assert "data.categories.map(plotlyText)" in (ROOT / "static" / "insights.js").read_text()


# --- Filters never reach SQL -------------------------------------------------------------------------

SQLISH = ["' OR 1=1 --", "'; DROP TABLE reviews_review; --", "1) OR (1=1", '" OR ""="', "%' OR '%'='", "\\", "%_%"]


@pytest.fixture
def stored(transactional_db):
    ReviewFactory(business="Blue Fin", source="google", text="Lovely fish")
    ReviewFactory(business="' OR 1=1 --", source="yelp", text="Odd name, good food")
    return Review.objects.count()


@pytest.mark.parametrize("payload", SQLISH)
@pytest.mark.parametrize("parameter", ["business", "source", "q"])
def test_api_text_filters_are_literal_values(api, labeller_headers, stored, parameter, payload):
    response = api.get("/api/reviews/", params={parameter: payload}, headers=labeller_headers)

    assert response.status_code == 200
    # Only the review whose business is literally "' OR 1=1 --" matches (q also searches business).
    matches = payload == "' OR 1=1 --" and parameter in ("business", "q")
    assert response.json()["total"] == (1 if matches else 0)
    assert Review.objects.count() == stored


@pytest.mark.parametrize(
    ("parameter", "payload"),
    [
        ("ordering", "text; DROP TABLE reviews_review"),
        ("ordering", "human_labelled_by__password"),
        ("ordering", "-id, (SELECT 1)"),
        ("predicted_label", "positive' OR 'a'='a"),
        ("labelled", "1 OR 1=1"),
        ("rating_min", "1 OR 1=1"),
        ("rating_min", "NaN"),
        ("rating_max", "Infinity"),
        ("confidence_min", "0; SELECT 1"),
        ("date_from", "2026-01-01' OR '1'='1"),
        ("date_to", "now()"),
        ("page", "1; SELECT 1"),
        ("page_size", "50 UNION SELECT password FROM auth_user"),
        ("business", "x" * 201),
    ],
)
def test_api_typed_filters_refuse_anything_else_with_422(api, labeller_headers, stored, parameter, payload):
    response = api.get("/api/reviews/", params={parameter: payload}, headers=labeller_headers)

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == f"query.{parameter}"


@pytest.mark.parametrize(
    "path",
    [
        "/api/reviews/export",
        "/api/analytics/dashboard",
        "/api/analytics/constructive-feedback",
        "/api/training/jobs",
        "/api/training/models",
        "/api/analytics/monitoring",
    ],
)
def test_other_api_filters_answer_422_or_treat_sql_as_text(api, labeller_headers, stored, path):
    statuses = set()
    for payload in SQLISH + ["\x00", "NaN", "-1", "9" * 30]:
        for parameter in ("business", "source", "date_from", "date_to", "limit", "rating_min", "format", "trend_days"):
            response = api.get(path, params={parameter: payload}, headers=labeller_headers)
            statuses.add(response.status_code)

    assert statuses <= {200, 422}
    assert Review.objects.count() == stored


@pytest.mark.parametrize(
    "url",
    [
        "/explore/",
        "/explore/export.csv",
        "/labelling/",
        "/labelling/next.json",
        "/labelling/bulk/",
        "/",
        "/insights/",
        "/insights/themes.json",
        "/insights/export.csv",
    ],
)
def test_page_filters_never_fail_on_odd_input(stored, url):
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(is_staff=True))
    failures = []
    for payload in SQLISH + ["\x00", "x\x00y", "NaN", "Infinity", "-Infinity", "1e999999", "9" * 30, "abc"]:
        for parameter in (
            "q",
            "business",
            "source",
            "sort",
            "order",
            "page",
            "count",
            "exclude",
            "rating_min",
            "rating_max",
            "date_from",
            "date_to",
            "labelled",
            "predicted_label",
            "granularity",
            "period",
        ):
            response = client.get(url, {parameter: payload})
            status = response.status_code
            if response.streaming:  # a CSV export fails, if at all, while it streams
                try:
                    b"".join(response.streaming_content)
                except Exception as exc:
                    status = type(exc).__name__
            if status != 200 and not (isinstance(status, int) and status < 500):
                failures.append((parameter, payload, status))

    assert failures == []
    assert Review.objects.count() == stored


ODD_JSON = [
    {"review_id": "x", "label": "positive"},
    {"review_id": 10**30, "label": "positive"},
    {"review_id": [1], "label": ["positive"]},
    {"review_id": None, "label": None},
    {"want": "abc"},
    {"want": [1]},
    {"want": 1e309},
    {"exclude": 5},
    {"exclude": {"a": 1}},
    {"exclude": "1,2"},
    {"exclude": [10**30, "x", None, -1]},
    {"filters": "x"},
    {"filters": [1]},
    {"filters": {"source": 5, "business": ["x"], "date_from": 7, "order": {}, "predicted_label": []}},
    {"filters": {"source": "\x00", "business": "' OR 1=1 --"}},
    {"review_ids": "1,2"},
    {"review_ids": 7},
    [],
    None,
    "text",
]


@pytest.mark.parametrize(
    "url", ["/labelling/label.json", "/labelling/skip.json", "/labelling/undo.json", "/labelling/release.json"]
)
def test_the_labelling_json_views_never_fail_on_odd_bodies(stored, url):
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(role=LABELLER))
    bodies = [json.dumps(body) for body in ODD_JSON] + ["{not json", "\x00", ""]

    failures = [
        (body, response.status_code)
        for body in bodies
        if (response := client.post(url, body, content_type="application/json")).status_code >= 500
    ]

    assert failures == []


def test_the_staff_pages_look_a_literal_business_up_literally(stored):
    client = Client()
    client.force_login(UserFactory(is_staff=True))

    response = client.get("/explore/", {"business": "' OR 1=1 --"})

    assert response.context["page"].paginator.count == 1


# --- Tokens at rest ----------------------------------------------------------------------------------


def test_tokens_are_stored_as_issued_and_the_readme_says_so(transactional_db):
    """DRF keeps the key itself; the README must say it is a secret at rest and how to rotate it."""
    token = TokenFactory(user=UserFactory())

    assert Token.objects.filter(key=token.key).exists()
    readme = (ROOT / "README.md").read_text()
    assert "create_api_token <username> --rotate" in readme
    assert "secrets at rest" in readme


def test_removing_every_role_closes_the_api_at_once(api, manager_headers):
    assert api.get("/api/reviews/", headers=manager_headers).status_code == 200

    Group.objects.get(name=MANAGER).user_set.clear()

    assert api.get("/api/reviews/", headers=manager_headers).status_code == 403
