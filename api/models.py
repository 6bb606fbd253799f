"""API tokens, and the outgoing webhooks: the endpoints producers configure and what was sent to them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A bearer token that acts as its user, narrowed by its scope. Only its SHA-256 is stored: the token
    is printed once by `manage.py api_token create` and can never be read back. `prefix` (its first
    characters, not secret enough to use) tells tokens apart in the admin and in `api_token list`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, help_text="What uses it, e.g. 'AE render node 3'.")
    prefix = models.CharField(max_length=12, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    read_only = models.BooleanField(default=False, help_text="Never writes, whatever its user may do.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user}{', read-only' if self.read_only else ''})"

    def refusal(self, now) -> str:
        """Why the token cannot be used now ("" when it can)."""
        if self.revoked_at is not None:
            return "the token was revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "the token expired"
        if not self.user.is_active:
            return "the token's user is inactive"
        return ""
