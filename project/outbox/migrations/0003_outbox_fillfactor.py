"""Room on each page for the sent version of its rows (PostgreSQL).

Every outbox row is updated once, when the relay marks it sent. With full pages (fillfactor 100) each of those
500-row UPDATEs writes its new row versions to fresh pages at the end of the table; with half the page free they
stay on the page of the old version, which the pass has just read (bench/outbox.py). Only new pages are filled
this way; nothing is rewritten.
"""

from django.db import migrations

TABLE = "outbox_outboxmessage"


def set_fillfactor(value: int):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE {TABLE} SET (fillfactor = {value})")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0002_outbox_sent_index"),
    ]

    operations = [
        migrations.RunPython(set_fillfactor(50), set_fillfactor(100), elidable=False),
    ]
