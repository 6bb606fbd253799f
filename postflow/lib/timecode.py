"""Timecode and frame-rate helpers on top of OpenTimelineIO's opentime.

Frames are counted at the project rate; a timecode is HH:MM:SS:FF (non-drop) or HH:MM:SS;FF
(drop frame, 29.97/59.94 only). opentime does the arithmetic; this module only checks the
textual shape first, because opentime accepts things a sheet must not (minute 61, a fifth
field).
"""

import math
import re
from fractions import Fraction

import opentimelineio.opentime as otime

_TIMECODE_SHAPE = re.compile(r"^\d{2}:[0-5]\d:[0-5]\d[:;]\d{2}$")
# Nominal rates people write in sheets, mapped to the exact rates opentime knows.
_NTSC_RATES = {"23.976": 24000 / 1001, "23.98": 24000 / 1001, "29.97": 30000 / 1001, "59.94": 60000 / 1001}


def parse_fps(text: str | float | int) -> float:
    """'25' -> 25.0, '23.976' -> 23.976023..., raising ValueError for anything else."""
    raw = str(text).strip()
    if raw in _NTSC_RATES:
        return _NTSC_RATES[raw]
    try:
        rate = float(Fraction(raw))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{raw!r} is not a frame rate (use e.g. 24, 25, 23.976, 30000/1001)") from None
    if rate <= 0 or not otime.RationalTime.is_valid_timecode_rate(rate):
        raise ValueError(f"{raw!r} is not a timecode rate (use e.g. 24, 25, 23.976, 29.97, 30, 50, 60)")
    return rate


def fps_label(rate: float) -> str:
    """25.0 -> '25', 23.976023... -> '23.976'."""
    return f"{rate:.3f}".rstrip("0").rstrip(".")


def timecode_to_frames(text: str, rate: float) -> int:
    """Frame count of `text` at `rate`; ValueError with a readable reason otherwise."""
    value = text.strip()
    if not _TIMECODE_SHAPE.match(value):
        raise ValueError("not a timecode in HH:MM:SS:FF form")
    try:
        return int(otime.from_timecode(value, rate).value)
    except ValueError as exc:
        frames = int(value[-2:])
        if frames >= round(rate):
            raise ValueError(f"frame {frames} does not exist at {fps_label(rate)} fps") from None
        raise ValueError(str(exc)) from None


def frames_to_timecode(frames: int, rate: float) -> str:
    return otime.to_timecode(otime.RationalTime(frames, rate), rate)


# --- where a frame of a render falls in the cut ------------------------------------------------

SAME_RATE_TOLERANCE = 0.01  # fps: 23.976 and 24000/1001 are one rate


def exact_rate(fps: float) -> Fraction:
    """The rational rate behind a float: 23.976 or 23.976024 -> 24000/1001, 25.0 -> 25."""
    return Fraction(otime.RationalTime.nearest_valid_timecode_rate(fps)).limit_denominator(1001)


def same_rate(a: float, b: float) -> bool:
    return abs(a - b) <= SAME_RATE_TOLERANCE


def offset_in_shot(frame: int | None, render_fps: float, project_fps: float) -> int | None:
    """Project frames from the shot's first frame to the render's frame `frame` (counted from 1).

    Frame.io's spec allows a timestamp of 0: it is the first frame too. None without a frame.
    """
    if frame is None:
        return None
    index = max(frame, 1) - 1
    if same_rate(render_fps, project_fps):
        return index
    return math.floor(Fraction(index) * exact_rate(project_fps) / exact_rate(render_fps))


def render_timecode(frame: int | None, render_fps: float) -> str:
    """The render's frame `frame` as a timecode from its start (frame 1 = 00:00:00:00), or ''."""
    if frame is None:
        return ""
    return frames_to_timecode(max(frame, 1) - 1, float(exact_rate(render_fps)))
