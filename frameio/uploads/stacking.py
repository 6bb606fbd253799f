"""Version stacks: a shot's versions stacked in Frame.io, the stack created at the second version."""

import logging

from frameio.client import File, FrameioError, StaleReference
from frameio.models import Upload
from frameio.structure import forget_version_stack, in_scene_folder
from frameio.uploads.states import Job
from shots.models import Shot

logger = logging.getLogger(__name__)


def stack_version(job: Job) -> None:
    """Stack the file onto the shot's previous version: the stack is created at the second
    version, later versions move into it. No transaction is held across the Frame.io calls: the
    stack id is saved with a compare-and-set on the shot, and an upload that created a stack
    concurrently with another moves its file into the one that was saved. A stack Frame.io no longer
    knows (deleted there) is dropped from the cache and the version stacked afresh, once."""
    shot = Shot.objects.get(pk=job.shot.pk)
    new_file = None if shot.frameio_version_stack_id else _remote_file(job, job.upload.frameio_file_id)
    stack_id = shot.frameio_version_stack_id or _parent_stack(job, new_file)
    if stack_id:
        try:
            _move_into(job, shot, stack_id)
            return
        except StaleReference as exc:
            forget_version_stack(shot=shot, stack_id=stack_id, reason=str(exc))
    previous = _previous_version_file(job)
    if previous is None:
        return  # the shot's first version stays a plain file
    previous_file = _remote_file(job, previous)
    if previous_file is None:  # deleted in Frame.io, with its folder or its stack
        logger.warning(
            "upload %s: the previous version is gone from Frame.io; v%s stays a plain file",
            job.upload.pk,
            job.render.version,
        )
        return
    holding = _parent_stack(job, previous_file)  # a stack of earlier versions whose id is not cached (cleared)
    if holding:
        _move_into(job, shot, holding)
        return
    try:
        stack = in_scene_folder(
            job.client,
            account_id=job.account_id,
            scene=job.shot.scene,
            call=lambda folder_id: job.client.create_version_stack(
                account_id=job.account_id, folder_id=folder_id, file_ids=[previous, job.upload.frameio_file_id]
            ),
        )
    except StaleReference as exc:  # the previous version is gone from Frame.io with its folder or stack
        logger.warning("upload %s: v%s stays a plain file: %s", job.upload.pk, job.render.version, exc)
        return
    if Shot.objects.filter(pk=shot.pk, frameio_version_stack_id="").update(frameio_version_stack_id=stack.id):
        return
    winner = Shot.objects.values_list("frameio_version_stack_id", flat=True).get(pk=shot.pk)
    logger.warning("upload %s: version stack %s lost a race to %s; moving into it", job.upload.pk, stack.id, winner)
    for file_id in (previous, job.upload.frameio_file_id):
        job.client.move_file(account_id=job.account_id, file_id=file_id, parent_id=winner)


def _move_into(job: Job, shot: Shot, stack_id: str) -> None:
    moved = job.client.move_file(account_id=job.account_id, file_id=job.upload.frameio_file_id, parent_id=stack_id)
    logger.info("upload %s: v%s moved into version stack %s", job.upload.pk, job.render.version, moved.parent_id)
    Shot.objects.filter(pk=shot.pk, frameio_version_stack_id="").update(frameio_version_stack_id=stack_id)


def _remote_file(job: Job, file_id: str) -> File | None:
    """The file as Frame.io has it; None if Frame.io no longer knows it."""
    try:
        return job.client.show_file(account_id=job.account_id, file_id=file_id)
    except StaleReference:
        return None


def _parent_stack(job: Job, file: File | None) -> str:
    """The version stack `file` sits in, if any: after a crash between creating the stack and saving its
    id, the new file already sits in it; after the cache was cleared, the previous version does."""
    if file is None or not file.parent_id or file.parent_id == job.shot.scene.frameio_folder_id:
        return ""
    try:
        return job.client.show_version_stack(account_id=job.account_id, version_stack_id=file.parent_id).id
    except FrameioError:
        return ""


def _previous_version_file(job: Job) -> str | None:
    return (
        Upload.objects.filter(
            render__shot=job.shot,
            render__version__lt=job.render.version,
            state__in=Upload.IN_FRAMEIO,
        )
        .exclude(frameio_file_id="")
        .order_by("-render__version")
        .values_list("frameio_file_id", flat=True)
        .first()
    )
