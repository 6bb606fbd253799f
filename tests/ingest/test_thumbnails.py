"""Poster frames on real files: a PyAV clip and a Pillow PNG sequence, written by the watcher after
verification, by the job a page asks for, and by `manage.py thumbnails`; never next to the render."""

import json
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command
from PIL import Image

from ingest import tasks, thumbnails
from ingest.models import Render
from ingest.proxy_media import read_frame
from ingest.thumbnails import has_thumbnail, thumbnail_path, thumbnail_request, thumbnail_write, thumbnails_backfill
from tests.factories import make_render
from tests.ingest import test_watcher
from tests.ingest.media import make_clip, write_still
from tests.ingest.test_sequences import write_frames
from tests.ingest.test_watcher import REVIEW, scan_across_the_settle_window

EXR = {"codec": "exr", "pix_fmt": "gbrpf32le"}
shot = test_watcher.shot
root = test_watcher.root
clock = test_watcher.clock
watcher = test_watcher.watcher


@pytest.fixture(autouse=True)
def thumbnails_folder(settings, tmp_path):
    settings.POSTFLOW_THUMBNAILS_PATH = tmp_path / "var-thumbnails"
    cache.clear()
    return settings.POSTFLOW_THUMBNAILS_PATH


def _verified_clip(tmp_path, name="UNDLM_00042_v001.mov", *, frames=50, checksum="a" * 32) -> Render:
    path = make_clip(tmp_path / "mount" / name, frames=frames)
    return make_render(name, state=Render.State.VERIFIED, root=str(path.parent), checksum=checksum)


def _grey(path) -> int:
    with Image.open(path) as image:
        return image.convert("L").getpixel((image.width // 2, image.height // 2))


def test_a_movie_gets_its_middle_frame_as_a_small_webp_in_postflows_folder(db, tmp_path, thumbnails_folder):
    render = _verified_clip(tmp_path)
    written = thumbnail_write(render)
    assert written == thumbnail_path(render) and written.is_relative_to(thumbnails_folder)
    assert render.checksum in written.name
    assert sorted(p.name for p in (tmp_path / "mount").iterdir()) == [render.path]  # nothing beside the render
    with Image.open(written) as image:
        assert (image.format, image.size) == ("WEBP", (64, 36))
    assert written.stat().st_size < 10_000
    # make_clip shades frame i with grey i*7: the middle (frame 25 of 50) is 175, the first 0, the last 91.
    assert abs(_grey(written) - 175) <= 6


def test_a_sequence_gets_its_middle_frame(db, tmp_path):
    key = "UNDLM_00042_v003.####.png"
    write_frames(tmp_path, key, range(1001, 1011))
    render = make_render(key, state=Render.State.DONE, root=str(tmp_path), kind=Render.Kind.SEQUENCE, checksum="b" * 32)
    for frame in range(1001, 1011):
        render.frames.create(frame=frame, size=1, checksum="c" * 32)
    written = thumbnail_write(render)
    with Image.open(written) as image:
        assert image.size == (8, 8)
        assert abs(image.convert("RGB").getpixel((4, 4))[0] - (1006 * 5) % 256) <= 8  # frame 1006, the middle


def test_an_exr_sequence_is_shown_as_its_review_proxy_shows_it(db, tmp_path):
    """EXR holds linear light: the thumbnail is its sRGB picture, as the proxy's frames (not dark and flat)."""
    key = "UNDLM_00042_v004.####.exr"
    colour = (200, 100, 50)
    for frame in range(1001, 1004):
        write_still(tmp_path / f"UNDLM_00042_v004.{frame}.exr", Image.new("RGB", (64, 36), colour), **EXR)
    render = make_render(key, state=Render.State.DONE, root=str(tmp_path), kind=Render.Kind.SEQUENCE, checksum="e" * 32)
    for frame in range(1001, 1004):
        render.frames.create(frame=frame, size=1, checksum="c" * 32)
    with Image.open(thumbnail_write(render)) as image:
        shown = image.convert("RGB").getpixel((32, 18))
    as_the_proxy = read_frame(tmp_path / "UNDLM_00042_v004.1002.exr").getpixel((32, 18))
    assert all(abs(s - p) <= 6 for s, p in zip(shown, as_the_proxy, strict=True))  # WebP's loss, no more
    assert all(s > c + 20 for s, c in zip(shown, colour, strict=True))  # brighter than the linear values


def test_the_watcher_writes_one_after_verifying(shot, root, watcher, clock, enqueued):
    make_clip(root / REVIEW, frames=50)
    scan_across_the_settle_window(watcher, clock)
    render = Render.objects.get(path=REVIEW)
    assert render.state == Render.State.QUEUED and has_thumbnail(render)
    assert [p.name for p in (root / "renders" / "review").iterdir()] == [Path(render.path).name]  # nothing beside it


def test_an_undecodable_render_has_none_and_the_scan_goes_on(shot, root, watcher, clock, enqueued, caplog):
    make_clip(root / REVIEW, frames=50)
    scan_across_the_settle_window(watcher, clock)
    render = Render.objects.get(path=REVIEW)
    thumbnail_path(render).unlink()
    (root / REVIEW).write_bytes(b"not a movie any more")
    thumbnails.thumbnail_after_verify(render.pk)  # logged, not raised
    assert not has_thumbnail(render) and "no thumbnail for render" in caplog.text


def test_a_page_asks_once_for_a_missing_one_and_the_job_writes_it(
    db, tmp_path, enqueued, django_capture_on_commit_callbacks
):
    render = _verified_clip(tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        assert thumbnail_request(render) is True
        assert thumbnail_request(render) is False  # the next views within the window ask nothing more
    assert enqueued == [("ingest.tasks.make_thumbnail", render.pk)]
    tasks.make_thumbnail(render.pk)
    tasks.make_thumbnail(render.pk)  # twice: the same file
    assert has_thumbnail(render)
    stale = make_render("x.mov", state=Render.State.QUARANTINED, checksum="d" * 32)
    assert thumbnail_request(stale) is False


def test_the_backfill_writes_the_missing_ones_and_counts_a_failure(db, tmp_path, capsys):
    good = _verified_clip(tmp_path)
    done = _verified_clip(tmp_path, "UNDLM_00043_v001.mov", checksum="e" * 32)
    thumbnail_write(done)
    broken = make_render("gone.mov", state=Render.State.UPLOADED, root=str(tmp_path), checksum="f" * 32)
    make_render("unverified.mov", state=Render.State.STABLE, root=str(tmp_path))
    assert thumbnails_backfill() == {"written": 1, "present": 1, "failed": 1}
    assert has_thumbnail(good) and not has_thumbnail(broken)
    with pytest.raises(SystemExit):
        call_command("thumbnails", "--json")
    assert json.loads(capsys.readouterr().out) == {"written": 0, "present": 2, "failed": 1}
    call_command("thumbnails", str(good.pk), "--force")
    assert "1 written, 0 already there, 0 failed" in capsys.readouterr().out
