from datetime import datetime, timedelta

from django.db import models

# Adobe IMS refresh tokens live 14 days by default; every refresh returns a new one.
REFRESH_TOKEN_LIFETIME = timedelta(days=14)


class FrameioConnection(models.Model):
    """The one Frame.io connection of this install: credentials mode, target ids and encrypted tokens.

    There is one row (key "default"); `frameio.auth` is the only writer. Tokens are Fernet-encrypted
    (`frameio.crypto`) and never shown in the admin, repr or logs.
    """

    SINGLETON_KEY = "default"

    class Mode(models.TextChoices):
        OAUTH = "oauth", "OAuth Web App (a person connected)"
        S2S = "s2s", "Server-to-Server (client credentials)"

    key = models.CharField(max_length=20, unique=True, default=SINGLETON_KEY, editable=False)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.OAUTH)
    connected_as = models.CharField(max_length=255, blank=True, help_text="Frame.io user name and e-mail")
    account_id = models.CharField(max_length=64, blank=True)
    account_name = models.CharField(max_length=255, blank=True)
    workspace_id = models.CharField(max_length=64, blank=True)
    workspace_name = models.CharField(max_length=255, blank=True)
    project_id = models.CharField(max_length=64, blank=True)
    project_name = models.CharField(max_length=255, blank=True)
    root_folder_id = models.CharField(max_length=64, blank=True)
    access_token_enc = models.TextField(blank=True, editable=False)
    refresh_token_enc = models.TextField(blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="access token expiry")
    refresh_token_issued_at = models.DateTimeField(null=True, blank=True)
    scopes = models.CharField(max_length=500, blank=True)
    needs_reauth = models.BooleanField(default=False)
    reauth_reason = models.CharField(max_length=500, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Frame.io connection"

    def __str__(self) -> str:
        target = self.project_name or self.project_id or "no project chosen"
        return f"Frame.io ({self.get_mode_display()}): {target}"

    @property
    def has_tokens(self) -> bool:
        return bool(self.access_token_enc)

    def expires_in(self, now: datetime) -> timedelta | None:
        return self.expires_at - now if self.expires_at else None

    def refresh_token_age(self, now: datetime) -> timedelta | None:
        if not self.refresh_token_enc or not self.refresh_token_issued_at:
            return None
        return now - self.refresh_token_issued_at

    def refresh_token_expires_in(self, now: datetime) -> timedelta | None:
        age = self.refresh_token_age(now)
        return REFRESH_TOKEN_LIFETIME - age if age is not None else None


class Upload(models.Model):
    """One verified render on its way to Frame.io: exactly one per render.

    queued -> uploading (Frame.io file created, parts going up) -> processing (every part sent,
    waiting for upload_complete) -> uploaded (stacked, Status set, shot moved) -> ready
    (transcoded); or failed (after FRAMEIO_UPLOAD_MAX_ATTEMPTS, with the reason) / cancelled.
    A worker holds a lease (lease_owner, lease_until) while it works, renewed as it goes; a
    job delivered twice finds the lease taken and does nothing.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        UPLOADING = "uploading", "Uploading"
        PROCESSING = "processing", "Waiting for Frame.io"
        UPLOADED = "uploaded", "Uploaded"
        READY = "ready", "Ready (transcoded)"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (State.QUEUED, State.UPLOADING, State.PROCESSING)

    render = models.OneToOneField("ingest.Render", on_delete=models.PROTECT, related_name="upload")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED, db_index=True)
    checksum = models.CharField(max_length=32, blank=True, help_text="The render content this upload sends.")
    frameio_file_id = models.CharField(max_length=64, blank=True)
    orphan_file_id = models.CharField(max_length=64, blank=True, help_text="A Frame.io file to delete.")
    media_type = models.CharField(max_length=100, blank=True)
    view_url = models.URLField(max_length=500, blank=True)
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0, help_text="Bytes of the parts that landed.")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # Steps after the bytes, each done once.
    stacked_at = models.DateTimeField(null=True, blank=True)
    status_field_set_at = models.DateTimeField(null=True, blank=True)
    shot_moved_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"upload of {self.render}"

    @property
    def progress(self) -> float:
        return self.bytes_done / self.bytes_total if self.bytes_total else 0.0


class UploadPart(models.Model):
    """One presigned part of the Frame.io file, recorded as done the moment it lands."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="parts")
    index = models.PositiveIntegerField()
    offset = models.BigIntegerField()
    size = models.BigIntegerField()
    # The presigned URL is a credential until it expires: encrypted at rest like the tokens.
    url_enc = models.TextField(editable=False)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["upload", "index"]
        constraints = [models.UniqueConstraint(fields=["upload", "index"], name="uploadpart_unique_index")]

    def __str__(self) -> str:
        return f"part {self.index + 1} of {self.upload}"
