from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from training.jobs import DEFAULT_MIN_SAMPLES, JobAlreadyActive, training_job_create, training_job_enqueue
from training.models import AspectAnnotation, SuggestionAnnotation, TrainingJob
from training.runner import training_job_run


class Command(BaseCommand):
    help = "Start a training job; with --wait run it here (no worker needed) and print the gate's decision last."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--min-samples", type=int, default=DEFAULT_MIN_SAMPLES)
        parser.add_argument("--wait", action="store_true", help="Run in this process and wait for the result")
        parser.add_argument(
            "--model",
            choices=["sentiment", "aspects", "suggestions"],
            default=None,
            help="Which model to train (default: sentiment, then aspects and suggestions when their annotations exist)",
        )
        parser.add_argument(
            "--kind",
            choices=["fast", "accurate"],
            default=None,
            help="Sentiment model kind (default: the SENTIMENT_MODEL_KIND setting)",
        )

    def handle(
        self, *args, min_samples: int, wait: bool, model: str | None, kind: str | None = None, **options
    ) -> None:
        if min_samples < 1:
            raise CommandError("--min-samples must be at least 1")
        if model is None:
            models = ["sentiment"]
            models += ["aspects"] if AspectAnnotation.objects.exists() else []
            models += ["suggestions"] if SuggestionAnnotation.objects.exists() else []
        else:
            models = [model]
        if not wait:
            models = models[:1]  # one job runs at a time: queue the sentiment job only
        decisions = {name: self.train_one(name, min_samples, wait, kind) for name in models}
        # The sentiment gate's decision is the last line (scripts read it).
        for name in sorted(decisions, key=lambda name: name == "sentiment"):
            if decisions[name]:
                self.stdout.write(decisions[name])

    def train_one(self, model: str, min_samples: int, wait: bool, kind: str | None = None) -> str | None:
        parameters = {"min_samples": min_samples, "model": model}
        if kind and model == "sentiment":
            parameters["kind"] = kind
        try:
            job = training_job_create(parameters=parameters, trigger=TrainingJob.Trigger.COMMAND)
        except JobAlreadyActive as exc:
            raise CommandError(
                f"Training job {exc.job.pk} is already {exc.job.status}; one job runs at a time"
            ) from exc
        if not wait:
            training_job_enqueue(job)
            self.stdout.write(f"Queued training job {job.pk} ({model}); a worker will run it")
            return None

        started = time.monotonic()

        def echo(fraction: float, message: str) -> None:
            self.stderr.write(f"[{fraction:6.1%} {time.monotonic() - started:6.1f} s] {message}")
            self.stderr.flush()

        job = training_job_run(job_id=job.pk, echo=echo)
        if job.status != TrainingJob.Status.SUCCEEDED:
            raise CommandError(f"Training job {job.pk} {job.status}: {job.error}")
        candidate = job.metrics.get("candidate", {})
        champion = job.metrics.get("champion_metrics", {})
        measure = {"aspects": "micro_f1", "suggestions": "f1"}.get(model, "macro_f1")
        self.stderr.write(
            f"{model}: evaluation set: {job.metrics['evaluation_set']['note']}\n"
            f"{model}: candidate {measure} {candidate.get(measure)} vs champion {champion.get(measure)}"
        )
        return job.metrics["decision"]
