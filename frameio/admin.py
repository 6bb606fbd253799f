from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from frameio.models import FrameioConnection, Upload
from frameio.uploads import upload_cancel, upload_retry


@admin.register(FrameioConnection)
class FrameioConnectionAdmin(admin.ModelAdmin):
    """Read-only: the connection changes through /frameio/connect/ (frameio.auth), never by hand.

    The encrypted token fields are not shown at all.
    """

    list_display = ("__str__", "mode", "connected_as", "needs_reauth", "expires_at", "updated_at")
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
        ("needs_reauth", "reauth_reason"),
        "connected_at",
        "updated_at",
    )
    readonly_fields = ("connect_page",)

    @admin.display(description="Manage")
    def connect_page(self, obj: FrameioConnection) -> str:
        return format_html('<a href="{}">Open the Frame.io connection page</a>', reverse("frameio:connect"))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
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
    readonly_fields = [f.name for f in Upload._meta.fields if f.name != "lease_owner"] + ["frameio_link"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the row is what makes the upload exactly-once

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
