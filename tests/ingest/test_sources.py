"""The sources check on real rushes (PyAV clips carrying start timecodes) under a real rushes root."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import unicodedata
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.urls import reverse

from ingest import signals as ingest_signals
from ingest import sources
from ingest.models import Render, SourceClip
from ingest.rushes import RushesIndex
from ingest.services import WatchConfig
from ingest.sources import RushesConfig, RushesWatcher, verify_sources
from ingest.watcher import Watcher
from postflow.lib.timecode import timecode_to_frames
from shots.models import Shot, ShotEvent
from shots.workflow import Status
from tests.factories import make_project, make_scene, make_shot, make_source
from tests.ingest.media import make_clip
from tests.ingest.test_watcher import FakeClock

ROOT = Path(__file__).resolve().parents[2]
# The clip every test starts from: 50 frames at 25 fps from 01:00:10:00, so [01:00:10:00, 01:00:12:00).
START = "01:00:10:00"


def tc(text: str) -> int:
    return timecode_to_frames(text, 25)


@pytest.fixture
def project(db):
    project = make_project(code="UNDLM", fps=25)
    make_scene(project, "REVEIL HOPITAL - JOUR", number=1)
    return project


@pytest.fixture
def rushes(tmp_path, settings) -> Path:
    root = tmp_path / "rushes"
    root.mkdir()
    settings.POSTFLOW_RUSHES_PATH = root
    return root


@pytest.fixture
def probes(monkeypatch) -> list[Path]:
    """The files the real probe read, in order (a spy: the probe itself runs)."""
    calls: list[Path] = []
    real = sources.probe_source

    def counting(path: Path):
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(sources, "probe_source", counting)
    return calls


@pytest.fixture
def changes() -> list[dict]:
    """What ingest.signals.source_changed said (the alerts app hears it too)."""
    heard: list[dict] = []

    def receiver(sender, **kwargs):
        heard.append(kwargs)

    ingest_signals.source_changed.connect(receiver, dispatch_uid="test-sources")
    yield heard
    ingest_signals.source_changed.disconnect(dispatch_uid="test-sources")


def shot_on(project, source: str, source_in: str, source_out: str, **fields) -> Shot:
    return make_shot(
        project, source=make_source(project, source), source_in=tc(source_in), source_out=tc(source_out), **fields
    )


def rush(rushes: Path, relpath: str, *, timecode: str | None = START, frames: int = 50, fps: int = 25) -> Path:
    return make_clip(rushes / relpath, frames=frames, fps=fps, timecode=timecode)


def kinds(report) -> dict[str, str]:
    return {problem.shot: problem.kind for problem in report.problems}


# --- one check ---------------------------------------------------------------------------------------


def test_a_shot_inside_its_clip_moves_with_one_event_naming_the_clip(project, rushes):
    rush(rushes, "day1/A/A001C003.mov")
    shot = shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:12:00")  # the whole clip, to the frame

    report = verify_sources()

    assert (report.verified, report.already, report.problems) == (1, 0, [])
    shot.refresh_from_db()
    assert shot.status == Status.SOURCES_VERIFIED
    [event] = ShotEvent.objects.filter(shot=shot)
    assert (event.kind, event.actor, event.from_status, event.to_status) == (
        "transition",
        "sources",
        "pending",
        "sources_verified",
    )
    assert event.details["clip"] == "day1/A/A001C003.mov"
    assert event.details["path"] == str(rushes / "day1/A/A001C003.mov")
    assert (event.details["start_timecode"], event.details["end_timecode"]) == ("01:00:10:00", "01:00:12:00")
    clip = SourceClip.objects.get(source_file=shot.source_file)
    assert (clip.path, clip.frames, clip.fps, clip.start_timecode, clip.start_frame) == (
        "day1/A/A001C003.mov",
        50,
        25.0,
        START,
        tc(START),
    )
    assert clip.size == (rushes / "day1/A/A001C003.mov").stat().st_size


def test_out_of_range_says_by_how_many_frames_at_which_end(project, rushes):
    rush(rushes, "A001C003.mov")
    late = shot_on(project, "A001C003.mov", "01:00:11:00", "01:00:12:03")
    early = shot_on(project, "A001C003.mov", "01:00:09:24", "01:00:11:00")
    outside = shot_on(project, "A001C003.mov", "01:00:20:00", "01:00:21:00")

    report = verify_sources()

    details = {problem.shot: problem.detail for problem in report.problems}
    assert kinds(report) == {str(late): "out_of_range", str(early): "out_of_range", str(outside): "out_of_range"}
    assert details[str(late)].startswith("out by 3 frames at the out (source out 01:00:12:03)")
    assert "the clip runs 01:00:10:00 to 01:00:12:00" in details[str(late)]
    assert details[str(early)].startswith("out by 1 frame at the in (source in 01:00:09:24)")
    assert details[str(outside)].startswith("entirely outside the clip")
    assert report.verified == 0
    assert set(Shot.objects.values_list("status", flat=True)) == {Status.PENDING}
    assert not ShotEvent.objects.exists()


def test_a_rush_without_timecode_is_reported(project, rushes):
    rush(rushes, "A001C003.mov", timecode=None)
    shot = shot_on(project, "A001C003.mov", "00:00:00:00", "00:00:01:00")

    [problem] = verify_sources().problems

    assert (problem.shot, problem.source_file, problem.kind) == (str(shot), "A001C003.mov", "no_timecode")
    assert "no start timecode" in problem.detail
    assert not SourceClip.objects.exists()


def test_missing_and_unreadable_sources(project, rushes):
    (rushes / "B002C001.mov").write_text("not a movie " * 100)
    missing = shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:00")
    broken = shot_on(project, "B002C001.mov", "01:00:10:00", "01:00:11:00")

    report = verify_sources()

    assert kinds(report) == {str(missing): "missing", str(broken): "unreadable"}
    assert f"no file named A001C003.mov under {rushes}" in report.problems[0].detail
    assert "unreadable container" in report.problems[1].detail


def test_two_copies_are_an_ambiguity_not_a_guess(project, rushes):
    rush(rushes, "day1/A001C003.mov")
    rush(rushes, "day2/backup/a001c003.MOV")
    shot = shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:00")

    [problem] = verify_sources().problems

    assert problem.kind == "ambiguous"
    assert "2 files are named A001C003.mov: day1/A001C003.mov, day2/backup/a001c003.MOV" in problem.detail
    shot.refresh_from_db()
    assert shot.status == Status.PENDING


def test_names_match_without_case_or_unicode_form(project, rushes):
    # A Mac writes the name decomposed (NFD); the shot list has it composed (NFC), in other case.
    rush(rushes, unicodedata.normalize("NFD", "Scène_A001.MOV"))
    shot_on(project, unicodedata.normalize("NFC", "SCÈNE_a001.mov"), "01:00:10:00", "01:00:11:00")

    assert verify_sources().verified == 1


def test_names_that_are_not_utf8_are_skipped(project, rushes):
    rush(rushes, "A001C003.mov")
    os.close(os.open(os.fsencode(rushes) + b"/\xff\xfe.mov", os.O_CREAT | os.O_WRONLY))
    shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:00")

    assert RushesIndex.walk(rushes).skipped == 1
    assert verify_sources().verified == 1


def test_shots_sharing_a_source_are_checked_from_one_probe(project, rushes, probes):
    rush(rushes, "A001C003.mov")
    first = shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:00")
    second = shot_on(project, "A001C003.mov", "01:00:11:00", "01:00:12:00")
    third = shot_on(project, "A001C003.mov", "01:00:11:10", "01:00:12:05")

    report = verify_sources()

    assert probes == [rushes / "A001C003.mov"]
    assert (report.verified, report.probed, kinds(report)) == (2, 1, {str(third): "out_of_range"})
    assert {s.status for s in Shot.objects.filter(pk__in=[first.pk, second.pk])} == {Status.SOURCES_VERIFIED}


def test_a_clip_at_another_rate_is_a_rate_mismatch(project, rushes):
    rush(rushes, "A001C003.mov", fps=24)
    shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:00")

    [problem] = verify_sources().problems

    assert problem.kind == "rate_mismatch"
    assert "runs at 24 fps, the project at 25 fps" in problem.detail


def test_a_shot_without_source_range(project, rushes):
    rush(rushes, "A001C003.mov")
    make_shot(project, source=make_source(project, "A001C003.mov"))

    assert [p.kind for p in verify_sources().problems] == ["no_range"]


def test_running_again_changes_nothing_and_probes_nothing(project, rushes, probes):
    rush(rushes, "A001C003.mov")
    shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:00")
    past = shot_on(project, "A001C003.mov", "01:00:11:00", "01:00:12:00", status=Status.AE_IN_PROGRESS)
    first = verify_sources()

    again = verify_sources()

    assert (first.verified, first.already) == (1, 1)
    assert (again.verified, again.already, again.problems, again.probed) == (0, 2, [], 0)
    assert len(probes) == 1
    assert ShotEvent.objects.count() == 1
    past.refresh_from_db()
    assert past.status == Status.AE_IN_PROGRESS  # past pending: "already", never moved


def test_a_pending_shot_imported_later_is_checked_from_the_recorded_clip(project, rushes, probes):
    rush(rushes, "A001C003.mov")
    shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:00")
    verify_sources()
    later = shot_on(project, "A001C003.mov", "01:00:11:00", "01:00:12:00")

    assert verify_sources().verified == 1
    assert len(probes) == 1
    later.refresh_from_db()
    assert later.status == Status.SOURCES_VERIFIED


# --- a clip that changes or goes after shots were verified against it -----------------------------------


def _rewrite(path: Path, **clip) -> None:
    before = path.stat().st_mtime_ns
    rush(path.parent, path.name, **clip)
    os.utime(path, ns=(before + 5 * 10**9, before + 5 * 10**9))  # a coarse clock must not hide the change


def test_a_changed_source_is_reported_and_signalled_once_and_the_shot_keeps_its_status(project, rushes, changes):
    clip_path = rush(rushes, "day1/A001C003.mov")
    shot = shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:00")
    verify_sources()
    _rewrite(clip_path, frames=40)

    [problem] = verify_sources().problems
    again = verify_sources()

    assert problem.kind == "changed"
    assert problem.detail.startswith("day1/A001C003.mov changed since it was verified")
    assert "size" in problem.detail and "Its shots keep their status" in problem.detail
    assert [p.kind for p in again.problems] == ["changed"]  # reported on every check until resolved
    shot.refresh_from_db()
    assert shot.status == Status.SOURCES_VERIFIED
    record = SourceClip.objects.get()
    assert (record.problem, record.frames) == ("changed", 50)  # what was verified is kept
    assert [(c["problem"], c["path"], c["source_file"]) for c in changes] == [
        ("changed", "day1/A001C003.mov", "A001C003.mov")
    ]


def test_a_gone_source_is_reported_and_clears_when_it_is_back(project, rushes, changes):
    clip_path = rush(rushes, "day1/A001C003.mov")
    shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:00")
    verify_sources()
    kept = clip_path.parent.parent / "kept.mov"
    shutil.move(clip_path, kept)

    [problem] = verify_sources().problems
    assert problem.kind == "gone" and "is gone from" in problem.detail
    assert SourceClip.objects.get().problem == "gone"

    (rushes / "day2").mkdir()
    shutil.move(kept, rushes / "day2" / "A001C003.mov")  # back, in another folder
    report = verify_sources()

    assert (report.problems, report.already) == ([], 1)  # the same file (size, mtime), moved: not a change
    record = SourceClip.objects.get()
    assert (record.problem, record.path) == ("", "day2/A001C003.mov")
    assert [c["problem"] for c in changes] == ["gone"]


def test_a_pending_shot_of_a_changed_source_waits(project, rushes):
    clip_path = rush(rushes, "A001C003.mov")
    shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:00")
    verify_sources()
    waiting = shot_on(project, "A001C003.mov", "01:00:11:00", "01:00:12:00")
    _rewrite(clip_path, frames=60)

    report = verify_sources()

    assert kinds(report)[str(waiting)] == "changed"
    waiting.refresh_from_db()
    assert waiting.status == Status.PENDING


def test_accept_changed_takes_the_new_clip_only_if_its_shots_still_fit(project, rushes):
    clip_path = rush(rushes, "A001C003.mov")
    shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:10")
    verify_sources()
    _rewrite(clip_path, frames=30)  # ends at 01:00:11:05: the verified shot no longer fits

    [refused] = verify_sources(accept_changed=True).problems
    assert refused.kind == "changed"
    assert "the new file does not fit its shots: out by 5 frames at the out" in refused.detail

    _rewrite(clip_path, frames=75)
    accepted = verify_sources(accept_changed=True)

    assert (accepted.problems, accepted.already, accepted.probed) == ([], 1, 1)
    record = SourceClip.objects.get()
    assert (record.problem, record.frames) == ("", 75)
    assert verify_sources().problems == []


# --- the command -------------------------------------------------------------------------------------


def test_the_command_prints_the_json_report(project, rushes):
    rush(rushes, "A001C003.mov")
    shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:00")
    shot_on(project, "A001C003.mov", "01:00:11:00", "01:00:12:01")
    shot_on(project, "Z999.mov", "01:00:10:00", "01:00:11:00", status=Status.AE_READY)
    out = StringIO()

    with pytest.raises(CommandError, match=r"1 problem\(s\), listed above"):  # a script sees it: exit 1
        call_command("verify_sources", "--json", stdout=out)

    report = json.loads(out.getvalue())
    assert report == {
        "verified": 1,
        "already": 1,
        "problems": [
            {
                "shot": "UNDLM_00002",
                "source_file": "A001C003.mov",
                "kind": "out_of_range",
                "detail": report["problems"][0]["detail"],
            }
        ],
    }
    assert report["problems"][0]["detail"].startswith("out by 1 frame at the out")


def test_the_command_reads_root_and_project_and_prints_a_summary(project, rushes, tmp_path):
    other = make_project(code="OTHER", fps=25)
    make_scene(other, "S", number=1)
    elsewhere = tmp_path / "elsewhere"
    rush(elsewhere, "A001C003.mov")
    shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:00")
    shot_on(other, "A001C003.mov", "01:00:10:00", "01:00:11:00")
    out = StringIO()

    call_command("verify_sources", "--root", str(elsewhere), "--project", "UNDLM", stdout=out)

    assert "1 verified, 0 already, 0 problem(s); 1 source file(s), 1 probed" in out.getvalue()
    assert set(Shot.objects.filter(project=other).values_list("status", flat=True)) == {Status.PENDING}
    with pytest.raises(CommandError, match=r"rushes root .*missing"):
        call_command("verify_sources", "--root", str(tmp_path / "missing"))
    with pytest.raises(CommandError, match="no project 'NOPE'"):
        call_command("verify_sources", "--project", "NOPE")


# --- in the watcher ----------------------------------------------------------------------------------


def test_the_watcher_checks_a_rush_that_arrives_later_once_it_holds_still(project, rushes, probes):
    shot = shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:00")
    clock = FakeClock()
    watcher = RushesWatcher(RushesConfig(root=rushes, settle_seconds=60, full_scan_seconds=300), clock=clock)
    assert watcher.tick() is None  # nothing there yet, nothing to check

    clip_path = rush(rushes, "day3/A/A001C003.mov")
    clock.advance(10)
    assert watcher.tick() is None  # arrived: still being copied, as far as anyone knows
    clock.advance(30)
    assert watcher.tick() is None
    assert probes == []

    clock.advance(30)
    report = watcher.tick()  # held still for the settle window

    assert (report.verified, report.problems, probes) == (1, [], [clip_path])
    shot.refresh_from_db()
    assert shot.status == Status.SOURCES_VERIFIED
    assert ShotEvent.objects.get(shot=shot, actor="sources").details["clip"] == "day3/A/A001C003.mov"

    clock.advance(10)
    assert watcher.tick() is None  # nothing moved: no check
    clock.advance(300)
    periodic = watcher.tick()  # the full scan's check, for shots imported since: it reads no file again
    assert (periodic.already, periodic.problems, periodic.probed) == (1, [], 0)

    clip_path.unlink()
    clock.advance(10)
    gone = watcher.tick()  # a file gone is checked at once
    assert [p.kind for p in gone.problems] == ["gone"]
    shot.refresh_from_db()
    assert shot.status == Status.SOURCES_VERIFIED


def test_the_watcher_reads_a_failed_rush_again_only_once_it_changes(project, rushes, probes):
    shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:00")
    clip_path = rush(rushes, "A001C003.mov", timecode=None)
    clock = FakeClock()
    watcher = RushesWatcher(RushesConfig(root=rushes, settle_seconds=0, full_scan_seconds=60), clock=clock)
    assert [p.kind for p in watcher.tick().problems] == ["no_timecode"]
    clock.advance(60)
    assert [p.kind for p in watcher.tick().problems] == ["no_timecode"]  # the full scan's check: remembered
    assert probes == [clip_path]

    _rewrite(clip_path)  # the DIT re-delivers it with its timecode
    clock.advance(10)
    assert watcher.tick().verified == 1
    assert len(probes) == 2


def test_a_check_that_failed_is_run_at_the_next_tick(project, rushes, monkeypatch):
    shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:00")
    rush(rushes, "A001C003.mov")
    clock = FakeClock()
    watcher = RushesWatcher(RushesConfig(root=rushes, settle_seconds=0, full_scan_seconds=300), clock=clock)

    def database_gone(**kwargs):
        raise OperationalError("database is locked")

    with monkeypatch.context() as patched:
        patched.setattr(sources, "verify_sources", database_gone)
        with pytest.raises(OperationalError):  # run_forever logs it and goes on
            watcher.tick()
    clock.advance(10)

    assert watcher.tick().verified == 1  # nothing new was seen: the check was still owed


def test_the_watcher_survives_a_missing_rushes_root(db, tmp_path):
    watcher = RushesWatcher(RushesConfig(root=tmp_path / "nowhere", settle_seconds=0, full_scan_seconds=60))
    assert watcher.tick() is None
    assert watcher.available is False


def test_the_render_watcher_leaves_the_rushes_alone(project, tmp_path, settings):
    mount = tmp_path / "mount"
    settings.LUCIDLINK_MOUNT_PATH = mount
    settings.POSTFLOW_RUSHES_PATH = mount / "rushes"
    settings.POSTFLOW_SETTLE_SECONDS = 0
    rush(mount / "rushes", "day1/A001C003.mov")
    make_clip(mount / "renders" / "UNDLM_00099_v001.mov")

    config = WatchConfig.from_settings()
    Watcher(config).tick(full=True)

    assert config.excluded == ("rushes",)
    assert list(Render.objects.values_list("path", flat=True)) == ["renders/UNDLM_00099_v001.mov"]
    assert WatchConfig.from_settings(mount / "renders").excluded == ()  # rushes outside that root


def test_manage_py_watch_verifies_a_rush_that_arrives(tmp_path):
    """The real process: the rushes root under the mount (the default), a rush moved in while it runs."""
    mount = tmp_path / "mount"
    (mount / "rushes").mkdir(parents=True)
    database = tmp_path / "db.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "POSTFLOW_VAR_DIR": str(tmp_path),
        "LUCIDLINK_MOUNT_PATH": str(mount),
        "POSTFLOW_SCAN_INTERVAL_SECONDS": "0.2",
        "POSTFLOW_SETTLE_SECONDS": "0",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    create = (
        "from tests.factories import make_project, make_shot, make_source;"
        "p = make_project(code='UNDLM', fps=25);"
        "make_shot(p, source=make_source(p, 'A001C003.mov'), source_in=90250, source_out=90275)"  # 01:00:10:00 + 1 s
    )
    subprocess.run([*manage, "shell", "-c", create], env=env, check=True, cwd=ROOT)
    process = subprocess.Popen([*manage, "watch"], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert "watching" in process.stdout.readline()
        assert f"under {mount / 'rushes'}" in process.stdout.readline()
        written = rush(tmp_path, "A001C003.mov")
        (mount / "rushes" / "day1").mkdir()
        written.rename(mount / "rushes" / "day1" / "A001C003.mov")  # arrives whole, as a copy renamed into place
        deadline = time.monotonic() + 30
        while _status(database) != "sources_verified" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _status(database) == "sources_verified"
        with sqlite3.connect(database) as db:
            assert db.execute("SELECT count(*) FROM ingest_render").fetchone() == (0,)  # a rush is no render
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()


def _status(database: Path) -> str:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT status FROM shots_shot").fetchone()[0]


def test_the_admin_lists_the_verified_clips_read_only(project, rushes, admin_client):
    rush(rushes, "day1/A001C003.mov")
    shot_on(project, "A001C003.mov", "01:00:10:00", "01:00:11:00")
    verify_sources()
    clip = SourceClip.objects.get()

    page = admin_client.get(reverse("admin:ingest_sourceclip_changelist"))

    assert page.status_code == 200 and "day1/A001C003.mov" in page.content.decode()
    assert admin_client.get(reverse("admin:ingest_sourceclip_add")).status_code == 403
    assert admin_client.post(reverse("admin:ingest_sourceclip_delete", args=[clip.pk])).status_code == 403
