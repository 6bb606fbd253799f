"""Image sequences end to end on real frames (8x8 PNGs written with Pillow): grouped, settled, held for gaps,
verified frame by frame, shown as one row."""

import os
from pathlib import Path

import pytest
import xxhash
from django.urls import reverse
from PIL import Image

from ingest import services
from ingest.models import Render, RenderFrame
from ingest.scanner import FileStat, ScanResult
from ingest.sequences import DEFAULT_EXTENSIONS, SequenceIndex, SequenceStat, parse_frame, pattern_key
from ingest.services import PROXY_WAITING, render_check_unchanged
from shots.workflow import Status
from tests.ingest import test_watcher
from tests.ingest.media import make_clip
from tests.ingest.test_watcher import SETTLE, scan_across_the_settle_window

# The watcher's fixtures, shared (a shot UNDLM_00042 of 50 frames at 25 fps, tolerance 2; renders/ae/* moves
# the shot to ae_completed, everything else is for review).
shot = test_watcher.shot
root = test_watcher.root
clock = test_watcher.clock
watcher = test_watcher.watcher

AE = "renders/ae/UNDLM_00042_v003.####.png"
REVIEW = "renders/review/UNDLM_00042_v003.####.png"


def write_frames(root: Path, key: str, frames, *, shade: int = 0) -> list[Path]:
    """Real PNG frames for `key` (its #### replaced by each frame number, zero-padded)."""
    directory, _, name = key.rpartition("/")
    stem, ext = name.split("#", 1)[0], name.rsplit(".", 1)[1]
    padding = name.count("#")
    (root / directory).mkdir(parents=True, exist_ok=True)
    paths = []
    for frame in frames:
        path = root / directory / f"{stem}{frame:0{padding}d}.{ext}"
        Image.new("RGB", (8, 8), ((frame * 5 + shade) % 256, 40, 90)).save(path)
        paths.append(path)
    return paths


def row(path: str) -> Render:
    return Render.objects.get(path=path)


def test_a_complete_sequence_settles_as_one_row_and_verifies(shot, root, watcher, clock, enqueued, monkeypatch):
    paths = write_frames(root, AE, range(1001, 1051))
    probed = []
    real_probe = services.probe_image
    monkeypatch.setattr(services, "probe_image", lambda path: probed.append(path) or real_probe(path))  # counted
    scan_across_the_settle_window(watcher, clock)
    render = row(AE)
    assert Render.objects.count() == 1
    assert (render.kind, render.first_frame, render.last_frame, render.padding) == ("sequence", 1001, 1050, 4)
    assert (render.frame_count, render.missing, render.size) == (50, "", sum(p.stat().st_size for p in paths))
    assert render.state == Render.State.DONE and (render.shot, render.version) == (shot, 3)
    assert render.media["kind"] == "sequence" and render.media["frames"] == 50
    assert (render.media["width"], render.media["height"], render.media["format"]) == (8, 8, "png")
    assert render.media["fps"] == 25 and render.media["frames_vs_shot"] == 0
    assert probed == [paths[0]]  # one frame probed, not fifty
    frames = list(RenderFrame.objects.filter(render=render).values_list("frame", "size", "checksum"))
    expected = [(1001 + i, p.stat().st_size, xxhash.xxh3_128(p.read_bytes()).hexdigest()) for i, p in enumerate(paths)]
    assert frames == expected
    combined = xxhash.xxh3_128("".join(f"{n} {digest}\n" for n, _, digest in expected).encode()).hexdigest()
    assert render.checksum == combined
    shot.refresh_from_db()
    assert shot.status == Status.AE_COMPLETED
    # A restarted watcher's full scan sees the same sequence: nothing moves, nothing is marked gone.
    restarted = watcher.rebuild()
    restarted.tick(full=True)
    clock.advance(SETTLE * 2)
    restarted.tick(full=True)
    assert row(AE).state == Render.State.DONE and Render.objects.count() == 1 and enqueued == []


def test_a_sequence_for_review_is_verified_and_waits_for_its_proxy(shot, root, watcher, clock, enqueued):
    write_frames(root, REVIEW, range(1, 51))
    scan_across_the_settle_window(watcher, clock)
    render = row(REVIEW)
    assert (render.state, render.rule, render.reason) == (Render.State.VERIFIED, "review", PROXY_WAITING)
    assert render.proxy.state == "pending" and render.proxy.source_checksum == render.checksum
    assert enqueued == [("ingest.tasks.build_proxy", render.pk)]  # its proxy job, not an upload of a pattern
    assert render_check_unchanged(render_id=render.pk) == "its review proxy is not ready"


def test_a_growing_sequence_settles_only_once_it_stops(shot, root, watcher, clock, enqueued):
    for start in range(1001, 1051, 10):
        write_frames(root, AE, range(start, start + 10))
        watcher.tick_committed()
        assert row(AE).state == Render.State.DISCOVERED
        clock.advance(SETTLE / 2)
    assert row(AE).frame_count == 50
    clock.advance(SETTLE)
    watcher.tick_committed()
    assert row(AE).state == Render.State.DONE


