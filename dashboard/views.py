"""The supervisors' dashboard: staff only. Pages read through `selectors`; controls call services."""

from pathlib import Path

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_POST

from alerts.models import Alert
from alerts.selectors import open_alerts
from alerts.services import alert_acknowledge
from dashboard import pictures, selectors
from dashboard.forms import ForceStatusForm
from dashboard.playback import (
    DescriptorReader,
    RangeNotSatisfiable,
    byte_range,
    open_play_file,
    playable_file,
)
from frameio.models import Upload
from frameio.uploads import upload_retry
from frameio.views import CONNECTION_PERMISSIONS
from ingest.models import Render
from ingest.services import render_release
from ingest.thumbnails import thumbnail_path, thumbnail_request
from ingest.verify import FileChanged, open_no_follow
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
# Watching a render (its thumbnail, its file in the player) reads the ledger's files: the admin's view permission.
MEDIA_PERMISSION = "ingest.view_render"


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
    for version in page.versions:
        _add_player(version, project_fps=page.shot.project.fps)
    # The shot's picture: its latest version's (versions come newest first).
    page.latest = next((v for v in page.versions if v.state in Render.VERSION_STATES and v.checksum), None)
    live = _live_config(last_id=realtime.last_event_id(), page="shot")
    live["player"] = {"project_fps": page.shot.project.fps, "record_in": page.shot.timeline_in}
    context = {"page": page, "shot": page.shot, "live": live, "can_watch": request.user.has_perm(MEDIA_PERMISSION)}
    return render(request, "dashboard/shot.html", context)


def _add_player(version: Render, *, project_fps: float) -> None:
    """What the shot page's player needs of a version: the file it plays (or why none), its rate and
    length, and each note's marker on the timeline (as % of the render)."""
    version.play = playable_file(version)
    frames = version.media.get("frames") or 0
    version.player = {"fps": version.media.get("fps") or project_fps, "frames": frames}
    for note in version.notes:
        note.marker_left = f"{100 * (max(note.frame, 1) - 1) / frames:.3f}" if note.frame and frames else ""


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


# --- pictures: the cut strip, the charts, thumbnails and the player's stream ----------------------


@never_cache
@staff_member_required
def cut_json(request: HttpRequest) -> JsonResponse:
    """The whole cut for the strip (`dashboard.pictures.cut_strip`): fetched by the page after it is drawn."""
    return JsonResponse(pictures.cut_strip(selectors.dashboard_project()))


@never_cache
@staff_member_required
def charts_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse(pictures.charts())


@staff_member_required
def render_thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    """The render's poster frame (postflow's own file). A missing one is asked of a worker, and is a 404 until then."""
    _require_media(request)
    render = get_object_or_404(Render, pk=pk)
    path = thumbnail_path(render)
    try:
        if path is None:  # never verified: it has no picture to ask for
            raise FileNotFoundError(pk)
        with open_no_follow(path) as handle:
            data = handle.read()
    except OSError:
        thumbnail_request(render)
        response = HttpResponse("no thumbnail yet", status=404, content_type="text/plain")
        response["Cache-Control"] = "no-store"
        return response
    response = HttpResponse(data, content_type="image/webp")
    # Its URL names the render's checksum (?v=): new content is a new URL, so the browser may keep this one.
    response["Cache-Control"] = "private, max-age=86400"
    return response


@staff_member_required
def play_render(request: HttpRequest, pk: int) -> HttpResponse:
    """The bytes the player plays for a render (`playback.playable_file`), whole or by Range, streamed from a
    descriptor checked against the ledger: no symlink followed, the very file that was verified."""
    _require_media(request)
    render = get_object_or_404(Render.objects.select_related("proxy"), pk=pk)
    file = playable_file(render)
    if file.problem:
        raise Http404(file.problem)
    try:
        span = byte_range(request.headers.get("Range"), file.size)
    except RangeNotSatisfiable:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{file.size}"
        return response
    try:
        fd = open_play_file(file)
    except (OSError, FileChanged):
        # Gone or changed since verified: the watcher will see it; the player says it cannot play.
        return HttpResponse("the file changed since it was verified", status=409, content_type="text/plain")
    start, end = span or (0, file.size - 1)
    response = StreamingHttpResponse(
        DescriptorReader(fd, start, end), status=206 if span else 200, content_type=file.content_type
    )
    response["Accept-Ranges"] = "bytes"
    response["Content-Length"] = str(end - start + 1)
    if span:
        response["Content-Range"] = f"bytes {start}-{end}/{file.size}"
    response["Cache-Control"] = "private, no-transform"
    return response


def _require_media(request: HttpRequest) -> None:
    if not request.user.has_perm(MEDIA_PERMISSION):
        raise PermissionDenied(f"this needs the {MEDIA_PERMISSION} permission")


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
