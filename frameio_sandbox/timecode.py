"""Frame.io comment timestamps: frame numbers counted from 1, or SMPTE timecode with timestamp_as_timecode.

Frame 1 is the first frame of the media, timecode 00:00:00:00. The sandbox writes non-drop timecode at the
nominal rate (23.976 counts as 24, 29.97 as 30). It is deliberately independent of postflow's own
timecode module, so that the sandbox cannot share a bug with the code it tests.
"""


def nominal_rate(fps: float) -> int:
    return max(1, round(fps))


def frame_to_timecode(frame: int, fps: float) -> str:
    rate = nominal_rate(fps)
    index = max(frame - 1, 0)
    seconds, frames = divmod(index, rate)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}:{frames:02d}"


def timecode_to_frame(timecode: str, fps: float) -> int:
    """ "00:00:01:00" at 25 fps -> 26. ValueError when a field is out of range."""
    rate = nominal_rate(fps)
    hours, minutes, seconds, frames = (int(p) for p in timecode.replace(";", ":").split(":"))
    if minutes > 59 or seconds > 59 or frames >= rate:
        raise ValueError(f"{timecode} is not a timecode at {rate} fps")
    return ((hours * 60 + minutes) * 60 + seconds) * rate + frames + 1
