"""manage.py import_reviews PATH: load reviews from CSV or JSON lines, predicted in batches.

Idempotent by (source, external id): importing the same file twice adds nothing.
Rows without text are skipped; rows with invalid values are reported with reasons.
Exits 0 when some rows are invalid; non-zero only for a missing file or column.
The work is reviews.imports.file.import_file, which the staff Imports page runs too; each run is
recorded as a command-line ImportJob (reviews.imports.jobs), so the Imports page lists it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from reviews.imports.columns import BATCH_SIZE, ImportOptions, ImportRefused
from reviews.imports.jobs import import_job_refuse_command, import_job_run_command
from reviews.imports.reading import UnreadableFile
from reviews.imports.scales import RATING_SCALES


class Command(BaseCommand):
    help = "Import reviews from a CSV or JSONL file (idempotent by source + external id)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")
        parser.add_argument("--text-col", help="Column with the review text (default: text/review/content…)")
        parser.add_argument(
            "--rating-col",
            help="Column with ratings (default: rating/stars/score if present); stored as 1-5 stars",
        )
        parser.add_argument(
            "--rating-scale",
            type=int,
            choices=RATING_SCALES,
            help="Highest rating of the file's scale (default: learnt from the file: 5, 10 or 100)",
        )
        parser.add_argument("--source", default=None, help="Source name for every row (default: the file's name)")
        parser.add_argument(
            "--date-col",
            help="Column with when the customer wrote it (default: date, review_date, reviewed_at, datetime, "
            "timestamp or created_at, if the file has one)",
        )
        parser.add_argument(
            "--business-col",
            help="Column with the business name or id (default: business_id, business, restaurant or restaurant_id)",
        )
        parser.add_argument(
            "--business-name-col",
            help="Column with the business's display name, shown instead of the --business-col id "
            "(the last non-empty name of a business wins)",
        )
        parser.add_argument("--author-col", help="Column with the author")
        parser.add_argument(
            "--id-col",
            help="Column with the source's own id (default: a hash of the content, so re-imports add nothing)",
        )
        parser.add_argument(
            "--label-col",
            help="Column with human labels: positive/neutral/negative, or numbers (0/1, -1/0/1, 0/1/2, 1/2, stars)",
        )
        parser.add_argument(
            "--label-map",
            help='What the label column\'s values mean, e.g. "0=negative,1=positive" (default: learnt from the file)',
        )
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)

    def handle(self, *args, **options) -> None:
        path = Path(options["path"])
        import_options = ImportOptions(
            text_col=options["text_col"],
            rating_col=options["rating_col"],
            source=options["source"],
            date_col=options["date_col"],
            business_col=options["business_col"],
            author_col=options["author_col"],
            id_col=options["id_col"],
            label_col=options["label_col"],
            rating_scale=options["rating_scale"],
            label_map=options["label_map"],
            batch_size=options["batch_size"],
            business_name_col=options["business_name_col"],
        )
        if not path.is_file():
            import_job_refuse_command(
                file_name=path.name or str(path), options=import_options, error=f"No such file: {path}"
            )
            raise CommandError(f"No such file: {path}")
        progress = tqdm(desc=f"Importing {path.name}", unit=" rows", file=sys.stderr, mininterval=0.5)

        def note(text: str) -> None:  # on its own line, not after the progress bar's
            progress.clear()
            self.stderr.write(text)
            progress.refresh()

        try:
            summary = import_job_run_command(path, import_options, on_batch=progress.update, note=note)
        except (UnreadableFile, ImportRefused) as exc:
            raise CommandError(str(exc)) from None
        finally:
            progress.close()
        self.stdout.write(summary.line())
        for reason, n in summary.top_reasons():
            self.stdout.write(f"  {n} x {reason}")
