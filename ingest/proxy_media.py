"""The review proxy's pixels: frames read from a render (an image sequence or a movie), scaled to the cap,
a burn-in drawn on each, encoded to an H.264 MP4 (8-bit 4:2:0, BT.709) with PyAV. No models here, like
`ingest.verify`: `ingest.proxies` decides where the file goes and what it means.

One frame in, one frame out, at the project's rate: the proxy has the render's frame count and rate, so a
comment on the proxy's frame N is the render's frame N (frameio.review.notes places it in the cut).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ingest.verify import MediaError, open_no_follow
from postflow.lib.timecode import frames_to_timecode

logger = logging.getLogger(__name__)

# H.264 encoders, best first: the PyAV wheels carry libx264; a build without it may have another.
H264_ENCODERS = ("libx264", "libopenh264", "h264_videotoolbox")
# Read with Pillow (fast, and no FFmpeg demuxer probing per frame); the rest (EXR, DPX) with PyAV.
PILLOW_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "tif", "tiff"})
# A review copy: visually clean at a size a browser streams. veryfast is 2x faster than medium for a
# few percent more bytes at the same quality.
X264_OPTIONS = {
    "preset": "veryfast",
    "crf": "18",
    # Tag what the frames are (BT.709, limited range): without it players guess, and guess 601 for SD.
    "x264-params": "colorprim=bt709:transfer=bt709:colormatrix=bt709",
}
# The burn-in's box: black at this opacity under white text with a black outline, so the text reads
# on a white sky as on a night scene (the box darkens whatever is under it to at most 40 %).
BOX_OPACITY = 155


@dataclass(frozen=True)
class ProxyFacts:
    """What was written: the proxy's size, frame count and rate, and the encoder that made it."""

    width: int
    height: int
    frames: int
    fps: float
    encoder: str


@dataclass(frozen=True)
class BurnIn:
    """The text on each frame: the shot and version, the scene, the record timecode of the frame in the
    cut, and its number in the shot (from 1, as Frame.io counts) with the render's own frame number."""

    nomenclature: str
    version: int
    scene: str
    record_in: int | None  # the shot's record in, project frames (None: not in the cut yet)
    fps: float  # the project's rate (the proxy's)
    total: int  # frames in the render
    first_number: int = 1  # the render's own number of its first frame (1001 for name.1001.exr)

    def lines(self, index: int) -> tuple[str, str]:
        """The two lines of frame `index` (from 0)."""
        record = "--:--:--:--" if self.record_in is None else frames_to_timecode(self.record_in + index, self.fps)
        return (
            f"{self.nomenclature}  v{self.version:03d}  {self.scene}",
            f"REC {record}   frame {index + 1}/{self.total}   #{self.first_number + index}",
        )


def proxy_size(width: int, height: int, cap: int) -> tuple[int, int]:
    """The proxy's size: no wider than `cap`, the aspect kept, both sides even (4:2:0 needs it)."""
    if width > cap:
        height, width = round(height * cap / width), cap
    return max(2, width - width % 2), max(2, height - height % 2)


def h264_encoder() -> str:
    """The first H.264 encoder this PyAV build has; MediaError if none."""
    import av

    for name in H264_ENCODERS:
        try:
            av.codec.Codec(name, "w")
        except (av.FFmpegError, ValueError):
            continue
        return name
    raise MediaError(f"this PyAV build has no H.264 encoder (tried {', '.join(H264_ENCODERS)})")


# --- reading frames --------------------------------------------------------------------------------


def sequence_frames(paths: Iterable[Path]) -> Iterator[Image.Image]:
    """Each frame of an image sequence as an RGB image, in the order given, opened without following a
    symlink (as verification read them)."""
    for path in paths:
        yield read_frame(path)


def read_frame(path: Path) -> Image.Image:
    """One frame file as a monitor shows it (RGB; EXR's linear light in sRGB): the proxy's frames and the
    thumbnails' (ingest.thumbnails) alike. MediaError if it cannot be read."""
    if path.suffix.lower().lstrip(".") in PILLOW_EXTENSIONS:
        try:
            with open_no_follow(path) as handle, Image.open(handle) as image:
                return image.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise MediaError(f"{path.name}: unreadable image ({exc})") from None
    return _read_with_pyav(path)


