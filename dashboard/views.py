"""The supervisors' dashboard: staff only. Pages read through `selectors`; controls call services."""

from pathlib import Path

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_POST

from alerts.models import Alert
from alerts.selectors import open_alerts
from alerts.services import alert_acknowledge
from dashboard import selectors
from dashboard.forms import ForceStatusForm
from frameio.models import Upload
from frameio.uploads import upload_retry
from frameio.views import CONNECTION_PERMISSIONS
from ingest.models import Render
from ingest.services import render_release
from postflow import realtime
from shots.models import Scene, Shot
from shots.services import ShotStatusError, shot_force_status
from shots.workflow import ORDER, PROGRESS_WEIGHT, STAGE_OF

# Each control needs the same model permission as the admin action it mirrors; a staff user
# without it sees the data, not the control.
CONTROL_PERMISSIONS = {
    "force": "shots.force_status",
    "release": "ingest.change_render",
    "retry": "frameio.change_upload",
    "acknowledge": "alerts.change_alert",
    # The health panel's "Connect…" link: frameio's own table, which its pages draw and enforce.
    "frameio_connect": CONNECTION_PERMISSIONS["connect"],
}


# Browsers ask every site for /favicon.ico (the admin's pages too): served, so that no page logs a 404 for it.
FAVICON = Path(__file__).resolve().parent / "static" / "dashboard" / "favicon.ico"


@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    return HttpResponse(FAVICON.read_bytes(), content_type="image/x-icon")


def _controls(request: HttpRequest) -> dict[str, bool]:
    """Which controls the page draws (read at once: a fixed number of queries, whatever the data)."""
    return {control: request.user.has_perm(permission) for control, permission in CONTROL_PERMISSIONS.items()}


def _live_config(*, last_id: int, watermark: int = 0, **extra) -> dict:
    """What dashboard.js needs: where the log stands, and the status machine for the bars."""
    statuses = [
        {"value": s.value, "label": s.label, "stage": STAGE_OF[s].value, "weight": PROGRESS_WEIGHT[s]} for s in ORDER
    ]
    return {"last_id": last_id, "watermark": watermark, "statuses": statuses, **extra}


@never_cache
@staff_member_required
def index(request: HttpRequest) -> HttpResponse:
    # The log position is read before the figures: an event in between is replayed, and the
    # ShotEvent watermark (read with the figures) tells the page it is already counted.
    last_id = realtime.last_event_id()
    project = selectors.dashboard_project()
    overview = selectors.overview(project)
    live = _live_config(
        last_id=last_id,
        watermark=overview.watermark,
        page="index",
        project_id=project.pk if project else None,
        scenes={scene.pk: progress.counts for scene, progress in overview.scenes},
        notes_limit=selectors.LIST_LIMIT,
    )
    context = {
        "overview": overview,
        "activity": selectors.recent_activity(),
        "notes": selectors.review_notes(project),
        "alerts": open_alerts(),
        "live": live,
        "controls": _controls(request),
        **_panels(),
    }
    return render(request, "dashboard/index.html", context)


@never_cache
@staff_member_required
def scene_detail(request: HttpRequest, pk: int) -> HttpResponse:
    last_id = realtime.last_event_id()
    scene = get_object_or_404(Scene.objects.select_related("project"), pk=pk)
    shots = selectors.scene_shots(scene)
    progress = selectors.Progress()
    for shot in shots:
        shot.record_in = shot.timecode("timeline_in")
        if not shot.omitted:
            progress.counts[shot.status] += 1
    context = {
        "scene": scene,
        "shots": shots,
        "progress": progress,
        "controls": _controls(request),
        "force_form": ForceStatusForm(),
        "live": _live_config(last_id=last_id, page="scene", scene_id=scene.pk, project_id=scene.project_id),
    }
    return render(request, "dashboard/scene.html", context)


