from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from training.aspects import AnnotationError, aspect_annotations_import


class Command(BaseCommand):
    help = "Import aspect-annotated sentences from SemEval-2014 or SemEval-2016 XML (a file or a folder); idempotent."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")

    def handle(self, *args, path: str, **options) -> None:
        source = Path(path)
        if not source.exists():
            raise CommandError(f"No such file or folder: {source}")
        try:
            counts = aspect_annotations_import(path=source)
        except AnnotationError as exc:
            raise CommandError(str(exc)) from exc
        if not counts["files"]:
            raise CommandError(f"No XML files in {source}")
        self.stdout.write(
            f"{counts['files']} file(s), {counts['sentences']} sentences: {counts['created']} imported, "
            f"{counts['existing']} already present"
            + (f"; {counts['skipped']} skipped (marked OutOfScope, or without text)" if counts.get("skipped") else "")
        )
