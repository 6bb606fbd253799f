"""Version stacks: a shot's versions stacked in Frame.io, the stack created at the second version."""

import logging

from frameio.client import FrameioError
from frameio.models import Upload
from frameio.structure import scene_folder
from frameio.uploads.states import Job
from shots.models import Shot

logger = logging.getLogger(__name__)


def stack_version(job: Job) -> None:
    """Stack the file onto the shot's previous version: the stack is created at the second
    version, later versions move into it. No transaction is held across the Frame.io calls: the
    stack id is saved with a compare-and-set on the shot, and an upload that created a stack
    concurrently with another moves its file into the one that was saved."""
    shot = Shot.objects.get(pk=job.shot.pk)
    stack_id = shot.frameio_version_stack_id or _stack_holding(job)
    if stack_id:
        moved = job.client.move_file(account_id=job.account_id, file_id=job.upload.frameio_file_id, parent_id=stack_id)
        logger.info("upload %s: v%s moved into version stack %s", job.upload.pk, job.render.version, moved.parent_id)
        Shot.objects.filter(pk=shot.pk, frameio_version_stack_id="").update(frameio_version_stack_id=stack_id)
        return
    previous = _previous_version_file(job)
    if previous is None:
        return  # the shot's first version stays a plain file
    folder_id = scene_folder(job.client, account_id=job.account_id, scene=job.shot.scene)
    stack = job.client.create_version_stack(
        account_id=job.account_id, folder_id=folder_id, file_ids=[previous, job.upload.frameio_file_id]
    )
    if Shot.objects.filter(pk=shot.pk, frameio_version_stack_id="").update(frameio_version_stack_id=stack.id):
        return
    winner = Shot.objects.values_list("frameio_version_stack_id", flat=True).get(pk=shot.pk)
    logger.warning("upload %s: version stack %s lost a race to %s; moving into it", job.upload.pk, stack.id, winner)
    for file_id in (previous, job.upload.frameio_file_id):
        job.client.move_file(account_id=job.account_id, file_id=file_id, parent_id=winner)


def _stack_holding(job: Job) -> str:
    """If a crash came between creating the stack and saving its id, the file already sits in it."""
    file = job.client.show_file(account_id=job.account_id, file_id=job.upload.frameio_file_id)
    if not file.parent_id or file.parent_id == job.shot.scene.frameio_folder_id:
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
