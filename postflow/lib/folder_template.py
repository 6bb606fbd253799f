"""Folder templates: the folders one shot needs on the mount, written as one line.

    {project}/SEQ{scene:02}/{nomenclature}/{ae,ebsynth/keys,ebsynth/out,renders}

- `/` separates folder levels; the template is relative to the mount.
- `{name}` or `{name:spec}` is a placeholder; `spec` is Python's format spec (`{scene:02}` gives 01).
  {scene} is a number; {project}, {scene_name}, {nomenclature} and {shot} are text.
- `{a,b/c}`, a brace group with a comma and no placeholder in it, lists alternatives: one folder per
  alternative, `/` allowed inside; several groups multiply (shell brace expansion, without nesting).

Every folder name a shot's values produce is checked (`segment_problem`): a scene name holding `/` or
`..` must never walk out of the shot's folder. No models and no file system here: shots validates
Project.folder_template with `parse`, ingest's system check the setting, and ingest.tree lays it out.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import product

# Each placeholder with the type of its value; a format spec is tried on a value of that type.
PLACEHOLDERS: dict[str, type] = {"project": str, "scene": int, "scene_name": str, "nomenclature": str, "shot": str}
# At least one of these makes the folders the shot's own; without, every shot would share them.
SHOT_PLACEHOLDERS = ("nomenclature", "shot")
# A typo like {a,b}{c,d}{e,f}{g,h}... should not make thousands of folders per shot.
MAX_FOLDERS = 64
# What a name longer than this would hit on every file system LucidLink clients use.
MAX_NAME_BYTES = 255

_SAMPLE = {"project": "P", "scene": 1, "scene_name": "S", "nomenclature": "N", "shot": "1"}
_FIELD = re.compile(r"\{([^{}]*)\}")
_FIELD_BODY = re.compile(r"([a-z_]+)(?::(.*))?", re.DOTALL)
# A format spec's '0' flag, and an explicit alignment (which makes a leading '0' the fill instead).
_ZERO_FLAG = re.compile(r"[+\- ]?z?#?0")
_ALIGNED = re.compile(r".?[<>=^]", re.DOTALL)
# The watcher's own rule (ingest.scanner): C0 and C1 controls, DEL, bidirectional overrides and isolates,
# lone surrogates. A folder the watcher would refuse to read is never made.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# Windows refuses these in a name, and the mount is shared with Windows workstations.
_WINDOWS_RESERVED = frozenset('<>:"|?*')


class TemplateError(ValueError):
    """A template that cannot work; the message says where and why."""


class RenderError(ValueError):
    """One shot's values make no safe folder; `kind` is missing_value or unsafe_name."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Field:
    name: str
    spec: str

    def format(self, value: object) -> str:
        return format(value, self.spec)


# A folder name: literal text and placeholders, in order.
Segment = tuple[str | Field, ...]


