"""Reads for the watcher: which shot a render's file name points to; and for the upload pipeline: which
file goes to Frame.io for a render (its own, or its review proxy)."""

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from ingest.models import Render, ReviewProxy
from ingest.naming import NameRangeError, ParsedName, parse_name
from ingest.sequences import key_parts
from shots.models import Project, Shot

# The hidden folder beside a render that holds its review proxy (unless POSTFLOW_PROXY_PATH says where):
# hidden, so artists browsing the mount pass it by, and never a render (WatchConfig.never_a_render).
PROXY_FOLDER = ".postflow-proxies"


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


# --- what goes to Frame.io ------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewFile:
    """The file the upload sends for a render, as the ledger recorded it: the upload opens it without
    following a symlink and checks it is still this (inode, size, mtime) and, for a proxy, this checksum."""

    path: Path
    name: str  # what Frame.io shows
    size: int
    mtime_ns: int
    inode: int
    checksum: str  # xxh3-128 of this file (a movie's is the render's own)
    is_proxy: bool = False
    problem: str = ""  # why there is no file to send yet ("" when there is)


def proxy_name(render: Render) -> str:
    """`UNDLM_00042_v003.mp4`: the shot's nomenclature (else the render's own name) and the version."""
    stem = render.shot.nomenclature if render.shot and render.shot.nomenclature else _render_stem(render)
    return f"{stem}_v{render.version or 0:03d}.mp4"


def _render_stem(render: Render) -> str:
    """The render's name without version, frame number or extension: UNDLM_SEQ01_00042 of
    UNDLM_SEQ01_00042_v003.####.exr."""
    name = key_parts(render.path)[1].rstrip("._") if render.is_sequence else Path(render.path).stem
    return re.sub(r"_v\d+$", "", name)


def proxy_folder(render: Render) -> Path:
    """Where the render's proxy is written: `.postflow-proxies/` in the render's folder, or the render's
    folder (relative to its root) under POSTFLOW_PROXY_PATH."""
    folder = Path(render.path).parent
    if settings.POSTFLOW_PROXY_PATH:
        return Path(settings.POSTFLOW_PROXY_PATH) / folder
    return Path(render.root) / folder / PROXY_FOLDER


def review_file(render: Render) -> ReviewFile:
    """What goes to Frame.io for this render: its review proxy when it has one (every image sequence; a
    movie POSTFLOW_PROXY_FOR named), ready and built from the render's current content; else its own file."""
    proxy = ReviewProxy.objects.filter(render_id=render.pk).first()
    if proxy is None and not render.is_sequence:
        path = Path(render.root) / render.path
        return ReviewFile(path, path.name, render.size, render.mtime_ns, render.inode, render.checksum)
    if proxy is None or not proxy.serves(render):
        return ReviewFile(Path(os.devnull), "", 0, 0, 0, "", is_proxy=True, problem="its review proxy is not ready")
    return ReviewFile(
        Path(proxy.path), proxy_name(render), proxy.size, proxy.mtime_ns, proxy.inode, proxy.checksum, is_proxy=True
    )
