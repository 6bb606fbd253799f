"""Reads for the supervisors' dashboard: aggregate queries only, a bounded number per page.

Percent complete is `shots.workflow.percent_complete` (docs/realtime.md); a scene's (and the
project's) percent is the mean over its shots that are not omitted. "Delivered" is the count at final_delivery alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from frameio.models import FrameioConnection, ReviewNote, Upload
from ingest.models import Render, WatcherHeartbeat
from ingest.settling import settle_wait
from postflow.lib.text import web_link
from shots.models import Project, Scene, Shot, ShotEvent
from shots.selectors import CUT_ORDER
from shots.workflow import ORDER, STAGE_STATUSES, Stage, Status, percent_complete

# The upload queue: the ledger's queued renders (with their Upload row once the job made one),
# the quarantined ones (waiting for a producer) and those still settling.
QUEUE_STATES = [Render.State.DISCOVERED, Render.State.STABLE, Render.State.QUEUED, Render.State.QUARANTINED]
RETRYABLE = [Upload.State.FAILED, Upload.State.CANCELLED]
LIST_LIMIT = 20
# Review notes, newest first: when the reviewer wrote it (when postflow first saw it, if Frame.io
# gave no date), then the newest row.
NOTES_NEWEST = (Coalesce("commented_at", "created_at").desc(), "-id")


@dataclass
class Progress:
    """Shot counts per status for a scene or the whole project, and what follows from them."""

    counts: dict[str, int] = field(default_factory=lambda: {status.value: 0 for status in ORDER})

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def percent(self) -> float:
        return percent_complete(self.counts)

    @property
    def delivered(self) -> int:
        return self.counts[Status.FINAL_DELIVERY]

    @property
    def approved(self) -> int:
        """Shots approved, delivered or waiting for delivery: what "delivered / approved" is out of."""
        return self.counts[Status.REVIEW_APPROVED] + self.counts[Status.FINAL_DELIVERY]

    def add(self, other: Progress) -> None:
        for status, n in other.counts.items():
            self.counts[status] += n

    def segments(self) -> list[dict]:
        """One bar segment per status, in pipeline order, as % of the shots."""
        total = self.total or 1
        # Widths as CSS-ready text: formatting 600 floats in the template costs more than the queries.
        return [
            {"status": s.value, "label": s.label, "n": self.counts[s], "width": f"{100 * self.counts[s] / total:.3f}"}
            for s in ORDER
        ]

    def stages(self) -> list[dict]:
        total = self.total or 1
        rows = []
        for stage, statuses in STAGE_STATUSES.items():
            n = sum(self.counts[s] for s in statuses)
            rows.append({"stage": stage.value, "label": stage.label, "n": n, "width": f"{100 * n / total:.3f}"})
        return rows


@dataclass
class Overview:
    project: Project | None
    overall: Progress
    scenes: list[tuple[Scene, Progress]]
    # The newest ShotEvent id counted in these figures: the page applies live status changes only
    # for later events, so a change is never counted twice.
    watermark: int


def dashboard_project() -> Project | None:
    """The production the dashboard shows: POSTFLOW_PROJECT_CODE, else the first one."""
    projects = Project.objects.order_by("pk")
    return projects.filter(code=settings.POSTFLOW_PROJECT_CODE).first() or projects.first()


def overview(project: Project | None) -> Overview:
    """Counts per scene and status: two queries, whatever the number of shots."""
    if project is None:
        return Overview(None, Progress(), [], 0)
    scenes = list(Scene.objects.filter(project=project).order_by("number"))
    per_scene = {scene.pk: Progress() for scene in scenes}
    watermark = 0
    for row in _status_counts(project):
        per_scene[row["scene_id"]].counts[row["status"]] += row["n"]
        watermark = row["watermark"] or 0
    overall = Progress()
    for progress in per_scene.values():
        overall.add(progress)
    if not overall.total:
        watermark = ShotEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return Overview(project, overall, [(scene, per_scene[scene.pk]) for scene in scenes], watermark)


def _status_counts(project: Project) -> QuerySet:
    # The watermark is read by the same statement as the counts, so both come from one snapshot.
    newest_event = ShotEvent.objects.order_by("-id").values("id")[:1]
    return (
        Shot.objects.filter(project=project, omitted=False)
        .order_by()
        .values("scene_id", "status")
        .annotate(n=Count("id"), watermark=Subquery(newest_event))
    )


def recent_activity(limit: int = 25) -> list[ShotEvent]:
    return list(ShotEvent.objects.select_related("shot").order_by("-id")[:limit])


@dataclass
class RenderQueue:
    counts: dict[str, int]  # renders per ledger state
    uploads: dict[str, int]  # uploads per state, for the queued renders
    queued: list[Render]  # failed uploads first, then the oldest queued; `.upload_row` or None
    quarantined: list[Render]
    settling: list[Render] = field(default_factory=list)  # the oldest first, each with `.wait` (a SettleWait)


def render_queue(now: datetime | None = None) -> RenderQueue:
    """The upload queue: counts per state and the rows that need eyes (five queries)."""
    counts = {state: 0 for state in QUEUE_STATES}
    for row in Render.objects.filter(state__in=QUEUE_STATES).order_by().values("state").annotate(n=Count("id")):
        counts[row["state"]] = row["n"]
    uploads = {state: 0 for state in Upload.State.values}
    for row in (
        Upload.objects.filter(render__state=Render.State.QUEUED).order_by().values("state").annotate(n=Count("id"))
    ):
        uploads[row["state"]] = row["n"]
    queued = list(
        Render.objects.filter(state=Render.State.QUEUED)
        .select_related("shot", "upload")
        .annotate(retryable=Exists(Upload.objects.filter(render=OuterRef("pk"), state__in=RETRYABLE)))
        .order_by("-retryable", "queued_at", "id")[:LIST_LIMIT]
    )
    for render in queued:
        render.upload_row = getattr(render, "upload", None)
    quarantined = Render.objects.filter(state=Render.State.QUARANTINED).order_by("-updated_at", "-id")
    return RenderQueue(counts, uploads, queued, list(quarantined[:LIST_LIMIT]), settling_renders(now))


def settling_renders(now: datetime | None = None) -> list[Render]:
    """The renders not verified yet, oldest first, each with `wait`: why it waits and until when (one query)."""
    now = now or timezone.now()
    rows = Render.objects.filter(state__in=[Render.State.DISCOVERED, Render.State.STABLE]).order_by("first_seen", "id")
    rows = list(rows[:LIST_LIMIT])
    for render in rows:
        render.wait = settle_wait(render, now=now, settle_seconds=settings.POSTFLOW_SETTLE_SECONDS)
    return rows


@dataclass
class Heartbeat:
    name: str
    host: str
    pid: int
    beat_at: datetime
    age: timedelta
    ok: bool
    detail: str
    files_known: int
    last_scan_ms: int


def heartbeat_stale_after() -> timedelta:
    """A watcher that has not beaten for three scan intervals (at least a minute) is presumed dead."""
    return timedelta(seconds=max(60.0, 3 * settings.POSTFLOW_SCAN_INTERVAL_SECONDS))


def heartbeats(now: datetime) -> list[Heartbeat]:
    stale = heartbeat_stale_after()
    rows = []
    for hb in WatcherHeartbeat.objects.order_by("name"):
        age = now - hb.beat_at
        detail = hb.detail if not hb.healthy else ""
        if age > stale:
            detail = f"no heartbeat for {_human(age)}" + (f"; last: {hb.detail}" if hb.detail else "")
        rows.append(
            Heartbeat(
                hb.name,
                hb.host,
                hb.pid,
                hb.beat_at,
                age,
                hb.healthy and age <= stale,
                detail,
                hb.files_known,
                hb.last_scan_ms,
            )
        )
    return rows


@dataclass
class FrameioState:
    level: str  # "ok", "warn" or "bad"
    summary: str
    detail: str
    sandbox: bool


def frameio_state(now: datetime) -> FrameioState:
    """The connection as a supervisor needs it: usable or not, and what to do. No token is read."""
    sandbox = settings.FRAMEIO_SANDBOX
    conn = FrameioConnection.objects.filter(key=FrameioConnection.SINGLETON_KEY).first()
    if conn is None or not conn.has_tokens:
        return FrameioState("warn", "not connected", "", sandbox)
    if conn.needs_reauth:
        return FrameioState("bad", "needs to be connected again", conn.reauth_reason, sandbox)
    target = conn.project_name or conn.project_id or "no project chosen"
    who = conn.connected_as or conn.get_mode_display()
    refresh_left = conn.refresh_token_expires_in(now)
    if refresh_left is not None and refresh_left < timedelta(days=2):
        return FrameioState(
            "warn", f"connected as {who}", f"{target}; sign-in expires in {_human(refresh_left)}", sandbox
        )
    return FrameioState("ok", f"connected as {who}", target, sandbox)


def review_notes(project: Project | None, limit: int = LIST_LIMIT) -> list[ReviewNote]:
    """The project's newest review notes from Frame.io, deleted ones left out (one query)."""
    if project is None:
        return []
    notes = ReviewNote.objects.filter(shot__project=project, deleted_at__isnull=True)
    # shot__project: the record timecode is the shot's record in at the project's rate.
    return list(notes.select_related("shot__project").order_by(*NOTES_NEWEST)[:limit])


