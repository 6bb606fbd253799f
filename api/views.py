"""The REST API, /api/v1/: shots, versions, notes, status moves and the event feed (docs/api.md).

django-ninja generates the OpenAPI document from these signatures and the schemas (api.schemas);
tests/api validates every answer against the served document.
"""

from __future__ import annotations

import asyncio
import json
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from ninja import NinjaAPI, Query, Schema
from ninja.openapi.docs import Swagger, _csrf_needed
from pydantic import Field

from api import NAMESPACE, errors
from api.auth import BearerToken, TokenRateThrottle, require_perm, require_view, require_write
from api.errors import ApiError
from api.schemas import ErrorOut, EventPage, NoteOut, ShotOut, ShotPage, StatusIn, StatusOut, VersionOut
from api.selectors import AmbiguousShot, page_with_facts, shot_by_nomenclature, shot_notes, shot_versions
from api.serialize import note_out, shot_out, version_out
from postflow import realtime
from shots.models import Shot
from shots.services import ConcurrentTransition, InvalidTransition, ShotStatusError, shot_force_status, shot_transition
from shots.workflow import STAGE_STATUSES, Stage, Status, allowed_targets


class _LocalSwagger(Swagger):
    """The Swagger UI page from django-ninja's own template and static files (settings.NINJA_DIR): ninja
    itself would pick its CDN page, since "ninja" is not an installed app (settings.INSTALLED_APPS says
    why), and a studio's network may not reach a CDN."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        # The context ninja's own page gets (add_csrf: whether an auth of the API uses the session's cookie).
        context = {"swagger_settings": json.dumps(self.settings, indent=1), "api": api, "add_csrf": _csrf_needed(api)}
        return render(request, self.template, context)


api = NinjaAPI(
    title="postflow API",
    version="1",
    description="Shots, versions, review notes, status moves and the live event feed of a postflow "
    "production. Authenticate with `Authorization: Bearer <token>` (`manage.py api_token create USER`).",
    urls_namespace=NAMESPACE,
    auth=BearerToken(),
    throttle=[TokenRateThrottle()],
    # The document is public (a tool reads it before it has a token); the docs page is for staff (api/urls.py).
    openapi_url="/openapi.json",
    docs_url=None,
    docs=_LocalSwagger(),
)
errors.install(api)

# Declared on every operation, so that the document (and a client generated from it) knows the shape.
COMMON_ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 429: ErrorOut}
SHOT_ERRORS = {**COMMON_ERRORS, 404: ErrorOut, 409: ErrorOut}
# The longest long-poll of the event feed, in seconds (a proxy's idle timeout is often 60).
MAX_WAIT_SECONDS = 55


class ShotFilters(Schema):
    project: str | None = Field(None, description="A project's code; every project when omitted.")
    scene: int | None = Field(None, description="The scene's number.")
    status: str | None = Field(None, description="One status (see /shots/{nomenclature}/status for the list).")
    stage: str | None = Field(None, description="One stage: source, after_effects, ebsynth, review, delivery.")
    omitted: bool = Field(False, description="true: only the shots a re-import no longer lists.")
    page: int = Field(1, ge=1)
    page_size: int | None = Field(None, ge=1, description="At most POSTFLOW_API_MAX_PAGE_SIZE (200).")


@api.get("/shots", response={200: ShotPage, **COMMON_ERRORS}, summary="Shots in cut order, paginated")
def list_shots(request: HttpRequest, filters: Query[ShotFilters]) -> dict:
    require_view(request, "shots", "shot")
    page_size = filters.page_size or settings.POSTFLOW_API_PAGE_SIZE
    if page_size > settings.POSTFLOW_API_MAX_PAGE_SIZE:
        raise ApiError(
            400,
            "invalid_request",
            f"query.page_size: at most {settings.POSTFLOW_API_MAX_PAGE_SIZE}",
            fields=["query.page_size"],
        )
    shots = Shot.objects.filter(omitted=filters.omitted)
    if filters.project:
        shots = shots.filter(project__code=filters.project)
    if filters.scene is not None:
        shots = shots.filter(scene__number=filters.scene)
    if filters.status:
        shots = shots.filter(status=_status(filters.status, field="query.status"))
    if filters.stage:
        shots = shots.filter(status__in=STAGE_STATUSES[_stage(filters.stage)])
    count = shots.count()
    start = (filters.page - 1) * page_size
    rows = page_with_facts(shots, start=start, size=page_size)
    return {
        "count": count,
        "page": filters.page,
        "page_size": page_size,
        "next": _next_page(request, filters.page) if start + page_size < count else None,
        "results": [shot_out(shot) for shot in rows],
    }


@api.get("/shots/{nomenclature}", response={200: ShotOut, **SHOT_ERRORS}, summary="One shot")
def get_shot(request: HttpRequest, nomenclature: str, project: str | None = None) -> dict:
    require_view(request, "shots", "shot")
    return shot_out(_shot(nomenclature, project))


@api.get(
    "/shots/{nomenclature}/versions",
    response={200: list[VersionOut], **SHOT_ERRORS},
    summary="Every render of the shot, newest version first",
)
def list_versions(request: HttpRequest, nomenclature: str, project: str | None = None) -> list[dict]:
    require_view(request, "shots", "shot")
    require_view(request, "ingest", "render")
    return [version_out(render) for render in shot_versions(_shot(nomenclature, project))]


@api.get(
    "/shots/{nomenclature}/notes",
    response={200: list[NoteOut], **SHOT_ERRORS},
    summary="The shot's review notes from Frame.io (deleted ones left out)",
)
def list_notes(request: HttpRequest, nomenclature: str, project: str | None = None) -> list[dict]:
    require_view(request, "shots", "shot")
    require_view(request, "frameio", "reviewnote")
    return [note_out(note) for note in shot_notes(_shot(nomenclature, project))]


@api.post(
    "/shots/{nomenclature}/status",
    response={200: StatusOut, **SHOT_ERRORS},
    summary="Move the shot to another status",
    description="A legal move of the status machine (shots.change_shot), else 409 with the allowed moves; "
    "`force` overrides it (shots.force_status and a written reason). Read-only tokens get 403.",
)
def move_status(request: HttpRequest, nomenclature: str, body: StatusIn, project: str | None = None) -> dict:
    require_write(request)
    target = _status(body.to, field="body.to")
    shot = _shot(nomenclature, project)
    user = request.auth.user
    actor = f"user:{user.get_username()}"
    from_status = shot.status
    try:
        if body.force:
            require_perm(request, "shots.force_status")
            if not body.reason.strip():
                raise ApiError(
                    400, "reason_required", "forcing a status needs a written reason", fields=["body.reason"]
                )
            shot_force_status(shot_id=shot.pk, to_status=target, actor=actor, reason=body.reason)
        else:
            require_perm(request, "shots.change_shot")
            details = {"via": "api", "token": request.auth.prefix}
            shot_transition(shot_id=shot.pk, to_status=target, actor=actor, reason=body.reason, details=details)
    except InvalidTransition as exc:
        allowed = [status.value for status in allowed_targets(exc.from_status)]
        raise ApiError(409, "illegal_move", str(exc), allowed=allowed) from None
    except ConcurrentTransition as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except ShotStatusError as exc:
        raise ApiError(409, "status_refused", str(exc)) from None
    moved = _shot(nomenclature, project)
    return {"shot": shot_out(moved), "from_status": from_status, "to_status": target, "forced": body.force}


@api.get(
    "/events",
    response={200: EventPage, **COMMON_ERRORS, 410: ErrorOut},
    summary="The live event log, as a feed (long poll)",
    description="Events after `after`, oldest first, ids strictly increasing: ask again with `after=last_id` "
    "and nothing is skipped or repeated. With `wait`, an empty answer waits up to that many seconds for "
    "the next event. Without `after`, the feed starts now. 410 when events after `after` were pruned "
    "(POSTFLOW_LIVE_EVENT_RETENTION_HOURS) or the log restarted: read the state again, then follow from "
    "`last_id`. Staff users only (the dashboard's audience).",
)
async def follow_events(
    request: HttpRequest,
    after: int | None = Query(None, ge=0),
    wait: float = Query(0, ge=0, le=MAX_WAIT_SECONDS),
    limit: int = Query(100, ge=1, le=500),
) -> dict:
    if not request.auth.user.is_staff:
        raise ApiError(403, "forbidden", "the event feed is for staff users (as the dashboard)")
    start = after if after is not None else await sync_to_async(realtime.last_event_id)()
    deadline = time.monotonic() + wait
    while True:
        page = await sync_to_async(realtime.page_after)(start, limit=limit)
        if page.stale:
            raise ApiError(410, "events_lost", f"{page.stale}: read the state again", last_id=page.last_id)
        left = deadline - time.monotonic()
        if page.events or left <= 0:
            return {"events": page.events, "last_id": page.last_id}
        # An async view: a waiting client holds no worker thread, only this coroutine.
        await asyncio.sleep(min(settings.POSTFLOW_LIVE_POLL_SECONDS, left))


# --- helpers --------------------------------------------------------------------------------------


def _shot(nomenclature: str, project: str | None) -> Shot:
    try:
        shot = shot_by_nomenclature(nomenclature, project=project)
    except AmbiguousShot as exc:
        raise ApiError(409, "ambiguous_shot", str(exc), valid=exc.projects) from None
    if shot is None:
        where = f" in project {project}" if project else ""
        raise ApiError(404, "not_found", f"no shot {nomenclature!r}{where}")
    return shot


def _status(value: str, *, field: str) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise ApiError(
            400, "unknown_status", f"{field}: unknown status {value!r}", valid=list(Status.values), fields=[field]
        ) from None


def _stage(value: str) -> Stage:
    try:
        return Stage(value)
    except ValueError:
        raise ApiError(
            400,
            "unknown_stage",
            f"query.stage: unknown stage {value!r}",
            valid=list(Stage.values),
            fields=["query.stage"],
        ) from None


def _next_page(request: HttpRequest, page: int) -> str:
    query = request.GET.copy()
    query["page"] = str(page + 1)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
