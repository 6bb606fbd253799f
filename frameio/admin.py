from django.conf import settings
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from frameio.client import FrameioError
from frameio.models import (
    FrameioConnection,
    FrameioConnectionEvent,
    FrameioWebhook,
    ReviewNote,
    Upload,
    WebhookDelivery,
)
from frameio.uploads import upload_cancel, upload_retry
from frameio.webhooks import WebhookError, webhook_register, webhook_remove, webhook_url
from shots.admin import ShotAdmin


@admin.register(FrameioConnection)
class FrameioConnectionAdmin(admin.ModelAdmin):
    """Read-only: the connection changes through /frameio/connect/ (frameio.auth), never by hand,
    and never by deleting the row here (that would drop the tokens unrevoked, with no audit row).

    The encrypted token fields are not shown at all. The last changes (FrameioConnectionEvent) are.
    """

    HISTORY_LIMIT = 10

    list_display = ("__str__", "mode", "connected_as", "sign_in", "expires_at", "updated_at")
    fields = (
        "connect_page",
        "mode",
        "connected_as",
        ("account_id", "account_name"),
        ("workspace_id", "workspace_name"),
        ("project_id", "project_name"),
        "root_folder_id",
        "expires_at",
        "refresh_token_issued_at",
        "last_refreshed_at",
        "scopes",
        ("sign_in", "reauth_reason"),
        "connected_at",
        "updated_at",
        "history",
    )
    readonly_fields = ("connect_page", "history", "sign_in")

    # `needs_reauth` shown as is draws the good state (False) as a red ✗: shown the right way up instead.
    @admin.display(description="Sign-in", boolean=True, ordering="needs_reauth")
    def sign_in(self, obj: FrameioConnection) -> bool:
        """✓ while the stored sign-in works; ✗ when Frame.io must be connected again (reason beside it)."""
        return not obj.needs_reauth

    @admin.display(description="Manage")
    def connect_page(self, obj: FrameioConnection) -> str:
        return format_html('<a href="{}">Open the Frame.io connection page</a>', reverse("frameio:connect"))

    @admin.display(description="Last changes")
    def history(self, obj: FrameioConnection) -> str:
        events = FrameioConnectionEvent.objects.all()[: self.HISTORY_LIMIT]
        rows = format_html_join(
            "",
            "<li>{} — {} by {}</li>",
            ((f"{e.at:%Y-%m-%d %H:%M}", e.get_kind_display(), e.actor) for e in events),
        )
        everything = reverse("admin:frameio_frameioconnectionevent_changelist")
        return format_html('<ul>{}</ul><a href="{}">All changes</a>', rows or "none yet", everything)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # disconnecting goes through /frameio/connect/: revoked, and audited

    def has_register_webhook_permission(self, request) -> bool:
        return request.user.has_perm("frameio.add_frameiowebhook")


