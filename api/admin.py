"""API tokens in the admin: listed and revoked, never shown (only their prefix); made with `api_token create`.
Outgoing webhooks: endpoints configured, messages and their attempts read."""

from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from api.models import ApiToken, WebhookAttempt, WebhookEndpoint, WebhookKind, WebhookMessage
from api.tokens import token_revoke
from api.webhooks import endpoint_enable, endpoint_set_secret, new_secret


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


# --- outgoing webhooks -----------------------------------------------------------------------------


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        max_length=500, assume_scheme="https", help_text="https:// (http only for a loopback address)."
    )
    kinds = forms.MultipleChoiceField(choices=WebhookKind.choices, widget=forms.CheckboxSelectMultiple)
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        help_text="The signing secret the receiver checks. Empty: a new one is made (shown once) for a new "
        "endpoint; kept as it is for an existing one.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("name", "url", "kinds", "secret")

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        parts = urlsplit(url)
        if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise forms.ValidationError("an https:// URL (plain http only for a loopback address)")
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("name", "url", "kinds", "enabled", "consecutive_failures", "disabled_reason")
    readonly_fields = ("enabled", "consecutive_failures", "disabled_at", "disabled_reason", "created_at")
    actions = ["enable_again"]

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form, change: bool) -> None:
        secret = form.cleaned_data.get("secret", "")
        if not secret and not change:
            secret = new_secret()
            self.message_user(
                request, f"Signing secret of {obj.name} (shown once, give it to the receiver): {secret}", messages.INFO
            )
        if secret:
            endpoint_set_secret(endpoint=obj, secret=secret)
        super().save_model(request, obj, form, change)

    @admin.action(description="Enable again (forget the failures, send what waited)", permissions=["change"])
    def enable_again(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        actor = f"user:{request.user.get_username()}"
        enabled = sum(endpoint_enable(endpoint_id=pk, actor=actor) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"{enabled} endpoint(s) enabled again.", messages.SUCCESS)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("at", "status_code", "response", "error", "duration_ms")

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(WebhookMessage)
class WebhookMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "endpoint", "state", "attempts", "next_attempt_at", "last_error", "created_at")
    list_filter = ("state", "kind", "endpoint")
    readonly_fields = ("endpoint", "kind", "payload", "state", "attempts", "next_attempt_at", "last_error", "sent_at")
    exclude = ("claim", "claimed_at")
    inlines = [WebhookAttemptInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # written by the changes they report (api.hooks), never by hand