def test_a_frame_still_being_written_holds_the_sequence(shot, root, watcher, clock, enqueued):
    paths = write_frames(root, AE, range(1001, 1051))
    watcher.tick_committed()
    clock.advance(SETTLE)
    # The last frame grows in place: its directory's mtime does not move, the watched frame's does.
    with open(paths[-1], "ab") as handle:
        handle.write(b"\0" * 64)
    os.utime(paths[-1], ns=(paths[-1].stat().st_atime_ns, paths[-1].stat().st_mtime_ns + 1_000_000_000))
    watcher.tick_committed()
    assert row(AE).state == Render.State.DISCOVERED


def test_gaps_hold_the_sequence_with_its_reason_until_they_arrive(shot, root, watcher, clock, enqueued):
    present = [n for n in range(1001, 1051) if n not in (1010, 1011, 1012, 1040)]
    write_frames(root, AE, present)
    scan_across_the_settle_window(watcher, clock)
    clock.advance(SETTLE)
    watcher.tick_committed()
    render = row(AE)
    assert render.state == Render.State.DISCOVERED  # not quarantined: the frames may be on their way
    assert render.reason == "missing frames 1010-1012, 1040" and render.missing == "1010-1012, 1040"
    assert render.frame_count == 46
    write_frames(root, AE, [1010, 1011, 1012, 1040])
    watcher.tick_committed()
    assert (row(AE).missing, row(AE).reason, row(AE).state) == ("", "", Render.State.DISCOVERED)
    clock.advance(SETTLE)
    watcher.tick_committed()
    assert row(AE).state == Render.State.DONE and row(AE).frame_count == 50


def test_a_frame_changed_after_verification_sends_it_back(shot, root, watcher, clock, enqueued):
    paths = write_frames(root, AE, range(1001, 1051))
    scan_across_the_settle_window(watcher, clock)
    verified = row(AE)
    assert verified.state == Render.State.DONE
    Image.new("RGB", (8, 8), (255, 255, 255)).save(paths[20])  # rewritten in place: only a full scan sees it
    clock.advance(1)
    watcher.tick_committed(full=True)
    render = row(AE)
    assert render.state == Render.State.DISCOVERED and render.reason.startswith("changed after done")
    assert render.checksum == "" and not RenderFrame.objects.filter(render=render).exists()
    clock.advance(SETTLE)
    watcher.tick_committed()
    render = row(AE)
    assert render.state == Render.State.DONE and render.checksum != verified.checksum
    assert RenderFrame.objects.filter(render=render).count() == 50


def test_underscore_frames_and_the_usual_padding_notations(shot, root, watcher, clock, enqueued):
    key = "renders/ae/UNDLM_00042_v004_####.png"
    write_frames(root, key, range(1, 51))
    (root / "renders/ae/UNDLM_00042_v004_0001.png.done").touch()  # a sidecar beside a frame changes nothing
    scan_across_the_settle_window(watcher, clock)
    render = row(key)
    assert (render.state, render.version, render.first_frame, render.last_frame) == (Render.State.DONE, 4, 1, 50)
    assert render.display_name == "renders/ae/UNDLM_00042_v004_[0001-0050].png"
    # The ledger's key is found from a pattern in any usual notation.
    for notation in ("%04d", "####", "@@@@", "$F4", "1-50#"):
        assert pattern_key(f"renders/ae/UNDLM_00042_v004_{notation}.png") == key


def test_a_frame_count_out_of_tolerance_is_quarantined_with_the_numbers(shot, root, watcher, clock, enqueued):
    write_frames(root, AE, range(1001, 1041))
    scan_across_the_settle_window(watcher, clock)
    render = row(AE)
    assert render.state == Render.State.QUARANTINED
    assert render.reason.startswith("40 frames, 10 frames shorter than the shot (50 frames; tolerance 2")


def test_a_sequence_beside_a_movie_of_the_same_version_is_a_collision(shot, root, watcher, clock, enqueued):
    make_clip(root / "renders/review/UNDLM_00042_v003.mov", frames=50)
    scan_across_the_settle_window(watcher, clock)
    assert row("renders/review/UNDLM_00042_v003.mov").state == Render.State.QUEUED
    write_frames(root, AE, range(1001, 1051))
    scan_across_the_settle_window(watcher, clock)
    render = row(AE)
    assert render.state == Render.State.QUARANTINED
    assert render.reason == "version 3 of UNDLM_00042 is already held by renders/review/UNDLM_00042_v003.mov"


