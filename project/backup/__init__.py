"""Backups of the platform's data and model files, and their restore (`manage.py backup` / `restore`).

A backup is one folder (locally, or under an S3 prefix) named ``revsent-backup-<UTC time>``:

    manifest.json                        what is inside: format, time, database vendor, applied migrations,
                                         per model the row count, file, size and SHA-256; the same per artifact
    data/<app>.<model>.jsonl.gz          one JSON object per row (Django's "python" serialisation), gzip
    artifacts/<key>                      the model files (training.storage keys), byte for byte

Everything streams: rows are read in chunks from one consistent snapshot and written line by line,
and read back the same way, so a million reviews never sit in memory. It goes through Django's
serialisation and ORM rather than pg_dump, so the same backup restores on SQLite and PostgreSQL.

Restore checks everything before writing anything: the format, the migration state (it must equal
this database's for the backed-up apps) and every file's size and checksum. It then loads all rows
in one transaction with their primary keys, resets PostgreSQL's sequences, puts the model files back
and only then commits; any error rolls the whole load back.
"""
