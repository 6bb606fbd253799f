"""Render file names by templates: `{project}_SEQ{scene}_{shot}_v{version}` and the like.

A template is literal text with placeholders; it must match the whole file name without its
extension. Placeholders: {project} letters and digits, {scene} {shot} {version} digits.
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


class TemplateError(ValueError):
    """A naming template that cannot work; the message says which and why."""


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
    """The first template that matches the whole stem, or None."""
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    for template in templates:
        match = compile_template(template).match(stem)
        if match:
            scene = match.groupdict().get("scene")
            return ParsedName(
                template=template,
                project=match["project"],
                scene=int(scene) if scene is not None else None,
                shot=match["shot"],
                version=int(match["version"]),
                extension=extension.lower(),
            )
    return None
