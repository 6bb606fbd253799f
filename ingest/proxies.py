"""Review proxies: the H.264 MP4 Frame.io gets in place of a render it should not get as it is (every image
sequence, and the movies POSTFLOW_PROXY_FOR names), with a burn-in, at the project's rate, one frame per
render frame.

The way of one proxy (`proxy_build`, the job `ingest.tasks.build_proxy` runs):

1. `services.proxy_claim` leases the proxy to this worker (compare-and-set: a job delivered twice, or a
   second worker, encodes nothing); a process lock makes a worker process encode one proxy at a time.
2. The frames are read again from the mount (a sequence's listing must still be the one verified), the
   proxy encoded (`ingest.proxy_media`) into a temporary name in the cache folder, its progress written
   (which renews the lease) and published live as "proxy.progress".
3. The temporary file is fsync'ed, hashed (xxh3-128) and renamed to its final name, the folder fsync'ed:
   a crash leaves at most a temporary file, which the next attempt removes, never a half proxy under the
   final name.
4. `services.proxy_mark_ready` records it and queues the render for review (the upload then sends the
   proxy: `ingest.selectors.review_file`).

`proxies_reconcile` (every minute) is the safety net: jobs lost, workers that died, failures to try again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from PIL import Image

from ingest import jobs, services
from ingest.models import Render, ReviewProxy
from ingest.proxy_media import BurnIn, encode_proxy, movie_frames, sequence_frames
from ingest.rules import REVIEW
from ingest.selectors import proxy_folder, proxy_name
from ingest.sequences import frames_on_disk, key_parts
from ingest.services import ProxyWritten, VerifyError, safe_path
from ingest.verify import MediaError, checksum_xxh128
from postflow import realtime
from postflow.lib import shutdown
from postflow.lib.timecode import exact_rate

logger = logging.getLogger(__name__)

# One encode at a time in a process: x264 already uses every core, and a second encode would only halve
# both (and double the memory of frames in flight).
_ENCODE_LOCK = threading.Lock()
PROGRESS_WRITE_SECONDS = 1.0  # the lease is renewed with each progress write
PROGRESS_PUBLISH_SECONDS = 0.5  # the dashboard's live figure, twice a second at most
# A pending proxy the reconciler enqueues again once its job is this late (its first job may still be waiting).
PENDING_GRACE = timedelta(minutes=1)


class LostProxy(Exception):
    """This worker no longer holds the proxy (taken over, or the render changed): stop, write nothing."""


class WorkerStopping(Exception):
    """The worker was asked to stop: the proxy goes back to pending, the try not counted."""


class SourceChanged(Exception):
    """The render's frames on disk are not the ones verified any more: the watcher will verify them again."""


def proxy_build(*, render_id: int, on_progress: Callable[[int, int], None] | None = None) -> ReviewProxy | None:
    """Build the render's review proxy, if this worker can claim it, and queue the render for review.

    Never raises for a render's trouble: a failure is recorded on the proxy (tried again, or failed with its
    reason). `on_progress(done, total)` is called after each frame (what it raises fails the attempt).
    """
    if shutdown.requested():  # a stopping worker takes nothing new: the reconciler enqueues it again
        return ReviewProxy.objects.filter(render_id=render_id).first()
    with _ENCODE_LOCK:
        owner = _new_owner()
        proxy = services.proxy_claim(render_id=render_id, owner=owner, now=timezone.now())
        if proxy is not None:
            _attempt(proxy, owner, on_progress)
    return ReviewProxy.objects.filter(render_id=render_id).first()


def _attempt(proxy: ReviewProxy, owner: str, on_progress: Callable[[int, int], None] | None) -> None:
    render_id = proxy.render_id
    try:
        written = _build(proxy, owner, on_progress)
    except LostProxy:
        logger.info("review proxy of render %s: lost to another worker or a change of the render", render_id)
    except WorkerStopping:
        services.proxy_release(render_id=render_id, owner=owner)
    except (MediaError, VerifyError) as exc:
        # The render's media cannot make a proxy: trying again would read the same bytes.
        services.proxy_attempt_failed(render_id=render_id, owner=owner, reason=str(exc), permanent=True, now=_now())
    except Exception as exc:  # the mount, a crash of the encoder, a bug: counted, tried again by the reconciler
        if not isinstance(exc, OSError | SourceChanged):
            logger.exception("review proxy of render %s: unexpected error", render_id)
        reason = str(exc) or type(exc).__name__
        services.proxy_attempt_failed(render_id=render_id, owner=owner, reason=reason, permanent=False, now=_now())
    else:
        services.proxy_mark_ready(render_id=render_id, owner=owner, written=written, now=_now())


def _build(proxy: ReviewProxy, owner: str, on_progress: Callable[[int, int], None] | None) -> ProxyWritten:
    render = proxy.render
    frames, total = _render_frames(render)
    folder = proxy_folder(render)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / proxy_name(render)
    _remove_leftovers(folder, final.name)
    temp = folder / f".{final.name}.{owner.rsplit(':', 1)[-1]}.partial"
    progress = _Progress(render, owner, total, on_progress)
    started = time.monotonic()
    try:
        facts = encode_proxy(
            frames,
            out=temp,
            fps=exact_rate(render.shot.project.fps),
            max_width=settings.POSTFLOW_PROXY_WIDTH,
            burn_in=_burn_in(render, total),
            on_frame=progress.frame,
        )
        if facts.frames != total:
            raise MediaError(f"{facts.frames} frames decoded, the render has {total}")
        checksum, stat = _seal(temp, final)
    finally:
        temp.unlink(missing_ok=True)  # after a failure; after the rename there is nothing left under it
    seconds = time.monotonic() - started
    logger.info("review proxy of render %s: %s frames in %.1f s (%s)", render.pk, total, seconds, final)
    return ProxyWritten(
        path=final,
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        inode=stat.st_ino,
        checksum=checksum,
        width=facts.width,
        height=facts.height,
        frames=facts.frames,
        fps=facts.fps,
        seconds=round(seconds, 3),
    )


