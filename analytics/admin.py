from django.contrib import admin

from analytics.models import Alert, AlertChannel, MonitoringSnapshot


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
