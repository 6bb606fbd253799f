"""The daily and weekly digests (`manage.py postflow_digest`, and the `alerts.digest_daily` /
`alerts.digest_weekly` schedules): what moved over a period, as text, a Discord embed and an e-mail.

`digest_build(start, end)` reads the figures (read-only); `as_text`, `as_discord` and `as_mail` format
them; `digest_queue` puts them in the outbox (kind `digest`: its own webhook and switch, retries, redaction),
once per period. Deliveries are the shots that reached `final_delivery` in the period (ShotEvent).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from alerts import report
from alerts.models import Alert
from alerts.notifiers.discord import body, embed
from alerts.services import outbox_queue
from frameio.models import ReviewNote
from ingest.models import Render
from shots.models import Project, Shot, ShotEvent
from shots.workflow import STAGE_OF, Stage, Status, percent_complete

PERIODS = {"day": 1, "week": 7}  # days
MOVES = (ShotEvent.Kind.TRANSITION, ShotEvent.Kind.OVERRIDE)


@dataclass(frozen=True)
class Digest:
    """The figures of one period [start, end)."""

    period: str  # "day" or "week"
    start: datetime
    end: datetime
    moves: int = 0  # status changes
    shots_moved: dict[str, int] = field(default_factory=dict)  # stage label -> shots that moved into it
    delivered: int = 0  # shots that reached final_delivery
    renders_verified: int = 0
    renders_quarantined: int = 0
    uploads: dict = field(default_factory=dict)  # alerts.report.uploads_section: uploaded, bytes, rate_mb_s, failed
    notes_in: int = 0  # review notes that came in
    notes_in_still_open: int = 0  # of those, neither completed nor deleted
    notes_open: int = 0  # every open note, whenever it came in
    alerts_opened: int = 0
    alerts_resolved: int = 0
    alerts_open: int = 0  # unresolved now
    projects: list[dict] = field(default_factory=list)  # code, name, shots, delivered, percent

    def as_dict(self) -> dict:
        data = asdict(self)
        data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        return data


def period_bounds(period: str, end: datetime) -> tuple[datetime, datetime]:
    """[end - 1 or 7 local calendar days, end): a day across a DST change is 23 or 25 hours."""
    local_end = timezone.localtime(end)
    naive_start = local_end.replace(tzinfo=None) - timedelta(days=PERIODS[period])
    return timezone.make_aware(naive_start, local_end.tzinfo), end


def digest_build(*, period: str, start: datetime, end: datetime) -> Digest:
    in_period = {"created_at__gte": start, "created_at__lt": end}
    moves = ShotEvent.objects.filter(kind__in=MOVES, **in_period).exclude(to_status="")
    notes = ReviewNote.objects.filter(deleted_at__isnull=True)
    # A note's time is when it was written in Frame.io; one without (older API answers) counts when it arrived.
    arrived = Q(commented_at__gte=start, commented_at__lt=end) | Q(commented_at__isnull=True, **in_period)
    notes_in = notes.filter(arrived)
    still_open = Q(completed_at__isnull=True)
    return Digest(
        period=period,
        start=start,
        end=end,
        moves=moves.count(),
        shots_moved=_shots_moved_per_stage(moves),
        delivered=moves.filter(to_status=Status.FINAL_DELIVERY).values("shot").distinct().count(),
        renders_verified=Render.objects.filter(verified_at__gte=start, verified_at__lt=end).count(),
        renders_quarantined=Render.objects.filter(
            state=Render.State.QUARANTINED, updated_at__gte=start, updated_at__lt=end
        ).count(),
        uploads=report.uploads_section(start, end),
        notes_in=notes_in.count(),
        notes_in_still_open=notes_in.filter(still_open).count(),
        notes_open=notes.filter(still_open).count(),
        alerts_opened=Alert.objects.filter(opened_at__gte=start, opened_at__lt=end).count(),
        alerts_resolved=Alert.objects.filter(resolved_at__gte=start, resolved_at__lt=end).count(),
        alerts_open=Alert.objects.filter(state__in=Alert.UNRESOLVED).count(),
        projects=_progress(),
    )


def _shots_moved_per_stage(moves) -> dict[str, int]:
    """Distinct shots that moved into each stage's statuses, in pipeline order, stages with none left out."""
    shots: dict[Stage, set[int]] = {}
    for shot_id, status in moves.order_by().values_list("shot_id", "to_status").distinct():
        shots.setdefault(STAGE_OF[Status(status)], set()).add(shot_id)
    return {stage.label: len(shots[stage]) for stage in Stage if stage in shots}


