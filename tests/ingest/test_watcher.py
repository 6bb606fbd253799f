"""The watcher end to end on real files: scan -> ledger -> settle -> verify -> queue/quarantine."""

import json
import logging
import os
import shutil
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest
from django.db import DataError, OperationalError

from ingest import services
from ingest.lucid import Pinner
from ingest.models import Render, WatcherHeartbeat
from ingest.rules import parse_rules
from ingest.services import WatchConfig, render_check_unchanged
from ingest.settling import SettleWait, settle_wait
from ingest.watcher import Watcher
from postflow.models import LiveEvent
from shots.models import ShotEvent
from shots.workflow import Status
from tests.factories import make_project, make_scene, make_shot
from tests.ingest.media import make_clip, truncate_copy

SETTLE = 60


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def shot(db):
    project = make_project(code="UNDLM", fps=25)
    scene = make_scene(project, "REVEIL HOPITAL - JOUR", number=1)
    make_shot(project, scene=scene, shot_number="041", nomenclature="UNDLM_00041", duration=50)
    return make_shot(
        project, scene=scene, shot_number="042", nomenclature="UNDLM_00042", duration=50, status=Status.AE_IN_PROGRESS
    )


@pytest.fixture
def root(tmp_path) -> Path:
    path = tmp_path / "mount"
    (path / "renders" / "review").mkdir(parents=True)
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def watcher(root, clock, django_capture_on_commit_callbacks):
    config = WatchConfig(
        root=root,
        settle_seconds=SETTLE,
        templates=["{project}_SEQ{scene}_{shot}_v{version}", "{project}_{shot}_v{version}"],
        extensions=frozenset({"mov", "mp4"}),
        tolerance_frames=2,
        rules=parse_rules(["renders/ae/*=ae_completed", "renders/ignored/*=ignore", "*=review"]),
    )

    def build() -> Watcher:
        return Watcher(config, clock=clock, full_scan_seconds=300)

    w = build()
    w.rebuild = build  # a fresh process: new scanner, same ledger

    def tick(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return w.tick(**kwargs)

    w.tick_committed = tick
    return w


def scan_across_the_settle_window(watcher, clock: FakeClock) -> None:
    """Two scans a settle window apart: what a new, unchanging file needs to be verified."""
    watcher.tick_committed()
    clock.advance(SETTLE)
    watcher.tick_committed()


def render(path: str) -> Render:
    return Render.objects.get(path=path)


REVIEW = "renders/review/UNDLM_SEQ01_00042_v001.mov"


def test_a_render_settles_verifies_and_is_queued_once(shot, root, watcher, clock, enqueued):
    make_clip(root / REVIEW, frames=50)
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.DISCOVERED
    clock.advance(SETTLE - 1)
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.DISCOVERED  # the window is not over
    clock.advance(2)
    watcher.tick_committed()
    row = render(REVIEW)
    assert row.state == Render.State.QUEUED
    assert (row.shot, row.version, row.rule) == (shot, 1, "review")
    assert len(row.checksum) == 32 and row.media["frames"] == 50 and row.media["frames_vs_shot"] == 0
    assert enqueued == [("frameio.tasks.upload_render", row.pk)]
    # More scans, and a restarted watcher (empty scanner cache): nothing is enqueued again.
    clock.advance(SETTLE * 3)
    watcher.tick_committed()
    restarted = watcher.rebuild()
    restarted.tick(full=True)
    restarted.tick()
    assert enqueued == [("frameio.tasks.upload_render", row.pk)]
    assert Render.objects.count() == 1


def test_placeholder_waits_until_it_fills(shot, root, watcher, clock, enqueued):
    placeholder = root / REVIEW
    placeholder.touch()  # LucidLink shows a 0-byte file while the data is on its way
    for _ in range(4):
        watcher.tick_committed()
        clock.advance(SETTLE)
    assert render(REVIEW).state == Render.State.DISCOVERED
    make_clip(root / "tmp.mov", frames=50).replace(placeholder)  # the data arrives (new inode)
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.DISCOVERED
    clock.advance(SETTLE)
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.QUEUED


def test_a_growing_file_in_an_unchanged_directory_restarts_the_window(shot, root, watcher, clock, enqueued):
    clip = make_clip(root / "full.mov", frames=50)
    data = clip.read_bytes()
    clip.unlink()
    target = root / REVIEW
    target.write_bytes(data[: len(data) // 2])
    watcher.tick_committed()
    clock.advance(SETTLE - 10)
    with open(target, "ab") as handle:  # same inode, same directory mtime: only a re-stat sees it
        handle.write(data[len(data) // 2 :])
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 1_000_000))
    watcher.tick_committed()
    clock.advance(15)
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.DISCOVERED  # 65 s since first seen, 15 s since it grew
    clock.advance(SETTLE)
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.QUEUED


def test_a_file_changed_after_verification_starts_over(shot, root, watcher, clock, enqueued):
    make_clip(root / REVIEW, frames=50)
    scan_across_the_settle_window(watcher, clock)
    assert render(REVIEW).state == Render.State.QUEUED
    make_clip(root / "new.mov", frames=51).replace(root / REVIEW)
    clock.advance(1)
    watcher.tick_committed()
    row = render(REVIEW)
    assert row.state == Render.State.DISCOVERED
    assert row.reason.startswith("changed after queued")
    assert (row.checksum, row.shot, row.version) == ("", None, None)
    assert render_check_unchanged(render_id=row.pk) == ""  # the ledger now describes the new file


def test_a_file_swapped_after_verification_is_caught_before_upload(shot, root, watcher, clock, enqueued):
    make_clip(root / REVIEW, frames=50)
    scan_across_the_settle_window(watcher, clock)
    row = render(REVIEW)
    assert render_check_unchanged(render_id=row.pk) == ""
    make_clip(root / "other.mov", frames=50).replace(root / REVIEW)  # before the next scan
    assert render_check_unchanged(render_id=row.pk) == "the file changed since it was verified"


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("UNDLM_00099_v001.mov", lambda p: make_clip(p, frames=50), "no shot UNDLM_00099 in project UNDLM"),
        ("UNDLM_0042_v001.mov", lambda p: make_clip(p, frames=50), "did you mean UNDLM_00042"),
        ("UNDLM_SEQ03_00042_v001.mov", lambda p: make_clip(p, frames=50), "the name says scene 03"),
        ("UNDLM_00042_v001.mov", lambda p: make_clip(p, frames=50, fps=24), "frame rate 24 fps, the project is at 25"),
        ("UNDLM_00042_v001.mov", lambda p: make_clip(p, frames=60), "60 frames, 10 frames longer than the shot"),
        ("UNDLM_00042_v001.mov", lambda p: make_clip(p, frames=45), "5 frames shorter than the shot"),
        (
            "UNDLM_00042_v001.mov",
            lambda p: truncate_copy(make_clip(p.parents[3] / "source.mov", frames=50), p, 0.5),
            "truncated: ",
        ),
        ("notes.mov", lambda p: p.write_text("just text"), "matches no naming template"),
    ],
)
def test_quarantine_reasons(shot, root, watcher, clock, enqueued, name, make, reason):
    path = f"renders/review/{name}"
    make(root / path)
    scan_across_the_settle_window(watcher, clock)
    row = render(path)
    assert row.state == Render.State.QUARANTINED
    assert reason in row.reason
    assert enqueued == []


def test_duration_within_tolerance_passes(shot, root, watcher, clock, enqueued):
    make_clip(root / REVIEW, frames=52)
    scan_across_the_settle_window(watcher, clock)
    assert render(REVIEW).state == Render.State.QUEUED
    assert render(REVIEW).media["frames_vs_shot"] == 2


def test_a_version_held_by_another_file_is_a_collision(shot, root, watcher, clock, enqueued):
    make_clip(root / REVIEW, frames=50)
    scan_across_the_settle_window(watcher, clock)
    other = "renders/review/UNDLM_00042_v001.mov"
    make_clip(root / other, frames=50)
    scan_across_the_settle_window(watcher, clock)
    assert render(other).state == Render.State.QUARANTINED
    assert f"version 1 of UNDLM_00042 is already held by {REVIEW}" in render(other).reason
    assert len(enqueued) == 1


def test_rename_from_a_temp_name_needs_no_settle_window(shot, root, watcher, clock, enqueued):
    temp = root / f"{REVIEW}.tmp"
    make_clip(temp, frames=50)
    watcher.tick_committed()
    assert not Render.objects.exists()  # temp files are not renders
    temp.rename(root / REVIEW)
    clock.advance(1)
    watcher.tick_committed()
    assert render(REVIEW).completion_signal == "rename"
    clock.advance(1)  # one more scan confirms it is unchanged
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.QUEUED


def test_done_sidecar_needs_no_settle_window(shot, root, watcher, clock, enqueued):
    make_clip(root / REVIEW, frames=50)
    watcher.tick_committed()
    (root / f"{REVIEW}.done").touch()
    clock.advance(1)
    watcher.tick_committed()
    assert render(REVIEW).completion_signal == "sidecar"
    clock.advance(1)
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.QUEUED


def _wait(path: str, clock: FakeClock):
    return settle_wait(render(path), now=clock.now, settle_seconds=SETTLE)


def test_a_settling_render_says_why_it_waits_and_until_when(shot, root, watcher, clock, enqueued):
    make_clip(root / REVIEW, frames=50)
    watcher.tick_committed()
    assert _wait(REVIEW, clock) == SettleWait("settling, 60 s left", clock.now + timedelta(seconds=SETTLE), 60)
    clock.advance(18)
    watcher.tick_committed()
    wait = _wait(REVIEW, clock)
    assert (wait.text, wait.seconds_left) == ("settling, 42 s left", 42)
    assert wait.until == clock.now + timedelta(seconds=SETTLE - 18)  # from when its stat was first seen


def test_a_file_moved_into_place_long_after_it_was_written_needs_one_confirming_scan(
    shot, root, watcher, clock, enqueued, tmp_path
):
    finished = make_clip(tmp_path / "elsewhere" / "UNDLM_SEQ01_00042_v001.mov", frames=50)
    written_at = (clock.now - timedelta(minutes=5)).timestamp()
    os.utime(finished, (written_at, written_at))  # rendered five minutes ago, then `mv`-ed onto the mount
    finished.rename(root / REVIEW)
    watcher.tick_committed()
    row = render(REVIEW)
    assert (row.state, row.completion_signal) == (Render.State.DISCOVERED, "old mtime")
    assert _wait(REVIEW, clock).text.endswith("(moved into place): settles on the next scan")
    clock.advance(10)  # one scan interval, not the settle window
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.QUEUED


def test_a_fresh_file_moved_into_place_still_waits_the_window(shot, root, watcher, clock, enqueued, tmp_path):
    finished = make_clip(tmp_path / "elsewhere" / "UNDLM_SEQ01_00042_v001.mov", frames=50)
    written_at = (clock.now - timedelta(seconds=SETTLE - 5)).timestamp()  # younger than the window
    os.utime(finished, (written_at, written_at))
    finished.rename(root / REVIEW)
    watcher.tick_committed()
    clock.advance(10)
    watcher.tick_committed()
    assert (render(REVIEW).state, render(REVIEW).completion_signal) == (Render.State.DISCOVERED, "")


def test_an_empty_file_says_why_it_waits(shot, root, watcher, clock, enqueued):
    (root / REVIEW).touch()
    watcher.tick_committed()
    clock.advance(SETTLE * 3)
    watcher.tick_committed()
    row = render(REVIEW)
    assert row.state == Render.State.DISCOVERED
    assert row.reason == "0 bytes: a LucidLink placeholder or an empty file, waiting"
    assert _wait(REVIEW, clock) == SettleWait("0 bytes: a LucidLink placeholder or an empty file, waiting")
    make_clip(root / "tmp.mov", frames=50).replace(root / REVIEW)  # the data arrives
    watcher.tick_committed()
    assert render(REVIEW).reason == "" and _wait(REVIEW, clock).text == "settling, 60 s left"


def test_unsafe_names_and_symlinks_out_of_the_root_are_quarantined(shot, root, tmp_path, watcher, clock, enqueued):
    outside = make_clip(tmp_path / "outside.mov", frames=50)
    (root / "renders/review/UNDLM_00041_v001.mov").symlink_to(outside)
    make_clip(root / "renders/review/-rf UNDLM_00042_v001.mov", frames=50)
    scan_across_the_settle_window(watcher, clock)
    reasons = dict(Render.objects.values_list("path", "reason"))
    assert Render.objects.filter(state=Render.State.QUARANTINED).count() == 2
    assert "outside" in reasons["renders/review/UNDLM_00041_v001.mov"]
    assert "-" in reasons["renders/review/-rf UNDLM_00042_v001.mov"]
    assert enqueued == []


def test_stage_rule_moves_the_shot_instead_of_uploading(shot, root, watcher, clock, enqueued):
    path = "renders/ae/UNDLM_00042_v001.mov"
    make_clip(root / path, frames=50)
    scan_across_the_settle_window(watcher, clock)
    assert render(path).state == Render.State.DONE
    shot.refresh_from_db()
    assert shot.status == Status.AE_COMPLETED
    assert shot.events.get().actor == "watcher"
    assert enqueued == []


def test_stage_rule_catches_a_shot_behind_up_step_by_step(shot, root, watcher, clock, enqueued):
    """An AE render for a pending shot is evidence (#13): the shot walks the legal path, one event a step."""
    shot.status = Status.PENDING
    shot.save()
    path = "renders/ae/UNDLM_00042_v001.mov"
    make_clip(root / path, frames=50)
    scan_across_the_settle_window(watcher, clock)
    shot.refresh_from_db()
    assert shot.status == Status.AE_COMPLETED
    steps = [(e.kind, e.to_status, e.details["evidence"]) for e in shot.events.order_by("id")]
    assert steps == [
        (ShotEvent.Kind.TRANSITION, status, path)
        for status in ("sources_verified", "ae_ready", "ae_in_progress", "ae_completed")
    ]


def test_stage_rule_move_backwards_is_recorded_not_forced(shot, root, watcher, clock, enqueued):
    shot.status = Status.REVIEW_APPROVED
    shot.save()
    make_clip(root / "renders/ae/UNDLM_00042_v001.mov", frames=50)
    scan_across_the_settle_window(watcher, clock)
    shot.refresh_from_db()
    assert shot.status == Status.REVIEW_APPROVED
    event = shot.events.get()
    assert (event.kind, event.to_status) == (ShotEvent.Kind.REFUSED, "ae_completed")


def test_vanished_mount_keeps_the_watcher_alive_and_recovers(shot, root, tmp_path, watcher, clock, enqueued):
    make_clip(root / REVIEW, frames=50)
    watcher.tick_committed()
    shutil.move(root, tmp_path / "away")  # the FUSE mount goes away
    clock.advance(SETTLE)
    assert watcher.tick_committed() is None
    beat = WatcherHeartbeat.objects.get()
    assert not beat.healthy and "unavailable" in beat.detail
    assert render(REVIEW).state == Render.State.DISCOVERED  # not marked gone, not settled blind
    shutil.move(tmp_path / "away", root)
    clock.advance(1)
    watcher.tick_committed()
    assert WatcherHeartbeat.objects.get().healthy
    assert render(REVIEW).state == Render.State.QUEUED


def test_one_bad_file_never_stops_the_loop(shot, root, watcher, clock, enqueued, monkeypatch):
    make_clip(root / REVIEW, frames=50)
    make_clip(root / "renders/review/UNDLM_00041_v001.mov", frames=50)
    real = services.probe

    def flaky(path):
        if "00041" in str(path):
            raise RuntimeError("decoder crashed")
        return real(path)

    monkeypatch.setattr(services, "probe", flaky)
    scan_across_the_settle_window(watcher, clock)
    assert render(REVIEW).state == Render.State.QUEUED
    assert render("renders/review/UNDLM_00041_v001.mov").state == Render.State.STABLE  # tried again next scan


def test_an_io_error_while_reading_leaves_the_render_stable(shot, root, watcher, clock, enqueued, monkeypatch):
    make_clip(root / REVIEW, frames=50)

    def eio(path, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(services, "checksum_xxh128", eio)
    scan_across_the_settle_window(watcher, clock)
    assert render(REVIEW).state == Render.State.STABLE
    monkeypatch.undo()
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.QUEUED


def test_vanished_files_are_gone_and_come_back(shot, root, watcher, clock, enqueued):
    make_clip(root / REVIEW, frames=50)
    watcher.tick_committed()
    data = (root / REVIEW).read_bytes()
    (root / REVIEW).unlink()
    clock.advance(1)
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.GONE
    (root / REVIEW).write_bytes(data)
    clock.advance(1)
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.DISCOVERED


def test_heartbeat_records_each_scan(shot, root, watcher, clock, enqueued):
    make_clip(root / REVIEW, frames=50)
    watcher.tick_committed()
    beat = WatcherHeartbeat.objects.get()
    assert beat.healthy and beat.files_known == 1 and beat.pid == os.getpid()


def test_lucid_pin_on_new_render_folders(shot, root, tmp_path, clock, monkeypatch, enqueued):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "lucid.log"
    fake = bin_dir / "lucid"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    config = WatchConfig(root, SETTLE, ["{project}_{shot}_v{version}"], frozenset({"mov"}), 2, [])
    watcher = Watcher(config, clock=clock, pinner=Pinner("lucid"))
    make_clip(root / "renders/review/UNDLM_00042_v001.mov", frames=50)
    make_clip(root / "renders/review/UNDLM_00041_v001.mov", frames=50)
    watcher.tick()
    watcher.tick(full=True)
    assert log.read_text().splitlines() == [f"pin --set {(root / 'renders/review').resolve()}"]


def test_no_pinning_without_the_binary(tmp_path):
    assert not Pinner("lucid-not-installed-here").enabled
    assert not Pinner("").pin(tmp_path)


def test_an_unmounted_mount_point_is_unavailable_not_empty(shot, root, watcher, clock, enqueued, monkeypatch):
    make_clip(root / REVIEW, frames=50)
    watcher.was_mount = True  # as if `root` were a LucidLink mount point
    monkeypatch.setattr("ingest.watcher.os.path.ismount", lambda path: True)
    watcher.tick_committed()
    monkeypatch.setattr("ingest.watcher.os.path.ismount", lambda path: False)
    (root / REVIEW).unlink()  # what an unmounted mount point looks like: an empty folder
    clock.advance(1)
    assert watcher.tick_committed() is None
    assert "no longer mounted" in WatcherHeartbeat.objects.get().detail
    assert render(REVIEW).state == Render.State.DISCOVERED  # not recorded as gone


def test_a_failed_ledger_write_is_reported_again_by_the_next_scan(shot, root, watcher, clock, enqueued, monkeypatch):
    make_clip(root / REVIEW, frames=50)
    watcher.tick_committed()
    other = "renders/review/UNDLM_00041_v001.mov"
    make_clip(root / other, frames=50)
    (root / REVIEW).unlink()
    real = services.render_observe

    def locked(**kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr("ingest.watcher.render_observe", locked)
    clock.advance(1)
    with pytest.raises(OperationalError):
        watcher.tick_committed()
    monkeypatch.setattr("ingest.watcher.render_observe", real)
    clock.advance(1)
    result = watcher.tick_committed()
    assert result.full  # the next scan re-reports everything the failed one saw
    assert render(other).state == Render.State.DISCOVERED
    assert render(REVIEW).state == Render.State.GONE


def test_a_file_moved_out_and_back_unchanged_starts_over(shot, root, watcher, clock, enqueued, tmp_path):
    make_clip(root / REVIEW, frames=50)
    watcher.tick_committed()
    aside = tmp_path / "aside.mov"
    os.rename(root / REVIEW, aside)
    clock.advance(1)
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.GONE
    os.rename(aside, root / REVIEW)  # same inode, mtime and size as the row
    clock.advance(1)
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.DISCOVERED
    clock.advance(SETTLE)
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.QUEUED


def test_a_gone_row_whose_file_a_full_scan_finds_starts_over(shot, root, watcher, clock, enqueued):
    make_clip(root / REVIEW, frames=50)
    watcher.tick_committed()
    Render.objects.update(state=Render.State.GONE)  # another watcher saw a flaky listing
    clock.advance(1)
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.GONE  # an incremental scan reports no difference
    watcher.tick_committed(full=True)
    assert render(REVIEW).state == Render.State.DISCOVERED


@pytest.mark.parametrize("folder", ["review", "ae"])
def test_a_verified_render_that_vanishes_keeps_its_state(shot, root, watcher, clock, enqueued, tmp_path, folder):
    path = f"renders/{folder}/UNDLM_00042_v001.mov"
    make_clip(root / path, frames=50)
    scan_across_the_settle_window(watcher, clock)
    state = render(path).state
    assert state in (Render.State.QUEUED, Render.State.DONE)
    os.rename(root / path, tmp_path / "aside.mov")
    clock.advance(1)
    watcher.tick_committed()
    row = render(path)
    assert (row.state, row.shot, row.version) == (state, shot, 1)  # still counts as version 1
    assert row.reason == f"file vanished while {state}"
    assert render_check_unchanged(render_id=row.pk) != ""  # the upload pipeline sees it for itself
    os.rename(tmp_path / "aside.mov", root / path)  # back, unchanged
    clock.advance(1)
    watcher.tick_committed()
    row = render(path)
    assert (row.state, row.reason) == (state, "")
    assert len(enqueued) == (folder == "review")


def test_a_stable_render_whose_file_vanished_goes_back_to_discovered(shot, root, watcher, clock, enqueued):
    make_clip(root / REVIEW, frames=50)
    watcher.tick_committed()
    clock.advance(SETTLE)
    Render.objects.update(state=Render.State.STABLE)
    (root / REVIEW).unlink()  # before the scan notices
    row = render(REVIEW)
    services.render_verify(render_id=row.pk, config=watcher.config, now=clock())
    row.refresh_from_db()
    assert (row.state, row.reason) == (Render.State.DISCOVERED, "vanished before verification")
    clock.advance(1)
    watcher.tick_committed()
    assert render(REVIEW).state == Render.State.GONE


def test_verification_is_not_recorded_for_a_file_that_changed_during_the_probe(
    shot, root, watcher, clock, enqueued, monkeypatch
):
    make_clip(root / REVIEW, frames=50)
    watcher.tick_committed()
    clock.advance(SETTLE)
    services.render_settle(config=watcher.config, now=clock())
    real = services.probe

    def probe_while_another_watcher_sees_a_change(path):
        # Another watcher recorded a new stat and settled it again (a completion signal) meanwhile.
        Render.objects.update(size=1, state=Render.State.STABLE)
        return real(path)

    monkeypatch.setattr(services, "probe", probe_while_another_watcher_sees_a_change)
    row = services.render_verify(render_id=render(REVIEW).pk, config=watcher.config, now=clock())
    assert (row.state, row.checksum, row.version) == (Render.State.STABLE, "", None)
    assert enqueued == []


def test_a_render_deleted_while_no_watcher_ran_is_gone_after_the_first_full_scan(
    shot, root, watcher, clock, enqueued, monkeypatch
):
    make_clip(root / REVIEW, frames=50)
    kept = "renders/review/locked/UNDLM_00041_v001.mov"
    make_clip(root / kept, frames=50)
    make_clip(root / "renders/ignored/UNDLM_00041_v002.mov", frames=50)  # the root is not empty
    watcher.tick_committed()
    # The watcher stops; meanwhile one file is deleted, a folder cannot be listed (a mount hiccup
    # on one directory), and another watcher records a file after this scan began.
    (root / REVIEW).unlink()
    locked = str(root / "renders/review/locked")
    real_scandir = os.scandir

    def scandir(path):
        if str(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr("ingest.scanner.os.scandir", scandir)
    clock.advance(SETTLE)
    late = Render.objects.create(
        root=watcher.config.root_key, path="renders/review/late.mov", first_seen=clock(), observed_since=clock()
    )
    restarted = watcher.rebuild()
    restarted.tick(full=True)
    assert (render(REVIEW).state, render(REVIEW).reason) == (Render.State.GONE, "vanished while discovered")
    assert render(kept).state != Render.State.GONE  # not listed, so not known to be missing
    assert Render.objects.get(pk=late.pk).state == Render.State.DISCOVERED
    # Nothing cycles: the next scans leave it gone; the folder, readable again, is seen as it was.
    monkeypatch.setattr("ingest.scanner.os.scandir", real_scandir)
    clock.advance(SETTLE)
    restarted.tick()
    restarted.tick(full=True)
    assert render(REVIEW).state == Render.State.GONE
    assert render(kept).state != Render.State.GONE


def test_a_full_scan_of_an_empty_root_marks_nothing_gone(shot, root, watcher, clock, enqueued, tmp_path):
    """A watcher (re)started while LucidLink is not mounted sees an empty folder, not deleted renders."""
    make_clip(root / REVIEW, frames=50)
    queued = "renders/review/UNDLM_00041_v001.mov"
    make_clip(root / queued, frames=50)
    scan_across_the_settle_window(watcher, clock)
    assert render(queued).state == Render.State.QUEUED
    Render.objects.filter(path=REVIEW).update(state=Render.State.DISCOVERED)  # still settling
    aside = tmp_path / "aside"
    os.rename(root / "renders", aside)  # the mount point is empty
    clock.advance(SETTLE)
    restarted = watcher.rebuild()
    restarted.tick(full=True)
    assert (render(REVIEW).state, render(queued).state, render(queued).reason) == (
        Render.State.DISCOVERED,
        Render.State.QUEUED,
        "",
    )
    os.rename(aside, root / "renders")  # mounted again
    clock.advance(SETTLE)
    restarted.tick(full=True)
    assert render(queued).state == Render.State.QUEUED and render(REVIEW).state != Render.State.GONE


# -- names the ledger cannot hold as they are (issue #19) ---------------------------------------------------


def make_bytes_path(root: Path, relpath: bytes, *, clip: bool = True) -> bytes:
    """A real file at a path given as bytes (not valid UTF-8, say): a clip made under a plain name, renamed."""
    target = os.path.join(os.fsencode(root), relpath)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if clip:
        os.rename(make_clip(root / "staging.mov", frames=50), target)
    else:
        with open(target, "wb") as handle:
            handle.write(b"not a movie")
    return target


def assert_printable_and_live_events_are_json() -> None:
    """What a dashboard, a log or `watch --json` shows: printable text, strict UTF-8 JSON in live events."""
    for path, reason in Render.objects.values_list("path", "reason"):
        assert path.isprintable() and reason.isprintable(), (path, reason)
    for payload in LiveEvent.objects.values_list("payload", flat=True):
        json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")


def test_an_undecodable_name_is_quarantined_and_every_other_file_goes_on(shot, root, watcher, clock, enqueued):
    make_bytes_path(root, b"renders/review/UNDLM_00209_v012\xff\xfe.mov", clip=False)
    make_clip(root / REVIEW, frames=50)
    scan_across_the_settle_window(watcher, clock)
    bad = Render.objects.get(state=Render.State.QUARANTINED)
    assert bad.path == r"renders/review/UNDLM_00209_v012\xff\xfe.mov"
    assert r"not valid UTF-8: UNDLM_00209_v012\xff\xfe.mov" in bad.reason
    assert render(REVIEW).state == Render.State.QUEUED  # discovered, settled and verified in the same ticks
    assert WatcherHeartbeat.objects.get().healthy
    assert_printable_and_live_events_are_json()
    # A released row is checked again and quarantined again: its stored path names no real file.
    services.render_release(render_id=bad.pk)
    clock.advance(1)
    watcher.tick_committed()
    bad.refresh_from_db()
    assert bad.state == Render.State.QUARANTINED and "rename the file" in bad.reason
    assert Render.objects.count() == 2


def test_a_folder_with_an_undecodable_name_is_quarantined_and_not_entered(shot, root, watcher, clock, enqueued):
    make_bytes_path(root, b"renders/review/caf\xe9/UNDLM_00042_v002.mov")
    make_clip(root / REVIEW, frames=50)
    scan_across_the_settle_window(watcher, clock)
    assert dict(Render.objects.values_list("path", "state")) == {
        r"renders/review/caf\xe9": Render.State.QUARANTINED,
        REVIEW: Render.State.QUEUED,
    }
    assert WatcherHeartbeat.objects.get().healthy
    assert_printable_and_live_events_are_json()


def test_a_newline_in_a_name_is_stored_escaped(shot, root, watcher, clock, enqueued):
    make_bytes_path(root, b"renders/review/UNDLM_00042\n_v002.mov")
    make_bytes_path(root, b"renders/review/line\nbreak/UNDLM_00042_v003.mov")
    make_clip(root / REVIEW, frames=50)
    scan_across_the_settle_window(watcher, clock)
    quarantined = dict(Render.objects.filter(state=Render.State.QUARANTINED).values_list("path", "reason"))
    assert set(quarantined) == {r"renders/review/UNDLM_00042\n_v002.mov", r"renders/review/line\nbreak"}
    assert r"control character U+000A: UNDLM_00042\n_v002.mov" in quarantined[r"renders/review/UNDLM_00042\n_v002.mov"]
    assert render(REVIEW).state == Render.State.QUEUED
    assert_printable_and_live_events_are_json()


def test_a_folder_of_only_dots_is_quarantined(shot, root, watcher, clock, enqueued):
    make_clip(root / "renders/review/.../UNDLM_00042_v002.mov", frames=50)
    make_clip(root / REVIEW, frames=50)
    scan_across_the_settle_window(watcher, clock)
    row = render("renders/review/...")
    assert (row.state, row.reason) == (Render.State.QUARANTINED, "name is only dots ('...')")
    assert render(REVIEW).state == Render.State.QUEUED
    assert Render.objects.count() == 2


def test_a_name_longer_than_255_bytes_is_quarantined(shot, root, watcher, clock, enqueued):
    name = "UNDLM_00042_v002_" + "é" * 130 + ".mov"  # 281 bytes, 151 characters
    try:
        make_clip(root / "renders/review" / name, frames=50)
    except (OSError, av.FFmpegError) as exc:
        pytest.skip(f"this filesystem refuses a {len(name.encode())}-byte name ({exc}), as most do: NAME_MAX is 255")
    make_clip(root / REVIEW, frames=50)
    scan_across_the_settle_window(watcher, clock)
    row = render(f"renders/review/{name}")
    assert (row.state, row.reason) == (Render.State.QUARANTINED, "name is longer than 255 bytes (281)")
    assert render(REVIEW).state == Render.State.QUEUED


def test_a_path_longer_than_the_ledger_holds_is_quarantined_under_a_shortened_name(
    shot, root, watcher, clock, enqueued
):
    folders = "renders/review/" + "/".join(f"{i}" * 200 for i in range(1, 6))  # 1,019 characters
    make_clip(root / folders / "UNDLM_00042_v002.mov", frames=50)
    make_clip(root / REVIEW, frames=50)
    scan_across_the_settle_window(watcher, clock)
    bad = Render.objects.get(state=Render.State.QUARANTINED)
    assert bad.reason == "path is longer than 1,000 characters (1,019)"
    assert len(bad.path) <= 1000 and bad.path.startswith("renders/review/1111") and "\\…" in bad.path
    assert render(REVIEW).state == Render.State.QUEUED
    assert Render.objects.count() == 2


def test_a_row_the_database_refuses_is_quarantined_alone(shot, root, watcher, clock, enqueued, monkeypatch):
    refused = "renders/review/UNDLM_00041_v001.mov"
    make_clip(root / refused, frames=50)
    make_clip(root / REVIEW, frames=50)
    real = Render.objects.bulk_create

    def like_postgresql(rows, **kwargs):  # as PostgreSQL refuses a value too long for its column
        if any(row.path == refused for row in rows):
            raise DataError("value too long for type character varying(1000)")
        return real(rows, **kwargs)

    monkeypatch.setattr(Render.objects, "bulk_create", like_postgresql)
    scan_across_the_settle_window(watcher, clock)
    row = render(refused)
    assert row.state == Render.State.QUARANTINED
    assert (
        row.reason == "the ledger cannot record this file (DataError: value too long for type character varying(1000))"
    )
    assert render(REVIEW).state == Render.State.QUEUED
    assert WatcherHeartbeat.objects.get().healthy


# -- numbers out of range (issue #19) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("UNDLM_00042_v99999999999999999999.mov", "version 99999999999999999999 is out of range (1–99,999)"),
        ("UNDLM_00042_v100000.mov", "version 100000 is out of range (1–99,999)"),
        ("UNDLM_00042_v000.mov", "version 000 is out of range (1–99,999)"),
        ("UNDLM_SEQ99999999999999999999_00042_v002.mov", "scene 99999999999999999999 is out of range (0–99,999)"),
        ("UNDLM_00042_v" + "9" * 230 + ".mov", "version 999999"),
    ],
)
def test_a_number_out_of_range_in_a_name_is_quarantined_once(
    shot, root, watcher, clock, enqueued, caplog, name, reason
):
    bad = f"renders/review/{name}"
    make_clip(root / bad, frames=50)
    make_clip(root / REVIEW, frames=50)
    scan_across_the_settle_window(watcher, clock)
    row = render(bad)
    assert row.state == Render.State.QUARANTINED and reason in row.reason
    assert render(REVIEW).state == Render.State.QUEUED
    clock.advance(SETTLE)
    watcher.tick_committed()
    assert render(bad).state == Render.State.QUARANTINED
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]  # no traceback per tick


def test_a_modification_time_the_ledger_cannot_hold_is_quarantined(shot, root, watcher, clock, enqueued):
    late = root / "renders/review/UNDLM_00041_v001.mov"
    make_clip(late, frames=50)
    os.utime(late, (10_000_000_000, 10_000_000_000))  # 2286-11-20, past 2262 and a signed 64-bit count of ns
    if late.stat().st_mtime_ns < 2**63:
        pytest.skip("this filesystem clamps modification times before 2262")
    make_clip(root / REVIEW, frames=50)
    scan_across_the_settle_window(watcher, clock)
    row = render("renders/review/UNDLM_00041_v001.mov")
    assert row.state == Render.State.QUARANTINED
    assert row.reason == "modification time (year 2286) is out of range (1677 to 2262): touch the file to set it"
    assert render(REVIEW).state == Render.State.QUEUED
    os.utime(late)  # fixed: a full scan sees it changed, and it starts over
    clock.advance(300)
    watcher.tick_committed(full=True)
    assert render("renders/review/UNDLM_00041_v001.mov").state == Render.State.DISCOVERED


def test_a_file_given_by_hand_with_a_version_out_of_range_is_refused(shot, tmp_path):
    templates = ["{project}_{shot}_v{version}"]
    named = make_clip(tmp_path / "UNDLM_00042_v99999999999999999999.mov", frames=50)
    with pytest.raises(services.VerifyError, match=r"version 99999999999999999999 is out of range \(1–99,999\)"):
        services.render_queue_by_hand(path=named, shot=shot, version=None, templates=templates)
    plain = make_clip(tmp_path / "UNDLM_00042.mov", frames=50)
    for version in (100_000, 0, -3):
        with pytest.raises(services.VerifyError, match=f"version {version} is out of range"):
            services.render_queue_by_hand(path=plain, shot=shot, version=version, templates=templates)
    assert not Render.objects.exists()
