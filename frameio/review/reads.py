"""What review reads from Frame.io: a file's comments with their replies, its Status option, and which
postflow upload a Frame.io file is."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from frameio.auth import build_client, effective_target
from frameio.client import Comment, FrameioClient, FrameioError, parse_comment
from frameio.models import Upload

logger = logging.getLogger(__name__)


STATUS_FIELD = "status"  # the metadata field's name, compared without case


def client_or_default(client: FrameioClient | None) -> FrameioClient:
    return client or build_client()


def account_id_or_fail() -> str:
    account_id = effective_target().account_id
    if not account_id:
        raise FrameioError(None, False, "Frame.io is not connected (no account chosen)", "review")
    return account_id


def list_file_comments(client: FrameioClient, *, account_id: str, file_id: str) -> Iterator[Comment]:
    """Every comment of the file, replies included (flattened after the comment they answer)."""
    for comment in client.list_comments(account_id=account_id, file_id=file_id, include=("owner", "replies")):
        yield comment
        for reply in comment.raw.get("replies") or []:
            if isinstance(reply, dict) and reply.get("id"):
                yield parse_comment(reply, parent=comment)


def status_option(client: FrameioClient, *, account_id: str, file_id: str) -> str:
    """The display name of the file's "Status" option ('' when unset), the field found by name."""
    for value in client.file_metadata(account_id=account_id, file_id=file_id):
        if (value.field_definition_name or "").strip().lower() != STATUS_FIELD:
            continue
        names = {o.get("id"): o.get("display_name", "") for o in value.raw.get("field_options") or []}
        for item in value.value or []:
            if isinstance(item, dict):
                return str(item.get("display_name") or names.get(item.get("id"), ""))
            if isinstance(item, str):  # an option id only
                return names.get(item, "")
        return ""
    return ""


def upload_for_file(file_id: str | None) -> Upload | None:
    if not file_id:
        return None
    return (
        Upload.objects.filter(frameio_file_id=file_id, render__shot__isnull=False)
        .select_related("render__shot__project", "render__shot__scene")
        .first()
    )