@never_cache
@staff_member_required
def shot_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One shot: every version (state, checksum, media, Frame.io link) with its review notes, and its history."""
    page = selectors.shot_page(pk)
    if page is None:
        raise Http404("no such shot")
    page.shot.record_in = page.shot.timecode("timeline_in")
    page.shot.record_out = page.shot.timecode("timeline_out")
    context = {"page": page, "shot": page.shot, "live": _live_config(last_id=realtime.last_event_id(), page="shot")}
    return render(request, "dashboard/shot.html", context)


@never_cache
@staff_member_required
def panel_renders(request: HttpRequest) -> HttpResponse:
    """The upload-queue panel alone: the page swaps it in when a render changes state."""
    context = {"queue": selectors.render_queue(), "controls": _controls(request)}
    return render(request, "dashboard/_renders.html", context)


@never_cache
@staff_member_required
def shot_notes(request: HttpRequest, pk: int) -> HttpResponse:
    """A shot's open review notes (count and the newest), for its row of the scene page: the page
    swaps it in when a `review.note` event names the shot."""
    shot = selectors.shot_open_notes(pk)
    if shot is None:
        raise Http404("no such shot")
    return render(request, "dashboard/_shot_notes.html", {"shot": shot})


@never_cache
@staff_member_required
def panel_health(request: HttpRequest) -> HttpResponse:
    """Watcher heartbeats and the Frame.io connection: the page refreshes it every few seconds."""
    return render(request, "dashboard/_health.html", {**_health(), "controls": _controls(request)})


@never_cache
@staff_member_required
def panel_alerts(request: HttpRequest) -> HttpResponse:
    """The open alerts with their Acknowledge buttons: the page refreshes it every 30 s (live ones
    appear at once through "alert.opened", their button with the next refresh)."""
    return render(request, "dashboard/_alerts.html", {"alerts": open_alerts(), "controls": _controls(request)})


def _panels() -> dict:
    return {"queue": selectors.render_queue(), **_health()}


def _health() -> dict:
    now = timezone.now()
    return {
        "heartbeats": selectors.heartbeats(now),
        "frameio": selectors.frameio_state(now),
        "frameio_permission": CONTROL_PERMISSIONS["frameio_connect"],
    }


# --- supervisor controls: POST + CSRF, staff only; each one calls a service ---------------------


@staff_member_required
@require_POST
def force_status(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "force")
    shot = get_object_or_404(Shot, pk=pk)
    form = ForceStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"{shot}: {_form_errors(form)}")
    else:
        try:
            moved = shot_force_status(
                shot_id=shot.pk,
                to_status=form.cleaned_data["status"],
                actor=f"user:{request.user.get_username()}",
                reason=form.cleaned_data["reason"],
            )
        except ShotStatusError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{moved}: forced to {moved.get_status_display()}.")
    return _back(request, reverse("dashboard:scene", args=[shot.scene_id]))


@staff_member_required
@require_POST
def release_render(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "release")
    render_row = get_object_or_404(Render, pk=pk)
    if render_release(render_id=render_row.pk):
        messages.success(request, f"{render_row.path}: released; the watcher verifies it again on its next scan.")
    else:
        messages.warning(request, f"{render_row.path} is not quarantined (any more): nothing to release.")
    return _back(request, reverse("dashboard:index"))


@staff_member_required
@require_POST
def retry_upload(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "retry")
    upload = get_object_or_404(Upload.objects.select_related("render"), pk=pk)
    if upload_retry(upload_id=upload.pk):
        messages.success(request, f"{upload.render.path}: upload queued again.")
    else:
        messages.warning(request, f"{upload.render.path}: the upload has not failed: nothing to retry.")
    return _back(request, reverse("dashboard:index"))


@staff_member_required
@require_POST
def acknowledge_alert(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "acknowledge")
    alert = get_object_or_404(Alert, pk=pk)
    if alert_acknowledge(alert_id=alert.pk, actor=f"user:{request.user.get_username()}"):
        messages.success(request, f"{alert.title}: acknowledged; off this list until it resolves.")
    else:
        messages.warning(request, f"{alert.title} is not open (any more): nothing to acknowledge.")
    return _back(request, reverse("dashboard:index"))


def _require(request: HttpRequest, control: str) -> None:
    permission = CONTROL_PERMISSIONS[control]
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"this needs the {permission} permission")


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = default
    return HttpResponseRedirect(target)


def _form_errors(form) -> str:
    return "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
