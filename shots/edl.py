"""CMX3600 EDL reading (OpenTimelineIO + otio-cmx3600-adapter) and the conform check.

No models: the importer hands in the shot list's rows and gets mismatches back. The file is read
here (UTF-8/16/32 by their byte-order mark, else UTF-8, else Windows-1252) and its event lines
checked before the adapter parses it: an EDL without events is refused, and a bad timecode is
named with its line, event and field (the adapter calls any bad field a frame-rate mismatch).
Anything the adapter says is quoted short: a line may be megabytes long.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio

from postflow.lib.text import NotText, decode_text, excerpt
from postflow.lib.timecode import FrameBeyondRate, fps_label, frames_to_timecode, timecode_to_frames

# The last four fields of an event line (8 fields for a cut, 9 with a transition's duration).
TIMECODE_NAMES = ("source in", "source out", "record in", "record out")
EVENT_FIELD_COUNTS = (8, 9)


class EdlError(Exception):
    """The EDL cannot be read; the message names the file and what to check."""


@dataclass(frozen=True)
class EdlEvent:
    index: int  # 1-based position of the clip on the video track
    clip_name: str  # FROM CLIP NAME / FROM FILE, else the reel
    reel: str
    source_in: int
    source_out: int
    record_in: int
    record_out: int
    locators: tuple[str, ...]  # names of its `* LOC` markers


@dataclass(frozen=True)
class ConformShot:
    """What the conform check needs to know of a shot."""

    shot_number: str
    nomenclature: str
    source_file: str
    timeline_in: int | None
    timeline_out: int | None


@dataclass(frozen=True)
class Mismatch:
    kind: str  # record_mismatch | event_without_shot | shot_without_event
    shot_number: str
    event: int | None
    detail: str

    def as_dict(self) -> dict:
        return {"kind": self.kind, "shot_number": self.shot_number, "event": self.event, "detail": self.detail}


def read_timeline(path: Path, rate: float) -> otio.schema.Timeline:
    """The EDL as an OTIO timeline at `rate`; EdlError naming the file otherwise."""
    text = _read_text(path)
    _check_events(path.name, text, rate)
    try:
        return otio.adapters.read_from_string(text, adapter_name="cmx_3600", rate=rate)
    except Exception as exc:  # the adapter raises EDLParseError, ValueError, ... for bad input
        hint = f"read at {fps_label(rate)} fps; if the EDL is at another rate, pass --fps"
        raise EdlError(f"{path.name}: {excerpt(str(exc))} ({hint})") from None


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise EdlError(f"{path}: no such file")
    try:
        return decode_text(path.read_bytes())[0]
    except OSError as exc:
        raise EdlError(f"cannot read {path}: {exc.strerror}") from None
    except NotText as exc:
        raise EdlError(f"{path.name}: {exc}; is it the conform EDL (CMX3600)?") from None


def _check_events(name: str, text: str, rate: float) -> None:
    """EdlError when no line is an event, or when an event's timecode is invalid or its record out
    comes before its record in. Other lines are left to the adapter."""
    events = 0
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or not fields[0][0].isdigit():  # as the adapter tells an event line
            continue
        events += 1
        if len(fields) in EVENT_FIELD_COUNTS:
            _check_timecodes(fields[-4:], rate, where=f"{name}: line {number}, event {excerpt(fields[0], 20)}")
    if not events:
        raise EdlError(f"{name}: no events; is it the conform EDL (CMX3600)?")


def _check_timecodes(fields: list[str], rate: float, *, where: str) -> None:
    frames = {
        label: _event_frames(text, rate, f"{where}: {label} {excerpt(text, 40)!r}")
        for label, text in zip(TIMECODE_NAMES, fields, strict=True)
    }
    if frames["record out"] < frames["record in"]:
        raise EdlError(f"{where}: record out {fields[3]} is before record in {fields[2]}")


def _event_frames(text: str, rate: float, where: str) -> int:
    if ":" not in text and ";" not in text:  # the adapter takes a frame count too
        if text.isascii() and text.isdigit():
            return int(text)
        raise EdlError(f"{where}: not a timecode (HH:MM:SS:FF) nor a frame count")
    try:
        return timecode_to_frames(text, rate)
    except FrameBeyondRate as exc:
        raise EdlError(f"{where}: {exc} (if the EDL is at another rate, pass --fps)") from None
    except ValueError as exc:
        raise EdlError(f"{where}: {exc}") from None


def read_edl(path: Path, rate: float) -> list[EdlEvent]:
    """The clips of the EDL's video track(s), in record order, with frames at `rate`."""
    timeline = read_timeline(path, rate)
    timeline_start = timeline.global_start_time.to_frames() if timeline.global_start_time else 0
    events: list[EdlEvent] = []
    for track in timeline.video_tracks():
        # The adapter keeps the first record timecode as a negative start of the track's
        # source range (a cut recorded from 00:59:53:11 starts at -86243 at 24 fps).
        start = timeline_start - track.trimmed_range().start_time.rescaled_to(rate).to_frames()
        for clip in track.find_clips(shallow_search=True):
            events.append(_event(clip, len(events) + 1, start, rate))
    return sorted(events, key=lambda event: (event.record_in, event.index))