def scene_shots(scene: Scene) -> list[Shot]:
    """The scene's shots in cut order, each with `latest_version` from the render ledger, the Frame.io
    link of its latest version in Frame.io (`frameio_url`, `frameio_version`), and its open review notes
    (`open_notes`, `latest_note`; see `_attach_open_notes`): two queries."""
    latest_renders = Render.objects.filter(shot=OuterRef("pk"), state__in=Render.VERSION_STATES).order_by("-version")
    latest = latest_renders.values("version")[:1]
    in_frameio = (
        Upload.objects.filter(
            render__shot=OuterRef("pk"), render__state__in=Render.VERSION_STATES, state__in=Upload.IN_FRAMEIO
        )
        .exclude(view_url="")
        .order_by("-render__version", "-id")
    )
    shots = (
        Shot.objects.filter(scene=scene)
        .select_related("project")
        .annotate(
            latest_version=Subquery(latest),
            # its thumbnail (dashboard:thumbnail; the checksum keeps a browser from showing an older picture)
            latest_render_id=Subquery(latest_renders.values("pk")[:1]),
            latest_checksum=Subquery(latest_renders.values("checksum")[:1]),
            frameio_link=Subquery(in_frameio.values("view_url")[:1]),
            frameio_version=Subquery(in_frameio.values("render__version")[:1]),
        )
        .order_by(*CUT_ORDER)
    )
    rows = _attach_open_notes(shots)
    for shot in rows:
        shot.frameio_url = web_link(shot.frameio_link)
    return rows