def test_a_lone_numbered_still_and_a_versioned_still_are_not_sequences(shot, root, watcher, clock, enqueued):
    write_frames(root, "renders/ae/UNDLM_00042_v005.####.png", [1001])
    Image.new("RGB", (8, 8)).save(root / "renders/ae/UNDLM_00042_v006.png")
    scan_across_the_settle_window(watcher, clock)
    assert not Render.objects.exists()
    write_frames(root, "renders/ae/UNDLM_00042_v005.####.png", [1002])  # its second frame makes it one
    watcher.tick_committed()
    assert row("renders/ae/UNDLM_00042_v005.####.png").frame_count == 2


def test_a_deleted_sequence_is_gone(shot, root, watcher, clock, enqueued):
    paths = write_frames(root, AE, range(1001, 1011))
    watcher.tick_committed()
    for path in paths[1:]:
        path.unlink()  # one frame left: not a sequence any more
    watcher.tick_committed()
    assert row(AE).state == Render.State.GONE


def test_admin_and_dashboard_show_one_row_with_its_range(shot, root, watcher, clock, enqueued, admin_client):
    write_frames(root, AE, range(1001, 1041))  # 40 frames: quarantined, so the dashboard lists it
    scan_across_the_settle_window(watcher, clock)
    html = admin_client.get(reverse("admin:ingest_render_changelist")).content.decode()
    assert "renders/ae/UNDLM_00042_v003.[1001-1040].png" in html and "40 frames" in html
    html = admin_client.get(reverse("dashboard:panel-renders")).content.decode()
    name = '<span class="dir">renders/ae/</span><span class="file">UNDLM_00042_v003.[1001-1040].png</span>'
    assert name in html and "40 frames" in html  # the folder may wrap, the file name never
    assert str(row(AE)) == "renders/ae/UNDLM_00042_v003.[1001-1040].png"


# --- the index alone (no files) ---------------------------------------------------------------


def stat(n: int, size: int = 10) -> FileStat:
    return FileStat(size=size, mtime_ns=n * 1_000_000_000, inode=n)


def test_the_index_folds_frames_into_sequences_and_passes_the_rest_through():
    index = SequenceIndex()
    frames = {f"sh/UNDLM_00042_v003.{n}.exr": stat(n) for n in (1001, 1002, 1003, 1007)}
    movie = {"sh/UNDLM_00042_v002.mov": stat(1)}
    folded = index.fold(ScanResult(appeared={**frames, **movie, "sh/notes_0001.jpg": stat(1)}))
    key = "sh/UNDLM_00042_v003.####.exr"
    assert folded.appeared == {
        **movie,
        key: SequenceStat(40, 1007_000_000_000, 1001, first=1001, last=1007, padding=4, count=4, missing="1004-1006"),
    }
    assert index.fold(ScanResult()).appeared == {}  # nothing touched, nothing reported
    changed = index.fold(ScanResult(changed={"sh/UNDLM_00042_v003.1002.exr": stat(1002, 99)}))
    assert changed.changed[key].size == 129
    assert index.watch([key], window_ns=4_000_000_000) == [
        "sh/UNDLM_00042_v003.1003.exr",
        "sh/UNDLM_00042_v003.1007.exr",
    ]
    gone = index.fold(ScanResult(gone={f"sh/UNDLM_00042_v003.{n}.exr" for n in (1001, 1002, 1003)}))
    assert gone.gone == {key} and key not in index.present({})


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("UNDLM_00042_v003.1001.exr", "UNDLM_00042_v003.####.exr"),
        ("UNDLM_00042_v003_0001.png", "UNDLM_00042_v003_####.png"),
        ("plate.000101.DPX", "plate.######.DPX"),
        ("UNDLM_00042_v003.png", None),  # a version, not a frame
        ("poster.png", None),
        ("UNDLM_00042_v003.1001.mov", None),  # not an image extension
    ],
)
def test_which_names_are_frames(name, key):
    frame = parse_frame(name, DEFAULT_EXTENSIONS)
    assert (frame.key_name if frame else None) == key


def test_gaps_are_counted_from_the_frames_present_not_the_span():
    from ingest.sequences import missing_ranges

    frames = [1001, 1002, 1006, 1010, *range(2000, 2100, 2)]
    assert missing_ranges(frames, 1001, 2098, len(frames)).startswith("1003-1005, 1007-1009, 1011-1999, 2001, 2003")
    assert missing_ranges(frames, 1001, 2098, len(frames)).endswith("and 32 more gaps")
    assert missing_ranges([1, 90_000_000], 1, 90_000_000, 2) == "2-89999999"  # at once: no 90M-frame set


def test_photos_named_by_the_time_they_were_taken_are_not_a_sequence(shot, root, watcher, clock, enqueued):
    for name in ("PXL_20240101_093015123.jpg", "PXL_20240101_183040456.jpg"):
        Image.new("RGB", (8, 8)).save(root / "renders" / "review" / name)
    scan_across_the_settle_window(watcher, clock)
    assert not Render.objects.exists()
