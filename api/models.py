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


# --- outgoing webhooks -------------------------------------------------------------------------------


class WebhookKind(models.TextChoices):
    STATUS_CHANGED = "shot.status_changed", "Shot status changed"
    VERSION_VERIFIED = "render.verified", "Version verified"
    UPLOADED = "render.uploaded", "Version uploaded to Frame.io"
    NOTE_ADDED = "review.note_added", "Review note added"
    DELIVERED = "shot.delivered", "Shot delivered"


class WebhookEndpoint(models.Model):
    """A URL producers want told about some kinds of events, each POST signed with its secret.

    The secret is stored Fernet-encrypted (frameio.crypto: the receiver needs the same secret to check the
    signature, so it cannot be a hash) and never shown after it is set. After
    POSTFLOW_API_WEBHOOK_DISABLE_AFTER failed attempts in a row the endpoint is disabled with an alert; its
    messages wait until a producer enables it again (admin action)."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500, help_text="https:// (http only for a loopback address).")
    secret_enc = models.TextField(editable=False)
    kinds = models.JSONField(default=list, help_text="The event kinds it receives.")
    enabled = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "outgoing webhook"

    def __str__(self) -> str:
        return f"{self.name} → {self.url}"


class WebhookMessage(models.Model):
    """One event for one endpoint, written in the transaction of the change it reports (the outbox), sent
    by api.webhooks after commit. pending -> sending -> sent, or back to pending with `next_attempt_at`
    (backoff), or failed after POSTFLOW_API_WEBHOOK_MAX_ATTEMPTS. Delivered at least once: a receiver
    dedupes by the X-Postflow-Delivery header (this row's id)."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=32, choices=WebhookKind.choices)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=32, blank=True, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "outgoing webhook message"

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} to {self.endpoint.name}"


class WebhookAttempt(models.Model):
    """One POST of a message and what the endpoint answered (or why there was no answer)."""

    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="attempt_rows")
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.TextField(blank=True, help_text="The answer's first 500 characters.")
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["message", "id"]

    def __str__(self) -> str:
        return f"{self.message}: {self.status_code or self.error}"
