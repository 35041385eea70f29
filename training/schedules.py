"""Periodic work, defined in code and synced into django-celery-beat by `manage.py sync_schedules`.

Crontab fields are stored in canonical form (minute="0", hour="2", Sunday = "0") in
the configured TIME_ZONE; django-celery-beat evaluates them in that zone, so 02:00
stays 02:00 local time across daylight-saving changes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    minute: str
    hour: str
    day_of_week: str = "*"
    description: str = ""


SCHEDULES = (
    Schedule(
        name="retrain-daily",
        task="training.retrain_daily",
        minute="0",
        hour="2",
        description="Retrain the sentiment model at 02:00 when enough new labels or rated reviews arrived",
    ),
    Schedule(
        name="evaluate-weekly",
        task="training.evaluate_weekly",
        minute="0",
        hour="3",
        day_of_week="0",
        description="Score the champion on the evaluation set and last week's labels, Sundays at 03:00",
    ),
    Schedule(
        name="monitor-hourly",
        task="analytics.monitor_hourly",
        minute="0",
        hour="*",
        description="Live accuracy and drift; may trigger retraining",
    ),
    Schedule(
        name="sweep-stuck-jobs",
        task="training.sweep_stuck_jobs",
        minute="*/5",
        hour="*",
        description="Fail training jobs whose worker died",
    ),
    Schedule(
        name="relay-outbox",
        task="outbox.relay",
        minute="*",
        hour="*",
        description="Send background tasks the broker could not take (the web processes also relay them)",
    ),
    Schedule(
        name="refresh-rollups",
        task="analytics.refresh_rollups",
        minute="*/5",
        hour="*",
        description="Rebuild today's and yesterday's dashboard rollup rows",
    ),
    Schedule(
        name="rebuild-rollups-nightly",
        task="analytics.rebuild_rollups",
        minute="30",
        hour="1",
        description="Rebuild the whole dashboard rollup at 01:30 (catches changes to older reviews)",
    ),
    Schedule(
        name="refresh-aspect-rollups",
        task="analytics.refresh_aspect_rollups",
        minute="*/5",
        hour="*",
        description="Rebuild today's, yesterday's and changed days' aspect rollup rows (feedback report)",
    ),
    Schedule(
        name="rebuild-aspect-rollups-nightly",
        task="analytics.rebuild_aspect_rollups",
        minute="45",
        hour="1",
        description="Rebuild the whole aspect rollup at 01:45 (a safety net for writes that marked no day)",
    ),
    Schedule(
        name="weekly-digest",
        task="analytics.send_weekly_digests",
        minute="0",
        hour="7",
        day_of_week="1",
        description="Each business's weekly insights digest (issues, strength, emerging issues, new suggestions), "
        "Mondays at 07:00, through the alert channels that want weekly_digest",
    ),
)