# The shot page: every version, every note, the history. Its events are the newest this many (a shot has tens).
SHOT_EVENT_LIMIT = 500


@dataclass
class ShotPage:
    shot: Shot
    # Every render that is or was a version of the shot, newest version first; each with `upload_row` (or
    # None), `frameio_url` and `notes` (its review notes, not the deleted ones, in the order of the render).
    versions: list[Render]
    events: list[ShotEvent]


def shot_page(pk: int) -> ShotPage | None:
    """One shot with its versions, their review notes and its history: four queries, whatever their number."""
    shot = Shot.objects.select_related("project", "scene", "source_file").filter(pk=pk).first()
    if shot is None:
        return None
    notes = list(ReviewNote.objects.filter(shot=shot, deleted_at__isnull=True).order_by("frame", "commented_at", "id"))
    # A render whose file changed since it lost its shot, but keeps the notes made on it: still listed.
    renders = (
        Render.objects.filter(Q(shot=shot) | Q(pk__in={note.render_id for note in notes}))
        .select_related("upload", "proxy")  # the proxy: what the player plays for a render a browser cannot
        .order_by(F("version").desc(nulls_last=True), "-first_seen", "-id")
    )
    versions = list(renders)
    by_render: dict[int, list[ReviewNote]] = {render.pk: [] for render in versions}
    for note in notes:
        note.shot = shot  # its record timecode reads the shot and its project: no query per note
        by_render[note.render_id].append(note)
    for render in versions:
        render.upload_row = getattr(render, "upload", None)
        render.frameio_url = web_link(render.upload_row.view_url if render.upload_row else "")
        render.notes = by_render[render.pk]
    events = list(ShotEvent.objects.filter(shot=shot).order_by("-created_at", "-id")[:SHOT_EVENT_LIMIT])
    return ShotPage(shot, versions, events)


def shot_open_notes(pk: int) -> Shot | None:
    """One shot with `open_notes` and `latest_note` (the scene page re-reads it on a live note)."""
    shots = _attach_open_notes(Shot.objects.filter(pk=pk).select_related("project"))
    return shots[0] if shots else None


def _attach_open_notes(shots: QuerySet[Shot]) -> list[Shot]:
    """Each shot gets `open_notes`, the number of its review notes neither completed nor deleted,
    and `latest_note`, the newest of them (a ReviewNote, or None). Two queries for any number."""
    open_notes = ReviewNote.objects.filter(shot=OuterRef("pk"), completed_at__isnull=True, deleted_at__isnull=True)
    count = open_notes.order_by().values("shot").annotate(n=Count("id")).values("n")
    newest = open_notes.order_by(*NOTES_NEWEST).values("id")[:1]
    shots = shots.annotate(open_notes=Coalesce(Subquery(count), 0), latest_note_id=Subquery(newest))
    # The second query always runs (its ids come from a subquery), so the count per page is fixed.
    notes = ReviewNote.objects.filter(pk__in=shots.order_by().values("latest_note_id"))
    by_id = {note.pk: note for note in notes}
    rows = list(shots)
    for shot in rows:
        shot.latest_note = by_id.get(shot.latest_note_id)
        if shot.latest_note is not None:
            shot.latest_note.shot = shot  # its record timecode reads the shot and its project
    return rows


def stage_choices() -> list[tuple[Stage, list[Status]]]:
    return [(stage, list(statuses)) for stage, statuses in STAGE_STATUSES.items()]


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"
