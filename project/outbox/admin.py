from django.contrib import admin

from project.outbox.models import OutboxMessage, SentTask


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "task", "created_at", "attempts", "last_error")
    list_filter = ("task",)
    readonly_fields = [field.name for field in OutboxMessage._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(SentTask)
class SentTaskAdmin(admin.ModelAdmin):
    """What the outbox published, for OUTBOX_KEEP_SENT_HOURS: read-only, pruned by the relay's beat task."""

    list_display = ("id", "task", "sent_at", "attempts", "messages", "message_ids")
    list_filter = ("task",)
    date_hierarchy = "sent_at"
    search_fields = ("args",)
    readonly_fields = [field.name for field in SentTask._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
