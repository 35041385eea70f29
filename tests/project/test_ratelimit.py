"""Per-token rate limiting (project/ratelimit.py): the limiter on its own, and through the API."""

from __future__ import annotations

import secrets
import threading

import pytest
from django.conf import settings as django_settings

from project import ratelimit
from project.ratelimit import (
    ALLOWED,
    FLUSH,
    DjangoCacheCountStore,
    RateLimiter,
    RedisCountStore,
    current_limiter,
    reset_limiter,
)
from tests.factories import TokenFactory, UserFactory

WINDOW = 60


class Clock:
    """A settable clock, starting 10 s into a window."""

    def __init__(self) -> None:
        self.now = 1_000_000 * WINDOW + 10.0

    def __call__(self) -> float:
        return self.now


class MemoryStore:
    def __init__(self) -> None:
        self.totals: dict[tuple[str, int], int] = {}
        self.calls = 0
        self.lock = threading.Lock()

    def add(self, key: str, window: int, count: int, ttl: int) -> int:
        with self.lock:
            self.calls += 1
            self.totals[key, window] = self.totals.get((key, window), 0) + count
            return self.totals[key, window]


class BrokenStore:
    calls = 0

    def add(self, key: str, window: int, count: int, ttl: int) -> int:
        self.calls += 1
        raise ConnectionError("no route to host")


def limiter(limit: int, store=None, clock=None) -> RateLimiter:
    return RateLimiter(limit=limit, window_seconds=WINDOW, store=store or MemoryStore(), clock=clock or Clock())


def key() -> str:
    return secrets.token_hex(8)


