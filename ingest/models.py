"""The render ledger: every file the watcher has seen under a watch root, and what became of it."""

from django.db import models
from django.db.models import Q

from ingest.sequences import display_name
from shots.models import Shot, SourceFile


class RenderState(models.TextChoices):
    DISCOVERED = "discovered", "Discovered"  # seen; waiting for data and the settle window
    STABLE = "stable", "Stable"  # size > 0, unchanged across the settle window
    VERIFIED = "verified", "Verified"  # named, probed and hashed
    QUEUED = "queued", "Queued"  # handed to the upload pipeline
    UPLOADED = "uploaded", "Uploaded"  # in Frame.io
    DONE = "done", "Done"  # verified; its folder's rule asked for no upload
    QUARANTINED = "quarantined", "Quarantined"
    DISMISSED = "dismissed", "Dismissed"  # a producer set it aside
    GONE = "gone", "Gone"  # vanished before it was verified


# The states in which a render holds a version of its shot: one file per (shot, version) among them
# (the constraint below), the latest of them is the shot's current version.
VERSION_STATES = [RenderState.VERIFIED, RenderState.QUEUED, RenderState.UPLOADED, RenderState.DONE]


class RenderKind(models.TextChoices):
    MOVIE = "movie", "Movie"  # one file
    SEQUENCE = "sequence", "Image sequence"  # numbered frames, one row keyed by its pattern (ingest.sequences)


