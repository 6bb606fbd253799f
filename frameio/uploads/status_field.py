"""Frame.io's "Status" metadata field set to FRAMEIO_STATUS_NEEDS_REVIEW on every new upload, in batches."""

import logging

from django.conf import settings
from django.utils import timezone

from frameio.auth import (
    effective_target,
)
from frameio.client import FrameioClient, FrameioError
from frameio.models import Upload
from frameio.uploads.errors import UploadFailed

logger = logging.getLogger(__name__)


METADATA_BATCH = 100  # files per Status bulk update (the endpoint allows 10 calls a minute)


def pending_status():
    return Upload.objects.filter(state__in=Upload.IN_FRAMEIO, status_field_set_at__isnull=True).exclude(
        frameio_file_id=""
    )


def flush_review_status(client: FrameioClient, *, wait: bool = True) -> int:
    """Set Frame.io's "Status" field to FRAMEIO_STATUS_NEEDS_REVIEW on every new upload, up to
    100 files a call (the bulk update allows 10 calls a minute). With `wait=False` nothing waits
    for the rate budget (see flush_soon)."""
    pending = list(
        pending_status().values_list("pk", "frameio_file_id", "render__shot__project__frameio_project_id")[
            :METADATA_BATCH
        ]
    )
    if not pending:
        return 0
    account_id = effective_target().account_id
    field_id, option_id = _status_option(client, account_id)
    for project_id in {project for _, _, project in pending}:
        batch = [(pk, file_id) for pk, file_id, project in pending if project == project_id]
        client.update_metadata_values(
            account_id=account_id,
            project_id=project_id,
            file_ids=[file_id for _, file_id in batch],
            values=[{"field_definition_id": field_id, "value": [option_id]}],
            wait=wait,
        )
        Upload.objects.filter(pk__in=[pk for pk, _ in batch]).update(status_field_set_at=timezone.now())
    return len(pending)


def flush_soon(client: FrameioClient) -> None:
    """After an upload: the batch now if the endpoint's budget allows it, else left to the uploads
    reconciler (every minute). An upload never holds its slot waiting for a call that allows 10 a
    minute: a batch of small renders finishing every second would queue behind it."""
    try:
        flush_review_status(client, wait=False)
    except (FrameioError, UploadFailed) as exc:
        logger.info("the Status field batch is left to the reconciler: %s", exc)


_status_cache: dict[str, tuple[str, str]] = {}


def _status_option(client: FrameioClient, account_id: str) -> tuple[str, str]:
    """(field id, option id) of the Status field's "needs review" option, found by name once."""
    wanted = settings.FRAMEIO_STATUS_NEEDS_REVIEW
    key = f"{account_id}:{wanted}"
    if key not in _status_cache:
        fields = [f for f in client.list_field_definitions(account_id=account_id) if (f.name or "").lower() == "status"]
        if not fields:
            raise UploadFailed("Frame.io has no metadata field named Status in this account")
        options = {o.display_name.lower(): o.id for o in fields[0].options}
        if wanted.lower() not in options:
            known = ", ".join(o.display_name for o in fields[0].options)
            raise UploadFailed(
                f"the Status field has no option {wanted!r} (FRAMEIO_STATUS_NEEDS_REVIEW); it has {known}"
            )
        _status_cache[key] = (fields[0].id, options[wanted.lower()])
    return _status_cache[key]
