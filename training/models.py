from __future__ import annotations

from django.conf import settings
from django.db import models


class ModelVersion(models.Model):
    """A trained (or built-in) model. The database, not MLflow, says which one is deployed."""

    class Kind(models.TextChoices):
        SENTIMENT = "sentiment", "Sentiment"
        ASPECTS = "aspects", "Aspects"
        SUGGESTIONS = "suggestions", "Suggestions"

    class Stage(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        CHAMPION = "champion", "Champion (deployed)"
        ARCHIVED = "archived", "Archived"
        REJECTED = "rejected", "Rejected"

    name = models.CharField(max_length=100, unique=True, help_text="e.g. baseline-lexicon, sentiment-v3")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.SENTIMENT)
    algorithm = models.CharField(max_length=100, help_text="Which ml builder made it")
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.CANDIDATE)
    artifact_path = models.CharField(max_length=500, blank=True, default="", help_text="Empty for built-in models")
    parameters = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Evaluation at training time, with its set")
    reference_stats = models.JSONField(
        default=dict, blank=True, help_text="Class and confidence distributions, vocabulary OOV rate (for drift)"
    )
    mlflow_run_id = models.CharField(max_length=64, blank=True, default="")
    mlflow_version = models.CharField(max_length=20, blank=True, default="")
    training_job = models.ForeignKey(
        "TrainingJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    deployed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind"], condition=models.Q(stage="champion"), name="one_champion_per_kind")
        ]
        permissions = [
            ("promote_modelversion", "Can promote a model version"),
            ("rollback_modelversion", "Can roll back to an earlier model version"),
        ]

    def __str__(self) -> str:
        return self.name


class TrainingJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
    # Which status may follow which; services refuse anything else.
    TRANSITIONS: dict[str, tuple[str, ...]] = {
        Status.QUEUED: (Status.RUNNING, Status.CANCELLED, Status.FAILED),
        Status.RUNNING: (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED),
        Status.SUCCEEDED: (),
        Status.FAILED: (),
        Status.CANCELLED: (),
    }

    class Trigger(models.TextChoices):
        API = "api", "API"
        COMMAND = "command", "Command line"
        SCHEDULE = "schedule", "Schedule"
        MONITOR = "monitor", "Monitoring"
        STAFF = "staff", "Staff page"

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.API)
    parameters = models.JSONField(default=dict, blank=True)
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    progress_message = models.CharField(max_length=300, blank=True, default="")
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    cancel_requested = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Refreshed while a worker runs the job; the sweep fails jobs whose beat stops"
    )

    class Meta:
        ordering = ["-id"]
        permissions = [("start_trainingjob", "Can start training")]
        constraints = [
            # One job at a time, enforced by the database: two concurrent start
            # requests cannot both insert an active job (a unique index on a constant).
            models.UniqueConstraint(
                models.Value(1),
                condition=models.Q(status__in=["queued", "running"]),
                name="one_active_training_job",
            )
        ]

    def __str__(self) -> str:
        return f"Training job #{self.pk} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class GateDecision(models.Model):
    """Why a candidate was (not) promoted: both metric sets on the same evaluation set."""

    class Decision(models.TextChoices):
        PROMOTED = "promoted", "Promoted"
        REJECTED = "rejected", "Rejected"

    candidate = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="gate_decisions")
    champion = models.ForeignKey(ModelVersion, null=True, on_delete=models.SET_NULL, related_name="+")
    training_job = models.ForeignKey(TrainingJob, null=True, on_delete=models.SET_NULL, related_name="gate_decisions")
    evaluation_set = models.JSONField(default=dict, help_text="kind, size and fingerprint of the set used")
    candidate_metrics = models.JSONField(default=dict)
    champion_metrics = models.JSONField(default=dict)
    delta_macro_f1 = models.FloatField()
    probability_better = models.FloatField(help_text="Paired bootstrap: P(candidate macro-F1 > champion's)")
    decision = models.CharField(max_length=20, choices=Decision.choices)
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.candidate} {self.decision}"


class Deployment(models.Model):
    """Every change of champion: automatic promotion, manual promotion or rollback."""

    class Action(models.TextChoices):
        INITIAL = "initial", "Initial baseline"
        GATE = "gate", "Promoted by the gate"
        MANUAL = "manual", "Promoted by hand"
        ROLLBACK = "rollback", "Rolled back"

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="deployments")
    previous = models.ForeignKey(ModelVersion, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.action}: {self.model_version}"


