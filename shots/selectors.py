"""Reads on shots that more than one part needs, so each rule lives in one place."""

from django.conf import settings
from django.db.models import Exists, F, OuterRef, QuerySet

from shots.models import Project, Shot

# The order of the cut: by record in; shots not yet placed in the cut go last.
CUT_ORDER = (F("timeline_in").asc(nulls_last=True), "shot_number")


def with_shares_source(shots: QuerySet[Shot]) -> QuerySet[Shot]:
    """Annotate `shares_source`: another non-omitted shot uses the same source file (one subquery).

    The importer's "shots sharing a source" count applies the same rule to the sheet's rows.
    """
    others = Shot.objects.filter(source_file=OuterRef("source_file"), omitted=False).exclude(pk=OuterRef("pk"))
    return shots.annotate(shares_source=Exists(others))


class ProjectChoiceError(Exception):
    """No project, an unknown code, or several projects and none chosen: the message says what to pass."""


def project_to_export(code: str | None) -> Project:
    """The project a command works on: `code`, else the configured POSTFLOW_PROJECT_CODE, else the only
    project there is. ProjectChoiceError says what to pass instead."""
    if code:
        try:
            return Project.objects.get(code=code)
        except Project.DoesNotExist:
            raise ProjectChoiceError(f"no project {code!r}; projects: {_codes() or 'none'}") from None
    configured = Project.objects.filter(code=settings.POSTFLOW_PROJECT_CODE).first()
    if configured:
        return configured
    projects = list(Project.objects.all()[:2])
    if not projects:
        raise ProjectChoiceError("there is no project yet: import a shot list first (manage.py import_shots SHOTS.csv)")
    if len(projects) > 1:
        raise ProjectChoiceError(
            f"POSTFLOW_PROJECT_CODE={settings.POSTFLOW_PROJECT_CODE!r} matches no project and there are several: "
            f"pass --project (one of {_codes()})"
        )
    return projects[0]


def _codes() -> str:
    return ", ".join(Project.objects.values_list("code", flat=True))