class Render(models.Model):
    """A file under a watch root. One row per (root, path); it survives restarts, so a restart
    never verifies or enqueues a render twice.

    discovered -> stable -> verified -> queued -> uploaded (the upload pipeline has the details)
                         \\-> quarantined (reason) -> released (back to discovered) | dismissed
    """

    State = RenderState
    Kind = RenderKind
    VERSION_STATES = VERSION_STATES  # the module's list, reachable as Render.VERSION_STATES

    root = models.CharField(max_length=500, help_text="The watch root, as configured.")
    path = models.CharField(
        max_length=1000,
        help_text="Relative to the root, with / separators. A sequence's pattern, one # per digit of padding "
        "(renders/ae/UNDLM_00042_v003.####.exr): it holds no range, so it stays the same as frames arrive.",
    )
    # A sequence's size is its frames' total, its mtime the newest frame's, its inode the first frame's.
    size = models.BigIntegerField(default=0)
    mtime_ns = models.BigIntegerField(default=0)
    inode = models.BigIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MOVIE)
    # A sequence's frame set as last observed (0 for a movie); `missing` is its gaps, "1010-1012, 1050".
    first_frame = models.IntegerField(default=0)
    last_frame = models.IntegerField(default=0)
    padding = models.PositiveSmallIntegerField(default=0)
    frame_count = models.PositiveIntegerField(default=0)
    missing = models.TextField(blank=True)
    first_seen = models.DateTimeField()
    # When the current (size, mtime) was first observed; stable once the settle window passed.
    observed_since = models.DateTimeField()
    stable_since = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.DISCOVERED, db_index=True)
    reason = models.TextField(blank=True, help_text="Why it is quarantined (or what happened last).")
    # A `.tmp` rename or a `.done` sidecar said the writer finished: no need to wait the window.
    completion_signal = models.CharField(max_length=16, blank=True)
    shot = models.ForeignKey(Shot, on_delete=models.PROTECT, null=True, blank=True, related_name="renders")
    version = models.PositiveIntegerField(null=True, blank=True)
    rule = models.CharField(max_length=32, blank=True, help_text="What the folder rule says this render means.")
    checksum = models.CharField(max_length=32, blank=True, help_text="xxh3-128, hex (as ASC MHL's xxh128).")
    media = models.JSONField(default=dict, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-first_seen", "path"]
        constraints = [
            models.UniqueConstraint(fields=["root", "path"], name="render_unique_path"),
            # One file per shot version among the renders that count; collisions are quarantined.
            models.UniqueConstraint(
                fields=["shot", "version"],
                condition=Q(state__in=VERSION_STATES),
                name="render_unique_shot_version",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_sequence(self) -> bool:
        return self.kind == RenderKind.SEQUENCE

    @property
    def display_name(self) -> str:
        """What people read: the path, or for a sequence its range in place of the padding
        (renders/ae/UNDLM_00042_v003.[1001-1143].exr)."""
        if not self.is_sequence:
            return self.path
        return display_name(self.path, self.first_frame, self.last_frame, self.padding)

    @property
    def frames_label(self) -> str:
        """ "143 frames" for a sequence (with its gaps), "" for a movie."""
        if not self.is_sequence:
            return ""
        label = f"{self.frame_count:,} frame{'s' * (self.frame_count != 1)}"
        return f"{label}, missing {self.missing}" if self.missing else label


class RenderFrame(models.Model):
    """One frame of a verified sequence: its size and xxh3-128, for the delivery manifest.

    A table rather than a JSON list on the render: a 100,000-frame sequence is ~6 MB of JSON that every
    read of the row would load and every save rewrite, where rows are read only by who needs them (the
    manifest), in frame order, streamed. Written with the verification, replaced by the next one.
    """

    render = models.ForeignKey(Render, on_delete=models.CASCADE, related_name="frames")
    frame = models.IntegerField()
    size = models.BigIntegerField()
    checksum = models.CharField(max_length=32, help_text="xxh3-128, hex.")

    class Meta:
        ordering = ["render", "frame"]
        constraints = [models.UniqueConstraint(fields=["render", "frame"], name="render_frame_unique")]

    def __str__(self) -> str:
        return f"{self.render_id}:{self.frame}"


class ReviewProxy(models.Model):
    """The H.264 copy Frame.io gets in place of a render it should not get as it is (an image sequence, a
    codec or a size `POSTFLOW_PROXY_FOR` names): one per render, built from the render's verified content
    (`source_checksum`) by the proxy job (`ingest.proxies`), written only by `ingest.services`.

    pending -> encoding (a worker holds the lease) -> ready (the file is in place, checksummed; the render
    is queued) | failed (its reason; a producer asks again). New content of the render starts it over.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        ENCODING = "encoding", "Encoding"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    render = models.OneToOneField(Render, on_delete=models.CASCADE, related_name="proxy")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    source_checksum = models.CharField(max_length=32, help_text="The render content it is built from.")
    path = models.CharField(max_length=1500, blank=True, help_text="The proxy file, absolute.")
    size = models.BigIntegerField(default=0)
    mtime_ns = models.BigIntegerField(default=0)
    inode = models.BigIntegerField(default=0)
    checksum = models.CharField(max_length=32, blank=True, help_text="xxh3-128 of the proxy file, hex.")
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    frames = models.PositiveIntegerField(default=0)
    frames_done = models.PositiveIntegerField(default=0)
    fps = models.FloatField(default=0)
    encode_seconds = models.FloatField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField()
    ready_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "review proxy"

    def __str__(self) -> str:
        return f"review proxy of {self.render}"

    def serves(self, render: "Render") -> bool:
        """Whether this proxy stands for the render now: ready, and built from its current content (a
        render whose file changed keeps its row until the proxy is rebuilt)."""
        return self.state == self.State.READY and self.source_checksum == render.checksum


class WatcherHeartbeat(models.Model):
    """One row per watcher process (by name): when it last scanned, and whether its roots are
    reachable. Other parts (dashboard, alerts) read it; a missing heartbeat means a dead watcher."""

    name = models.CharField(max_length=100, unique=True)
    beat_at = models.DateTimeField()
    healthy = models.BooleanField(default=True)
    detail = models.TextField(blank=True)
    last_scan_ms = models.PositiveIntegerField(default=0)
    files_known = models.PositiveIntegerField(default=0)
    pid = models.PositiveIntegerField(default=0)
    host = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({'healthy' if self.healthy else 'unhealthy'} at {self.beat_at:%Y-%m-%d %H:%M:%S})"


class SourceClip(models.Model):
    """The clip a shot list's source file was found as under the rushes root, and what its probe
    read: one row per source file, written by the sources check only (`ingest.services`).

    It is what "verified" meant: a later check that finds the file gone, or with another size or
    mtime, while shots rest on it (past `pending`), sets `problem`; the alert lasts as long as it
    does. Unchanged, the row spares a second probe.
    """

    class Problem(models.TextChoices):
        NONE = "", "None"
        GONE = "gone", "Gone"
        CHANGED = "changed", "Changed"

    source_file = models.OneToOneField(SourceFile, on_delete=models.CASCADE, related_name="clip")
    root = models.CharField(max_length=500, help_text="The rushes root, as configured.")
    path = models.CharField(max_length=1000, help_text="Relative to the root, with / separators.")
    size = models.BigIntegerField()
    mtime_ns = models.BigIntegerField()
    fps = models.FloatField()
    frames = models.PositiveIntegerField(help_text="As the clip's header declares them.")
    start_timecode = models.CharField(max_length=16)
    start_frame = models.BigIntegerField(help_text="The start timecode as a frame count at `fps`.")
    verified_at = models.DateTimeField()
    problem = models.CharField(max_length=8, choices=Problem.choices, blank=True, default=Problem.NONE)
    problem_detail = models.TextField(blank=True)
    problem_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["path"]

    def __str__(self) -> str:
        return self.path
