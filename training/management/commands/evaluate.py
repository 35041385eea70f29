from __future__ import annotations

import json

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from training.aspects import aspect_model_evaluate
from training.datasets import collect_examples, split_examples
from training.ml.metrics import evaluate
from training.models import ModelVersion
from training.registry import current_champion, load_model


class Command(BaseCommand):
    help = "Score a model version (default: the champion) on the current evaluation set and print the report."

    def add_base_argument(self, parser, *args, **kwargs) -> None:
        # Our --version names a model version; Django's own --version (its release) gives way.
        if "--version" not in args:
            super().add_base_argument(parser, *args, **kwargs)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--version", help="Model version name (default: the deployed one)")

    def handle(self, *args, version: str | None, **options) -> None:
        row = ModelVersion.objects.filter(name=version).first() if version else current_champion()
        if row is None:
            raise CommandError(f"No model version named {version!r}" if version else "No model is deployed")
        if row.kind == ModelVersion.Kind.ASPECTS:
            try:
                scored = aspect_model_evaluate(row)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(json.dumps({"model_version": row.name, **scored}, indent=2))
            return
        _, evaluation = split_examples(collect_examples())
        if not len(evaluation.examples):
            raise CommandError("The evaluation set is empty: import rated or labelled reviews first")
        probabilities = np.asarray(load_model(row).predict_proba(evaluation.examples.texts))
        report = {
            "model_version": row.name,
            "evaluation_set": evaluation.describe(),
            "metrics": evaluate(probabilities, evaluation.examples.labels),
        }
        self.stdout.write(json.dumps(report, indent=2))