class ScheduledRun(models.Model):
    """One firing of a periodic task, claimed in the database so it runs once even if
    beat fires twice (two beat processes, a redelivered message)."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    task = models.CharField(max_length=100)
    slot = models.CharField(max_length=40, help_text="The period this run covers, e.g. 2026-11-27 or 2026-11-27T14")
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.RUNNING)
    reason = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    training_job = models.ForeignKey(TrainingJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["task", "slot"], name="one_run_per_task_and_slot")]

    def __str__(self) -> str:
        return f"{self.task} {self.slot}: {self.outcome}"


class EvaluationReport(models.Model):
    """The weekly evaluation of the champion: on the evaluation set and on fresh labels."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="evaluation_reports")
    evaluation_set = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict, help_text="Per-class metrics, calibration, confusion matrix")
    fresh_labels = models.JSONField(default=dict, help_text="The same on human labels given in the last week")
    sample_errors = models.JSONField(default=list)
    mlflow_run_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Evaluation of {self.model_version} at {self.created_at:%Y-%m-%d}"


class AspectAnnotation(models.Model):
    """A sentence with its aspect categories and their polarities (SemEval files or staff)."""

    text = models.TextField()
    aspects = models.JSONField(default=list, help_text='[{"category": "food", "polarity": "positive"}, ...]')
    scheme = models.CharField(max_length=20, help_text="semeval2014 (5 categories) or semeval2016 (ENTITY#ATTRIBUTE)")
    source = models.CharField(max_length=50, help_text="e.g. semeval2014, semeval2016, staff")
    external_id = models.CharField(max_length=200, help_text="Sentence id in its source file")
    review = models.ForeignKey(
        "reviews.Review", null=True, blank=True, on_delete=models.CASCADE, related_name="aspect_annotations"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="aspect_annotation_unique_per_source")
        ]

    def __str__(self) -> str:
        return self.text[:60]


class SuggestionAnnotation(models.Model):
    """A sentence and whether it is a suggestion (SemEval-2019 Task 9 files or staff corrections)."""

    text = models.TextField()
    is_suggestion = models.BooleanField()
    source = models.CharField(max_length=50, help_text="e.g. semeval2019, staff")
    external_id = models.CharField(max_length=200, help_text="Where the sentence comes from within its source")
    review = models.ForeignKey(
        "reviews.Review", null=True, blank=True, on_delete=models.CASCADE, related_name="suggestion_annotations"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="suggestion_annotation_unique_per_source")
        ]

    def __str__(self) -> str:
        return f"{'suggestion' if self.is_suggestion else 'not a suggestion'}: {self.text[:60]}"


# --- Model monitoring and alerts (tables from when they lived in the analytics app) ---------------


class MonitoringSnapshot(models.Model):
    """One monitoring run: live accuracy, drift and the retraining decision, with its numbers."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    model_version = models.ForeignKey(ModelVersion, null=True, on_delete=models.SET_NULL, related_name="+")
    window_days = models.PositiveIntegerField()
    live_accuracy = models.JSONField(default=dict)
    rating_agreement = models.JSONField(default=dict)
    drift = models.JSONField(default=dict)
    alarms = models.JSONField(default=list)
    trigger = models.JSONField(default=dict, help_text="The retraining decision and why")

    class Meta:
        db_table = "analytics_monitoringsnapshot"  # the table it had in the analytics app
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Monitoring {self.created_at:%Y-%m-%d %H:%M}"


class AlertChannel(models.Model):
    """Where alerts go: an email address (Django's mail settings) or a webhook (JSON POST)."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    EVENTS = (
        ("accuracy_drop", "Live accuracy dropped"),
        ("drift", "Drift detected"),
        ("job_failed", "Training job failed"),
        ("model_promoted", "Model promoted"),
        ("model_rejected", "Candidate rejected by the gate"),
        ("negative_spike", "Spike of negative reviews for a business"),
    )

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    target = models.CharField(max_length=500, help_text="Email address or webhook URL")
    events = models.JSONField(default=list, blank=True, help_text="Event names to send; empty means all")
    enabled = models.BooleanField(default=True)

    class Meta:
        db_table = "analytics_alertchannel"  # the table it had in the analytics app

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def wants(self, event: str) -> bool:
        return self.enabled and (not self.events or event in self.events)


class Alert(models.Model):
    """Every alert sent (or that failed to send), for the record."""

    channel = models.ForeignKey(AlertChannel, null=True, on_delete=models.SET_NULL, related_name="alerts")
    event = models.CharField(max_length=40)
    subject = models.CharField(max_length=300)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=20, default="pending")
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "analytics_alert"  # the table it had in the analytics app
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.event}: {self.subject}"