def _render_frames(render: Render) -> tuple[Iterator[Image.Image], int]:
    """The render's frames, from the mount as verified, and how many there are."""
    root = Path(render.root)
    if not render.is_sequence:
        path = safe_path(root, render.path)
        stat = os.stat(path, follow_symlinks=False)
        if (stat.st_size, stat.st_mtime_ns, stat.st_ino) != (render.size, render.mtime_ns, render.inode):
            raise SourceChanged("the render changed since it was verified")
        return movie_frames(path), int(render.media.get("frames") or 0)
    directory = key_parts(render.path)[0]
    folder = safe_path(root, directory) if directory else root
    extensions = {key_parts(render.path)[3].lower()}
    paths, stat = frames_on_disk(folder, render.path, extensions)
    listed = None if stat is None else (stat.size, stat.mtime_ns, stat.inode, stat.first, stat.last, stat.count)
    verified = (render.size, render.mtime_ns, render.inode, render.first_frame, render.last_frame, render.frame_count)
    if listed != verified:
        raise SourceChanged("the sequence's frames changed since it was verified")
    return sequence_frames(paths.values()), len(paths)


def _burn_in(render: Render, total: int) -> BurnIn:
    shot = render.shot
    return BurnIn(
        nomenclature=str(shot),
        version=render.version or 0,
        scene=f"SEQ{shot.scene.number:02d} {shot.scene.name}",
        record_in=shot.timeline_in,
        fps=shot.project.fps,
        total=total,
        first_number=render.first_frame if render.is_sequence else 1,
    )


def _remove_leftovers(folder: Path, name: str) -> None:
    """Temporary files of earlier attempts at this proxy (a worker killed mid-encode leaves one)."""
    for leftover in folder.glob(f".{name}.*.partial"):
        leftover.unlink(missing_ok=True)
        logger.info("removed %s, left by an attempt that did not finish", leftover)


def _seal(temp: Path, final: Path) -> tuple[str, os.stat_result]:
    """The encoded file on disk for good, then hashed, then under its final name (atomic rename), the
    folder's entry on disk too. Returns the checksum and the final file's stat."""
    fd = os.open(temp, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    checksum = checksum_xxh128(temp)
    os.replace(temp, final)
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return checksum, os.stat(final, follow_symlinks=False)


class _Progress:
    """Frames done: written to the proxy (renewing the lease) every second, published live twice a second,
    handed to the caller's callback after each frame."""

    def __init__(self, render: Render, owner: str, total: int, callback: Callable[[int, int], None] | None) -> None:
        self.render, self.owner, self.total, self.callback = render, owner, total, callback
        self.started = self.written = self.published = time.monotonic()

    def frame(self, done: int) -> None:
        if shutdown.requested():
            raise WorkerStopping()
        now = time.monotonic()
        if now - self.written >= PROGRESS_WRITE_SECONDS:
            self.written = now
            if not services.proxy_progress(render_id=self.render.pk, owner=self.owner, frames_done=done, now=_now()):
                raise LostProxy()
        if now - self.published >= PROGRESS_PUBLISH_SECONDS or done == self.total:
            self.published = now
            self._publish(done, now)
        if self.callback is not None:
            self.callback(done, self.total)

    def _publish(self, done: int, now: float) -> None:
        rate = done / (now - self.started) if now > self.started else 0.0
        realtime.publish(
            "proxy.progress",
            {
                "render_id": self.render.pk,
                "name": self.render.display_name,
                "frames_done": done,
                "frames_total": self.total,
                "fps": round(rate, 1),
                "eta_seconds": round((self.total - done) / rate) if rate else None,
            },
        )


def proxies_reconcile(*, now: datetime | None = None) -> dict[str, int]:
    """The schedule's job: enqueue the proxies whose job was lost or whose worker died, and ask for the
    proxies of sequences verified for review that have none (verified before proxies existed)."""
    now = now or timezone.now()
    current = ReviewProxy.objects.filter(render__state=Render.State.VERIFIED, render__checksum=F("source_checksum"))
    due = current.filter(
        Q(state=ReviewProxy.State.PENDING, updated_at__lt=now - PENDING_GRACE)
        | Q(state=ReviewProxy.State.ENCODING, lease_until__lt=now)
    )
    render_ids = list(due.values_list("render_id", flat=True))
    for render_id in render_ids:
        jobs.enqueue_proxy_build(render_id)
    orphans = Render.objects.filter(
        state=Render.State.VERIFIED, rule=REVIEW, kind=Render.Kind.SEQUENCE, proxy__isnull=True
    ).values_list("pk", "checksum")
    for render_id, checksum in orphans:
        services.proxy_request(render_id=render_id, checksum=checksum, now=now)
    return {"enqueued": len(render_ids), "requested": len(orphans)}


def _new_owner() -> str:
    """A lease owner that says who holds it: `host:pid:token` (as the uploads' leases)."""
    return f"{os.uname().nodename[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return timezone.now()
