"""Rebuild the dashboard rollups (analytics.rollups): everything, or only some days."""

from __future__ import annotations

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError

from analytics.models import DailyReviewRollup, MonthlyBusinessRollup
from analytics.rollups import rollup_rebuild_all, rollup_rebuild_days


class Command(BaseCommand):
    help = "Rebuild the dashboard rollups from the reviews table (all days, or --day YYYY-MM-DD ...)."

    def add_arguments(self, parser):
        parser.add_argument("--day", action="append", default=[], help="Only this local day (repeatable)")

    def handle(self, *args, **options):
        started = time.perf_counter()
        if options["day"]:
            try:
                days = {dt.date.fromisoformat(day) for day in options["day"]}
            except ValueError as error:
                raise CommandError(str(error)) from error
            rollup_rebuild_days(days)
            covered = "unchanged"
        else:
            covered = rollup_rebuild_all().covered_until
        self.stdout.write(
            f"Rollups rebuilt in {time.perf_counter() - started:.1f} s: {DailyReviewRollup.objects.count()} daily, "
            f"{MonthlyBusinessRollup.objects.count()} monthly rows; covered until {covered}"
        )
