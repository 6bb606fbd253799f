"""Reads for the watcher: which shot a render's file name points to."""

import difflib
import re
from dataclasses import dataclass

from ingest.naming import NameRangeError, ParsedName, parse_name
from shots.models import Project, Shot


@dataclass(frozen=True)
class Resolution:
    name: str
    parsed: ParsedName | None
    shot: Shot | None
    problem: str  # empty when the name resolves to a shot
    suggestions: tuple[str, ...] = ()


def templates_for(default: list[str]) -> list[str]:
    """Every project's own templates, then the defaults (a name says which project it is)."""
    custom = [t for templates in Project.objects.values_list("naming_templates", flat=True) for t in templates or []]
    return list(dict.fromkeys([*custom, *default]))


def resolve_name(filename: str, default_templates: list[str]) -> Resolution:
    """Parse a render's file name and find its shot; say why not, with the closest shots."""
    try:
        parsed = parse_name(filename, templates_for(default_templates))
    except NameRangeError as exc:
        return Resolution(filename, None, None, str(exc))
    if parsed is None:
        return Resolution(filename, None, None, _unparsed(filename, default_templates), _closest(filename))
    project = Project.objects.filter(code=parsed.project).first()
    if project is None:
        codes = ", ".join(Project.objects.values_list("code", flat=True)) or "none yet"
        return Resolution(filename, parsed, None, f"no project {parsed.project!r} (projects: {codes})")
    if project.naming_templates and parsed.template not in project.naming_templates:
        allowed = ", ".join(project.naming_templates)
        return Resolution(filename, parsed, None, f"project {project.code} names renders {allowed}")
    shots = Shot.objects.select_related("scene", "project").filter(project=project, omitted=False)
    shot = next((s for s in shots.filter(nomenclature__in=parsed.nomenclatures())), None)
    if shot is None:
        wanted = parsed.nomenclatures()[-1]
        return Resolution(filename, parsed, None, f"no shot {wanted} in project {project.code}", _closest(wanted))
    if parsed.scene is not None and parsed.scene != shot.scene.number:
        scene = f"scene {shot.scene.number:02d} ({shot.scene.name})"
        return Resolution(filename, parsed, None, f"the name says scene {parsed.scene:02d} but {shot} is in {scene}")
    return Resolution(filename, parsed, shot, "")


def _unparsed(filename: str, templates: list[str]) -> str:
    return f"{filename!r} matches no naming template ({', '.join(templates)})"


def _closest(text: str) -> tuple[str, ...]:
    """Up to three known nomenclatures like `text`: the same shot number with other zero
    padding first (UNDLM_0042 -> UNDLM_00042), then the closest spellings."""
    stem = re.sub(r"_v\d+(\.\w+)?$", "", text.rsplit("/", 1)[-1])
    known = list(Shot.objects.exclude(nomenclature="").values_list("nomenclature", flat=True))
    number = re.search(r"(\d+)$", stem)
    same_number = [n for n in known if number and _trailing_number(n) == _trailing_number(number[1])]
    spelled = difflib.get_close_matches(stem, known, n=3, cutoff=0.6)
    return tuple(dict.fromkeys([*same_number, *spelled]))[:3]


def _trailing_number(text: str) -> str | None:
    """The trailing digits without their zero padding: compared as text, as a name may carry more digits
    than int() takes (4,300)."""
    match = re.search(r"(\d+)$", text)
    return (match[1].lstrip("0") or "0") if match else None
