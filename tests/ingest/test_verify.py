from fractions import Fraction

import av
import pytest
import xxhash

from ingest.verify import MediaError, MediaFacts, check_ranges, checksum_xxh128, probe, probe_source
from tests.ingest.media import make_clip, truncate_copy


def test_probe_reads_the_facts(tmp_path):
    facts = probe(make_clip(tmp_path / "a.mov", frames=50, fps=25))
    assert (facts.fps, facts.frames, facts.declared_frames, facts.width, facts.height) == (25.0, 50, 50, 64, 36)
    assert facts.codec == "mpeg4"
    facts = probe(make_clip(tmp_path / "b.mp4", frames=24, fps=24, codec="libx264"))
    assert (facts.fps, facts.frames, facts.codec) == (24.0, 24, "h264")


@pytest.mark.parametrize("fraction", [0.9, 0.5, 0.2])
def test_truncated_faststart_file_is_caught(tmp_path, fraction):
    clip = make_clip(tmp_path / "a.mov", frames=100)
    with pytest.raises(MediaError, match=r"truncated: \d+ of 100 frames readable"):
        probe(truncate_copy(clip, tmp_path / "cut.mov", fraction))


def test_truncated_file_with_index_at_the_end_does_not_open(tmp_path):
    clip = make_clip(tmp_path / "a.mov", frames=100, faststart=False)
    with pytest.raises(MediaError, match="unreadable container"):
        probe(truncate_copy(clip, tmp_path / "cut.mov", 0.8))


def test_not_a_video(tmp_path):
    text = tmp_path / "notes.mov"
    text.write_text("not a movie " * 100)
    with pytest.raises(MediaError, match="unreadable container"):
        probe(text)


def test_checksum_is_xxh3_128_in_bounded_chunks(tmp_path):
    data = bytes(range(256)) * 40_000  # 10 MB, several chunks
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    assert checksum_xxh128(path, chunk_size=1 << 20) == xxhash.xxh3_128(data).hexdigest()


def test_a_frame_rate_out_of_range_is_a_media_error(tmp_path):
    with pytest.raises(MediaError, match=r"frame rate 2000 fps is out of range \(1–1,000\)"):
        probe(make_clip(tmp_path / "fast.mov", frames=5, fps=2000))


@pytest.mark.parametrize(
    ("fact", "value", "message"),
    [
        ("frames", 10_000_001, "10,000,001 frames is out of range (1–10,000,000)"),
        ("declared_frames", 2**62, "the header's frame count 4,611,686,018,427,387,904 is out of range (0–10,000,000)"),
        ("width", 70_000, "width 70,000 is out of range (1–65,535)"),
        ("height", 0, "height 0 is out of range (1–65,535)"),
        ("fps", 0.5, "frame rate 0.5 fps is out of range (1–1,000)"),
        ("fps", float("inf"), "frame rate inf fps is out of range (1–1,000)"),
    ],
)
def test_every_probed_number_is_bounded(fact, value, message):
    facts = {"container": "mov", "codec": "mpeg4", "width": 64, "height": 36, "fps": 25.0, "frames": 50}
    with pytest.raises(MediaError) as caught:
        check_ranges(MediaFacts(**{**facts, "declared_frames": 50, fact: value}))
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("name", "codec", "fps", "timecode"),
    [
        ("a.mov", "mpeg4", 25, "01:00:10:00"),
        ("b.mp4", "libx264", 24, "10:59:59:23"),
        ("c.mxf", "mpeg2video", 25, "02:00:00:00"),
        ("d.mov", "mpeg4", Fraction(30000, 1001), "01:00:10;00"),  # drop frame
    ],
)
def test_probe_source_reads_the_start_timecode_back(tmp_path, name, codec, fps, timecode):
    clip = make_clip(tmp_path / name, frames=30, fps=fps, codec=codec, timecode=timecode)
    facts = probe_source(clip)
    assert (facts.timecode, facts.frames, facts.fps) == (timecode, 30, round(float(fps), 6))


def test_a_mov_timecode_is_a_tmcd_track(tmp_path):
    """What FFmpeg writes for the tag, as a camera does: a timecode track, which the demuxer also
    reports on the video stream."""
    clip = make_clip(tmp_path / "a.mov", timecode="01:00:10:00")
    with av.open(str(clip)) as container:
        (track,) = container.streams.data
        assert track.metadata["timecode"] == "01:00:10:00"
        assert container.streams.video[0].metadata["timecode"] == "01:00:10:00"
        assert "timecode" not in container.metadata


def test_probe_source_without_timecode_and_on_a_broken_file(tmp_path):
    assert probe_source(make_clip(tmp_path / "a.mov", frames=10)).timecode == ""
    text = tmp_path / "notes.mov"
    text.write_text("not a movie " * 100)
    with pytest.raises(MediaError, match="unreadable container"):
        probe_source(text)
