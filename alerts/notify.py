"""What postflow tells people, as Discord embeds and e-mails queued in the outbox.

Each function reads what it reports, builds the message and queues it once (a dedupe key per
event). Kinds route to their own webhook: renders, reviews, alerts, digest (settings; the digests
themselves are alerts/digest.py).
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from alerts.models import Alert, Severity
from alerts.notifiers.discord import body, clip, embed
from alerts.services import outbox_queue
from delivery.models import Delivery
from frameio.models import ReviewNote, Upload
from ingest.models import Render
from shots.models import Shot
from shots.workflow import Status

NOTES_SHOWN = 10
MB = 1024 * 1024


def _version(render: Render) -> str:
    return f"v{render.version:03d}" if render.version else ""


# --- renders and review ----------------------------------------------------------------------------


def render_uploaded(*, upload_id: int) -> list[int]:
    """A render reached Frame.io: the shot, the version and the Frame.io link."""
    upload = Upload.objects.select_related("render__shot__scene__project").filter(pk=upload_id).first()
    if upload is None or upload.render.shot is None or upload.uploaded_at is None:
        return []
    render, shot = upload.render, upload.render.shot
    took = (upload.uploaded_at - upload.started_at).total_seconds() if upload.started_at else None
    message = embed(
        title=f"{shot} {_version(render)} uploaded for review".strip(),
        color="info",
        url=upload.view_url,
        description=f"[Open in Frame.io]({upload.view_url})" if upload.view_url else render.path,
        fields=[
            ("Scene", str(shot.scene)),
            ("Size", f"{upload.bytes_total / MB:.0f} MB"),
            ("Took", f"{took:.0f} s" if took is not None else "—"),
            ("File", clip(render.path, 200)),
        ],
        timestamp=upload.uploaded_at.isoformat(),
    )
    key = f"renders:upload:{upload.pk}:{upload.uploaded_at.isoformat()}"
    return outbox_queue(kind="renders", key=key, discord_body=body(message))


REVIEW_WORDS = {Status.REVIEW_APPROVED: ("approved", "ok"), Status.REVISION_REQUESTED: ("changes requested", "warning")}


def review_decided(*, shot_id: int, upload_id: int, to_status: str, event_id: int | None) -> list[int]:
    """Review came back from Frame.io: approved, or changes requested with the notes."""
    if to_status not in REVIEW_WORDS:
        return []
    upload = Upload.objects.select_related("render__shot__scene").filter(pk=upload_id).first()
    shot = Shot.objects.select_related("scene").filter(pk=shot_id).first()
    if upload is None or shot is None:
        return []
    word, color = REVIEW_WORDS[Status(to_status)]
    notes = list(
        ReviewNote.objects.filter(render=upload.render, deleted_at__isnull=True).order_by("frame", "commented_at")
    )
    lines = [_note_line(note) for note in notes[:NOTES_SHOWN]]
    if len(notes) > NOTES_SHOWN:
        lines.append(f"… and {len(notes) - NOTES_SHOWN} more notes")
    message = embed(
        title=f"{shot} {_version(upload.render)}: {word}".replace("  ", " "),
        color=color,
        url=upload.view_url,
        description="\n".join(lines) or "No notes.",
        fields=[("Scene", str(shot.scene)), ("Notes", str(len(notes)))],
        timestamp=timezone.now().isoformat(),
    )
    key = f"reviews:event:{event_id}" if event_id else f"reviews:{upload.pk}:{to_status}:{timezone.now():%Y%m%d%H%M}"
    return outbox_queue(kind="reviews", key=key, discord_body=body(message))


def _note_line(note: ReviewNote) -> str:
    where = note.render_timecode if note.frame is not None else ""
    author = f" — {note.author}" if note.author else ""
    done = " ✓" if note.completed else ""
    return clip(f"• {f'`{where}` ' if where else ''}{note.text}{author}{done}", 300)


# --- deliveries --------------------------------------------------------------------------------------


def deliveries_finished(*, batch: str, delivery_ids: list[int]) -> list[int]:
    """One message per run of deliveries: per scene, "Scene 04: 6 shots delivered, manifest …", then the
    failures with the file and the reason."""
    deliveries = list(Delivery.objects.filter(pk__in=delivery_ids).select_related("shot__scene").order_by("pk"))
    lines = _delivered_lines([d for d in deliveries if d.state == Delivery.State.DELIVERED])
    failed = [d for d in deliveries if d.state == Delivery.State.FAILED]
    lines += [clip(f"✗ {d.shot} v{d.version:03d}: {d.error}", 300) for d in failed[:NOTES_SHOWN]]
    if len(failed) > NOTES_SHOWN:
        lines.append(f"… and {len(failed) - NOTES_SHOWN} more failed")
    if not lines:
        return []
    delivered = len(deliveries) - len(failed)
    title = f"{delivered} shot{'s' * (delivered != 1)} delivered" + (f", {len(failed)} failed" if failed else "")
    message = embed(
        title=title,
        color="warning" if failed else "ok",
        description="\n".join(lines),
        timestamp=timezone.now().isoformat(),
    )
    mail = {"subject": f"[postflow] {title}", "body": "\n".join(lines) + "\n"}
    return outbox_queue(kind="deliveries", key=f"deliveries:{batch}", discord_body=body(message), mail=mail)


def _delivered_lines(delivered: list[Delivery]) -> list[str]:
    per_scene: dict[int, list[Delivery]] = {}
    for delivery in delivered:
        per_scene.setdefault(delivery.shot.scene.number, []).append(delivery)
    lines = []
    for number, items in sorted(per_scene.items()):
        manifests = ", ".join(d.manifest for d in items[:3]) + (" …" if len(items) > 3 else "")
        count = f"{len(items)} shot{'s' * (len(items) != 1)}"
        lines.append(clip(f"Scene {number:02d}: {count} delivered, manifest {manifests}", 600))
    return lines


# --- alerts ------------------------------------------------------------------------------------------

ALERT_COLORS = {Severity.INFO: "info", Severity.WARNING: "warning", Severity.CRITICAL: "critical"}


def alert_opened(alert: Alert) -> list[int]:
    message = embed(
        title=f"{alert.get_severity_display()}: {alert.title}",
        color=ALERT_COLORS[Severity(alert.severity)],
        description=alert.detail,
        fields=[("Rule", alert.rule), ("Key", alert.key)],
        timestamp=alert.opened_at.isoformat(),
    )
    mail = {
        "subject": f"[postflow] {alert.get_severity_display()}: {alert.title}",
        "body": f"{alert.title}\n\n{alert.detail}\n\nRule: {alert.rule}\nKey: {alert.key}\n"
        f"Opened: {alert.opened_at:%Y-%m-%d %H:%M:%S %Z}\n",
    }
    return outbox_queue(kind="alerts", key=f"alerts:{alert.pk}:opened", discord_body=body(message), mail=mail)


def alert_resolved(alert: Alert) -> list[int]:
    lasted = _duration((alert.resolved_at or timezone.now()) - alert.opened_at)
    who = "the condition cleared" if alert.resolved_by == "rule" else f"resolved by {alert.resolved_by}"
    message = embed(
        title=f"Resolved: {alert.title}",
        color="ok",
        description=f"{who}, after {lasted}.",
        fields=[("Rule", alert.rule), ("Key", alert.key)],
        timestamp=(alert.resolved_at or timezone.now()).isoformat(),
    )
    mail = {
        "subject": f"[postflow] resolved: {alert.title}",
        "body": f"{alert.title}\n\nResolved: {who}, after {lasted}.\nRule: {alert.rule}\nKey: {alert.key}\n",
    }
    return outbox_queue(kind="alerts", key=f"alerts:{alert.pk}:resolved", discord_body=body(message), mail=mail)


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60:02d} min"
