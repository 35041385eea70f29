"""manage.py simulate_labelling POOL.csv EVAL.csv: how much macro-F1 the labelling queue buys per label.

In memory only (training/labelling_simulation.py): never the database, MLflow or the deployed model.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from training.labelling_simulation import (
    KINDS,
    STRATEGIES,
    SimulationError,
    StepReport,
    labelling_simulate,
    read_labelled_csv,
)


def _whole_number(name: str, value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CommandError(f"{name} must be a whole number, not {value!r}") from None


class Command(BaseCommand):
    help = (
        "Simulate labelling: reveal the gold labels of POOL's reviews STEP at a time in the order the strategy's "
        "queue shows them, retrain the sentiment model (the kind training builds) after each step and score it on "
        'EVAL. The last line of the output is JSON: {"strategy", "labels", "macro_f1", "seconds"}. Writes nothing.'
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("pool", help="CSV of reviews to label (their gold labels stay hidden until labelled)")
        parser.add_argument("evaluation", help="CSV of labelled reviews to score each retrained model on")
        parser.add_argument("--text-col", default="text")
        parser.add_argument("--label-col", default="label", help="positive, neutral or negative (any case)")
        parser.add_argument("--strategy", default="uncertainty", help=f"One of {', '.join(STRATEGIES)}")
        parser.add_argument("--budget", default="600", help="How many labels in all")
        parser.add_argument("--step", default="100", help="Labels between two retrainings")
        parser.add_argument("--seed", default="0")
        parser.add_argument(
            "--kind", choices=KINDS, default=None, help="Sentiment model kind (default: SENTIMENT_MODEL_KIND)"
        )

    def handle(self, *args, **options) -> None:
        budget = _whole_number("--budget", options["budget"])
        step = _whole_number("--step", options["step"])
        seed = _whole_number("--seed", options["seed"])
        columns = {"text_col": options["text_col"], "label_col": options["label_col"]}
        try:
            pool = read_labelled_csv(options["pool"], **columns)
            evaluation = read_labelled_csv(options["evaluation"], **columns)
            result = labelling_simulate(
                pool,
                evaluation,
                strategy=options["strategy"],
                budget=budget,
                step=step,
                seed=seed,
                kind=options["kind"],
                report=self._report,
            )
        except SimulationError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(json.dumps(result.as_json()))

    def _report(self, step: StepReport) -> None:
        self.stdout.write(step.line())
