from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from frameio.models import FrameioConnection


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
