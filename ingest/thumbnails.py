"""Poster frames: one small WebP per verified render (its middle frame), in postflow's own folder.

Written by the watcher once a render is verified (`thumbnail_after_verify`), by the job a page starts for
a render verified before thumbnails existed (`thumbnail_request`, ingest.tasks.make_thumbnail), and by
`manage.py thumbnails`.
Never next to the render: the mount is the artists' (and the watcher's) space, and a file there would be
taken for a render. The file's name carries the render's checksum, so new content never shows an old picture;
its presence is the only state, so there is nothing to migrate and writing twice is harmless.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from ingest import jobs
from ingest.models import Render
from ingest.proxy_media import read_frame
from ingest.sequences import key_parts
from ingest.verify import MediaError, _opened

logger = logging.getLogger(__name__)

WIDTH = 320  # px: the scene page shows them at 96, the shot page at up to 320
QUALITY = 70  # WebP: a 320 px frame is 5-15 KB
# A page asks for a missing thumbnail at every view: one job per render within this window.
REQUEST_DEDUP_SECONDS = 600


class ThumbnailError(Exception):
    """The render cannot give a poster frame (unreadable now, gone, no frame): it simply has none."""


def thumbnail_path(render: Render) -> Path | None:
    """Where the render's thumbnail is (or would be); None for a render that has no verified content."""
    if not render.checksum:
        return None
    return Path(settings.POSTFLOW_THUMBNAILS_PATH) / f"{render.pk // 1000:03d}" / f"{render.pk}-{render.checksum}.webp"


def has_thumbnail(render: Render) -> bool:
    path = thumbnail_path(render)
    return path is not None and path.is_file()


def thumbnail_write(render: Render) -> Path:
    """Decode the render's middle frame and write it as a small WebP (atomically: a page never reads half
    a file). Raises ThumbnailError when the render gives no frame."""
    target = thumbnail_path(render)
    if target is None or render.state not in Render.VERSION_STATES:
        raise ThumbnailError(f"{render.path}: not verified")
    image = _middle_frame(render)
    image.thumbnail((WIDTH, WIDTH * 4))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".webp")
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, "WEBP", quality=QUALITY, method=4)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def thumbnail_after_verify(render_id: int) -> None:
    """The watcher's step after `render_verify`, and the job a page asks for: a poster frame for a render that
    holds a version and has none. Safe to run twice. A failure is logged and stays with this render (the page
    shows no picture); the scan goes on."""
    render = Render.objects.filter(pk=render_id, state__in=Render.VERSION_STATES).first()
    if render is None or has_thumbnail(render):
        return
    try:
        thumbnail_write(render)
    except Exception as exc:  # a picture is never worth stopping a scan or a job for
        logger.warning("no thumbnail for render %s: %s", render_id, exc)


def thumbnail_request(render: Render) -> bool:
    """Ask a worker for the thumbnail of a render verified before thumbnails existed (or whose picture
    was deleted): once per render per REQUEST_DEDUP_SECONDS, on commit. True if a job was enqueued."""
    if render.state not in Render.VERSION_STATES or not render.checksum:
        return False
    if not cache.add(f"thumbnail-request:{render.pk}:{render.checksum}", 1, REQUEST_DEDUP_SECONDS):
        return False
    transaction.on_commit(lambda: jobs.enqueue_thumbnail(render.pk))
    return True


def thumbnails_backfill(*, render_ids: list[int] | None = None, force: bool = False) -> dict[str, int]:
    """Thumbnails for every render holding a version that has none (or these renders; `force` writes them
    again). One render's failure is counted and logged, never stops the others."""
    rows = Render.objects.filter(state__in=Render.VERSION_STATES).exclude(checksum="").order_by("pk")
    if render_ids:
        rows = rows.filter(pk__in=render_ids)
    counts = {"written": 0, "present": 0, "failed": 0}
    for render in rows.iterator():
        if not force and has_thumbnail(render):
            counts["present"] += 1
            continue
        try:
            thumbnail_write(render)
            counts["written"] += 1
        except Exception as exc:  # one render's problem stays with it
            logger.warning("no thumbnail for render %s (%s): %s", render.pk, render.path, exc)
            counts["failed"] += 1
    return counts


# --- the picture ------------------------------------------------------------------------------


def _middle_frame(render: Render):
    """The render's middle frame as a Pillow image (RGB)."""
    if render.is_sequence:
        path = _middle_frame_path(render)
        try:  # as the review proxy reads it: an EXR's linear light in sRGB, not dark and flat
            return read_frame(path)
        except MediaError as exc:
            raise ThumbnailError(str(exc)) from None
    return _decode_middle(Path(render.root) / render.path)


def _middle_frame_path(render: Render) -> Path:
    """The file of a sequence's middle frame, among the frames verification hashed."""
    frames = list(render.frames.order_by("frame").values_list("frame", flat=True))
    if not frames:
        raise ThumbnailError(f"{render.path}: no verified frame")
    directory, base, padding, ext = key_parts(render.path)
    name = f"{base}{frames[len(frames) // 2]:0{padding}d}.{ext}"
    return Path(render.root) / directory / name


def _decode_middle(path: Path):
    """Seek to the key frame before the middle, then decode up to the middle (a few frames, not the file)."""
    import av

    with _opened(path) as container:
        if not container.streams.video:
            raise ThumbnailError(f"{path.name}: no video stream")
        stream = container.streams.video[0]
        middle = _middle_pts(container, stream)
        if middle:
            container.seek(middle, stream=stream, backward=True, any_frame=False)
        last = None
        try:
            for frame in container.decode(stream):
                last = frame
                if frame.pts is None or frame.pts >= middle:
                    break
        except av.FFmpegError as exc:
            if last is None:
                raise ThumbnailError(f"{path.name}: no frame ({exc})") from None
        if last is None:
            raise ThumbnailError(f"{path.name}: no frame")
        return last.to_image().convert("RGB")


def _middle_pts(container, stream) -> int:
    """The middle of the stream in its time base (0 when the file does not say how long it is)."""
    if stream.duration and stream.time_base:
        return (stream.start_time or 0) + stream.duration // 2
    if container.duration and stream.time_base:
        seconds = container.duration / 1_000_000 / 2
        return (stream.start_time or 0) + int(seconds / stream.time_base)
    return 0
