"""Where a delivered file goes: POSTFLOW_DELIVERY_TEMPLATE, one line relative to the delivery root.

    {project}/{scene}/{nomenclature}/{nomenclature}_v{version}.{ext}

Placeholders are text: {project} (the code), {scene} (the scene's number on two digits, "04"),
{scene_name}, {nomenclature}, {shot} (the shot number), {version} (three digits, "003", as render names
have it) and {ext} (the render's extension, as it is). A format spec works on text ({shot:0>5}).

The template must end with `.{ext}`, hold {version} (a later version never overwrites an earlier one) and
{nomenclature} or {shot}. A sequence's frames go in the same folder, each with its frame number (the
render's padding) before the extension: UNDLM_00042_v003.1001.exr. Every name a shot's values produce is
checked like the shot tree's (postflow.lib.folder_template.segment_problem). No models here.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

from postflow.lib.folder_template import segment_problem

PLACEHOLDERS = ("project", "scene", "scene_name", "nomenclature", "shot", "version", "ext")
_SAMPLE = {
    "project": "P",
    "scene": "01",
    "scene_name": "S",
    "nomenclature": "N",
    "shot": "1",
    "version": "001",
    "ext": "mov",
}


class TemplateError(ValueError):
    """A template that cannot work; the message says why."""


class NamingError(ValueError):
    """One shot's values make no safe path (a scene name with '/', a missing nomenclature)."""


@dataclass(frozen=True)
class Target:
    folder: str  # the delivered folder, relative to the delivery root (its manifest goes there)
    name: str  # the file's name; a sequence's frames get their number before the extension

    def frame_name(self, frame: int, padding: int) -> str:
        stem, _, ext = self.name.rpartition(".")
        return f"{stem}.{frame:0{padding}d}.{ext}"


def check(template: str) -> None:
    """Raise TemplateError if the template cannot give every shot its own, safe path."""
    if not template.strip():
        raise TemplateError("the template is empty")
    if template.startswith("/") or "\\" in template:
        raise TemplateError("the template is relative to POSTFLOW_DELIVERY_PATH, with / separators")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise TemplateError(f"unbalanced braces: {exc}") from None
    if unknown := sorted(n for n in names if n not in PLACEHOLDERS):
        raise TemplateError(f"unknown placeholder {{{unknown[0]}}} (placeholders: {', '.join(PLACEHOLDERS)})")
    if "version" not in names:
        raise TemplateError("the template needs {version}: a later version must not overwrite an earlier one")
    if not {"nomenclature", "shot"} & names:
        raise TemplateError("the template needs {nomenclature} or {shot}: every shot would share one file")
    if not template.endswith(".{ext}"):
        raise TemplateError("the template must end with .{ext} (a sequence's frame number goes before it)")
    try:
        render(template, _SAMPLE)
    except (NamingError, ValueError) as exc:
        raise TemplateError(str(exc)) from None


def render(template: str, values: Mapping[str, str]) -> Target:
    """The folder and file name for these values; NamingError if a value makes an unsafe name."""
    for name in ("nomenclature", "version", "ext"):
        if f"{{{name}" in template and not values.get(name):
            raise NamingError(f"no {name}: the path would be {template!r} with an empty {{{name}}}")
    # Segment by segment: a value holding "/" (a scene name) must never make a folder level of its own.
    segments = [part.format(**values) for part in template.split("/")]
    path = "/".join(segments)
    for segment in segments:
        if problem := segment_problem(segment):
            raise NamingError(f"{segment!r} in {path!r} {problem}")
    if len(segments) < 2:
        raise NamingError(f"{path!r}: a delivery needs a folder of its own for its manifest")
    return Target(folder="/".join(segments[:-1]), name=segments[-1])


def values_for(*, project: str, scene: int, scene_name: str, nomenclature: str, shot: str, version: int, ext: str):
    """The template's values for a shot's version (as text, padded as documented above)."""
    return {
        "project": project,
        "scene": f"{scene:02d}",
        "scene_name": scene_name,
        "nomenclature": nomenclature,
        "shot": shot,
        "version": f"{version:03d}",
        "ext": ext,
    }
