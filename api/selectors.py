"""The API's reads: a fixed number of queries per answer, whatever the number of shots."""

from __future__ import annotations

from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from frameio.models import ReviewNote, Upload
from ingest.models import Render
from shots.models import Shot
from shots.selectors import CUT_ORDER


class AmbiguousShot(Exception):
    """A nomenclature found in several projects: the caller must name the project."""

    def __init__(self, nomenclature: str, projects: list[str]) -> None:
        self.projects = projects
        super().__init__(f"{nomenclature} exists in projects {', '.join(projects)}: pass ?project=CODE")


# The API's shot order: by project, then the cut; pk last, so that two shots with the same record in and
# number keep their order. The page's ids and their facts are read in it, so they never disagree.
PAGE_ORDER = (F("project_id"), *CUT_ORDER, "pk")


def shots_with_facts(shots: QuerySet[Shot]) -> QuerySet[Shot]:
    """Each shot with `latest_version`, `frameio_link` / `frameio_version` (its latest version in
    Frame.io) and `open_notes`, as subqueries of one statement; in cut order, stable across pages."""
    latest = (
        Render.objects.filter(shot=OuterRef("pk"), state__in=Render.VERSION_STATES)
        .order_by("-version")
        .values("version")[:1]
    )
    in_frameio = (
        Upload.objects.filter(
            render__shot=OuterRef("pk"), render__state__in=Render.VERSION_STATES, state__in=Upload.IN_FRAMEIO
        )
        .exclude(view_url="")
        .order_by("-render__version", "-id")
    )
    open_notes = (
        ReviewNote.objects.filter(shot=OuterRef("pk"), completed_at__isnull=True, deleted_at__isnull=True)
        .order_by()
        .values("shot")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        shots.select_related("project", "scene", "source_file")
        .annotate(
            latest_version=Subquery(latest),
            frameio_link=Subquery(in_frameio.values("view_url")[:1]),
            frameio_version=Subquery(in_frameio.values("render__version")[:1]),
            open_notes=Coalesce(Subquery(open_notes), 0),
        )
        .order_by(*PAGE_ORDER)
    )


def page_with_facts(shots: QuerySet[Shot], *, start: int, size: int) -> list[Shot]:
    """One page of `shots` in cut order, with their facts. Two queries: the page's ids first (an ordered
    scan of the shots alone), then the facts of those ids only, so the subqueries run for the page's
    rows and not for every shot the sort goes through."""
    ids = list(shots.order_by(*PAGE_ORDER).values_list("pk", flat=True)[start : start + size])
    return list(shots_with_facts(Shot.objects.filter(pk__in=ids)))


def shot_by_nomenclature(nomenclature: str, *, project: str | None = None) -> Shot | None:
    """One shot with its facts; None when unknown; AmbiguousShot when several projects have it."""
    shots = Shot.objects.filter(nomenclature=nomenclature)
    if project:
        shots = shots.filter(project__code=project)
    found = list(shots_with_facts(shots)[:2])
    if len(found) > 1:
        codes = sorted(Shot.objects.filter(nomenclature=nomenclature).values_list("project__code", flat=True))
        raise AmbiguousShot(nomenclature, codes)
    return found[0] if found else None


def shot_versions(shot: Shot) -> list[Render]:
    """Every render of the shot, newest version first (quarantined collisions included, with their reason)."""
    renders = Render.objects.filter(shot=shot).select_related("upload")
    return list(renders.order_by(F("version").desc(nulls_last=True), "-first_seen", "-id"))


def shot_notes(shot: Shot) -> list[ReviewNote]:
    """Its review notes, deleted ones left out: newest version first, then in the render's order."""
    notes = list(ReviewNote.objects.filter(shot=shot, deleted_at__isnull=True))
    for note in notes:
        note.shot = shot  # the record timecode reads the shot and its project: no query per note
    return notes
