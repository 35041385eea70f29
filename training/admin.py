from django.contrib import admin

from training.models import Alert, AlertChannel, Deployment, GateDecision, ModelVersion, MonitoringSnapshot, TrainingJob


class GateDecisionInline(admin.StackedInline):
    model = GateDecision
    fk_name = "candidate"
    extra = 0
    can_delete = False
    readonly_fields = ("champion", "decision", "reason", "delta_macro_f1", "probability_better", "evaluation_set",
                       "candidate_metrics", "champion_metrics", "training_job", "created_at")  # fmt: skip


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "algorithm", "stage", "macro_f1", "created_at", "deployed_at")
    list_filter = ("kind", "stage", "algorithm")
    search_fields = ("name", "mlflow_run_id")
    readonly_fields = ("created_at", "deployed_at", "training_job", "metrics", "reference_stats", "mlflow_run_id",
                       "mlflow_version")  # fmt: skip
    inlines = [GateDecisionInline]

    @admin.display(description="Macro-F1 (evaluation)")
    def macro_f1(self, version: ModelVersion):
        return version.metrics.get("evaluation", {}).get("macro_f1")


@admin.register(GateDecision)
class GateDecisionAdmin(admin.ModelAdmin):
    list_display = ("candidate", "champion", "decision", "delta_macro_f1", "probability_better", "created_at")
    list_filter = ("decision",)
    readonly_fields = [field.name for field in GateDecision._meta.fields]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("model_version", "action", "previous", "user", "created_at")
    list_filter = ("action",)
    readonly_fields = [field.name for field in Deployment._meta.fields]


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "trigger", "progress", "progress_message", "created_at", "finished_at")
    list_filter = ("status", "trigger")
    readonly_fields = ("created_at", "started_at", "finished_at", "metrics", "error", "requested_by")


@admin.register(AlertChannel)
class AlertChannelAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "target", "events", "enabled")
    list_filter = ("kind", "enabled")


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("created_at", "event", "subject", "channel", "status", "attempts")
    list_filter = ("event", "status")
    readonly_fields = [field.name for field in Alert._meta.fields]


@admin.register(MonitoringSnapshot)
class MonitoringSnapshotAdmin(admin.ModelAdmin):
    list_display = ("created_at", "model_version", "window_days", "trigger")
    readonly_fields = [field.name for field in MonitoringSnapshot._meta.fields]
