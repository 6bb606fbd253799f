"""`manage.py export_notes`: notes at their record timecodes, as CSV and as an EDL of `* LOC:` markers
that OpenTimelineIO's cmx_3600 adapter reads back at the right record times."""

import csv
import io
from io import StringIO

import opentimelineio as otio
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from frameio.models import ReviewNote
from frameio.review.export import NOTES_CSV_HEADER
from postflow.lib.timecode import frames_to_timecode, timecode_to_frames
from tests.factories import make_project, make_review_note, make_scene, make_shot

NTSC_FILM = 24000 / 1001
pytestmark = pytest.mark.django_db


def note(shot, frame: int | None, text: str, *, author: str = "Ada", **fields) -> ReviewNote:
    return make_review_note(shot, frame=frame, text=text, author=author, **fields)


@pytest.fixture
def cut():
    """A 25 fps project: scene 1 with two shots at 10:00:00:00 and 10:00:04:00, scene 2 with one."""
    project = make_project(code="UNDLM", name="UNDLM Documentary", fps=25)
    one, two = make_scene(project, "REVEIL HOPITAL - JOUR", number=1), make_scene(project, "FORET - NUIT", number=2)
    shots = {
        "a": make_shot(project, scene=one, nomenclature="UNDLM_00010", timeline_in=900_000, timeline_out=900_100),
        "b": make_shot(project, scene=one, nomenclature="UNDLM_00020", timeline_in=900_100, timeline_out=900_150),
        "c": make_shot(project, scene=two, nomenclature="UNDLM_00030", timeline_in=900_150, timeline_out=900_250),
    }
    note(shots["b"], 11, "second shot, frame 11")  # 10:00:04:10
    note(shots["a"], 38, '=HYPERLINK("http://evil")')  # 10:00:01:12
    note(shots["a"], None, "whole shot: trop sombre, éclaircir")  # 10:00:00:00
    note(shots["a"], 76, "done", completed_at=timezone.now())  # 10:00:03:00
    note(shots["c"], 26, "other scene")  # 10:00:07:00
    note(shots["c"], 2, "deleted", deleted_at=timezone.now())
    return project, shots


def export(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("export_notes", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def markers_at_record(edl: str, rate: float) -> list[tuple[str, str, str]]:
    """(record timecode, color, name) of every marker OTIO reads from the EDL, in record order."""
    timeline = otio.adapters.read_from_string(edl, "cmx_3600", rate=rate)
    found = []
    for track in timeline.video_tracks():
        # The adapter keeps the first record timecode as a negative start of the track's range.
        track_start = -track.trimmed_range().start_time.rescaled_to(rate).to_frames()
        for clip in track.find_clips():
            record_in = track_start + clip.range_in_parent().start_time.rescaled_to(rate).to_frames()
            source_in = clip.source_range.start_time.rescaled_to(rate).to_frames()
            for marker in clip.markers:
                offset = marker.marked_range.start_time.rescaled_to(rate).to_frames() - source_in
                found.append((frames_to_timecode(record_in + offset, rate), marker.color, marker.name))
    return found


def test_csv_lists_live_notes_in_cut_order_neutralised(cut):
    text, _ = export("--format", "csv")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == list(NOTES_CSV_HEADER)
    body = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [(r["RECORD_TC"], r["NOMENCLATURE"], r["RENDER_TC"], r["FRAME"]) for r in body] == [
        ("10:00:00:00", "UNDLM_00010", "", ""),
        ("10:00:01:12", "UNDLM_00010", "00:00:01:12", "38"),
        ("10:00:03:00", "UNDLM_00010", "00:00:03:00", "76"),
        ("10:00:04:10", "UNDLM_00020", "00:00:00:10", "11"),
        ("10:00:07:00", "UNDLM_00030", "00:00:01:00", "26"),
    ]
    assert body[1]["NOTE"] == '\'=HYPERLINK("http://evil")'  # a spreadsheet shows it as text
    assert [r["COMPLETED"] for r in body] == ["FALSE", "FALSE", "TRUE", "FALSE", "FALSE"]
    assert body[0]["NOTE"] == "whole shot: trop sombre, éclaircir"


def test_scene_filter_by_number_or_name(cut):
    text, _ = export("--format", "csv", "--scene", "2")
    assert [r[1] for r in list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))[1:]] == ["UNDLM_00030"]
    text, _ = export("--format", "csv", "--scene", "reveil hopital - jour", "--open")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))[1:]
    assert {r[1] for r in rows} == {"UNDLM_00010", "UNDLM_00020"} and len(rows) == 3
    with pytest.raises(CommandError, match=r"no scene '7'.*1 \(REVEIL HOPITAL - JOUR\)"):
        export("--format", "csv", "--scene", "7")


