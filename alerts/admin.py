"""Admin of alerts, the notification outbox and Discord webhooks. States change through actions that
call `alerts.services`; nothing here edits a state field, and no webhook URL is ever shown."""

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from alerts.models import Alert, AlertEvent, DiscordTarget, Metric, OutboxMessage
from alerts.services import alert_acknowledge, alert_resolve, discord_target_enable, outbox_requeue


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [field.name for field in self.model._meta.fields]


def _apply(model_admin: admin.ModelAdmin, request: HttpRequest, rows, action: Callable[[int], bool], verb: str) -> None:
    done = sum(1 for pk in rows.values_list("pk", flat=True) if action(pk))
    if done:
        model_admin.message_user(request, f"{done} {verb}.", messages.SUCCESS)
    if skipped := rows.count() - done:
        model_admin.message_user(request, f"{skipped} skipped (not in a state that allows it).", messages.WARNING)


class AlertEventInline(admin.TabularInline):
    model = AlertEvent
    extra = 0
    can_delete = False
    fields = ("at", "kind", "actor", "note")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("title", "severity", "state", "rule", "opened_at", "last_seen_at", "occurrences", "notified")
    list_filter = ("state", "severity", "rule")
    search_fields = ("title", "key", "detail")
    date_hierarchy = "opened_at"
    inlines = [AlertEventInline]
    actions = ["acknowledge", "resolve"]

    @admin.action(description="Acknowledge: seen, off the dashboard until it resolves", permissions=["change"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        actor = f"user:{request.user.get_username()}"
        _apply(self, request, queryset, lambda pk: alert_acknowledge(alert_id=pk, actor=actor), "alert(s) acknowledged")

    @admin.action(description="Resolve (opens again if the condition still holds)", permissions=["change"])
    def resolve(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        actor = f"user:{request.user.get_username()}"
        _apply(self, request, queryset, lambda pk: alert_resolve(alert_id=pk, actor=actor), "alert(s) resolved")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "channel", "kind", "state", "attempts", "sent_at", "remote_id", "last_error")
    list_filter = ("state", "channel", "kind")
    search_fields = ("dedupe_key", "remote_id", "last_error")
    actions = ["send_again"]

    @admin.action(description="Send again (unconfirmed or failed: it may then arrive twice)", permissions=["change"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        actor = f"user:{request.user.get_username()}"
        _apply(
            self, request, queryset, lambda pk: outbox_requeue(message_id=pk, actor=actor), "message(s) queued again"
        )


@admin.register(DiscordTarget)
class DiscordTargetAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "kinds", "disabled_at", "disabled_reason", "last_sent_at")
    actions = ["enable"]

    @admin.action(description="Enable again (held messages go out on the next flush)", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[DiscordTarget]) -> None:
        _apply(self, request, queryset, lambda pk: discord_target_enable(target_id=pk), "webhook(s) enabled")


@admin.register(Metric)
class MetricAdmin(ReadOnlyAdmin):
    list_display = ("at", "name", "label", "value", "amount", "status", "ok")
    list_filter = ("name", "ok")
    search_fields = ("label",)
    date_hierarchy = "at"
