"""The production's structure in Frame.io: its project and one folder per scene, ids cached on Project and
Scene (and each shot's version stack on Shot, used by `frameio.uploads.stacking`). No transaction is held
across a Frame.io call; ids are saved with a compare-and-set, and a worker that loses a race adopts the
winner's.

This module owns that cache. When Frame.io no longer knows a cached id (`StaleReference`: 404, or 403 "not
in this project": the folder or project was deleted in Frame.io), the id is dropped here (`forget_*`, a
compare-and-set on the stale value, with a `cache_dropped` connection event naming it), found or made again
once, and the call goes on; a second refusal is an error like any other."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from frameio import signals as frameio_signals
from frameio.auth import (
    audit_cache_dropped,
    connection_forget_project,
    connection_set_target,
    effective_target,
    target_with_project,
)
from frameio.client import FrameioClient, FrameioError, StaleReference
from frameio.client import Project as RemoteProject
from shots.models import Project, Scene, Shot

logger = logging.getLogger(__name__)
T = TypeVar("T")


def ensure_project(client: FrameioClient, *, project: Project) -> Project:
    """The production's Frame.io project, found by name or created. The Frame.io calls run outside
    any transaction; the ids are saved with a compare-and-set, and a loser adopts the winner's ids."""
    if project.frameio_project_id and project.frameio_root_folder_id:
        return project
    project.refresh_from_db(fields=["frameio_project_id", "frameio_root_folder_id"])
    if project.frameio_project_id and project.frameio_root_folder_id:
        return project
    remote, chosen = _remote_project(client, project)
    unset = Q(frameio_project_id="") | Q(frameio_root_folder_id="")
    won = Project.objects.filter(unset, pk=project.pk).update(
        frameio_project_id=remote.id, frameio_root_folder_id=remote.root_folder_id or ""
    )
    target = effective_target()
    if won and not chosen and not target.project_id:
        connection_set_target(target=target_with_project(target, remote), actor="system")
    project.refresh_from_db(fields=["frameio_project_id", "frameio_root_folder_id"])
    return project


def _remote_project(client: FrameioClient, project: Project) -> tuple[RemoteProject, bool]:
    """The target's project when one is chosen (True), else the production's by name, created if missing.
    A chosen project Frame.io no longer knows is forgotten once (unless a setting names it)."""
    target = effective_target()
    if target.project_id:
        try:
            return client.show_project(account_id=target.account_id, project_id=target.project_id), True
        except StaleReference as exc:
            if target.project_id == settings.FRAMEIO_DEFAULT_PROJECT_ID:
                raise StaleReference(
                    exc.status, True, f"FRAMEIO_DEFAULT_PROJECT_ID {target.project_id}: {exc.detail}", exc.endpoint
                ) from None
            connection_forget_project(project_id=target.project_id, reason=str(exc))
            target = effective_target()
            if target.project_id:  # another one was chosen meanwhile
                return client.show_project(account_id=target.account_id, project_id=target.project_id), True
    existing = next(
        (
            p
            for p in client.list_projects(account_id=target.account_id, workspace_id=target.workspace_id)
            if p.name == project.name
        ),
        None,
    )
    remote = existing or client.create_project(
        account_id=target.account_id, workspace_id=target.workspace_id, name=project.name
    )
    return remote, False


def scene_folder(client: FrameioClient, *, account_id: str, scene: Scene) -> str:
    """The scene's folder id, created once. No transaction is held across the Frame.io calls: a folder
    of that name is adopted (a crash after creating it, or another worker's), else one is created and
    saved with a compare-and-set; a worker that loses adopts the winner's and deletes its own. A project
    root Frame.io no longer knows is forgotten and found or made again, once."""
    frameio_signals.scene_folder_lookup.send(sender=Scene, cached=bool(scene.frameio_folder_id))  # cache hit rate
    if scene.frameio_folder_id:
        return scene.frameio_folder_id
    project = ensure_project(client, project=scene.project)
    current = Scene.objects.get(pk=scene.pk)
    if not current.frameio_folder_id:
        try:
            _save_scene_folder(client, account_id, project, current)
        except StaleReference as exc:
            forget_project(project=project, project_id=project.frameio_project_id, reason=str(exc))
            project = ensure_project(client, project=project)
            _save_scene_folder(client, account_id, project, current)
    scene.frameio_folder_id = current.frameio_folder_id
    return scene.frameio_folder_id


