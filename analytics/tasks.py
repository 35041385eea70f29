from __future__ import annotations

import datetime as dt

from celery import shared_task

from analytics.aspect_rollups import aspect_rollup_rebuild_all, aspect_rollup_refresh
from analytics.digest import digest_send_weekly
from analytics.rollups import rollup_rebuild_all, rollup_rebuild_marked, rollup_refresh


@shared_task(name="analytics.refresh_rollups", soft_time_limit=240, time_limit=270)
def refresh_rollups() -> str:
    """Rebuild today's and yesterday's rollup rows (cheap); a full rebuild if none exists yet."""
    return str(rollup_refresh().covered_until)


@shared_task(name="analytics.rebuild_marked_rollup_days", soft_time_limit=600, time_limit=660)
def rebuild_marked_rollup_days(days: list[str]) -> int:
    """Rebuild these days' months if they are still marked as changed (queued by the write that marked
    them, through the outbox, so the charts stop reading them live within seconds)."""
    return rollup_rebuild_marked(dt.date.fromisoformat(day) for day in days)


@shared_task(name="analytics.rebuild_rollups", soft_time_limit=1800, time_limit=1860)
def rebuild_rollups() -> str:
    """Rebuild the whole rollup: picks up relabelled, rescored and deleted reviews on older days."""
    return str(rollup_rebuild_all().covered_until)


@shared_task(name="analytics.refresh_aspect_rollups", soft_time_limit=240, time_limit=270)
def refresh_aspect_rollups() -> str:
    """Rebuild today's, yesterday's and every changed day's aspect rollup rows; a full rebuild if none exists yet."""
    return str(aspect_rollup_refresh().covered_until)


@shared_task(name="analytics.rebuild_aspect_rollups", soft_time_limit=1800, time_limit=1860)
def rebuild_aspect_rollups() -> str:
    """Rebuild the whole aspect rollup (a safety net: changed days are already marked and refreshed)."""
    return str(aspect_rollup_rebuild_all().covered_until)


@shared_task(name="analytics.send_weekly_digests", soft_time_limit=1800, time_limit=1860)
def send_weekly_digests() -> int:
    """Queue each business's weekly digest (analytics.digest) through the alert channels."""
    return digest_send_weekly()
