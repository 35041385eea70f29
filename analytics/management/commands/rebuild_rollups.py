"""Rebuild the dashboard rollups (analytics.rollups) and the aspect rollups (analytics.aspect_rollups):
everything, or only some days."""

from __future__ import annotations

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError

from analytics.aspect_rollups import aspect_rollup_rebuild_all, aspect_rollup_rebuild_days
from analytics.models import (
    DailyAspectRollup,
    DailyReviewRollup,
    MonthlyBusinessAspectRollup,
    MonthlyBusinessRollup,
)
from analytics.rollups import rollup_rebuild_all, rollup_rebuild_days


class Command(BaseCommand):
    help = (
        "Rebuild the dashboard and aspect rollups from the reviews and aspect tables "
        "(all days, or --day YYYY-MM-DD ...; --only dashboard|aspects)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--day", action="append", default=[], help="Only this local day (repeatable)")
        parser.add_argument("--only", choices=["dashboard", "aspects"], help="Only these rollups")

    def handle(self, *args, **options):
        try:
            days = {dt.date.fromisoformat(day) for day in options["day"]}
        except ValueError as error:
            raise CommandError(str(error)) from error
        if options["only"] != "aspects":
            started = time.perf_counter()
            if days:
                rollup_rebuild_days(days)
                covered = "unchanged"
            else:
                covered = rollup_rebuild_all().covered_until
            self.stdout.write(
                f"Rollups rebuilt in {time.perf_counter() - started:.1f} s: {DailyReviewRollup.objects.count()} "
                f"daily, {MonthlyBusinessRollup.objects.count()} monthly rows; covered until {covered}"
            )
        if options["only"] != "dashboard":
            started = time.perf_counter()
            if days:
                aspect_rollup_rebuild_days(days)
                covered = "unchanged"
            else:
                covered = aspect_rollup_rebuild_all().covered_until
            self.stdout.write(
                f"Aspect rollups rebuilt in {time.perf_counter() - started:.1f} s: "
                f"{DailyAspectRollup.objects.count()} daily, {MonthlyBusinessAspectRollup.objects.count()} monthly "
                f"rows; covered until {covered}"
            )
