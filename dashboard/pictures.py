"""Reads for the dashboard's pictures: the cut as one strip, and the charts of the work over time.

Both are compact JSON the page draws itself (dashboard.js): a fixed number of grouped queries, whatever
the number of shots, renders or notes, so the pages stay within their budget (bench/dashboard.py).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import Coalesce, TruncDate, TruncHour
from django.utils import timezone

from alerts.models import Metric
from frameio.models import ReviewNote
from ingest.models import Render
from shots.models import Project, Scene, Shot, ShotEvent
from shots.selectors import CUT_ORDER
from shots.workflow import ORDER, STAGE_OF, Stage

CHART_DAYS = 30
THROUGHPUT_HOURS = 48
MOVES = [ShotEvent.Kind.TRANSITION, ShotEvent.Kind.OVERRIDE]


def cut_strip(project: Project | None) -> dict:
    """The whole cut in record order, for the strip: three queries.

    `shots` rows are [id, scene id, nomenclature, status index (in `statuses`), frames, omitted (0/1),
    latest version (0: none), open review notes]; `scenes` maps a scene id to [number, name].
    """
    statuses = [status.value for status in ORDER]
    if project is None:
        return {"statuses": statuses, "scenes": {}, "shots": []}
    index = {status: i for i, status in enumerate(statuses)}
    versions = dict(
        Render.objects.filter(shot__project=project, state__in=Render.VERSION_STATES)
        .order_by()
        .values("shot_id")
        .annotate(v=Max("version"))
        .values_list("shot_id", "v")
    )
    notes = dict(
        ReviewNote.objects.filter(shot__project=project, completed_at__isnull=True, deleted_at__isnull=True)
        .order_by()
        .values("shot_id")
        .annotate(n=Count("id"))
        .values_list("shot_id", "n")
    )
    scene_rows = Scene.objects.filter(project=project).values_list("pk", "number", "name")
    scenes = {pk: [number, name] for pk, number, name in scene_rows}
    rows = Shot.objects.filter(project=project).order_by(*CUT_ORDER)
    shots = [
        [pk, scene_id, name, index[status], duration or 0, int(omitted), versions.get(pk) or 0, notes.get(pk, 0)]
        for pk, scene_id, name, status, duration, omitted in rows.values_list(
            "pk", "scene_id", "nomenclature", "status", "duration", "omitted"
        )
    ]
    return {"statuses": statuses, "scenes": scenes, "shots": shots}


def charts(now: datetime | None = None) -> dict:
    """The charts panel's series: seven queries (six grouped, one count) over the existing rows."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    days = [today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    since = timezone.make_aware(datetime.combine(days[0], datetime.min.time()))
    return {
        "days": [day.isoformat() for day in days],
        "moves": _moves_per_stage(days, since),
        "renders": _renders_per_day(days, since),
        "throughput": _upload_throughput(now),
        "open_notes": _open_notes_per_day(days, since),
    }


def _per_day(days: list[date], rows) -> list[int]:
    counts = {row["day"]: row["n"] for row in rows}
    return [counts.get(day, 0) for day in days]


def _moves_per_stage(days: list[date], since: datetime) -> dict[str, list[int]]:
    """Shots moved into each stage per day (transitions and forced moves; refusals moved nothing)."""
    rows = (
        ShotEvent.objects.filter(created_at__gte=since, kind__in=MOVES)
        .exclude(to_status="")
        .annotate(day=TruncDate("created_at"))
        .order_by()
        .values("day", "to_status")
        .annotate(n=Count("id"))
    )
    per_stage: dict[str, dict[date, int]] = {stage.value: defaultdict(int) for stage in Stage}
    for row in rows:
        per_stage[STAGE_OF[row["to_status"]].value][row["day"]] += row["n"]
    return {stage: [counts[day] for day in days] for stage, counts in per_stage.items()}


def _renders_per_day(days: list[date], since: datetime) -> dict[str, list[int]]:
    """Renders verified per day, and renders quarantined (those still quarantined, on the day they were)."""
    verified = (
        Render.objects.filter(verified_at__gte=since)
        .annotate(day=TruncDate("verified_at"))
        .order_by()
        .values("day")
        .annotate(n=Count("id"))
    )
    quarantined = (
        Render.objects.filter(state=Render.State.QUARANTINED, updated_at__gte=since)
        .annotate(day=TruncDate("updated_at"))
        .order_by()
        .values("day")
        .annotate(n=Count("id"))
    )
    return {"verified": _per_day(days, verified), "quarantined": _per_day(days, quarantined)}


def _upload_throughput(now: datetime) -> dict[str, list]:
    """MB/s per hour over the last THROUGHPUT_HOURS: the bytes of the uploads finished in the hour over the
    seconds they took (alerts' `upload` metric: value bytes, amount seconds)."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=THROUGHPUT_HOURS - 1)
    rows = (
        Metric.objects.filter(name=Metric.UPLOAD, at__gte=start, amount__gt=0)
        .annotate(hour=TruncHour("at"))
        .order_by()
        .values("hour")
        .annotate(bytes=Sum("value"), seconds=Sum("amount"))
    )
    rates = {timezone.localtime(row["hour"]).replace(tzinfo=None): row["bytes"] / row["seconds"] / 1e6 for row in rows}
    hours = [timezone.localtime(start + timedelta(hours=n)).replace(tzinfo=None) for n in range(THROUGHPUT_HOURS)]
    mbps = [round(rates.get(hour, 0), 2) for hour in hours]
    return {"hours": [hour.isoformat(timespec="minutes") for hour in hours], "mbps": mbps}


def _open_notes_per_day(days: list[date], since: datetime) -> list[int]:
    """Review notes open at the end of each day: today's open count, walked back with the notes opened and
    closed (completed, else deleted) on each later day."""
    notes = ReviewNote.objects.order_by()
    open_now = notes.filter(completed_at__isnull=True, deleted_at__isnull=True).count()
    opened = _by_day(notes.annotate(at=Coalesce("commented_at", "created_at")), since)
    closed = _by_day(notes.annotate(at=Coalesce("completed_at", "deleted_at")), since)
    series, level = [], open_now
    for day in reversed(days):
        series.append(level)
        level += closed.get(day, 0) - opened.get(day, 0)  # back to the end of the day before
    return list(reversed(series))


def _by_day(notes, since: datetime) -> dict[date, int]:
    rows = notes.filter(Q(at__gte=since)).annotate(day=TruncDate("at")).values("day").annotate(n=Count("id"))
    return {row["day"]: row["n"] for row in rows}
