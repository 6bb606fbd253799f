"""The per-shot folder tree on the mount (`manage.py shot_tree`): plan, then apply.

`plan_tree` is pure: shots and a template (postflow.lib.folder_template) in, each shot's folders and the
shots whose values make no safe folder out. `apply_plan` walks the mount: it makes the missing folders
(or, in a dry run, lists them), counts the ones already there, and reports the rest per shot. It never
deletes, renames or moves anything, and never makes a folder through a symlink that leads out of the mount.

A renamed shot gets its new folder; its old one is left as it is and named in the report. The old names
come from the shot's history: the importer (and the sheet sync, which applies its plan) records a changed
nomenclature or scene as a ShotEvent "updated" with details["changes"][field] = [old, new].
"""

import os
import stat
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings

from postflow.lib.folder_template import FolderTemplate, RenderError, TemplateError, parse
from shots.models import Project, Scene, Shot, ShotEvent

# The fields whose change moves a shot's folders (the importer's names in ShotEvent changes).
RENAMING_FIELDS = ("nomenclature", "scene")
_DIR = "dir"
# A shot's placeholder values: project, scene, scene_name, nomenclature, shot.
Values = dict[str, object]


@dataclass(frozen=True)
class ShotSpec:
    """What a template needs of one shot: its label, its values now, and its values before each rename."""

    label: str
    values: Values
    previous: tuple[Values, ...] = ()


@dataclass(frozen=True)
class Problem:
    shot: str | None  # None: the whole project (its template)
    path: str
    kind: str  # bad_template, missing_value, unsafe_name, shared_folder, not_a_directory, outside_root, os_error
    detail: str


@dataclass(frozen=True)
class ShotFolders:
    shot: str
    folders: tuple[str, ...]
    moved: tuple[tuple[str, str], ...]  # (old root, new root) for each earlier name whose root differs


@dataclass
class TreePlan:
    shots: list[ShotFolders] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    considered: int = 0  # shots planned, those with a problem included


@dataclass
class TreeReport:
    root: str
    applied: bool  # False: a dry run, `created` lists what --create would make
    shots: int  # in the cut (omitted ones are not), those with a problem included
    created: list[str] = field(default_factory=list)
    existing: int = 0
    problems: list[Problem] = field(default_factory=list)
    renamed: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


# --- plan (pure) ---------------------------------------------------------------------------


def plan_tree(template: FolderTemplate, shots: Iterable[ShotSpec], *, owner: dict[str, str] | None = None) -> TreePlan:
    """Each shot's folders, in order; a shot whose values make no safe folder becomes a problem.

    `owner` (a shot's root -> the shot that has it) is shared by the projects of one run.
    """
    plan = TreePlan()
    owner = {} if owner is None else owner
    for spec in shots:
        plan.considered += 1
        try:
            folders, roots = template.render(spec.values), template.roots(spec.values)
        except RenderError as exc:
            plan.problems.append(Problem(spec.label, "", exc.kind, exc.detail))
            continue
        taken = next((root for root in roots if root in owner), None)
        if taken is not None:
            detail = f"{owner[taken]} has the same folder; the template needs {{nomenclature}} or {{shot}} there"
            plan.problems.append(Problem(spec.label, taken, "shared_folder", detail))
            continue
        owner.update(dict.fromkeys(roots, spec.label))
        plan.shots.append(ShotFolders(spec.label, tuple(folders), _moved(template, spec, roots)))
    return plan


def _moved(template: FolderTemplate, spec: ShotSpec, roots: list[str]) -> tuple[tuple[str, str], ...]:
    """(old root, new root) for each earlier value set whose folders were elsewhere."""
    moved: dict[tuple[str, str], None] = {}
    for values in spec.previous:
        try:
            old_roots = template.roots(values)
        except RenderError:  # an earlier name that made no folder (no nomenclature yet, say)
            continue
        moved.update(dict.fromkeys((old, new) for old, new in zip(old_roots, roots, strict=True) if old != new))
    return tuple(moved)


# --- apply ---------------------------------------------------------------------------------


class _Mount:
    """The folders under one root, each looked at once; makes the missing ones when `create`."""

    def __init__(self, root: Path, *, create: bool) -> None:
        self.root = root
        self.real_root = root.resolve()
        self.create = create
        self.created: list[str] = []
        self.existing = 0
        self._states: dict[str, str | tuple[str, str]] = {}

    def ensure(self, relpath: str) -> tuple[str, str, str] | None:
        """None once `relpath` is a folder (or, in a dry run, would be); else (where, kind, detail)."""
        parts = relpath.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            state = self._states.get(prefix)
            if state is None:
                state = self._states[prefix] = self._visit(prefix)
            if state != _DIR:
                return (prefix, *state)
        return None

    def is_folder(self, relpath: str) -> bool:
        """A folder inside the mount, without making or following anything out of it."""
        resolved = (self.root / relpath).resolve()
        return resolved.is_relative_to(self.real_root) and resolved.is_dir()

    def _visit(self, prefix: str, *, may_make: bool = True) -> str | tuple[str, str]:
        path = self.root / prefix
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return self._make(prefix, path) if may_make else ("os_error", "vanished while being made")
        except OSError as exc:
            return ("os_error", exc.strerror or str(exc))
        if stat.S_ISDIR(mode):
            self.existing += 1
            return _DIR
        if stat.S_ISLNK(mode):
            return self._through_link(path)
        return ("not_a_directory", "a file is where this folder should be; left as it is")

    def _through_link(self, path: Path) -> str | tuple[str, str]:
        # A link inside the mount is followed like the watcher would; one leading out never is.
        target = path.resolve()
        if not target.is_relative_to(self.real_root):
            return ("outside_root", f"a symlink to {target}, outside the mount; not followed")
        if not target.is_dir():
            return ("not_a_directory", f"a symlink to {target}, which is not a folder; left as it is")
        self.existing += 1
        return _DIR

    def _make(self, prefix: str, path: Path) -> str | tuple[str, str]:
        if not self.create:
            self.created.append(prefix)
            return _DIR
        # Its parent was checked on the way down; checked again here, right before the mkdir, in case
        # it was swapped for a link since.
        if not path.parent.resolve().is_relative_to(self.real_root):
            return ("outside_root", "its parent now leads outside the mount; not made")
        try:
            path.mkdir()
        except FileExistsError:  # made by someone else meanwhile: look again
            return self._visit(prefix, may_make=False)
        except OSError as exc:
            return ("os_error", exc.strerror or str(exc))
        self.created.append(prefix)
        return _DIR


