from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

from postflow.lib.timecode import frames_to_timecode, render_timecode

# Adobe IMS refresh tokens live 14 days by default; every refresh returns a new one.
REFRESH_TOKEN_LIFETIME = timedelta(days=14)


class FrameioConnection(models.Model):
    """The one Frame.io connection of this install: credentials mode, target ids and encrypted tokens.

    There is one row (key "default"); `frameio.auth` is the only writer. Tokens are Fernet-encrypted
    (`frameio.crypto`) and never shown in the admin, repr or logs.
    """

    SINGLETON_KEY = "default"
    # Connecting, choosing the account/workspace/project and disconnecting (frameio.views
    # CONNECTION_PERMISSIONS); being staff only shows the connection.
    MANAGE_PERMISSION = "frameio.manage_connection"

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
        permissions = [("manage_connection", "Can connect, choose the account of, and disconnect Frame.io")]

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


class FrameioConnectionEvent(models.Model):
    """The audit of the connection: who connected, chose the target or disconnected, and when; and each
    cached Frame.io id (project, folder, version stack) dropped because Frame.io no longer knows it, or
    cleared by `manage.py frameio_cache clear`.

    Written only by `frameio.auth`, in the transaction of the change it records (a revocation that
    failed is recorded after the disconnect, which must not wait on Adobe IMS). `details` holds ids,
    names and the auth mode, never a token. No foreign key: the history outlives the row.
    """

    class Kind(models.TextChoices):
        CONNECTED = "connected", "Connected"
        ACCOUNT_CHOSEN = "account_chosen", "Account, workspace or project chosen"
        DISCONNECTED = "disconnected", "Disconnected"
        TOKEN_REVOKE_FAILED = "token_revoke_failed", "Token revocation failed"
        CACHE_DROPPED = "cache_dropped", "Cached Frame.io id dropped"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.CharField(max_length=150, help_text='"user:alice", or "system" (Server-to-Server first use)')
    at = models.DateTimeField(default=timezone.now, db_index=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "Frame.io connection event"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.actor}"


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
    IN_FRAMEIO = (State.UPLOADED, State.READY)  # the bytes are in Frame.io
    ENDED = (State.FAILED, State.CANCELLED)  # until a person retries, or the render's content changes

    render = models.OneToOneField("ingest.Render", on_delete=models.PROTECT, related_name="upload")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED, db_index=True)
    checksum = models.CharField(max_length=32, blank=True, help_text="The render content this upload sends.")
    # A render's review proxy is its own file: built again for the same content, its bytes may differ, and
    # parts planned for the old bytes must not be mixed with the new ones ("" for plans made before it).
    file_checksum = models.CharField(
        max_length=32, blank=True, help_text="xxh3-128 of the file the parts were planned for (render or proxy)."
    )
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


# --- review from Frame.io (webhooks, notes, Status) ------------------------------------------------


class FrameioWebhook(models.Model):
    """The webhook postflow registered in a Frame.io workspace, with its signing secret encrypted.

    One per workspace; `frameio.webhooks` is the only writer. Frame.io shows the secret once, in the
    create answer: it is stored Fernet-encrypted (`frameio.crypto`) and never shown, logged or sent.
    """

    account_id = models.CharField(max_length=64)
    workspace_id = models.CharField(max_length=64, unique=True)
    webhook_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=255, blank=True)
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list)
    secret_enc = models.TextField(editable=False)
    registered_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Frame.io webhook"

    def __str__(self) -> str:
        return f"webhook {self.webhook_id} → {self.url}"


