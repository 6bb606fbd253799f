"""Pull mode (FRAMEIO_UPLOAD_MODE=pull): Frame.io fetches the verified render from postflow instead of
postflow pushing parts to S3.

postflow serves the render at a signed, expiring, single-file URL under POSTFLOW_PUBLIC_URL
(`/frameio/pull/<render id>/<expiry>/<signature>/<name>`), asks Frame.io to fetch it
(`files.create_remote_upload` with `source_url`), saves the Frame.io file id at once (exactly once, as
`local_upload` in push mode), then follows the file to `uploaded` like a push upload.

The signature is an HMAC (keyed from SECRET_KEY) over the render id, its checksum and the expiry: a
render whose content changed (a new checksum) is refused, and so is a file on disk that is not the one
verified any more (inode, size, mtime checked on a no-follow descriptor, as push does). The URL serves
that one file: GET and HEAD, one HTTP Range (a fetcher resumes a cut transfer), an ETag from the
checksum and If-Range; nothing else is served or listed.
"""

import hmac
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.views.decorators.http import require_http_methods

from frameio.structure import in_scene_folder
from frameio.uploads.errors import RenderUnreadable
from frameio.uploads.states import Job, upload_mark_uploading
from frameio.uploads.transfer import BLOCK_SIZE, open_review_file
from ingest.models import Render
from ingest.selectors import ReviewFile, review_file

logger = logging.getLogger(__name__)

_SALT = "postflow.frameio.pull"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def signature(render_id: int, checksum: str, expires: int) -> str:
    return salted_hmac(_SALT, f"{render_id}:{checksum}:{expires}", algorithm="sha256").hexdigest()


def signed_url(render: Render, *, now: float | None = None) -> str:
    """The URL Frame.io fetches the render's review file from (the render's own file, or its review proxy),
    valid FRAMEIO_PULL_URL_TTL seconds (a secret: never logged)."""
    file = review_file(render)
    expires = int((now or time.time()) + settings.FRAMEIO_PULL_URL_TTL)
    path = reverse(
        "frameio:pull",
        kwargs={
            "render_id": render.pk,
            "expires": expires,
            "signature": signature(render.pk, file.checksum, expires),
            "name": quote(file.name or Path(render.path).name),
        },
    )
    return settings.POSTFLOW_PUBLIC_URL.rstrip("/") + path


def request_fetch(job: Job) -> None:
    """Ask Frame.io to fetch the render (once: the file id is saved the moment it exists)."""
    created = in_scene_folder(  # a scene folder deleted in Frame.io is made again, once
        job.client,
        account_id=job.account_id,
        scene=job.shot.scene,
        call=lambda folder_id: job.client.create_remote_upload(
            account_id=job.account_id, folder_id=folder_id, name=job.file.name, source_url=signed_url(job.render)
        ),
    )
    upload_mark_uploading(
        job,
        file_id=created.id,
        media_type=created.media_type or "application/octet-stream",
        view_url=created.view_url or "",
    )
    logger.info("upload %s: Frame.io file %s, fetched by Frame.io from postflow", job.upload.pk, created.id)


# -- the view Frame.io fetches from -------------------------------------------------------------------


@require_http_methods(["GET", "HEAD"])
def serve_render(request: HttpRequest, render_id: int, expires: int, signature: str, name: str) -> HttpResponse:
    render = Render.objects.filter(pk=render_id).first()
    file = review_file(render) if render is not None else None
    refusal = _refusal(render, file, expires, signature)
    if refusal:
        status, reason = refusal
        logger.info("pull URL for render %s refused: %s", render_id, reason)
        return HttpResponse(reason, status=status)
    try:
        fd = open_review_file(file)
    except RenderUnreadable as exc:
        logger.info("pull URL for render %s refused: %s", render_id, exc)
        return HttpResponse("the file is not the one verified any more", status=410)
    return _answer(request, file, fd)


def _refusal(render: Render | None, file: ReviewFile | None, expires: int, given: str) -> tuple[int, str] | None:
    """(HTTP status, reason) when the URL must not serve, else None."""
    if render is None or file is None or not file.checksum:
        return 410, "no such render (or no review file yet)"
    if time.time() > expires:
        return 403, "the URL expired"
    if not hmac.compare_digest(signature(render.pk, file.checksum, expires), given):
        return 403, "bad signature (or the render's content changed)"
    return None


def _answer(request: HttpRequest, file: ReviewFile, fd: int) -> HttpResponse:
    size, etag = file.size, f'"{file.checksum}"'
    first, last = 0, size - 1
    span = _range(request, etag, size)
    if span == "unsatisfiable":
        os.close(fd)
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if span is not None:
        first, last = span
    length = last - first + 1
    if request.method == "HEAD":
        os.close(fd)
        response = HttpResponse(status=206 if span else 200)
    else:
        response = StreamingHttpResponse(_blocks(fd, first, length), status=206 if span else 200)
    response["Content-Length"] = str(length)
    response["Content-Type"] = "application/octet-stream"
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-store"
    if span:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    return response


def _range(request: HttpRequest, etag: str, size: int) -> tuple[int, int] | str | None:
    """The one byte range asked for, None for the whole file, or "unsatisfiable"."""
    header = request.headers.get("Range", "")
    if not header:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range != etag:
        return None  # the fetcher's copy is of other content: the whole file again
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None  # several ranges or a malformed one: RFC 9110 lets a server ignore Range
    start, end = match.groups()
    if start == "":
        first, last = max(0, size - int(end)), size - 1
    else:
        first, last = int(start), min(int(end), size - 1) if end else size - 1
    if first >= size or first > last:
        return "unsatisfiable"
    return first, last


def _blocks(fd: int, offset: int, length: int) -> Iterator[bytes]:
    try:
        while length > 0:
            data = os.pread(fd, min(BLOCK_SIZE, length), offset)
            if not data:
                return
            offset += len(data)
            length -= len(data)
            yield data
    finally:
        os.close(fd)
