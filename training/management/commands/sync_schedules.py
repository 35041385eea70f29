from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from training.schedules import SCHEDULES


class Command(BaseCommand):
    help = (
        "Create the periodic tasks defined in training/schedules.py (idempotent). Existing tasks keep any edits "
        "made in the admin unless --reset is given."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--reset", action="store_true", help="Overwrite admin edits with the definitions in code")

    @transaction.atomic
    def handle(self, *args, reset: bool, **options) -> None:
        for schedule in SCHEDULES:
            crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=schedule.minute,
                hour=schedule.hour,
                day_of_week=schedule.day_of_week,
                day_of_month="*",
                month_of_year="*",
                timezone=settings.TIME_ZONE,
            )
            task = PeriodicTask.objects.filter(name=schedule.name).first()
            if task is None:
                PeriodicTask.objects.create(
                    name=schedule.name, task=schedule.task, crontab=crontab, description=schedule.description
                )
                self.stdout.write(f"created {schedule.name}")
            elif reset:
                task.task, task.crontab, task.interval, task.description = (
                    schedule.task, crontab, None, schedule.description,
                )  # fmt: skip
                task.enabled = True
                task.save()
                self.stdout.write(f"reset {schedule.name}")
            else:
                self.stdout.write(f"kept {schedule.name}")