class WebhookDelivery(models.Model):
    """One Frame.io event, stored once however many times it is delivered.

    `key` is the event's identity: Frame.io's payload carries ids only and no event or delivery id,
    and a retry resends the same body, so the key is the SHA-256 of the payload's canonical JSON.
    queued -> processing -> done | ignored | failed. A delivery arriving again after its job ran is
    queued again (the job reads the current state, so running it twice changes nothing twice);
    `received_count` / `claimed_count` let a job notice a delivery that came in while it worked.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    FINISHED = (State.DONE, State.IGNORED, State.FAILED)

    key = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=64, db_index=True)
    resource_type = models.CharField(max_length=32, blank=True)
    resource_id = models.CharField(max_length=64, blank=True, db_index=True)
    account_id = models.CharField(max_length=64, blank=True)
    workspace_id = models.CharField(max_length=64, blank=True)
    project_id = models.CharField(max_length=64, blank=True)
    user_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED, db_index=True)
    received_count = models.PositiveIntegerField(default=1)
    claimed_count = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    outcome = models.TextField(blank=True)
    signed_at = models.DateTimeField(help_text="X-Frameio-Request-Timestamp of the latest delivery.")
    first_received_at = models.DateTimeField()
    last_received_at = models.DateTimeField(db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_received_at", "-id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_type} {self.resource_type} {self.resource_id}"


class ReviewState(models.Model):
    """What review sync knows of one render's Frame.io file: the Status option last seen (so that
    only a change in Frame.io moves the shot, once) and when the reconciliation last polled it."""

    frameio_file_id = models.CharField(max_length=64, unique=True)
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="review_states")
    status_option = models.CharField(max_length=255, blank=True)
    status_seen_at = models.DateTimeField(null=True, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.frameio_file_id}: {self.status_option or 'no Status'}"


class ReviewNote(models.Model):
    """A Frame.io comment on a render, placed in the render and in the cut.

    `frame` is Frame.io's timestamp: a frame number of the render counted from 1. `offset_frames` is
    where that frame falls from the shot's first frame, in project frames (through time when the
    render's rate differs from the project's: `fps_mismatch`). The record position is computed, not
    stored: the shot's current `timeline_in` plus the offset, so the notes follow a re-cut.
    Written by `frameio.review.notes` only; a deleted comment keeps its note, with `deleted_at`.
    """

    frameio_comment_id = models.CharField(max_length=64, unique=True)
    frameio_file_id = models.CharField(max_length=64, db_index=True)
    shot = models.ForeignKey("shots.Shot", on_delete=models.CASCADE, related_name="review_notes")
    render = models.ForeignKey("ingest.Render", on_delete=models.PROTECT, related_name="review_notes")
    version = models.PositiveIntegerField(null=True, blank=True)
    text = models.TextField(blank=True)
    author = models.CharField(max_length=255, blank=True)
    author_id = models.CharField(max_length=64, blank=True)
    frame = models.PositiveIntegerField(
        null=True, blank=True, help_text="Frame.io timestamp: frame of the render, from 1."
    )
    duration_frames = models.PositiveIntegerField(null=True, blank=True)
    render_fps = models.FloatField()
    offset_frames = models.IntegerField(null=True, blank=True, help_text="Project frames from the shot's first frame.")
    fps_mismatch = models.BooleanField(default=False, help_text="The render's frame rate is not the project's.")
    commented_at = models.DateTimeField(null=True, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-version", "frame", "commented_at", "id"]

    def __str__(self) -> str:
        where = f" at frame {self.frame}" if self.frame is not None else ""
        return f"note on {self.shot} v{self.version}{where}"

    @property
    def completed(self) -> bool:
        return self.completed_at is not None

    @property
    def render_timecode(self) -> str:
        """The frame's timecode from the render's start (frame 1 = 00:00:00:00), at the render's rate."""
        return render_timecode(self.frame, self.render_fps)

    @property
    def record_frame(self) -> int | None:
        """Where the note falls in the cut: the shot's record in plus the offset (project frames)."""
        if self.shot.timeline_in is None:
            return None
        return self.shot.timeline_in + (self.offset_frames or 0)

    @property
    def record_timecode(self) -> str:
        frames = self.record_frame
        return "" if frames is None else frames_to_timecode(frames, self.shot.project.fps)
