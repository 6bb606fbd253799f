import pytest

from postflow.lib.timecode import FrameBeyondRate, fps_label, frames_to_timecode, parse_fps, timecode_to_frames


@pytest.mark.parametrize(
    ("text", "rate", "frames"),
    [
        ("00:00:00:00", 25, 0),
        ("00:00:07:12", 25, 187),
        ("01:00:00:00", 25, 90000),
        ("00:00:01:00", 24, 24),
        ("00:01:00;02", 30000 / 1001, 1800),  # drop frame: ;00 and ;01 of minute 1 do not exist
    ],
)
def test_timecode_to_frames(text, rate, frames):
    assert timecode_to_frames(text, rate) == frames


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("00:00:07:25", "frame 25 does not exist at 25 fps"),
        ("00:61:00:00", "minutes 61 is over 59"),
        ("00:00:07:12:00", "HH:MM:SS:FF"),
        ("7:12", "HH:MM:SS:FF"),
        ("abc", "HH:MM:SS:FF"),
        ("00:00:07;12", "drop frame"),
    ],
)
def test_bad_timecodes_say_why(text, reason):
    with pytest.raises(ValueError, match=reason):
        timecode_to_frames(text, 25)


def test_round_trip_at_every_common_rate():
    for label in ("23.976", "24", "25", "29.97", "30", "50", "60"):
        rate = parse_fps(label)
        for frames in (0, 1, 187, 86399):
            assert timecode_to_frames(frames_to_timecode(frames, rate), rate) == frames


def test_parse_fps():
    assert parse_fps("25") == 25
    assert parse_fps("23.976") == pytest.approx(24000 / 1001)
    assert parse_fps("30000/1001") == pytest.approx(30000 / 1001)
    assert fps_label(parse_fps("23.976")) == "23.976"
    assert fps_label(25.0) == "25"
    for bad in ("26", "fast", "0", "1/0"):
        with pytest.raises(ValueError):
            parse_fps(bad)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("25:61:61:99", "hours 25 is over 23; minutes 61 is over 59; seconds 61 is over 59; frame 99 does not exist"),
        ("24:00:00:00", "hours 24 is over 23"),
        ("00:00:AA:00", "seconds 'AA' is not two digits"),
        ("00:0١:00:00", "minutes '0١' is not two digits"),  # a digit, but not an ASCII one
    ],
)
def test_an_invalid_timecode_names_each_invalid_field(text, reason):
    with pytest.raises(ValueError) as error:
        timecode_to_frames(text, 25)
    assert str(error.value).startswith(reason)


def test_only_a_frame_beyond_the_rate_is_a_rate_problem():
    with pytest.raises(FrameBeyondRate, match="frame 25 does not exist at 25 fps"):
        timecode_to_frames("00:00:00:25", 25)
    with pytest.raises(ValueError) as error:
        timecode_to_frames("25:00:00:25", 25)
    assert not isinstance(error.value, FrameBeyondRate)
