"""Sent tasks leave the outbox table: publishing a row deletes it and records a SentTask.

A relay pass used to mark its rows sent with an UPDATE, which writes a new version of each row and its index
entries; a DELETE only marks the row, and the pending table stays as small as the backlog (bench/outbox.py).
Rows already sent move to SentTask (one per row); the partial indexes on `sent_at` go with the column (the
primary key serves the claim), and the table's pages are filled again (fillfactor 100: no row is updated in
place any more).
"""

import json

from django.db import migrations, models

TABLE = "outbox_outboxmessage"
BATCH = 5000


def move_sent_rows(apps, schema_editor):
    OutboxMessage = apps.get_model("outbox", "OutboxMessage")
    SentTask = apps.get_model("outbox", "SentTask")
    alias = schema_editor.connection.alias
    sent = OutboxMessage.objects.using(alias).filter(sent_at__isnull=False).order_by("id")
    while batch := list(sent.values("id", "task", "args", "kwargs", "sent_at", "attempts")[:BATCH]):
        SentTask.objects.using(alias).bulk_create(
            SentTask(
                sent_at=row["sent_at"],
                task=row["task"],
                args=json.dumps(row["args"]),
                kwargs=json.dumps(row["kwargs"]),
                message_ids=str(row["id"]),
                messages=1,
                attempts=max(row["attempts"], 1),
            )
            for row in batch
        )
        OutboxMessage.objects.using(alias).filter(id__in=[row["id"] for row in batch]).delete()


def set_fillfactor(value: int):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE {TABLE} SET (fillfactor = {value})")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0003_outbox_fillfactor"),
    ]

    operations = [
        migrations.CreateModel(
            name="SentTask",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("sent_at", models.DateTimeField()),
                ("task", models.CharField(max_length=200)),
                (
                    "args",
                    models.TextField(help_text="As published, JSON (a merged task: the union of its rows' lists)"),
                ),
                ("kwargs", models.TextField(default="{}", help_text="As published, JSON")),
                (
                    "message_ids",
                    models.TextField(help_text="The outbox rows it sent, as id ranges: '101-600, 702'"),
                ),
                ("messages", models.PositiveIntegerField(default=1, help_text="How many outbox rows it sent")),
                ("attempts", models.PositiveIntegerField(default=1, help_text="Publish attempts, this one included")),
            ],
            options={
                "ordering": ["-id"],
                "indexes": [models.Index(fields=["sent_at"], name="outbox_sent_at")],
            },
        ),
        migrations.RunPython(move_sent_rows, migrations.RunPython.noop, elidable=False),
        migrations.RemoveIndex(model_name="outboxmessage", name="outbox_pending"),
        migrations.RemoveIndex(model_name="outboxmessage", name="outbox_sent"),
        migrations.RemoveField(model_name="outboxmessage", name="sent_at"),
        migrations.AlterField(
            model_name="outboxmessage",
            name="attempts",
            field=models.PositiveIntegerField(default=0, help_text="Publish attempts that failed"),
        ),
        migrations.AlterModelOptions(name="outboxmessage", options={"ordering": ["id"], "verbose_name": "pending task"}),
        migrations.RunPython(set_fillfactor(100), set_fillfactor(50), elidable=False),
    ]
