"""The request-path cache (project/cache.py) is one backend per process, shared by the pool threads."""

from __future__ import annotations

import anyio
import pytest

from project import cache as safe_cache


async def _backends_seen_by_pool_threads(get_backend, calls: int = 5) -> set[int]:
    seen = set()
    for _ in range(calls):
        seen.add(await anyio.to_thread.run_sync(lambda: id(get_backend())))
    return seen


def test_every_pool_thread_gets_the_same_backend():
    assert len(anyio.run(_backends_seen_by_pool_threads, safe_cache.cache.backend)) == 1


@pytest.mark.django_db
def test_values_round_trip_and_a_settings_change_builds_a_new_backend(settings, tmp_path):
    safe_cache.cache_set("process-cache-test", "kept", 30)
    assert safe_cache.cache_get("process-cache-test") == "kept"
    before = safe_cache.cache.backend()

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
    }

    assert safe_cache.cache.backend() is not before
    assert safe_cache.cache_get("process-cache-test") is None  # a different store