def _read_with_pyav(path: Path) -> Image.Image:
    import av

    with open_no_follow(path) as handle:
        try:
            with av.open(handle, metadata_errors="ignore") as container:
                stream = container.streams.video[0]
                if stream.codec_context.name == "exr":
                    # EXR holds linear light: shown as it is, it is dark and flat. sRGB is what a monitor shows.
                    stream.codec_context.options = {"apply_trc": "iec61966_2_1"}
                frame = next(container.decode(stream))
        except (av.FFmpegError, IndexError, StopIteration) as exc:
            raise MediaError(f"{path.name}: unreadable image ({exc})") from None
    return frame.to_image()


def movie_frames(path: Path) -> Iterator[Image.Image]:
    """Each decoded frame of a movie's first video stream, as an RGB image."""
    import av

    with open_no_follow(path) as handle:
        try:
            with av.open(handle, metadata_errors="ignore") as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    yield frame.to_image()
        except (av.FFmpegError, IndexError) as exc:
            raise MediaError(f"{path.name}: unreadable movie ({exc})") from None


# --- the burn-in -----------------------------------------------------------------------------------


class _Painter:
    """Draws the burn-in along the bottom of frames of one size: the font and box measured once."""

    def __init__(self, width: int, height: int) -> None:
        size = max(10, height // 36)  # 30 px at 1080, 10 px at 360
        self.font = ImageFont.load_default(size=size)
        self.stroke = max(1, size // 12)
        self.margin = size // 2
        self.line = size + size // 3
        self.box = (0, height - 2 * self.line - 2 * self.margin, width, height)

    def draw(self, image: Image.Image, lines: tuple[str, str]) -> Image.Image:
        """`image` with the box and the lines drawn over its bottom (only that region is composited)."""
        region = image.crop(self.box).convert("RGBA")
        overlay = Image.new("RGBA", region.size, (0, 0, 0, BOX_OPACITY))
        pen = ImageDraw.Draw(overlay)
        for number, text in enumerate(lines):
            pen.text(
                (self.margin, self.margin + number * self.line),
                text,
                font=self.font,
                fill=(255, 255, 255, 255),
                stroke_width=self.stroke,
                stroke_fill=(0, 0, 0, 255),
            )
        image.paste(Image.alpha_composite(region, overlay).convert("RGB"), self.box[:2])
        return image


# --- encoding --------------------------------------------------------------------------------------


def encode_proxy(
    frames: Iterable[Image.Image],
    *,
    out: Path,
    fps: Fraction,
    max_width: int,
    burn_in: BurnIn,
    on_frame: Callable[[int], None] = lambda done: None,
) -> ProxyFacts:
    """Encode `frames` into the MP4 `out`, one output frame per input frame at `fps`, with the burn-in.

    `on_frame(done)` is called after each frame; whatever it raises stops the encode and is raised here
    (the caller's file at `out` is then incomplete: it writes to a temporary name). The size is taken
    from the first frame; a later frame of another size is scaled to it.
    """
    import av

    encoder = h264_encoder()
    done = 0
    with av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = painter = None
        for image in frames:
            if stream is None:
                width, height = proxy_size(image.width, image.height, max_width)
                options = dict(X264_OPTIONS) if "x264" in encoder else {}
                stream = container.add_stream(encoder, rate=fps, options=options)
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                painter = _Painter(width, height)
            if image.size != (stream.width, stream.height):
                image = image.resize((stream.width, stream.height), Image.Resampling.BICUBIC, reducing_gap=2.0)
            painter.draw(image, burn_in.lines(done))
            frame = av.VideoFrame.from_image(image).reformat(format="yuv420p", dst_colorspace="ITU709")
            frame.pts = done
            container.mux(stream.encode(frame))
            done += 1
            on_frame(done)
        if stream is None:
            raise MediaError("no frame to encode")
        container.mux(stream.encode())  # flush the encoder's delayed frames
    return ProxyFacts(width=stream.width, height=stream.height, frames=done, fps=float(fps), encoder=encoder)
