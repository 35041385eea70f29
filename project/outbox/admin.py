from django.contrib import admin

from project.outbox.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "task", "created_at", "sent_at", "attempts", "last_error")
    list_filter = ("task", ("sent_at", admin.EmptyFieldListFilter))
    readonly_fields = [field.name for field in OutboxMessage._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
