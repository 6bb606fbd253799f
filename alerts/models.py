"""Metrics, alerts with their history, and the outbox of notifications (Discord, e-mail).

Written by `alerts.metrics` (Metric rows) and `alerts.services` (everything else) only.
"""

from django.db import models
from django.db.models import Q


class Metric(models.Model):
    """One measurement. Raw rows, not aggregates: volumes are small (an API call, a scan every
    few seconds, a process sample a minute: about 15,000 rows a day), raw rows give exact medians and
    errors by kind, and pruning by age is one indexed DELETE (ALERTS_METRIC_RETENTION_DAYS).

    The meaning of the columns per `name` (constants below): `label` says what was measured
    (endpoint, watcher, process), `value` is the main figure, `amount` a second one, `counter` a
    cumulative figure that rates are derived from, `status` an HTTP status and `ok` the outcome.
    """

    API = "frameio.api"  # label: operationId; status: HTTP status (0: no response); value: ms
    UPLOAD = "upload"  # label: render path; value: bytes; amount: seconds
    TRANSFER = "upload.transfer"  # label: upload id; value: bytes/s of its parts; amount: parts in flight; ok: adapted
    SCAN = "watcher.scan"  # label: watcher; value: ms; amount: files known; ok: full walk
    STRUCTURE = "structure.scene_folder"  # ok: served from Scene.frameio_folder_id (cached)
    PROCESS = "process"  # label: role:pid; value: RSS bytes; amount: CPU % since the last sample; counter: CPU s
    QUEUE = "queue"  # label: cluster name; value: tasks waiting in the django-q2 ORM broker

    name = models.CharField(max_length=40)
    label = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField()
    value = models.FloatField(default=0)
    amount = models.FloatField(null=True, blank=True)
    counter = models.FloatField(null=True, blank=True)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=True)

    class Meta:
        indexes = [
            models.Index(fields=["name", "at"], name="metric_name_at"),
            models.Index(fields=["at"], name="metric_at"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.label} {self.value:g} at {self.at:%Y-%m-%d %H:%M:%S}"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


# The dashboard's colours (dashboard.js: "ok", "warn", "bad").
LEVEL = {Severity.INFO: "ok", Severity.WARNING: "warn", Severity.CRITICAL: "bad"}


class Alert(models.Model):
    """A condition a rule found, identified by `key`: at most one unresolved alert per key.

    open -> acknowledged (a person saw it) -> resolved (the rule no longer finds it, or a person)
    `notified` says whether its opening went out (Discord, e-mail); an alert opened within the
    cooldown of the key's previous notification is recorded and shown, not sent, until it is still
    open and found once the cooldown has ended: then its opening goes out (and `notified` is set).
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    UNRESOLVED = (State.OPEN, State.ACKNOWLEDGED)

    key = models.CharField(max_length=200, db_index=True)
    rule = models.CharField(max_length=60, db_index=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    state = models.CharField(max_length=14, choices=State.choices, default=State.OPEN, db_index=True)
    title = models.CharField(max_length=255)
    detail = models.TextField(blank=True)
    occurrences = models.PositiveIntegerField(default=1, help_text="Evaluations that found it.")
    notified = models.BooleanField(default=False, help_text="Its opening was sent out (not within the cooldown).")
    opened_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["key"], condition=~Q(state="resolved"), name="alert_one_unresolved_per_key")
        ]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.title}"

    @property
    def level(self) -> str:
        return LEVEL[Severity(self.severity)]


class AlertEvent(models.Model):
    """The history of an alert: opened, acknowledged, resolved; who or what, and why."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=14, choices=Kind.choices)
    actor = models.CharField(max_length=150, help_text='"rule", "user:alice"')
    note = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.alert_id} {self.kind} by {self.actor}"


class OutboxMessage(models.Model):
    """One notification to send, once. Written in the transaction of what it reports; sent later
    by a job that claims it with a conditional UPDATE (docs/alerts.md: the delivery guarantee).

    pending -> sending (claimed) -> sent (sent_at, remote_id)
                                 -> pending again, only when the attempt provably created nothing
                                 -> failed (rejected, or out of attempts)
                                 -> unconfirmed (the outcome is unknown: a crash or a lost response;
                                    never sent again automatically, a person decides)
    The payload holds what to say, never where: webhook URLs are secrets and are read from the
    settings at send time.
    """

    class Channel(models.TextChoices):
        DISCORD = "discord", "Discord"
        EMAIL = "email", "E-mail"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        UNCONFIRMED = "unconfirmed", "Unconfirmed (outcome unknown)"

    channel = models.CharField(max_length=10, choices=Channel.choices)
    kind = models.CharField(max_length=20, help_text="renders, reviews, alerts or digest: the route and the switch.")
    dedupe_key = models.CharField(max_length=200, unique=True)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=32, blank=True, help_text="The sender holding it (a fencing token).")
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    remote_id = models.CharField(max_length=64, blank=True, help_text="Discord's message id (?wait=true).")
    target = models.CharField(max_length=32, blank=True, help_text="Fingerprint of the webhook it went to.")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="outbox_due")]

    def __str__(self) -> str:
        return f"{self.channel} {self.kind} #{self.pk} ({self.state})"


class DiscordTarget(models.Model):
    """A Discord webhook, known by a fingerprint of its URL (the URL itself is a secret and lives
    in the settings only). A 401/403/404 from Discord disables it; a new URL is a new target."""

    fingerprint = models.CharField(max_length=32, unique=True)
    webhook_id = models.CharField(max_length=32, blank=True, help_text="The numeric id in the URL (not secret).")
    kinds = models.CharField(max_length=100, blank=True, help_text="Kinds routed to it when last used.")
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Discord webhook {self.webhook_id or '?'} ({self.fingerprint[:8]}…)"

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None
