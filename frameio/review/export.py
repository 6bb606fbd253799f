"""Review notes for the editor: a CSV in cut order, and a CMX 3600 EDL with a locator per note."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable

from frameio.models import ReviewNote
from postflow.lib.csv_safe import render_csv
from postflow.lib.timecode import fps_label, frames_to_timecode
from shots.models import Project

logger = logging.getLogger(__name__)


NOTES_CSV_HEADER: tuple[str, ...] = (
    "SCENE",
    "NOMENCLATURE",
    "SHOT_NUMBER",
    "VERSION",
    "RECORD_TC",
    "RENDER_TC",
    "FRAME",
    "AUTHOR",
    "NOTE",
    "COMPLETED",
    "FPS_MISMATCH",
    "COMMENTED_AT",
    "FRAMEIO_COMMENT_ID",
)


EDL_REEL = "AX"  # the auxiliary source: the event only carries the markers


LOC_TEXT_LIMIT = 200


class NotesExportError(Exception):
    """What was asked for cannot be exported; the message says what to pass instead."""


def _scene_matches(scene, wanted: str) -> bool:
    token = wanted.strip()
    digits = re.fullmatch(r"(?i)(?:seq)?\s*0*(\d+)", token)
    if digits:
        return scene.number == int(digits.group(1))
    return scene.name.casefold() == token.casefold()


def notes_for_export(project: Project, *, scenes: Iterable[str] = (), open_only: bool = False) -> list[ReviewNote]:
    """The project's notes (deleted ones left out), in cut order: record position, then when written.

    `scenes`: numbers ("3", "03", "SEQ03") or names; NotesExportError names an unknown one.
    """
    notes = ReviewNote.objects.filter(shot__project=project, deleted_at__isnull=True).select_related(
        "shot__project", "shot__scene"
    )
    if open_only:
        notes = notes.filter(completed_at__isnull=True)
    wanted = [s for s in scenes if s.strip()]
    if wanted:
        all_scenes = list(project.scenes.all())
        chosen = set()
        for token in wanted:
            found = [s.pk for s in all_scenes if _scene_matches(s, token)]
            if not found:
                known = ", ".join(f"{s.number} ({s.name})" for s in all_scenes) or "none"
                raise NotesExportError(f"no scene {token!r} in {project.code}; scenes: {known}")
            chosen.update(found)
        notes = notes.filter(shot__scene_id__in=chosen)
    return sorted(notes, key=_cut_order)


def _cut_order(note: ReviewNote) -> tuple:
    record = note.record_frame
    return (
        record is None,
        record if record is not None else 0,
        note.shot.shot_number,
        note.commented_at or note.created_at,
        note.pk,
    )


def notes_csv(project: Project, notes: list[ReviewNote]) -> bytes:
    """UTF-8 with a BOM, CRLF, every cell through csv_safe (as the shot exports)."""
    rows = [
        (
            note.shot.scene.name,
            note.shot.nomenclature,
            note.shot.shot_number,
            note.version,
            note.record_timecode,
            note.render_timecode,
            note.frame,
            note.author,
            note.text,
            "TRUE" if note.completed else "FALSE",
            "TRUE" if note.fps_mismatch else "FALSE",
            note.commented_at.isoformat() if note.commented_at else "",
            note.frameio_comment_id,
        )
        for note in notes
    ]
    return render_csv(NOTES_CSV_HEADER, rows).encode("utf-8-sig")


def _edl_text(text: str) -> str:
    """One line of printable ASCII, upper case, as CMX comments are (and as OTIO writes them)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    flat = " ".join(ascii_text.split()).upper()
    return flat[:LOC_TEXT_LIMIT]


def _loc_name(note: ReviewNote) -> str:
    where = f"F{note.frame}" if note.frame is not None else "SHOT"
    mismatch = " FPS MISMATCH" if note.fps_mismatch else ""
    author = f" {note.author}:" if note.author else ""
    return _edl_text(f"V{note.version} {where}{mismatch}{author} {note.text}")


def _edl_tc(frames: int, rate: float) -> str:
    return frames_to_timecode(frames, rate)


def notes_edl(project: Project, notes: list[ReviewNote]) -> tuple[bytes, list[str]]:
    """A CMX 3600 EDL with one event per shot that has notes and a `* LOC:` line per note.

    The event's source timecodes equal its record timecodes, so a locator's timecode is the note's
    record timecode whichever side a reader takes it on (OTIO reads it in the clip's source time).
    Marker lines are written as otio-cmx3600-adapter writes them: `* LOC: <tc> <COLOR:7> <NAME>`;
    RED for an open note, GREEN for a completed one. Returns the EDL and the notes left out (shots
    not placed in the cut), as messages.
    """
    rate = project.fps
    by_shot: dict[int, list[ReviewNote]] = {}
    skipped: list[str] = []
    for note in notes:
        if note.shot.timeline_in is None:
            skipped.append(f"{note.shot}: not placed in the cut (no record in); its note {note.pk} left out")
            continue
        by_shot.setdefault(note.shot.pk, []).append(note)
    drop = ";" in _edl_tc(0, rate)
    lines = [f"TITLE: {_edl_text(project.code + ' REVIEW NOTES')}", f"FCM: {'DROP' if drop else 'NON-DROP'} FRAME", ""]
    shots = sorted((group[0].shot for group in by_shot.values()), key=lambda s: (s.timeline_in, s.shot_number))
    for index, shot in enumerate(shots, start=1):
        group = sorted(by_shot[shot.pk], key=_cut_order)
        record_in = shot.timeline_in
        record_out = shot.timeline_out if shot.timeline_out and shot.timeline_out > record_in else None
        record_out = record_out or record_in + max(shot.duration or 0, 1)
        # A note past the shot's end (a render a frame or two longer) widens the event, never into the next.
        next_in = shots[index].timeline_in if index < len(shots) else None
        widest = max(record_out, group[-1].record_frame + 1)
        record_out = widest if next_in is None else max(record_out, min(widest, next_in))
        tc_in, tc_out = _edl_tc(record_in, rate), _edl_tc(record_out, rate)
        lines.append(f"{index:03d}  {EDL_REEL:8} {'V':5} C        {tc_in} {tc_out} {tc_in} {tc_out}")
        lines.append(f"* FROM CLIP NAME:  {_edl_text(shot.nomenclature or 'SHOT ' + shot.shot_number)}")
        for note in group:
            color = "GREEN" if note.completed else "RED"
            lines.append(f"* LOC: {_edl_tc(note.record_frame, rate)} {color:7} {_loc_name(note)}")
        lines.append("")
    if not shots:
        logger.info("no placed notes to export for %s at %s fps", project.code, fps_label(rate))
    return ("\n".join(lines).rstrip("\n") + "\n").encode("ascii"), skipped