def _save_scene_folder(client: FrameioClient, account_id: str, project: Project, current: Scene) -> None:
    name = folder_name(current)
    existing = next(
        (
            c
            for c in client.list_children(account_id=account_id, folder_id=project.frameio_root_folder_id)
            if c.type == "folder" and c.name == name
        ),
        None,
    )
    root = project.frameio_root_folder_id
    folder = existing or client.create_folder(account_id=account_id, parent_id=root, name=name)
    if not Scene.objects.filter(pk=current.pk, frameio_folder_id="").update(frameio_folder_id=folder.id):
        current.refresh_from_db(fields=["frameio_folder_id"])
        if existing is None and current.frameio_folder_id != folder.id:
            _delete_new_folder(client, account_id, folder.id)  # empty: this worker just created it
    else:
        current.frameio_folder_id = folder.id


def in_scene_folder(client: FrameioClient, *, account_id: str, scene: Scene, call: Callable[[str], T]) -> T:
    """`call(folder_id)` with the scene's folder. If Frame.io no longer knows that folder, its id is dropped,
    the folder found or made again (with its project if that went too), and `call` runs once more."""
    folder_id = scene_folder(client, account_id=account_id, scene=scene)
    try:
        return call(folder_id)
    except StaleReference as exc:
        forget_scene_folder(scene=scene, folder_id=folder_id, reason=str(exc))
        return call(scene_folder(client, account_id=account_id, scene=scene))


# --- dropping what Frame.io no longer knows ------------------------------------------------------


def forget_scene_folder(*, scene: Scene, folder_id: str, reason: str, actor: str = "system") -> bool:
    """Drop the scene's folder id (and its shots' version stacks, which lived in it) if it is still
    `folder_id`; the next lookup adopts a folder of the scene's name or creates one."""
    with transaction.atomic():
        dropped = Scene.objects.filter(pk=scene.pk, frameio_folder_id=folder_id).update(frameio_folder_id="")
        if dropped:
            Shot.objects.filter(scene_id=scene.pk).update(frameio_version_stack_id="")
            audit_cache_dropped(what="scene folder", stale_id=folder_id, reason=reason, actor=actor, scene=str(scene))
    scene.frameio_folder_id = ""
    return bool(dropped)


def forget_project(*, project: Project, project_id: str, reason: str, actor: str = "system") -> bool:
    """Drop the production's project and root folder ids if they are still `project_id`'s, and every id
    cached under it (scene folders, version stacks); the connection's target too if it is that project."""
    with transaction.atomic():
        dropped = Project.objects.filter(pk=project.pk, frameio_project_id=project_id).update(
            frameio_project_id="", frameio_root_folder_id=""
        )
        if dropped:
            Scene.objects.filter(project_id=project.pk).update(frameio_folder_id="")
            Shot.objects.filter(project_id=project.pk).update(frameio_version_stack_id="")
            audit_cache_dropped(what="project", stale_id=project_id, reason=reason, actor=actor, project=project.code)
    if project_id:
        connection_forget_project(project_id=project_id, reason=reason, actor=actor)
    project.frameio_project_id = project.frameio_root_folder_id = ""
    return bool(dropped)


def forget_version_stack(*, shot: Shot, stack_id: str, reason: str, actor: str = "system") -> bool:
    """Drop the shot's version stack id if it is still `stack_id`; the next version is stacked afresh."""
    with transaction.atomic():
        dropped = bool(
            Shot.objects.filter(pk=shot.pk, frameio_version_stack_id=stack_id).update(frameio_version_stack_id="")
        )
        if dropped:
            audit_cache_dropped(what="version stack", stale_id=stack_id, reason=reason, actor=actor, shot=str(shot))
    shot.frameio_version_stack_id = ""
    return dropped


