"""The production's structure in Frame.io: its project and one folder per scene, ids cached on Project and
Scene. No transaction is held across a Frame.io call; ids are saved with a compare-and-set, and a
worker that loses a race adopts the winner's."""

import logging

from django.db.models import Q

from frameio import signals as frameio_signals
from frameio.auth import (
    connection_set_target,
    effective_target,
    target_with_project,
)
from frameio.client import FrameioClient, FrameioError
from shots.models import Project, Scene

logger = logging.getLogger(__name__)


def ensure_project(client: FrameioClient, *, project: Project) -> Project:
    """The production's Frame.io project, found by name or created. The Frame.io calls run outside
    any transaction; the ids are saved with a compare-and-set, and a loser adopts the winner's ids."""
    if project.frameio_project_id and project.frameio_root_folder_id:
        return project
    project = Project.objects.get(pk=project.pk)
    if project.frameio_project_id and project.frameio_root_folder_id:
        return project
    target = effective_target()
    if target.project_id:
        remote = client.show_project(account_id=target.account_id, project_id=target.project_id)
    else:
        remote = next(
            (
                p
                for p in client.list_projects(account_id=target.account_id, workspace_id=target.workspace_id)
                if p.name == project.name
            ),
            None,
        ) or client.create_project(account_id=target.account_id, workspace_id=target.workspace_id, name=project.name)
    unset = Q(frameio_project_id="") | Q(frameio_root_folder_id="")
    won = Project.objects.filter(unset, pk=project.pk).update(
        frameio_project_id=remote.id, frameio_root_folder_id=remote.root_folder_id or ""
    )
    if won and not target.project_id:
        connection_set_target(target=target_with_project(target, remote), actor="system")
    project.refresh_from_db(fields=["frameio_project_id", "frameio_root_folder_id"])
    return project


def scene_folder(client: FrameioClient, *, account_id: str, scene: Scene) -> str:
    """The scene's folder id, created once. No transaction is held across the Frame.io calls: a folder
    of that name is adopted (a crash after creating it, or another worker's), else one is created and
    saved with a compare-and-set; a worker that loses adopts the winner's and deletes its own."""
    frameio_signals.scene_folder_lookup.send(sender=Scene, cached=bool(scene.frameio_folder_id))  # cache hit rate
    if scene.frameio_folder_id:
        return scene.frameio_folder_id
    project = ensure_project(client, project=scene.project)
    current = Scene.objects.get(pk=scene.pk)
    if not current.frameio_folder_id:
        name = folder_name(current)
        existing = next(
            (
                c
                for c in client.list_children(account_id=account_id, folder_id=project.frameio_root_folder_id)
                if c.type == "folder" and c.name == name
            ),
            None,
        )
        folder = existing or client.create_folder(
            account_id=account_id, parent_id=project.frameio_root_folder_id, name=name
        )
        if not Scene.objects.filter(pk=scene.pk, frameio_folder_id="").update(frameio_folder_id=folder.id):
            current.refresh_from_db(fields=["frameio_folder_id"])
            if existing is None and current.frameio_folder_id != folder.id:
                _delete_new_folder(client, account_id, folder.id)  # empty: this worker just created it
        else:
            current.frameio_folder_id = folder.id
    scene.frameio_folder_id = current.frameio_folder_id
    return scene.frameio_folder_id


def _delete_new_folder(client: FrameioClient, account_id: str, folder_id: str) -> None:
    try:
        client.delete_folder(account_id=account_id, folder_id=folder_id)
    except FrameioError as exc:
        logger.warning("could not delete the duplicate Frame.io folder %s: %s", folder_id, exc)


def folder_name(scene: Scene) -> str:
    """`SEQ01 - REVEIL HOPITAL - JOUR`: sorts in scene order in Frame.io."""
    return f"SEQ{scene.number:02d} - {scene.name}"