@admin.register(FrameioConnectionEvent)
class FrameioConnectionEventAdmin(admin.ModelAdmin):
    """The audit of the connection, newest first: read-only (frameio.auth writes it)."""

    list_display = ("at", "kind", "actor", "summary")
    list_filter = ("kind",)
    search_fields = ("actor",)
    date_hierarchy = "at"
    fields = ("at", "kind", "actor", "details")
    readonly_fields = fields

    @admin.display(description="Details")
    def summary(self, obj: FrameioConnectionEvent) -> str:
        details = obj.details or {}
        if details.get("reason"):
            return details["reason"]
        names = (details.get(key) for key in ("auth_mode", "account_name", "workspace_name", "project_name"))
        return " · ".join(filter(None, names)) or "—"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    """Uploads with their state, progress and last error; retry and cancel go through frameio.uploads."""

    list_display = ("render", "state", "progress_display", "attempts", "last_error", "frameio_link", "updated_at")
    list_filter = ("state",)
    list_select_related = ("render",)
    search_fields = ("render__path", "frameio_file_id", "last_error")
    actions = ["retry", "cancel"]
    exclude = ("lease_owner",)
    readonly_fields = [f.name for f in Upload._meta.fields if f.name != "lease_owner"] + ["frameio_link", "render_note"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the row is what makes the upload exactly-once

    @admin.display(description="Render note")
    def render_note(self, obj: Upload) -> str:
        """The render's reason: how it was queued, e.g. by `frameio_upload --no-verify`, not verified."""
        return obj.render.reason or "—"

    @admin.display(description="Progress")
    def progress_display(self, obj: Upload) -> str:
        return f"{obj.progress:.0%} of {obj.bytes_total / 1e6:.1f} MB"

    @admin.display(description="Frame.io")
    def frameio_link(self, obj: Upload) -> str:
        return (
            format_html('<a href="{}" target="_blank" rel="noopener">open</a>', obj.view_url) if obj.view_url else "—"
        )

    @admin.action(description="Retry (failed or cancelled uploads)", permissions=["change"])
    def retry(self, request, queryset) -> None:
        done = sum(upload_retry(upload_id=pk) for pk in queryset.values_list("pk", flat=True))
        self._report(request, done, queryset.count(), "retried", "failed or cancelled")

    @admin.action(description="Cancel (uploads not finished)", permissions=["change"])
    def cancel(self, request, queryset) -> None:
        done = sum(upload_cancel(upload_id=pk) for pk in queryset.values_list("pk", flat=True))
        self._report(request, done, queryset.count(), "cancelled", "queued or running")

    def _report(self, request, done: int, total: int, verb: str, which: str) -> None:
        if done:
            self.message_user(request, f"{done} upload(s) {verb}.", messages.SUCCESS)
        if total - done:
            self.message_user(request, f"{total - done} skipped: only {which} uploads can be {verb}.", messages.WARNING)


# --- review from Frame.io -----------------------------------------------------------------------


def _register_webhook(modeladmin: admin.ModelAdmin, request, *, replace: bool) -> None:
    configured = settings.FRAMEIO_WEBHOOK_URL or settings.POSTFLOW_PUBLIC_URL
    url = webhook_url() if configured else request.build_absolute_uri(reverse("frameio:webhook"))
    try:
        result = webhook_register(url=url, replace=replace)
    except (WebhookError, FrameioError) as exc:
        modeladmin.message_user(request, f"The webhook could not be registered: {exc}", messages.ERROR)
        return
    if result.created:
        modeladmin.message_user(request, f"Webhook {result.webhook.webhook_id} registered: {url}", messages.SUCCESS)
    else:
        modeladmin.message_user(request, f"The webhook was already registered: {url}", messages.INFO)


@admin.action(description="Register the review webhook for the workspace", permissions=["register_webhook"])
def register_review_webhook(modeladmin: admin.ModelAdmin, request, queryset) -> None:
    # Offered (and accepted) only to users with frameio.add_frameiowebhook, the same permission as
    # the webhook's own admin actions: FrameioConnectionAdmin.has_register_webhook_permission.
    _register_webhook(modeladmin, request, replace=False)


# The connection's page is where a producer looks for Frame.io: the action is offered there too.
FrameioConnectionAdmin.actions = (*FrameioConnectionAdmin.actions, register_review_webhook)


@admin.register(FrameioWebhook)
class FrameioWebhookAdmin(admin.ModelAdmin):
    """Read-only: the webhook changes through frameio.webhooks. The secret is never shown."""

    list_display = ("webhook_id", "url", "workspace_id", "registered_at")
    fields = ("webhook_id", "name", "url", "events", "account_id", "workspace_id", "registered_at", "updated_at")
    readonly_fields = fields
    actions = ["replace", "remove"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # removing goes through the action, which deletes it in Frame.io too

    @admin.action(description="Register again (new webhook and secret, the old one deleted)", permissions=["register"])
    def replace(self, request, queryset) -> None:
        _register_webhook(self, request, replace=True)

    @admin.action(description="Remove (in Frame.io too)", permissions=["register"])
    def remove(self, request, queryset) -> None:
        try:
            removed = webhook_remove()
        except (WebhookError, FrameioError) as exc:
            self.message_user(request, f"The webhook could not be removed: {exc}", messages.ERROR)
            return
        self.message_user(request, f"Webhook {removed} removed." if removed else "No webhook to remove.")

    def has_register_permission(self, request) -> bool:
        return request.user.has_perm("frameio.add_frameiowebhook")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """Every event Frame.io delivered, once each, with what its job did."""

    list_display = ("last_received_at", "event_type", "resource_id", "state", "received_count", "outcome")
    list_filter = ("state", "event_type")
    search_fields = ("resource_id", "project_id", "outcome")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReviewNote)
class ReviewNoteAdmin(admin.ModelAdmin):
    """Notes from Frame.io comments; read-only (Frame.io is where they are written)."""

    list_display = ("shot", "version", "frame", "record_timecode", "author", "text", "completed", "fps_mismatch")
    list_filter = (
        "fps_mismatch",
        ("completed_at", admin.EmptyFieldListFilter),
        ("deleted_at", admin.EmptyFieldListFilter),
    )
    list_select_related = ("shot__project",)
    search_fields = ("text", "author", "shot__nomenclature", "frameio_comment_id")
    readonly_fields = [f.name for f in ReviewNote._meta.fields] + ["render_timecode", "record_timecode"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Completed", boolean=True)
    def completed(self, obj: ReviewNote) -> bool:
        return obj.completed


class ReviewNoteInline(admin.TabularInline):
    """The shot's review notes, newest version first, on the shot's admin page (added below: shots
    knows nothing of Frame.io)."""

    model = ReviewNote
    fields = (
        "version",
        "frame",
        "render_timecode",
        "record_timecode",
        "author",
        "text",
        "completed_at",
        "fps_mismatch",
        "deleted_at",
    )
    readonly_fields = fields
    ordering = ("-version", "frame", "commented_at", "id")
    extra = 0
    can_delete = False
    verbose_name_plural = "review notes (from Frame.io)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("shot__project")

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("shots.view_shot") or request.user.has_perm("shots.change_shot")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


ShotAdmin.inlines = (*ShotAdmin.inlines, ReviewNoteInline)
