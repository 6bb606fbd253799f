"""Small real clips for tests, written with PyAV (its wheels carry FFmpeg)."""

from fractions import Fraction
from pathlib import Path

import av
from PIL import Image


def make_clip(
    path: Path,
    *,
    frames: int = 50,
    fps: int | Fraction = 25,
    codec: str = "mpeg4",
    faststart: bool = True,
    timecode: str | None = None,
) -> Path:
    """A tiny clip (64x36) with `frames` frames at `fps`. faststart puts the index first, as
    render presets usually do, so that a truncated copy still opens and must be caught.

    `timecode` ("01:00:10:00") is the clip's start timecode, as a camera writes it: FFmpeg's mov
    and mp4 muxers turn the container's `timecode` tag into a tmcd track, the MXF muxer into its
    timecode component (tests/ingest/test_verify.py reads both back)."""
    container_format = {".mp4": "mp4", ".m4v": "mp4", ".mxf": "mxf", ".webm": "webm"}.get(path.suffix, "mov")
    options = {"movflags": "faststart"} if faststart and container_format in ("mov", "mp4") else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=container_format, options=options) as container:
        if timecode is not None:
            container.metadata["timecode"] = timecode
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 36, "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame(64, 36, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([index * 7 % 256]) * plane.buffer_size)
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def truncate_copy(source: Path, target: Path, fraction: float = 0.6) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def frame_colour(number: int) -> tuple[int, int, int]:
    """The flat colour `make_sequence` paints frame `number` with: far apart from one frame to the next,
    so that a frame decoded from a proxy tells which render frame it was made from."""
    return (number * 37 % 256, number * 91 % 256, 128)


def make_sequence(
    directory: Path, stem: str, frames: range, *, size: tuple[int, int] = (640, 360), padding: int = 4
) -> list[Path]:
    """Real PNG frames `<stem>.<number>.png`, each a flat `frame_colour(number)`."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in frames:
        path = directory / f"{stem}.{number:0{padding}d}.png"
        Image.new("RGB", size, frame_colour(number)).save(path)
        paths.append(path)
    return paths


def decoded_frames(path: Path) -> tuple[dict, list[Image.Image]]:
    """A movie's video stream as its header says (codec, size, pixel format, rate, frame count) and every
    frame it decodes to, as RGB images."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        facts = {
            "codec": stream.codec_context.name,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "pix_fmt": stream.codec_context.pix_fmt,
            "rate": stream.average_rate,
            "frames": stream.frames,
        }
        images = [frame.to_image() for frame in container.decode(stream)]
    return facts, images


def write_still(path: Path, image: Image.Image, *, codec: str, pix_fmt: str) -> Path:
    """One still `image` written by FFmpeg's `codec` (exr, dpx: formats Pillow does not read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="image2") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = image.width, image.height, pix_fmt
        container.mux(stream.encode(av.VideoFrame.from_image(image).reformat(format=pix_fmt)))
        container.mux(stream.encode())
    return path
