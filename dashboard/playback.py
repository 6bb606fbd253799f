"""What the shot page's player plays for a render, and the bytes of it, by HTTP range.

A render plays as it is when the browser can decode it (H.264 in MP4 or QuickTime, VP8/VP9/AV1 in WebM, as
the probe found them); otherwise its review proxy (ingest's `ReviewProxy`, an H.264 MP4) once it is ready and
made from the render's current content. Without either, the page shows the thumbnail and says why.
Reading goes through `ingest.verify.open_verified`: no symlink followed, the descriptor checked against
the ledger row (the render's, or the proxy's), as the uploads read it.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ingest.models import Render, ReviewProxy
from ingest.verify import open_verified

# Extension -> (MIME type, the video codecs, as PyAV names them, that Chromium, Firefox and Safari decode in it).
BROWSER_PLAYABLE = {
    ".mp4": ("video/mp4", {"h264", "av1"}),
    ".m4v": ("video/mp4", {"h264"}),
    ".mov": ("video/mp4", {"h264"}),  # QuickTime H.264 plays as MP4 (same ISO BMFF boxes)
    ".webm": ("video/webm", {"vp8", "vp9", "av1"}),
}
CHUNK = 256 * 1024


@dataclass(frozen=True)
class PlayFile:
    """The file the player gets for a render, with the ledger facts it must still match; or why there is none."""

    path: Path | None = None
    size: int = 0
    mtime_ns: int = 0
    inode: int = 0
    content_type: str = ""
    is_proxy: bool = False
    problem: str = ""  # why nothing plays ("" when something does)


def playable_file(render: Render) -> PlayFile:
    """What plays for this render: the render itself if a browser decodes it, else its ready review proxy."""
    if render.state not in Render.VERSION_STATES:
        return PlayFile(problem=f"not verified ({render.get_state_display().lower()})")
    own = _browser_type(render)
    if own:
        path = Path(render.root) / render.path
        return PlayFile(path, render.size, render.mtime_ns, render.inode, own)
    proxy = _proxy(render)
    what = "an image sequence" if render.is_sequence else _media_label(render)
    if proxy is None:
        return PlayFile(problem=f"{what} the browser cannot play, and no review proxy")
    if not proxy.serves(render):
        state = proxy.get_state_display().lower() if proxy.source_checksum == render.checksum else "out of date"
        return PlayFile(problem=f"{what} the browser cannot play; its review proxy is not ready ({state})")
    return PlayFile(Path(proxy.path), proxy.size, proxy.mtime_ns, proxy.inode, "video/mp4", is_proxy=True)


def _browser_type(render: Render) -> str:
    if render.is_sequence:
        return ""
    content_type, codecs = BROWSER_PLAYABLE.get(Path(render.path).suffix.lower(), ("", set()))
    return content_type if render.media.get("codec") in codecs else ""


def _media_label(render: Render) -> str:
    codec = render.media.get("codec") or "unknown codec"
    return f"{codec} in {Path(render.path).suffix.lstrip('.').upper() or 'a file'}"


def _proxy(render: Render) -> ReviewProxy | None:
    """The render's review proxy, or None (Django's missing-relation error is an AttributeError)."""
    return getattr(render, "proxy", None)


def open_play_file(file: PlayFile) -> int:
    """A checked descriptor on the file (OSError, or ingest.verify.FileChanged)."""
    return open_verified(file.path, inode=file.inode, size=file.size, mtime_ns=file.mtime_ns)


# --- ranges ---------------------------------------------------------------------------------


class RangeNotSatisfiable(Exception):
    pass


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive for a `Range: bytes=...` header, None for the whole file. One range only: a
    player never asks for several; a list of them is answered with the whole file, as RFC 9110 allows."""
    if not header or "," in header:
        return None
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise RangeNotSatisfiable
    return start, end


class DescriptorReader:
    """The bytes [start, end] of an open descriptor, as an async iterator (so that daphne streams them rather
    than Django buffering a sync iterator whole); reads run in a thread. Closes the descriptor when done or
    when Django closes the response (a client gone mid-file)."""

    def __init__(self, fd: int, start: int, end: int) -> None:
        self._fd, self._offset, self._end = fd, start, end

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        if self._fd < 0 or self._offset > self._end:
            self.close()
            raise StopAsyncIteration
        amount = min(CHUNK, self._end - self._offset + 1)
        data = await asyncio.to_thread(os.pread, self._fd, amount, self._offset)
        if not data:  # shorter than the ledger says: end here, the connection is closed short
            self.close()
            raise StopAsyncIteration
        self._offset += len(data)
        return data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
