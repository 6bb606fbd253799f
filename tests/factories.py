"""Small helpers to create shot-list data in tests. Plain functions: no factory library needed.

They write rows directly (status included), which is what setting up a test needs; code under
test still goes through `shots.services`.
"""

import itertools
from datetime import datetime
from pathlib import Path

from django.utils import timezone

from frameio.models import ReviewNote
from ingest.models import Render
from postflow.lib import timecode
from shots.models import Project, Scene, Shot, SourceFile
from shots.workflow import Status

_comment_ids = itertools.count(1)


def make_project(*, code: str = "TST", name: str = "Test film", fps: float = 25.0) -> Project:
    return Project.objects.create(code=code, name=name, fps=fps)


def make_scene(project: Project, name: str = "SCENE", *, number: int | None = None) -> Scene:
    """A scene; its number defaults to the next free one in the project."""
    if number is None:
        number = project.scenes.count() + 1
    return Scene.objects.create(project=project, name=name, number=number)


def make_source(project: Project, name: str = "A001C001.mov") -> SourceFile:
    return SourceFile.objects.get_or_create(project=project, name=name)[0]


def make_shot(
    project: Project | None = None,
    *,
    scene: Scene | None = None,
    shot_number: str | None = None,
    nomenclature: str | None = None,
    source: SourceFile | None = None,
    status: Status = Status.PENDING,
    **fields: object,
) -> Shot:
    """A shot with sensible defaults: next shot number, `<CODE>_<00001>` nomenclature.

    Without a project, a scene or both, they are created (a project TST at 25 fps, a scene SCENE).
    Other keyword arguments are Shot fields (timeline_in=..., notes=..., omitted=...).
    """
    if project is None:
        project = scene.project if scene else make_project()
    if scene is None:
        scene = project.scenes.first() or make_scene(project)
    index = project.shots.count() + 1
    shot_number = shot_number or f"{index:03d}"
    if nomenclature is None:
        nomenclature = f"{project.code}_{index:05d}"
    return Shot.objects.create(
        project=project,
        scene=scene,
        shot_number=shot_number,
        nomenclature=nomenclature,
        source_file=source,
        status=status,
        **fields,
    )


def make_render(path: str, *, state: str = Render.State.DISCOVERED, at: datetime | None = None, **fields) -> Render:
    """A row of the render ledger, first seen `at` (now); other keyword arguments are Render fields."""
    at = at or timezone.now()
    fields.setdefault("root", "/r")
    return Render.objects.create(path=path, state=state, first_seen=at, observed_since=at, **fields)


def make_render_of_file(path: Path, *, state: str, **fields) -> Render:
    """A ledger row for a real file on disk: its folder, name, size, mtime and inode as the watcher records
    them, seen and stable now; other keyword arguments are Render fields."""
    stat = path.stat()
    now = timezone.now()
    fields.setdefault("stable_since", now)
    return make_render(
        path.name,
        state=state,
        at=now,
        root=str(path.parent),
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        inode=stat.st_ino,
        **fields,
    )


def make_review_note(
    shot: Shot,
    *,
    frame: int | None = 13,
    text: str = "sky too warm",
    version: int = 1,
    render_fps: float | None = None,
    author: str = "Ana Réa",
    commented_at: datetime | None = None,
    **fields: object,
) -> ReviewNote:
    """A Frame.io comment as frameio.review stores it, on the shot's uploaded render of `version`:
    its place in the shot computed by the same rule (frame 13 at the project's rate is 12 frames in)."""
    render_fps = render_fps or shot.project.fps
    render = Render.objects.filter(shot=shot, version=version).first() or make_render(
        f"{shot.nomenclature}_v{version:03d}.mov",
        state=Render.State.UPLOADED,
        shot=shot,
        version=version,
        media={"fps": render_fps},
    )
    return ReviewNote.objects.create(
        frameio_comment_id=f"comment-{next(_comment_ids)}",
        frameio_file_id=f"file-{render.pk}",
        shot=shot,
        render=render,
        version=version,
        text=text,
        author=author,
        frame=frame,
        render_fps=render_fps,
        offset_frames=timecode.offset_in_shot(frame, render_fps, shot.project.fps),
        fps_mismatch=not timecode.same_rate(render_fps, shot.project.fps),
        commented_at=commented_at or timezone.now(),
        **fields,
    )


def make_watched_shot(**fields: object) -> Shot:
    """The shot the watcher tests drop renders for: UNDLM_00042 (scene 1, 50 frames, project UNDLM at 25 fps)."""
    project = make_project(code="UNDLM", fps=25)
    scene = make_scene(project, "REVEIL HOPITAL - JOUR", number=1)
    return make_shot(project, scene=scene, shot_number="042", nomenclature="UNDLM_00042", duration=50, **fields)