def _event(clip: otio.schema.Clip, index: int, start: int, rate: float) -> EdlEvent:
    record = clip.range_in_parent()
    source = clip.source_range
    record_in = start + record.start_time.rescaled_to(rate).to_frames()
    source_in = source.start_time.rescaled_to(rate).to_frames()
    duration = record.duration.rescaled_to(rate).to_frames()
    return EdlEvent(
        index=index,
        clip_name=clip.name,
        reel=clip.metadata.get("cmx_3600", {}).get("reel", ""),
        source_in=source_in,
        source_out=source_in + source.duration.rescaled_to(rate).to_frames(),
        record_in=record_in,
        record_out=record_in + duration,
        locators=tuple(marker.name for marker in clip.markers if marker.name),
    )


def conform(shots: Iterable[ConformShot], events: list[EdlEvent], rate: float) -> list[Mismatch]:
    """Compare the shot list with the cut.

    A shot matches the event carrying a `* LOC` marker named as its nomenclature; failing
    that, the event with its source file as clip name at its record in. Matched shots whose
    record in/out differ, events no shot matches, and shots no event matches are reported.
    """
    by_locator = {name: event for event in events for name in event.locators}
    by_clip_and_in = {(event.clip_name, event.record_in): event for event in events}
    matched: set[int] = set()
    mismatches: list[Mismatch] = []
    for shot in shots:
        event = by_locator.get(shot.nomenclature) if shot.nomenclature else None
        if event is None:
            event = by_clip_and_in.get((shot.source_file, shot.timeline_in))
        if event is None or event.index in matched:
            mismatches.append(Mismatch("shot_without_event", shot.shot_number, None, _no_event(shot, rate)))
            continue
        matched.add(event.index)
        if (shot.timeline_in, shot.timeline_out) != (event.record_in, event.record_out):
            mismatches.append(
                Mismatch("record_mismatch", shot.shot_number, event.index, _record_diff(shot, event, rate))
            )
    for event in events:
        if event.index not in matched:
            detail = f"EDL event {event.index} ({event.clip_name}) at {_range(event.record_in, event.record_out, rate)}"
            mismatches.append(Mismatch("event_without_shot", "", event.index, detail + " has no shot in the list"))
    return mismatches


def _tc(frames: int | None, rate: float) -> str:
    return "—" if frames is None else frames_to_timecode(frames, rate)


def _range(record_in: int | None, record_out: int | None, rate: float) -> str:
    return f"{_tc(record_in, rate)}–{_tc(record_out, rate)}"


def _no_event(shot: ConformShot, rate: float) -> str:
    key = shot.nomenclature or f"clip {shot.source_file or '—'} at {_tc(shot.timeline_in, rate)}"
    return f"shot {shot.shot_number}: no EDL event for {key}"


def _record_diff(shot: ConformShot, event: EdlEvent, rate: float) -> str:
    return (
        f"shot {shot.shot_number}: sheet says {_range(shot.timeline_in, shot.timeline_out, rate)}, "
        f"EDL event {event.index} says {_range(event.record_in, event.record_out, rate)}"
    )
