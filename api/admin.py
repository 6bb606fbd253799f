"""API tokens in the admin: listed and revoked, never shown (only their prefix); made with `api_token create`."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from api.models import ApiToken
from api.tokens import token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "read_only", "created_at", "expires_at", "last_used_at", "state")
    list_filter = ("read_only",)
    search_fields = ("prefix", "name", "user__username")
    readonly_fields = ("prefix", "user", "read_only", "created_at", "expires_at", "revoked_at", "last_used_at")
    fields = ("prefix", "name", "user", "read_only", "created_at", "expires_at", "revoked_at", "last_used_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a token is printed once by `manage.py api_token create`: the admin could not show it

    @admin.display(description="state")
    def state(self, obj: ApiToken) -> str:
        return obj.refusal(timezone.now()) or "active"

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = sum(token_revoke(token_id=pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)