@dataclass(frozen=True)
class FolderTemplate:
    text: str
    paths: tuple[tuple[Segment, ...], ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(part.name for path in self.paths for seg in path for part in seg if isinstance(part, Field))

    def render(self, values: Mapping[str, object]) -> list[str]:
        """The shot's folders, relative posix paths; RenderError when a value is missing or unsafe."""
        self._check_values(values)
        return [_join(path, values) for path in self.paths]

    def roots(self, values: Mapping[str, object]) -> list[str]:
        """The shot's own folders: each path cut after its last placeholder (`UNDLM/SEQ01/UNDLM_00042`).

        Everything below is literal, so this is what a rename changes; pairs with `roots` of older values.
        """
        self._check_values(values)
        return list(dict.fromkeys(_join(path[: _root_depth(path)], values) for path in self.paths))

    def _check_values(self, values: Mapping[str, object]) -> None:
        for name in sorted(self.names):
            if values[name] == "":
                raise RenderError("missing_value", f"the shot has no {name.replace('_', ' ')}")


def _root_depth(path: tuple[Segment, ...]) -> int:
    return max(i for i, seg in enumerate(path) if any(isinstance(part, Field) for part in seg)) + 1


def _join(path: tuple[Segment, ...], values: Mapping[str, object]) -> str:
    names = []
    for seg in path:
        name = "".join(part if isinstance(part, str) else part.format(values[part.name]) for part in seg)
        problem = segment_problem(name)
        if problem:
            used = ", ".join(f"{{{p.name}}} = {values[p.name]!r}" for p in seg if isinstance(p, Field))
            raise RenderError("unsafe_name", f"folder name {name!r} {problem}" + (f" ({used})" if used else ""))
        names.append(name)
    return "/".join(names)


def segment_problem(name: str) -> str | None:
    """Why `name` cannot be one folder name under the mount, or None."""
    if not name:
        return "is empty"
    if set(name) == {"."}:
        return "is only dots"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    control = _CONTROL.search(name)
    if control:
        char = control.group()
        return "contains NUL" if char == "\x00" else f"contains control character U+{ord(char):04X}"
    if name.startswith("-"):
        return "starts with '-'"
    reserved = sorted(_WINDOWS_RESERVED & set(name))
    if reserved:
        return f"contains {reserved[0]!r}, which Windows does not allow in a name"
    if name[-1] in ". ":
        return "ends with a dot or a space, which Windows drops"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes"
    return None


def expand_braces(text: str) -> list[str]:
    """`a/{b,c/d}` -> ['a/b', 'a/c/d']. A brace group without a comma (a placeholder) is kept as it is.

    Groups multiply, left to right. Nested or unbalanced braces and empty alternatives are refused.
    """
    pieces: list[list[str]] = []  # each: the choices for that stretch of text
    pos = 0
    while pos < len(text):
        start = text.find("{", pos)
        stray = text.find("}", pos)
        if stray != -1 and (start == -1 or stray < start):
            raise TemplateError(f"'}}' without '{{' at character {stray + 1}")
        if start == -1:
            pieces.append([text[pos:]])
            break
        end = text.find("}", start)
        nested = text.find("{", start + 1)
        if end == -1:
            raise TemplateError(f"'{{' at character {start + 1} is never closed")
        if nested != -1 and nested < end:
            raise TemplateError(f"braces nest at character {nested + 1}; alternatives hold no placeholder")
        pieces.append([text[pos:start]])
        body = text[start + 1 : end]
        pieces.append(_alternatives(body) if "," in body else [f"{{{body}}}"])
        pos = end + 1
    return ["".join(choice) for choice in product(*pieces)] if pieces else [""]


def _alternatives(body: str) -> list[str]:
    choices = body.split(",")
    if any(not choice.strip() for choice in choices):
        raise TemplateError(f"{{{body}}} has an empty alternative")
    return choices


@lru_cache(maxsize=64)
def parse(text: str) -> FolderTemplate:
    """The template, checked; TemplateError says what is wrong."""
    if not text.strip():
        raise TemplateError("the template is empty")
    expanded = list(dict.fromkeys(expand_braces(text)))
    if len(expanded) > MAX_FOLDERS:
        raise TemplateError(f"the template makes {len(expanded)} folders per shot; at most {MAX_FOLDERS}")
    template = FolderTemplate(text=text, paths=tuple(_parse_path(path) for path in expanded))
    if not template.names & set(SHOT_PLACEHOLDERS):
        raise TemplateError("the template needs {nomenclature} or {shot}, or every shot would share its folders")
    return template


def _parse_path(path: str) -> tuple[Segment, ...]:
    if path.startswith(("/", "\\")):
        raise TemplateError(f"{path!r} must be relative to the mount (no leading '/')")
    segments: list[list[str | Field]] = [[]]
    for i, piece in enumerate(_FIELD.split(path)):  # literal, placeholder, literal, ...
        if i % 2:
            segments[-1].append(_parse_field(piece))
            continue
        first, *rest = piece.split("/")
        if first:
            segments[-1].append(first)
        segments += [[name] if name else [] for name in rest]
    parsed = tuple(tuple(seg) for seg in segments)
    for seg in parsed:
        # The sample values are safe, so a problem here is the template's own text.
        name = "".join(part if isinstance(part, str) else part.format(_SAMPLE[part.name]) for part in seg)
        problem = segment_problem(name)
        if problem:
            shown = "".join(part if isinstance(part, str) else f"{{{part.name}}}" for part in seg)
            if not shown:
                raise TemplateError(f"{path!r} has an empty folder name (a '//', or a '/' at an end)")
            raise TemplateError(f"in {path!r}, the folder name {shown!r} {problem}")
    return parsed


def _parse_field(body: str) -> Field:
    match = _FIELD_BODY.fullmatch(body)
    if match is None or match[1] not in PLACEHOLDERS:
        known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
        raise TemplateError(f"unknown placeholder {{{body}}}; use {known}")
    name, spec = match[1], match[2] or ""
    if PLACEHOLDERS[name] is str and _ZERO_FLAG.match(spec) and not _ALIGNED.match(spec):
        # Python pads text with the '0' flag on the right: {shot:05} would make '42' into '42000'.
        raise TemplateError(f"{{{body}}}: {name} is text, which '0' pads on the right; pad on the left: {{{name}:0>5}}")
    try:
        format(_SAMPLE[name], spec)
    except ValueError as exc:
        kind = "a number" if PLACEHOLDERS[name] is int else "text"
        raise TemplateError(f"{{{body}}}: {name} is {kind}; the format spec {spec!r} does not fit it ({exc})") from None
    return Field(name, spec)