class TestTheLimiter:
    def test_the_request_after_the_limit_waits_for_the_end_of_the_window(self):
        clock = Clock()
        limited = limiter(5, clock=clock)
        token = key()

        verdicts = [limited.check(token) for _ in range(6)]

        assert verdicts[:5] == [ALLOWED] * 5
        assert verdicts[5] == 50  # 10 s into a 60 s window

    def test_retry_after_rounds_up_and_is_at_least_one_second(self):
        clock = Clock()
        limited = limiter(1, clock=clock)
        token = key()
        limited.check(token)

        clock.now += 49.2
        assert limited.check(token) == 1
        clock.now += 0.7
        assert limited.check(token) == 1

    def test_a_new_window_lets_the_token_through_again(self):
        clock = Clock()
        limited = limiter(3, clock=clock)
        token = key()
        for _ in range(3):
            limited.check(token)
        assert limited.check(token) != ALLOWED

        clock.now += 50

        assert [limited.check(token) for _ in range(3)] == [ALLOWED] * 3
        assert limited.check(token) == WINDOW

    def test_two_tokens_are_counted_apart(self):
        limited = limiter(2)
        first, second = key(), key()

        assert [limited.check(first) for _ in range(3)][2] != ALLOWED
        assert [limited.check(second) for _ in range(2)] == [ALLOWED, ALLOWED]

    def test_two_processes_share_the_count_through_the_store(self):
        store, clock = MemoryStore(), Clock()
        one, two = limiter(10, store, clock), limiter(10, store, clock)
        token = key()

        verdicts = [one.check(token) for _ in range(6)] + [two.check(token) for _ in range(4)]

        assert verdicts == [ALLOWED] * 10
        assert two.check(token) != ALLOWED
        assert one.check(token) != ALLOWED  # its own view said 6, the store says 11

    def test_a_large_limit_batches_its_store_round_trips(self):
        store, clock = MemoryStore(), Clock()
        limited = limiter(1_000_000, store, clock)
        token = key()

        for _ in range(5_000):
            assert limited.check(token) == ALLOWED
        assert store.calls == 1  # the first request of the window; then nothing for 100 ms

        clock.now += 0.1
        limited.check(token)
        assert store.calls == 2
        assert store.totals[token, int(clock.now // WINDOW)] == 5_001

    def test_a_batch_is_flushed_early_when_it_reaches_one_percent_of_the_limit(self):
        store = MemoryStore()
        limited = limiter(10_000, store)
        token = key()

        for _ in range(1 + 100 * 3):
            limited.check(token)

        assert store.calls == 4  # the first request, then every 100 requests (1 % of 10,000)

    def test_the_decision_counts_what_other_processes_flushed(self):
        store, clock = MemoryStore(), Clock()
        one, two = limiter(1_000, store, clock), limiter(1_000, store, clock)
        token = key()
        for _ in range(995):
            one.check(token)
        clock.now += 0.1
        one.check(token)  # flushes: the store holds 996

        verdicts = [two.check(token) for _ in range(5)]

        assert verdicts == [ALLOWED] * 4 + [verdicts[4]]
        assert verdicts[4] != ALLOWED

    def test_hit_asks_for_one_flush_at_a_time(self):
        limited = limiter(5)
        token = key()

        assert limited.hit(token) == FLUSH
        assert limited.hit(token) == ALLOWED  # a flush is under way: decide locally
        assert limited.flush(token) == ALLOWED
        assert limited.hit(token) == FLUSH

    def test_without_its_store_each_process_limits_alone_and_retries_later(self, caplog):
        store, clock = BrokenStore(), Clock()
        limited = limiter(3, store, clock)
        token = key()

        verdicts = [limited.check(token) for _ in range(4)]

        assert verdicts[:3] == [ALLOWED] * 3 and verdicts[3] != ALLOWED
        assert store.calls == 1
        assert "Rate limit store unavailable" in caplog.text
        clock.now += ratelimit.STORE_RETRY_SECONDS
        limited.check(token)
        assert store.calls == 1  # refused locally: nothing new to flush
        clock.now += WINDOW
        limited.check(token)
        assert store.calls == 2

    def test_a_limit_below_one_is_refused(self):
        with pytest.raises(ValueError):
            limiter(0)


class TestSharedStores:
    @pytest.mark.skipif(not django_settings.REDIS_URL, reason="needs REDIS_URL")
    def test_two_limiters_share_the_count_through_redis(self):
        prefix = "test-" + secrets.token_hex(4)
        clock = Clock()
        one = limiter(4, RedisCountStore(django_settings.REDIS_URL, prefix), clock)
        two = limiter(4, RedisCountStore(django_settings.REDIS_URL, prefix), clock)
        token = key()

        verdicts = [one.check(token), two.check(token), one.check(token), two.check(token)]

        assert verdicts == [ALLOWED] * 4
        assert two.check(token) != ALLOWED
        assert one.check(token) != ALLOWED
        name = f"{prefix}:ratelimit:{token}:{int(clock.now // WINDOW)}"
        assert 0 < one.store.client.ttl(name) <= WINDOW + 60

    def test_two_limiters_share_the_count_through_the_django_cache(self):
        clock = Clock()
        one, two = limiter(4, DjangoCacheCountStore(), clock), limiter(4, DjangoCacheCountStore(), clock)
        token = key()

        verdicts = [one.check(token), two.check(token), one.check(token), two.check(token)]

        assert verdicts == [ALLOWED] * 4
        assert two.check(token) != ALLOWED
        assert one.check(token) != ALLOWED

    def test_the_store_follows_the_configuration(self, settings):
        settings.REDIS_URL = ""
        assert isinstance(ratelimit.default_store(), DjangoCacheCountStore)
        settings.REDIS_URL = "redis://127.0.0.1:6379/12"
        assert isinstance(ratelimit.default_store(), RedisCountStore)


# --- Through the API ---------------------------------------------------------------------------


@pytest.fixture
def clock(settings):
    """A small limit, and the process's limiter on a clock the test moves."""
    settings.API_RATE_LIMIT = 3
    settings.API_RATE_LIMIT_WINDOW_SECONDS = WINDOW
    reset_limiter()
    fake = Clock()
    current_limiter().clock = fake
    yield fake
    reset_limiter()


def headers_for(**user_fields) -> dict[str, str]:
    from reviews.roles import LABELLER

    user_fields.setdefault("role", LABELLER)
    return {"Authorization": f"Token {TokenFactory(user=UserFactory(**user_fields)).key}"}


def statuses(api, headers, count: int) -> list[int]:
    return [api.get("/api/training/jobs", headers=headers).status_code for _ in range(count)]


class TestThroughTheApi:
    @pytest.fixture(autouse=True)
    def _fast_password_hashing(self, settings):
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

    def test_the_request_over_the_limit_is_a_429_with_retry_after(self, api, clock):
        headers = headers_for()

        assert statuses(api, headers, 3) == [200, 200, 200]
        response = api.get("/api/training/jobs", headers=headers)

        assert response.status_code == 429
        assert response.headers["Retry-After"] == "50"
        assert response.json()["detail"] == (
            "Rate limit exceeded: this token may make 3 requests per 60 seconds; retry in 50 seconds"
        )

    def test_every_endpoint_counts_against_the_same_token(self, api, clock):
        headers = headers_for()

        api.get("/api/reviews/", headers=headers)
        api.post("/api/reviews/predict", json={"text": "Lovely"}, headers=headers)
        api.get("/api/analytics/dashboard", headers=headers)

        assert api.post("/api/reviews/predict", json={"text": "Lovely"}, headers=headers).status_code == 429

    def test_the_next_window_lets_the_token_through(self, api, clock):
        headers = headers_for()
        assert statuses(api, headers, 4)[-1] == 429

        clock.now += 50

        assert statuses(api, headers, 4) == [200, 200, 200, 429]

    def test_two_tokens_are_limited_apart(self, api, clock):
        first, second = headers_for(), headers_for()

        assert statuses(api, first, 4)[-1] == 429
        assert statuses(api, second, 3) == [200, 200, 200]

    @pytest.mark.parametrize("user_fields", [{"is_staff": True, "role": None}, {"is_superuser": True, "role": None}])
    def test_staff_and_superuser_tokens_are_not_limited_by_default(self, api, clock, user_fields):
        assert set(statuses(api, headers_for(**user_fields), 6)) == {200}

    @pytest.mark.parametrize("user_fields", [{"is_staff": True, "role": None}, {"is_superuser": True, "role": None}])
    def test_staff_tokens_are_limited_with_api_rate_limit_staff(self, api, clock, settings, user_fields):
        settings.API_RATE_LIMIT_STAFF = True

        assert statuses(api, headers_for(**user_fields), 4) == [200, 200, 200, 429]

    def test_a_limit_of_zero_turns_limiting_off(self, api, settings):
        settings.API_RATE_LIMIT = 0
        reset_limiter()

        assert current_limiter() is None
        assert set(statuses(api, headers_for(), 5)) == {200}

    def test_invalid_tokens_get_401_not_429(self, api, clock):
        headers = {"Authorization": "Token " + "0" * 40}

        assert set(statuses(api, headers, 5)) == {401}

    def test_the_public_endpoints_are_not_limited(self, api, clock):
        assert {api.get("/api/openapi.json").status_code for _ in range(5)} == {200}

    def test_the_default_is_far_above_the_benchmark_rate(self):
        # bench/api.py drives ~1,500 req/s through one token on the 2-core machine.
        assert django_settings.API_RATE_LIMIT / django_settings.API_RATE_LIMIT_WINDOW_SECONDS >= 3 * 1_500
        assert django_settings.API_RATE_LIMIT_STAFF is False

    def test_429_is_documented_with_retry_after_on_every_protected_operation(self, api):
        schema = api.get("/api/openapi.json").json()
        missing = [
            (method, path)
            for path, operations in schema["paths"].items()
            for method, operation in operations.items()
            if path.startswith("/api/")
            and path != "/api/health"
            and "Retry-After" not in operation["responses"].get("429", {}).get("headers", {})
        ]

        assert missing == []