def _delete_new_folder(client: FrameioClient, account_id: str, folder_id: str) -> None:
    try:
        client.delete_folder(account_id=account_id, folder_id=folder_id)
    except FrameioError as exc:
        logger.warning("could not delete the duplicate Frame.io folder %s: %s", folder_id, exc)


def folder_name(scene: Scene) -> str:
    """`SEQ01 - REVEIL HOPITAL - JOUR`: sorts in scene order in Frame.io."""
    return f"SEQ{scene.number:02d} - {scene.name}"


# --- the cache as a whole (`manage.py frameio_cache`) ---------------------------------------------


@dataclass(frozen=True)
class CachedId:
    """One Frame.io id postflow keeps: what it is, whose it is, the id."""

    kind: str  # "project", "root folder", "scene folder", "version stack"
    owner: str  # the project code, the scene, the shot
    id: str


def cached_ids(*, scenes: list[Scene] | None = None) -> list[CachedId]:
    """Every cached id, or only those of `scenes` (their folders and their shots' version stacks)."""
    entries: list[CachedId] = []
    if scenes is None:
        for project in Project.objects.exclude(frameio_project_id="", frameio_root_folder_id="").order_by("code"):
            entries.append(CachedId("project", project.code, project.frameio_project_id))
            entries.append(CachedId("root folder", project.code, project.frameio_root_folder_id))
        scene_rows = Scene.objects.exclude(frameio_folder_id="").order_by("project__code", "number")
        shots = Shot.objects.exclude(frameio_version_stack_id="")
    else:
        scene_rows = [s for s in scenes if s.frameio_folder_id]
        shots = Shot.objects.filter(scene__in=scenes).exclude(frameio_version_stack_id="")
    entries += [CachedId("scene folder", str(scene), scene.frameio_folder_id) for scene in scene_rows]
    entries += [
        CachedId("version stack", str(shot), shot.frameio_version_stack_id) for shot in shots.order_by("nomenclature")
    ]
    return [e for e in entries if e.id]


def cached_id_state(client: FrameioClient, *, account_id: str, entry: CachedId) -> str:
    """ "ok" if Frame.io still knows the id, "gone" if not (it would be dropped on its next use), else
    the error (Frame.io unreachable, no permission...)."""
    show = {
        "project": lambda: client.show_project(account_id=account_id, project_id=entry.id),
        "root folder": lambda: client.show_folder(account_id=account_id, folder_id=entry.id),
        "scene folder": lambda: client.show_folder(account_id=account_id, folder_id=entry.id),
        "version stack": lambda: client.show_version_stack(account_id=account_id, version_stack_id=entry.id),
    }[entry.kind]
    try:
        show()
    except StaleReference as exc:
        return f"gone ({exc})"
    except FrameioError as exc:
        return f"error ({exc})"
    return "ok"


def cache_clear(*, scenes: list[Scene] | None = None, actor: str) -> list[CachedId]:
    """Forget the cached ids (of `scenes` only, or all): the next upload finds by name or makes again what
    is missing (a cleared version stack is found again through the previous version's file). The
    connection's chosen project stays: it is a choice, not a cache. One audit row names what was cleared."""
    entries = cached_ids(scenes=scenes)
    with transaction.atomic():
        if scenes is None:
            Project.objects.update(frameio_project_id="", frameio_root_folder_id="")
            Scene.objects.update(frameio_folder_id="")
            Shot.objects.update(frameio_version_stack_id="")
        else:
            Scene.objects.filter(pk__in=[s.pk for s in scenes]).update(frameio_folder_id="")
            Shot.objects.filter(scene__in=scenes).update(frameio_version_stack_id="")
        if entries:
            audit_cache_dropped(
                what="cache cleared" if scenes is None else "scene cache cleared",
                stale_id=", ".join(e.id for e in entries)[:500],
                reason=f"{len(entries)} id(s) cleared by hand",
                actor=actor,
                ids=[{"kind": e.kind, "owner": e.owner, "id": e.id} for e in entries],
            )
    return entries
