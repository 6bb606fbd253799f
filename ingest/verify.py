"""Checks on a render's content: the xxh128 checksum and a media probe (PyAV, whose wheels
carry their own FFmpeg). No models here; `ingest.services` decides what the results mean."""

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import xxhash

# What one read of a checksum pass takes, into one buffer reused for the whole file: the page cache and
# the kernel's read-ahead do the batching (FUSE splits larger reads anyway), and a fresh 8 MiB object per
# read left two of them alive at once and raised glibc's mmap threshold for the rest of the process.
CHUNK = 1024 * 1024

# Bounds of what a probe reads from a file's header, so a crafted or broken header is quarantined with the
# range instead of being carried into the ledger, the review timecodes and Frame.io. Generous: 1,000 fps is
# past any camera an editor cuts; 10,000,000 frames is 46 hours at 60 fps; 65,535 pixels is past every
# codec's own limit (H.264 and ProRes stop at 8,192 or 16,384).
FPS_RANGE = (1, 1_000)
FRAMES_RANGE = (1, 10_000_000)
DECLARED_FRAMES_RANGE = (0, 10_000_000)  # 0: the header does not say
SIZE_RANGE = (1, 65_535)


class MediaError(Exception):
    """The file is not a usable render (unreadable, no video, truncated): quarantine it."""


@dataclass(frozen=True)
class MediaFacts:
    container: str
    codec: str
    width: int
    height: int
    fps: float
    frames: int  # frames actually readable
    declared_frames: int  # frames the container header announces

    def as_dict(self) -> dict:
        return asdict(self)


def open_no_follow(path: Path):
    """The file for reading, refusing a symlink (swapped in after the watcher's lstat, say)."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")


class FileChanged(Exception):
    """The file at a ledger row's path is no longer the one verified (another inode, size or mtime)."""


def open_verified(path: Path, *, inode: int, size: int, mtime_ns: int) -> int:
    """A descriptor on the very file that was verified: opened without following a symlink, then checked
    (inode, size, mtime) on the descriptor itself, so a file swapped for a link to something else (a key,
    another render) after the check is never read. OSError if it cannot be opened, FileChanged if it is
    not the same file. The uploads (frameio.uploads.transfer.open_review_file) and the dashboard's player read
    through it."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    stat = os.fstat(fd)
    if (stat.st_ino, stat.st_size, stat.st_mtime_ns) != (inode, size, mtime_ns):
        os.close(fd)
        raise FileChanged(f"{path.name}: the file changed since it was verified")
    return fd


def checksum_xxh128(path: Path, *, chunk_size: int = CHUNK) -> str:
    """xxh3-128 of the whole file, hex, in one streaming pass (memory bounded by chunk_size).

    On LucidLink this pass also pulls the file through the local cache before the upload.
    """
    digest = xxhash.xxh3_128()
    with open_no_follow(path) as handle:
        for block in read_blocks(handle, chunk_size):
            digest.update(block)
    return digest.hexdigest()


def read_blocks(handle: BinaryIO, size: int = CHUNK) -> Iterator[memoryview]:
    """The rest of `handle` in blocks of at most `size`, all read into one buffer: each block is valid until
    the next one is asked for (hash it, write it, then move on)."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    while read := handle.readinto(buffer):
        yield view[:read]


def probe(path: Path) -> MediaFacts:
    """Open the container, find its video stream and demux every packet of it.

    Demuxing (not decoding) is what catches a truncated file cheaply: the header promises N
    frames, the packets stop earlier. A file whose index sits at the end (mov without
    faststart) does not even open once truncated.
    """
    with _opened(path) as container:
        stream = _video_stream(container)
        fps = _frame_rate(stream)
        declared = stream.frames or _frames_from_duration(stream, container, fps)
        readable = _count_packets(container, stream)
        facts = MediaFacts(
            container=container.format.name,
            codec=stream.codec_context.name,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=round(fps, 6),
            frames=readable,
            declared_frames=declared,
        )
    if readable == 0:
        raise MediaError("no readable video frame")
    check_ranges(facts)
    if declared and readable < declared:
        raise MediaError(f"truncated: {readable} of {declared} frames readable")
    return facts


def check_ranges(facts: MediaFacts) -> None:
    """Raise MediaError, with the range, for the first probed number out of its range."""
    checks = [
        (facts.fps, FPS_RANGE, "frame rate {} fps"),
        (facts.frames, FRAMES_RANGE, "{} frames"),
        (facts.declared_frames, DECLARED_FRAMES_RANGE, "the header's frame count {}"),
        (facts.width, SIZE_RANGE, "width {}"),
        (facts.height, SIZE_RANGE, "height {}"),
    ]
    for value, (low, high), label in checks:
        if not low <= value <= high:  # False for NaN too
            shown = f"{value:,}" if isinstance(value, int) else f"{value:g}"
            raise MediaError(f"{label.format(shown)} is out of range ({low:,}–{high:,})")