def test_edl_markers_read_back_by_otio_at_their_record_times(cut):
    edl, _ = export("--format", "edl-markers")
    assert '* LOC: 10:00:01:12 RED     V1 F38 ADA: =HYPERLINK("HTTP://EVIL")' in edl
    assert edl.isascii()
    assert markers_at_record(edl, 25) == [
        ("10:00:00:00", "RED", "V1 SHOT ADA: WHOLE SHOT: TROP SOMBRE, ECLAIRCIR"),
        ("10:00:01:12", "RED", 'V1 F38 ADA: =HYPERLINK("HTTP://EVIL")'),
        ("10:00:03:00", "GREEN", "V1 F76 ADA: DONE"),
        ("10:00:04:10", "RED", "V1 F11 ADA: SECOND SHOT, FRAME 11"),
        ("10:00:07:00", "RED", "V1 F26 ADA: OTHER SCENE"),
    ]
    # One event per shot with notes, at the shot's record in/out.
    timeline = otio.adapters.read_from_string(edl, "cmx_3600", rate=25)
    assert [c.name for c in timeline.video_tracks()[0].find_clips()] == ["UNDLM_00010", "UNDLM_00020", "UNDLM_00030"]


def test_edl_at_23_976_with_a_note_from_a_25_fps_render(tmp_path):
    project = make_project(code="FILM", name="Film", fps=NTSC_FILM)
    scene = make_scene(project, "INT. CAR", number=1)
    record_in = timecode_to_frames("01:00:10:00", NTSC_FILM)  # 86640
    shot = make_shot(
        project, scene=scene, nomenclature="FILM_00001", timeline_in=record_in, timeline_out=record_in + 96
    )
    note(shot, 49, "two seconds in")  # 48 frames: 01:00:12:00
    note(shot, 26, "from a 25 fps render", version=2, render_fps=25.0)  # 1.0 s = 23.976 frames -> 23
    out = tmp_path / "notes.edl"
    _, err = export("--format", "edl-markers", "--project", "FILM", "--out", str(out))
    assert "wrote 2 note(s)" in err
    markers = markers_at_record(out.read_text(), NTSC_FILM)
    assert [(tc, name.split(":")[0]) for tc, _, name in markers] == [
        ("01:00:10:23", "V2 F26 FPS MISMATCH ADA"),
        ("01:00:12:00", "V1 F49 ADA"),
    ]


def test_notes_of_shots_not_in_the_cut_are_left_out_of_the_edl_and_said(cut):
    project, _ = cut
    loose = make_shot(project, scene=project.scenes.first(), nomenclature="UNDLM_00099")
    note(loose, 5, "no place")
    edl, err = export("--format", "edl-markers")
    assert "UNDLM_00099: not placed in the cut" in err and "NO PLACE" not in edl
    text, _ = export("--format", "csv")
    assert text.rstrip().splitlines()[-1].split(",")[1] == "UNDLM_00099"  # the CSV keeps it, last


def test_an_empty_export_is_still_a_valid_file(db):
    make_project(code="UNDLM", fps=25)
    edl, _ = export("--format", "edl-markers")
    assert edl.startswith("TITLE: UNDLM REVIEW NOTES\nFCM: NON-DROP FRAME")
    timeline = otio.adapters.read_from_string(edl, "cmx_3600", rate=25)
    assert not any(track.find_clips() for track in timeline.video_tracks())
    text, _ = export("--format", "csv")
    assert text.strip() == "\ufeff" + ",".join(NOTES_CSV_HEADER)


def test_out_refuses_a_directory(cut, tmp_path):
    with pytest.raises(CommandError, match="is a directory"):
        export("--format", "csv", "--out", str(tmp_path))
