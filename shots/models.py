"""Scenes, shots, their source files, and the audit trail of every change."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from postflow.lib import folder_template
from postflow.lib.glob_rules import RuleError
from postflow.lib.timecode import fps_label, frames_to_timecode
from shots.workflow import STAGE_OF, Stage, Status, parse_evidence_rules


def validate_folder_template(value: str) -> None:
    """A shot-tree template that `manage.py shot_tree` can lay out (postflow.lib.folder_template)."""
    try:
        folder_template.parse(value)
    except folder_template.TemplateError as exc:
        raise ValidationError(str(exc), code="folder_template") from None


def validate_evidence_rules(value: object) -> None:
    """A list of "glob=status" texts (ingest.evidence reads them; the grammar is postflow.lib's)."""
    if not isinstance(value, list):
        raise ValidationError('a list of "glob=status" texts, e.g. ["*/ae/*.aep=ae_in_progress"]')
    try:
        parse_evidence_rules(value)
    except RuleError as exc:
        raise ValidationError(str(exc)) from None


class Project(models.Model):
    """One production. Frame counts on its shots are at `fps`."""

    code = models.CharField(max_length=32, unique=True, help_text="Short code used in file names, e.g. UNDLM.")
    name = models.CharField(max_length=200)
    fps = models.FloatField(help_text="Project frame rate; every timecode of its shots is at this rate.")
    naming_templates = models.JSONField(
        default=list,
        blank=True,
        help_text='Render file-name templates, e.g. ["{project}_{shot}_v{version}"]; empty: POSTFLOW_NAMING_TEMPLATES.',
    )
    folder_template = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_folder_template],
        help_text="The folders `manage.py shot_tree` makes for each shot, e.g. "
        "{project}/SEQ{scene:02}/{nomenclature}/{ae,ebsynth/keys,ebsynth/out,renders}; "
        "empty: POSTFLOW_SHOT_TREE_TEMPLATE.",
    )
    evidence_rules = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_evidence_rules],
        help_text='What files in a shot\'s folders prove, e.g. ["*/ae/*.aep=ae_in_progress", '
        '"*/ebsynth/keys/*.png=ebsynth_ready"]: glob=status, first match wins; empty: POSTFLOW_EVIDENCE_RULES.',
    )
    # Frame.io ids, cached once known (empty: the connection's project, or one is created).
    frameio_project_id = models.CharField(max_length=64, blank=True)
    frameio_root_folder_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code}, {fps_label(self.fps)} fps)"


class Scene(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="scenes")
    name = models.CharField(max_length=200)
    # Order of first appearance in the shot list; stable across re-imports (new scenes append).
    number = models.PositiveIntegerField()
    frameio_folder_id = models.CharField(max_length=64, blank=True, help_text="Its folder in Frame.io, once created.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="scene_unique_name"),
            models.UniqueConstraint(fields=["project", "number"], name="scene_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.number:02d} {self.name}"


class SourceFile(models.Model):
    """A camera or archive clip that one or more shots are cut from."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="source_files")
    name = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="sourcefile_unique_name")]

    def __str__(self) -> str:
        return self.name


class Shot(models.Model):
    """A shot of the cut. Its identity within the project is `shot_number`.

    Timecodes are stored as frame counts at the project rate (record out is exclusive, as in
    an EDL); `status` changes only through `shots.services.shot_transition`.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="shots")
    shot_number = models.CharField(max_length=32)
    nomenclature = models.CharField(max_length=100, blank=True, db_index=True)
    scene = models.ForeignKey(Scene, on_delete=models.PROTECT, related_name="shots")
    source_file = models.ForeignKey(SourceFile, on_delete=models.PROTECT, related_name="shots", null=True, blank=True)
    source_in = models.IntegerField(null=True, blank=True)
    source_out = models.IntegerField(null=True, blank=True)
    timeline_in = models.IntegerField(null=True, blank=True)
    timeline_out = models.IntegerField(null=True, blank=True)
    duration = models.IntegerField(null=True, blank=True, help_text="Frames.")
    notes = models.TextField(blank=True)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.PENDING, db_index=True)
    frameio_version_stack_id = models.CharField(
        max_length=64, blank=True, help_text="Its version stack in Frame.io, created at the second version."
    )
    # Set when a re-import no longer lists the shot; it is never deleted, history kept.
    omitted = models.BooleanField(default=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Cut order: by record in; shots not yet placed in the cut go last.
        ordering = ["project", models.F("timeline_in").asc(nulls_last=True), "shot_number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "shot_number"], name="shot_unique_number"),
            models.UniqueConstraint(
                fields=["project", "nomenclature"], condition=~Q(nomenclature=""), name="shot_unique_nomenclature"
            ),
        ]
        permissions = [("force_status", "Can force a shot's status (override) with a reason")]

    def __str__(self) -> str:
        return self.nomenclature or f"shot {self.shot_number}"

    @property
    def stage(self) -> Stage:
        return STAGE_OF[Status(self.status)]

    def timecode(self, field: str) -> str:
        """The field ('timeline_in', 'source_out', 'duration', ...) as HH:MM:SS:FF, or ''."""
        frames = getattr(self, field)
        return "" if frames is None else frames_to_timecode(frames, self.project.fps)


class ShotEvent(models.Model):
    """One row per change to a shot: the audit trail, the activity feed and the outbox.

    Written in the same transaction as the change it records, by `shots.services` only.
    """

    class Kind(models.TextChoices):
        TRANSITION = "transition", "Status change"
        OVERRIDE = "override", "Forced status change"
        REFUSED = "refused", "Refused status change"
        CREATED = "created", "Created by import"
        UPDATED = "updated", "Updated by import"
        OMITTED = "omitted", "Omitted from the shot list"
        RESTORED = "restored", "Back in the shot list"

    shot = models.ForeignKey(Shot, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    from_status = models.CharField(max_length=32, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=32, choices=Status.choices, blank=True)
    # Who or what: "user:alice", "import", "watcher", "frameio".
    actor = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["shot", "-created_at"], name="shotevent_shot_recent")]

    def __str__(self) -> str:
        if self.to_status:
            return f"{self.shot}: {self.from_status or '∅'} → {self.to_status} ({self.actor})"
        return f"{self.shot}: {self.get_kind_display()} ({self.actor})"
