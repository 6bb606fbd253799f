"""Render file names by templates: `{project}_SEQ{scene}_{shot}_v{version}` and the like.

A template is literal text with placeholders; it must match the whole file name without its
extension. Placeholders: {project} letters and digits, {scene} {shot} {version} digits.
A version must lie in VERSION_RANGE and a scene in SCENE_RANGE; a name whose numbers do not is
refused with NameRangeError, which says the range.
No models here: ingest's system check validates POSTFLOW_NAMING_TEMPLATES at start (ingest/checks.py).
"""

import re
from dataclasses import dataclass
from functools import lru_cache

PLACEHOLDERS = {
    "project": r"(?P<project>[A-Za-z0-9]+)",
    "scene": r"(?P<scene>\d+)",
    "shot": r"(?P<shot>\d+)",
    "version": r"(?P<version>\d+)",
}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# A version is stored (Render.version: a PositiveIntegerField, 2,147,483,647 at most on PostgreSQL, and a
# 64-bit integer on SQLite, which refuses v99999999999999999999 with OverflowError); no shot reaches
# 100,000 versions, and v000 is no render's version (a version given by hand counts from 1). A scene number
# is compared with Scene.number; its bound only keeps a runaway number from being carried further.
VERSION_RANGE = (1, 99_999)
SCENE_RANGE = (0, 99_999)


class TemplateError(ValueError):
    """A naming template that cannot work; the message says which and why."""


class NameRangeError(ValueError):
    """A name that matches a template but carries a number out of range; the message says which and the range."""


@dataclass(frozen=True)
class ParsedName:
    template: str
    project: str
    scene: int | None
    shot: str
    version: int
    extension: str

    def nomenclatures(self) -> list[str]:
        """The shot nomenclatures this name may refer to, most specific first."""
        names = [f"{self.project}_{self.shot}"]
        if self.scene is not None:
            names.insert(0, f"{self.project}_SEQ{self.scene:02d}_{self.shot}")
        return names


@lru_cache(maxsize=64)
def compile_template(template: str) -> re.Pattern:
    names = _PLACEHOLDER.findall(template)
    unknown = sorted(set(names) - PLACEHOLDERS.keys())
    if unknown:
        raise TemplateError(f"template {template!r}: unknown placeholder(s) {unknown}; use {sorted(PLACEHOLDERS)}")
    for required in ("project", "shot", "version"):
        if names.count(required) != 1:
            raise TemplateError(f"template {template!r} needs {{{required}}} exactly once")
    parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, ...
    pattern = "".join(PLACEHOLDERS[part] if i % 2 else re.escape(part) for i, part in enumerate(parts))
    return re.compile(pattern + r"\Z")


def parse_name(filename: str, templates: list[str]) -> ParsedName | None:
    """The first template that matches the whole stem with its numbers in range, or None if none matches.

    Raises NameRangeError when templates match but a number is out of range (the first such template says).
    """
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    out_of_range: NameRangeError | None = None
    for template in templates:
        match = compile_template(template).match(stem)
        if match is None:
            continue
        try:
            return _parsed(template, match, extension)
        except NameRangeError as exc:
            out_of_range = out_of_range or exc
    if out_of_range is not None:
        raise out_of_range
    return None


def _parsed(template: str, match: re.Match, extension: str) -> ParsedName:
    scene = match.groupdict().get("scene")
    return ParsedName(
        template=template,
        project=match["project"],
        scene=bounded("scene", scene, SCENE_RANGE) if scene is not None else None,
        shot=match["shot"],
        version=bounded("version", match["version"], VERSION_RANGE),
        extension=extension.lower(),
    )


def bounded(label: str, digits: str, limits: tuple[int, int]) -> int:
    """`digits` as an int within `limits` (inclusive), else NameRangeError, which names the range."""
    low, high = limits
    # The length first: int() of a long run of digits costs time, and past 4,300 digits Python refuses it.
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(high)) or not low <= int(significant) <= high:
        shown = digits if len(digits) <= 40 else f"{digits[:20]}…({len(digits)} digits)"
        raise NameRangeError(f"{label} {shown} is out of range ({low:,}–{high:,})")
    return int(significant)