@dataclass(frozen=True)
class SourceFacts:
    """What the sources check needs of a rush (a camera or archive clip)."""

    container: str
    codec: str
    fps: float
    frames: int  # as the header declares them
    timecode: str  # the start timecode, HH:MM:SS:FF (';' for drop frame); '' when the clip carries none


def probe_source(path: Path) -> SourceFacts:
    """The header of a rush, its start timecode, and its first video packet.

    Unlike `probe`, it does not demux the whole file: a camera original is tens of gigabytes on a
    network mount, where reading it all would pull it through the cache, and its completeness is
    the offload's business (checksummed by the DIT). Reading the first packet proves the data
    behind the header is there. Only a clip whose header declares no length is read to the end.
    """
    with _opened(path) as container:
        stream = _video_stream(container)
        fps = _frame_rate(stream)
        if not _first_packet_size(container, stream):
            raise MediaError("no readable video frame")
        # With no length in the header, the packets after the first one are counted.
        frames = stream.frames or _frames_from_duration(stream, container, fps) or 1 + _count_packets(container, stream)
        return SourceFacts(
            container=container.format.name,
            codec=stream.codec_context.name,
            fps=round(fps, 6),
            frames=frames,
            timecode=start_timecode(container, stream),
        )


def start_timecode(container, stream) -> str:
    """The clip's start timecode, '' if it has none.

    Where FFmpeg puts it: mov and mp4 keep it in a `tmcd` track, whose tag the demuxer also copies
    onto the video stream it describes; MXF, Matroska, DV and AVI on the container. Tags are
    matched without case (Matroska writes TIMECODE).
    """
    others = [s for s in container.streams if s is not stream]
    for metadata in (stream.metadata, *(s.metadata for s in others), container.metadata):
        for key, value in metadata.items():
            if key.lower() == "timecode" and value.strip():
                return value.strip()
    return ""


@contextmanager
def _opened(path: Path, *, unreadable: str = "unreadable container"):
    """The container open on a no-follow handle; MediaError (`unreadable: reason`) if FFmpeg cannot read it."""
    import av  # FFmpeg's libraries weigh ~20 MB: loaded by the process that probes, not by every one

    handle = open_no_follow(path)
    try:
        container = av.open(handle, metadata_errors="ignore")
    except av.FFmpegError as exc:
        handle.close()
        raise MediaError(f"{unreadable}: {_ffmpeg_reason(exc)}") from None
    with handle, container:
        yield container


def _video_stream(container):
    if not container.streams.video:
        raise MediaError(f"no video stream (streams: {', '.join(s.type for s in container.streams) or 'none'})")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        raise MediaError("the video stream's codec parameters cannot be read (truncated header?)")
    return stream


def _frame_rate(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        raise MediaError("the video stream has no frame rate")
    return float(rate)


def _first_packet_size(container, stream) -> int:
    import av

    try:
        for packet in container.demux(stream):
            if packet.size:
                return packet.size
    except av.FFmpegError as exc:
        raise MediaError(f"read error at the first frame: {_ffmpeg_reason(exc)}") from None
    return 0


def _count_packets(container, stream) -> int:
    import av

    count = 0
    try:
        for packet in container.demux(stream):
            if packet.size:  # the demuxer ends with an empty flush packet
                count += 1
    except av.FFmpegError as exc:
        raise MediaError(f"read error after {count} frames: {_ffmpeg_reason(exc)}") from None
    return count


def _frames_from_duration(stream, container, fps: float) -> int:
    import av

    if stream.duration and stream.time_base:
        return round(float(stream.duration * stream.time_base) * fps)
    if container.duration:
        return math.floor(container.duration / av.time_base * fps + 0.5)
    return 0


def _ffmpeg_reason(exc: Exception) -> str:
    # PyAV's message ends with the file name; the path is already in the ledger row.
    return str(getattr(exc, "strerror", None) or exc)


def probe_image(path: Path) -> tuple[str, int, int, str]:
    """(codec, width, height, pixel format) of one still image (a sequence's frame), decoded once.

    PyAV's image demuxers open anything, garbage included (as "image2"): only a decoded frame proves the
    file is the image its extension says.
    """
    import av

    with _opened(path, unreadable=f"{path.name}: unreadable image") as container:
        if not container.streams.video:
            raise MediaError(f"{path.name}: not an image")
        try:
            frame = next(container.decode(video=0))
        except (av.FFmpegError, StopIteration) as exc:
            raise MediaError(f"{path.name}: unreadable image: {_ffmpeg_reason(exc)}") from None
        codec = container.streams.video[0].codec_context.name
    return codec, frame.width, frame.height, frame.format.name
