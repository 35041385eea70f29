from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from training.suggestions import SuggestionAnnotationError, suggestion_annotations_import


class Command(BaseCommand):
    help = (
        "Import sentences labelled suggestion / not a suggestion from SemEval-2019 Task 9 CSV files "
        "(id,sentence,label; a file or a folder); idempotent."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")

    def handle(self, *args, path: str, **options) -> None:
        source = Path(path)
        if not source.exists():
            raise CommandError(f"No such file or folder: {source}")
        try:
            counts = suggestion_annotations_import(path=source)
        except SuggestionAnnotationError as exc:
            raise CommandError(str(exc)) from exc
        if not counts["files"]:
            raise CommandError(f"No CSV files in {source}")
        self.stdout.write(
            f"{counts['files']} file(s), {counts['sentences']} sentences: {counts['created']} imported, "
            f"{counts['existing']} already present"
            + (f"; {counts['skipped']} rows skipped (no text or no 0/1 label)" if counts["skipped"] else "")
        )
