"""Timecode and frame-rate helpers on top of OpenTimelineIO's opentime.

Frames are counted at the project rate; a timecode is HH:MM:SS:FF (non-drop) or HH:MM:SS;FF
(drop frame, 29.97/59.94 only). opentime does the arithmetic; this module checks each field
first, because opentime accepts things a sheet must not (minute 61, a fifth field), and its own
message for a bad field is "frame rate mismatch" whatever the field.
"""

import math
import re
from fractions import Fraction

import opentimelineio.opentime as otime

# Four fields, whatever they hold, so that a bad field can be named; two digits each is checked after.
_TIMECODE_FIELDS = re.compile(r"^([^:;]*):([^:;]*):([^:;]*)[:;]([^:;]*)$")
_FIELD_TOPS = (("hours", 23), ("minutes", 59), ("seconds", 59))  # SMPTE 12M: a day at most
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


class FrameBeyondRate(ValueError):
    """The timecode's only fault is a frame number the rate does not have: maybe another rate."""


def timecode_to_frames(text: str, rate: float) -> int:
    """Frame count of `text` at `rate`; ValueError naming each invalid field otherwise."""
    value = text.strip()
    fields = _TIMECODE_FIELDS.match(value)
    if fields is None:
        raise ValueError("not a timecode in HH:MM:SS:FF form")
    reasons = _field_problems(fields.groups(), rate)
    if reasons == [_frame_problem(fields.group(4), rate)]:
        raise FrameBeyondRate(reasons[0])
    if reasons:
        raise ValueError("; ".join(reasons))
    try:
        return int(otime.from_timecode(value, rate).value)
    except ValueError as exc:  # what is left: drop frame at a rate that has none
        raise ValueError(str(exc)) from None


def _field_problems(fields: tuple[str, ...], rate: float) -> list[str]:
    reasons = []
    for (name, top), digits in zip(_FIELD_TOPS, fields[:3], strict=True):
        if not _two_digits(digits):
            reasons.append(f"{name} {digits!r} is not two digits")
        elif int(digits) > top:
            reasons.append(f"{name} {int(digits)} is over {top}")
    frame = _frame_problem(fields[3], rate)
    return [*reasons, frame] if frame else reasons


def _frame_problem(digits: str, rate: float) -> str | None:
    if not _two_digits(digits):
        return f"frame {digits!r} is not two digits"
    if int(digits) >= round(rate):
        return f"frame {int(digits)} does not exist at {fps_label(rate)} fps"
    return None


def _two_digits(text: str) -> bool:
    return len(text) == 2 and text.isascii() and text.isdigit()  # str.isdigit alone takes '²', which int() refuses


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
