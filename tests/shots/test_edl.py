"""Our EDL reading on the OpenTimelineIO CMX3600 adapter's own test files (samples/edl/,
Apache-2.0), against the results its upstream tests assert (samples/edl/README.md)."""

import itertools

import opentimelineio as otio
import pytest

from postflow.lib.timecode import timecode_to_frames
from shots.edl import EdlError, read_edl, read_timeline


@pytest.fixture
def edl(samples_dir):
    return lambda name: samples_dir / "edl" / name


def tc(frames, rate=24):
    return otio.opentime.to_timecode(frames, rate)


def test_screening_example(edl):
    timeline = read_timeline(edl("screening_example.edl"), 24)
    [track] = timeline.tracks
    assert len(track) == 9
    assert track[0].name == "ZZ100_501 (LAY3)"
    assert tc(track[0].duration()) == "00:00:01:07"
    assert len(track[3].markers) == 2
    assert track[3].markers[0].name == "ANIM FIX NEEDED"
    assert track[3].markers[0].metadata["cmx_3600"]["color"] == "RED"
    events = read_edl(edl("screening_example.edl"), 24)
    assert len(events) == 9 and events[3].locators == ("ANIM FIX NEEDED", "ANIM FIX NEEDED")
    # Record timecodes start at 00:59:53:11 in this cut: the timeline's start is added back.
    assert (events[0].record_in, events[0].record_out) == (
        timecode_to_frames("00:59:53:11", 24),
        timecode_to_frames("00:59:54:18", 24),
    )


def test_25fps_durations_and_record_start(edl):
    events = read_edl(edl("25fps.edl"), 25)
    assert [event.record_out - event.record_in for event in events] == [161, 200, 86, 49]
    assert (events[0].source_in, events[0].record_in) == (timecode_to_frames("01:00:00:00", 25), 0)
    assert all(a.record_out == b.record_in for a, b in itertools.pairwise(events))


def test_gaps_keep_record_positions(edl):
    timeline = read_timeline(edl("gap_test.edl"), 24)
    items = [(type(item).__name__, item.duration().value) for item in timeline.tracks[0]]
    assert items == [("Clip", 24), ("Gap", 16), ("Clip", 24), ("Gap", 38), ("Clip", 24)]
    assert timeline.tracks[0].duration().value == 126
    events = read_edl(edl("gap_test.edl"), 24)
    assert [(event.record_in - events[0].record_in, event.record_out - events[0].record_in) for event in events] == [
        (0, 24),
        (40, 64),
        (102, 126),
    ]


@pytest.mark.parametrize("name", ["avid_example.edl", "nucoda_example.edl", "premiere_example.edl"])
def test_same_cut_in_three_dialects(edl, name):
    events = read_edl(edl(name), 24)
    assert len(events) == 2
    assert events[0].record_out - events[0].record_in == timecode_to_frames("00:00:01:07", 24)


def test_avid_clip_and_media_reference(edl):
    clip = read_timeline(edl("avid_example.edl"), 24).tracks[0][0]
    assert clip.name == "take_1"
    assert isinstance(clip.media_reference, otio.schema.ExternalReference)
    assert clip.media_reference.target_url == r"S:\path\to\ZZ100_501.take_1.0001.exr"


def test_multi_audio_has_no_video_events(edl):
    timeline = read_timeline(edl("multi_audio.edl"), 24)
    assert [(track.name, track.kind) for track in timeline.tracks] == [("A1", "Audio"), ("A2", "Audio")]
    assert all(tc(track[0].duration()) == "00:56:55:22" and track[0].name == "AX" for track in timeline.tracks)
    assert read_edl(edl("multi_audio.edl"), 24) == []


def test_dissolve(edl):
    track = read_timeline(edl("dissolve_test.edl"), 24).tracks[0]
    assert [type(item).__name__ for item in track] == ["Clip", "Transition", "Clip", "Clip"]
    assert track[1].name == "SMPTE_Dissolve from clip_A to clip_B"
    assert track[1].duration().value == 10
    assert [event.clip_name for event in read_edl(edl("dissolve_test.edl"), 24)] == ["clip_A", "clip_B", "clip_B"]


def test_transition_duration(edl):
    track = read_timeline(edl("transition_duration.edl"), 24).tracks[0]
    assert len(track) == 5
    assert isinstance(track[2], otio.schema.Transition) and track[2].duration().value == 26


def test_speed_effects(edl):
    clips = read_timeline(edl("speed_effects_small.edl"), 24).find_clips()
    effects = {type(effect).__name__ for clip in clips for effect in clip.effects}
    assert effects == {"FreezeFrame", "LinearTimeWarp"}


def test_cdl_lands_in_metadata(edl):
    for clip in read_timeline(edl("cdl.edl"), 24).tracks[0]:
        assert clip.metadata["cdl"]["asc_sat"] == 0.9
        assert clip.metadata["cdl"]["asc_sop"]["slope"] == [0.1, 0.2, 0.3]


def test_timecode_mismatch_is_a_clear_error_at_either_rate(edl):
    with pytest.raises(
        EdlError,
        match=r"^timecode_mismatch.edl: line 13, event 004: source out .*frame 24 does not exist at 24 fps.*--fps",
    ):
        read_edl(edl("timecode_mismatch.edl"), 24)
    with pytest.raises(EdlError, match=r"timecode_mismatch.edl: .*read at 25 fps"):
        read_edl(edl("timecode_mismatch.edl"), 25)
    # The adapter can be told to accept it; this is the upstream expectation we rely on.
    timeline = otio.adapters.read_from_file(
        str(edl("timecode_mismatch.edl")), adapter_name="cmx_3600", rate=25, ignore_timecode_mismatch=True
    )
    clip = timeline.tracks[0][3]
    assert tc(clip.range_in_parent().start_time, 25) == "00:00:17:22"
    assert tc(clip.duration(), 25) == "00:00:01:24"


def test_reference_timeline(samples_dir):
    events = read_edl(samples_dir / "timeline.edl", 25)
    assert len(events) == 516
    assert events[0].locators == ("UNDLM_00001",)
    assert (events[0].record_in, events[0].record_out) == (0, 187)
    assert events[62].locators == ()  # shot 063 has no nomenclature and no LOC
    assert events[-1].record_out == timecode_to_frames("00:56:19:09", 25)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty.edl: no events"),
        ("TITLE: CUT\nFCM: NON-DROP FRAME\n\n", "empty.edl: no events"),
    ],
)
def test_an_edl_without_events_is_refused(tmp_path, text, message):
    path = tmp_path / "empty.edl"
    path.write_text(text)
    with pytest.raises(EdlError, match=f"^{message}"):
        read_edl(path, 25)


def test_an_invalid_timecode_names_its_line_event_and_fields(tmp_path):
    path = tmp_path / "bad.edl"
    path.write_text("TITLE: X\n\n001  AX V C 01:00:00:00 01:00:01:00 25:61:61:99 01:00:01:00\n")
    with pytest.raises(EdlError) as error:
        read_edl(path, 25)
    assert str(error.value) == (
        "bad.edl: line 3, event 001: record in '25:61:61:99': hours 25 is over 23; minutes 61 is over 59; "
        "seconds 61 is over 59; frame 99 does not exist at 25 fps"
    )


def test_a_huge_line_is_quoted_short(tmp_path):
    path = tmp_path / "huge.edl"
    path.write_text("TITLE: X\n\n001  AX V C " + "9" * 5_000_000 + "\n")
    with pytest.raises(EdlError, match=r"^huge\.edl: ") as error:
        read_edl(path, 25)
    assert len(str(error.value)) < 400