def apply_plan(plan: TreePlan, root: Path, *, create: bool) -> TreeReport:
    """Make (create=True) or list the planned folders under `root`; report, per shot, what could not be."""
    mount = _Mount(root, create=create)
    report = TreeReport(root=str(root), applied=create, shots=plan.considered, problems=list(plan.problems))
    # Looked at before anything is made, so an old folder is one that was there already (two shots that
    # swapped names each find the other's new folder as their old one, and say so).
    report.renamed = [
        {"shot": shot.shot, "old": old, "new": new}
        for shot in plan.shots
        for old, new in shot.moved
        if mount.is_folder(old)
    ]
    for shot in plan.shots:
        seen: set[tuple[str, str]] = set()
        for folder in shot.folders:
            failure = mount.ensure(folder)
            if failure is not None and failure[:2] not in seen:  # a shared parent fails each leaf once
                seen.add(failure[:2])
                report.problems.append(Problem(shot.shot, *failure))
    report.created, report.existing = mount.created, mount.existing
    return report


# --- from the database -------------------------------------------------------------------


def project_template(project: Project) -> FolderTemplate:
    """The project's own template, else POSTFLOW_SHOT_TREE_TEMPLATE; TemplateError if it cannot work."""
    return parse(project.folder_template or settings.POSTFLOW_SHOT_TREE_TEMPLATE)


def project_shots(project: Project) -> list[ShotSpec]:
    """The project's shots in the cut (omitted ones get no folder), in cut order, with their history."""
    scenes = {scene.name: scene for scene in Scene.objects.filter(project=project)}
    shots = list(Shot.objects.filter(project=project, omitted=False).select_related("scene"))
    changes = _renames(project)
    specs = []
    for shot in shots:
        values = _values(project, shot.scene, shot.nomenclature, shot.shot_number)
        specs.append(ShotSpec(str(shot), values, _previous(values, changes.get(shot.pk, []), scenes)))
    return specs


def _values(project: Project, scene: Scene, nomenclature: str, shot_number: str) -> Values:
    return {
        "project": project.code,
        "scene": scene.number,
        "scene_name": scene.name,
        "nomenclature": nomenclature,
        "shot": shot_number,
    }


def _renames(project: Project) -> dict[int, list[dict]]:
    """shot id -> the changes of its import updates that renamed it, newest first."""
    events = (
        ShotEvent.objects.filter(
            shot__project=project,
            shot__omitted=False,
            kind=ShotEvent.Kind.UPDATED,
            details__changes__has_any_keys=list(RENAMING_FIELDS),
        )
        .order_by("shot_id", "-created_at", "-id")
        .values_list("shot_id", "details")
    )
    renames: dict[int, list[dict]] = {}
    for shot_id, details in events:
        renames.setdefault(shot_id, []).append(details["changes"])
    return renames


def _previous(values: Values, changes: list[dict], scenes: dict[str, Scene]) -> tuple[Values, ...]:
    """The shot's values before each rename, newest first: undo one change after the other."""
    earlier, state = [], dict(values)
    for change in changes:
        if "nomenclature" in change:
            state["nomenclature"] = change["nomenclature"][0] or ""
        if "scene" in change:
            scene = scenes.get(change["scene"][0])
            if scene is None:  # scenes are never deleted, but a hand-edited history may name one
                break
            state.update(scene=scene.number, scene_name=scene.name)
        earlier.append(dict(state))
    return tuple(earlier)


def shot_tree(projects: Iterable[Project], *, root: Path, create: bool) -> TreeReport:
    """Plan and apply every project's tree under `root`; a project whose template cannot work is a problem."""
    combined, owner = TreePlan(), {}
    for project in projects:
        try:
            template = project_template(project)
        except TemplateError as exc:
            combined.problems.append(Problem(None, "", "bad_template", f"project {project.code}: {exc}"))
            continue
        plan = plan_tree(template, project_shots(project), owner=owner)
        combined.shots += plan.shots
        combined.problems += plan.problems
        combined.considered += plan.considered
    return apply_plan(combined, root, create=create)
