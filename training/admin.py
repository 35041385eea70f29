from django.contrib import admin

from training.models import ModelVersion, TrainingJob


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "algorithm", "stage", "created_at", "deployed_at")
    list_filter = ("kind", "stage", "algorithm")
    search_fields = ("name",)
    readonly_fields = ("created_at", "deployed_at", "training_job")


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "trigger", "progress", "progress_message", "created_at", "finished_at")
    list_filter = ("status", "trigger")
    readonly_fields = ("created_at", "started_at", "finished_at", "metrics", "error", "requested_by")