def _progress() -> list[dict]:
    rows = []
    for project in Project.objects.filter(shots__isnull=False).distinct().order_by("code"):
        counts = dict(
            Shot.objects.filter(project=project, omitted=False).order_by().values_list("status").annotate(n=Count("id"))
        )
        rows.append(
            {
                "code": project.code,
                "name": project.name,
                "shots": sum(counts.values()),
                "delivered": counts.get(Status.FINAL_DELIVERY, 0),
                "percent": round(percent_complete(counts), 1),
            }
        )
    return rows


# --- formats ---------------------------------------------------------------------------------------------


def title(digest: Digest) -> str:
    start, end = timezone.localtime(digest.start), timezone.localtime(digest.end)
    if digest.period == "day":
        return f"postflow digest, {start:%a %d %b %H:%M} to {end:%a %d %b %Y %H:%M}"
    return f"postflow weekly digest, {start:%a %d %b %H:%M} to {end:%a %d %b %Y %H:%M}"


def _lines(digest: Digest) -> list[tuple[str, str]]:
    """(label, value) in the order every format shows them."""
    up = digest.uploads
    rate = up.get("rate_mb_s", {}).get("median")
    stages = ", ".join(f"{stage} {n}" for stage, n in digest.shots_moved.items()) or "none"
    return [
        ("Shots moved", f"{digest.moves} moves; by stage: {stages}"),
        ("Delivered", str(digest.delivered)),
        ("Renders", f"{digest.renders_verified} verified, {digest.renders_quarantined} quarantined"),
        (
            "Uploads",
            f"{up.get('uploaded', 0)} ({up.get('bytes', 0) / 1e9:.2f} GB), "
            f"median {'—' if rate is None else f'{rate:g} MB/s'}, {up.get('failed', 0)} failed",
        ),
        ("Review notes", f"{digest.notes_in} in ({digest.notes_in_still_open} still open); {digest.notes_open} open"),
        ("Alerts", f"{digest.alerts_opened} opened, {digest.alerts_resolved} resolved; {digest.alerts_open} open"),
    ]


def _progress_lines(digest: Digest) -> list[str]:
    return [
        f"{p['name']}: {p['percent']:g} % complete, {p['delivered']} of {p['shots']} shots delivered"
        for p in digest.projects
    ]


def as_text(digest: Digest) -> str:
    lines = [title(digest), ""]
    lines += [f"  {label:<13} {value}" for label, value in _lines(digest)]
    lines += [""] + [f"  {line}" for line in _progress_lines(digest)] if digest.projects else []
    return "\n".join(lines) + "\n"


def as_discord(digest: Digest) -> dict:
    card = embed(
        title=title(digest),
        color="neutral",
        description="\n".join(_progress_lines(digest)),
        fields=_lines(digest),
        timestamp=digest.end.isoformat(),
    )
    for item in card["fields"]:
        item["inline"] = False  # sentences, not numbers: one per line reads better
    return body(card)


def as_mail(digest: Digest) -> dict:
    return {"subject": f"[postflow] {title(digest)}", "body": as_text(digest)}


def digest_queue(digest: Digest) -> list[int]:
    """Discord (DISCORD_WEBHOOK_URL_DIGEST or the default, DISCORD_NOTIFY_DIGEST) and e-mail (ALERT_EMAILS)
    through the outbox, once per period and channel; returns the new outbox message ids."""
    key = f"digest:{digest.period}:{digest.start.isoformat()}:{digest.end.isoformat()}"
    return outbox_queue(kind="digest", key=key, discord_body=as_discord(digest), mail=as_mail(digest))


def scheduled_end(period: str, scheduled_at: str | None, now: datetime | None = None) -> datetime:
    """The end of a scheduled digest's period: the time it was due (django-q2's intended date), so that a
    late or repeated run reports the same period and the outbox's dedupe key sends it once."""
    return datetime.fromisoformat(scheduled_at) if scheduled_at else (now or timezone.now())


def digest_scheduled(*, period: str, scheduled_at: str | None = None) -> list[int]:
    """The schedules' entry (alerts.tasks): the period that ended when the digest was due, queued once."""
    start, end = period_bounds(period, scheduled_end(period, scheduled_at))
    return digest_queue(digest_build(period=period, start=start, end=end))
