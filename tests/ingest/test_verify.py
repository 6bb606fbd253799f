import pytest
import xxhash

from ingest.verify import MediaError, checksum_xxh128, probe
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
