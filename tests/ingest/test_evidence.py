"""Stage evidence from the shot tree (#13, point 3): what appears in a shot's folders moves it, at least that
far, step by step, with no refusal; key frames and After Effects projects are never renders."""

from pathlib import Path

import pytest
from django.conf import settings

from ingest.models import Render
from ingest.rules import parse_rules
from ingest.services import WatchConfig
from ingest.watcher import Watcher
from shots.models import ShotEvent
from shots.workflow import Status
from tests.factories import make_watched_shot
from tests.ingest.media import make_clip
from tests.ingest.test_watcher import SETTLE, FakeClock

TREE = "UNDLM/SEQ01/UNDLM_00042"


@pytest.fixture
def shot(db):
    return make_watched_shot()


@pytest.fixture
def root(tmp_path) -> Path:
    path = tmp_path / "mount"
    for folder in ("ae", "ebsynth/keys", "ebsynth/out", "renders"):
        (path / TREE / folder).mkdir(parents=True)
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def watch(root, clock, enqueued, django_capture_on_commit_callbacks):
    """One tick of a watcher with the default stage and evidence rules (the settings' own)."""
    config = WatchConfig(
        root=root,
        settle_seconds=SETTLE,
        templates=list(settings.POSTFLOW_NAMING_TEMPLATES),
        extensions=frozenset(settings.POSTFLOW_RENDER_EXTENSIONS),
        tolerance_frames=2,
        rules=parse_rules(settings.POSTFLOW_STAGE_RULES),
        evidence=parse_rules(settings.POSTFLOW_EVIDENCE_RULES),
    )
    watcher = Watcher(config, clock=clock, full_scan_seconds=300)

    def tick(advance: float = 0.0):
        clock.advance(advance)
        with django_capture_on_commit_callbacks(execute=True):
            return watcher.tick()

    return tick


def statuses(shot) -> list[str]:
    return [e.to_status for e in shot.events.order_by("id")]


def test_an_after_effects_project_is_evidence_of_ae_work(shot, root, watch):
    (root / TREE / "ae" / "UNDLM_00042_comp.aep").write_bytes(b"aep")
    watch()
    shot.refresh_from_db()
    assert shot.status == Status.AE_IN_PROGRESS
    assert statuses(shot) == ["sources_verified", "ae_ready", "ae_in_progress"]
    assert {e.details["evidence"] for e in shot.events.all()} == {f"{TREE}/ae/UNDLM_00042_comp.aep"}
    assert not Render.objects.exists()  # a project file is not a render


def test_key_frames_are_evidence_and_never_renders(shot, root, watch):
    shot.status = Status.AE_COMPLETED
    shot.save()
    for frame in (1, 20, 40):
        (root / TREE / "ebsynth" / "keys" / f"key.{frame:04d}.png").write_bytes(b"png")
    watch()
    shot.refresh_from_db()
    assert shot.status == Status.EBSYNTH_READY and statuses(shot) == ["ebsynth_ready"]
    assert not Render.objects.exists()


def test_evidence_of_an_earlier_stage_is_no_news(shot, root, watch):
    """An .aep saved again while the shot is in review changes nothing and records no refusal."""
    shot.status = Status.REVIEW_UPLOADED
    shot.save()
    aep = root / TREE / "ae" / "comp.aep"
    aep.write_bytes(b"v1")
    watch()
    aep.write_bytes(b"v2, saved again")
    watch(advance=1)
    shot.refresh_from_db()
    assert shot.status == Status.REVIEW_UPLOADED and not shot.events.exists()


def test_a_render_being_written_in_ae_is_ae_work_in_progress_then_its_completion(shot, root, watch):
    shot.status = Status.SOURCES_VERIFIED
    shot.save()
    make_clip(root / TREE / "ae" / "UNDLM_00042_v001.mov", frames=50)
    watch()
    shot.refresh_from_db()
    assert shot.status == Status.AE_IN_PROGRESS  # seen, not yet settled
    watch(advance=SETTLE)
    shot.refresh_from_db()
    assert shot.status == Status.AE_COMPLETED
    assert statuses(shot) == ["ae_ready", "ae_in_progress", "ae_completed"]


def test_a_file_that_names_no_shot_is_evidence_of_nothing(shot, root, watch):
    (root / "UNDLM/SEQ01/UNDLM_09999/ae").mkdir(parents=True)
    (root / "UNDLM/SEQ01/UNDLM_09999/ae/comp.aep").write_bytes(b"aep")
    watch()
    assert not ShotEvent.objects.exists()


def test_from_import_to_ebsynth_completed_with_no_refusal(shot, root, watch):
    """The tree's flow, by evidence alone: an .aep, an AE render, key frames, EbSynth output being
    written then complete. Every step is recorded; nothing is refused."""
    ae = root / TREE / "ae"
    (ae / "comp.aep").write_bytes(b"aep")
    watch()
    make_clip(ae / "UNDLM_00042_v001.mov", frames=50)
    watch(advance=1)
    watch(advance=SETTLE)
    (root / TREE / "ebsynth" / "keys" / "key.0001.png").write_bytes(b"png")
    watch(advance=1)
    make_clip(root / TREE / "ebsynth" / "out" / "UNDLM_00042_v002.mov", frames=50)
    watch(advance=1)
    shot.refresh_from_db()
    assert shot.status == Status.EBSYNTH_IN_PROGRESS
    watch(advance=SETTLE)
    shot.refresh_from_db()
    assert shot.status == Status.EBSYNTH_COMPLETED
    assert statuses(shot) == [
        "sources_verified",
        "ae_ready",
        "ae_in_progress",
        "ae_completed",
        "ebsynth_ready",
        "ebsynth_in_progress",
        "ebsynth_completed",
    ]
    assert not shot.events.filter(kind=ShotEvent.Kind.REFUSED).exists()


def _png_frames(folder: Path, name: str, frames) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for frame in frames:
        Image.new("RGB", (8, 8), (frame % 256, 40, 90)).save(folder / f"{name}.{frame:04d}.png")


def test_numbered_key_frames_are_never_a_sequence_render(shot, root, watch):
    shot.status = Status.AE_COMPLETED
    shot.save()
    _png_frames(root / TREE / "ebsynth" / "keys", "UNDLM_00042_key", [1001, 1020, 1040])
    watch()
    watch(advance=SETTLE)
    shot.refresh_from_db()
    assert shot.status == Status.EBSYNTH_READY
    assert not Render.objects.exists()  # sparse keys are not a version of the shot


def test_an_ebsynth_output_sequence_is_work_in_progress_while_it_grows_then_completes(shot, root, watch):
    shot.status = Status.EBSYNTH_READY
    shot.save()
    out = root / TREE / "ebsynth" / "out"
    _png_frames(out, "UNDLM_00042_v003", range(1001, 1021))  # 20 of the shot's 50 frames so far
    watch()
    shot.refresh_from_db()
    assert shot.status == Status.EBSYNTH_IN_PROGRESS
    _png_frames(out, "UNDLM_00042_v003", range(1021, 1051))
    watch(advance=1)
    watch(advance=SETTLE)
    shot.refresh_from_db()
    sequence = Render.objects.get()
    assert (sequence.state, sequence.frame_count) == (Render.State.DONE, 50), sequence.reason
    assert shot.status == Status.EBSYNTH_COMPLETED
    assert statuses(shot) == ["ebsynth_in_progress", "ebsynth_completed"]
    assert not shot.events.filter(kind=ShotEvent.Kind.REFUSED).exists()


def test_a_projects_own_evidence_rules_replace_the_settings_for_its_shots(shot, root, watch):
    """A production working in Nuke: its rules, set in the admin, are read at the next full scan."""
    project = shot.project
    project.evidence_rules = ["*/ae/*.nk=ae_in_progress"]
    project.full_clean()
    project.save()
    (root / TREE / "ae" / "comp.aep").write_bytes(b"not this production's tool")
    (root / TREE / "ae" / "comp.nk").write_bytes(b"nuke script")
    watch()
    shot.refresh_from_db()
    assert shot.status == Status.AE_IN_PROGRESS
    assert {e.details["evidence"] for e in shot.events.all()} == {f"{TREE}/ae/comp.nk"}
    assert not Render.objects.exists()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("*/ae/*.aep=ae_in_progress", "a list"),
        (["*/ae/*.aep"], "is not glob=action"),
        (["*/ae/*.aep=review"], r"action must be a status \(pending, "),
        ([42], "is not glob=action text"),
    ],
)
def test_a_projects_evidence_rules_are_validated_in_the_admin(shot, rules, message):
    from django.core.exceptions import ValidationError

    project = shot.project
    project.evidence_rules = rules
    with pytest.raises(ValidationError, match=message):
        project.full_clean()


def test_a_restarted_watcher_does_not_undo_a_revision_with_the_old_work(shot, root, watch, clock):
    """Every file is new to a restarted watcher: the .aep and key frames written before the reviewer asked
    for changes are the old work, not the rework, and leave the revision where it is."""
    import os

    from shots.services import shot_force_status

    (root / TREE / "ae" / "comp.aep").write_bytes(b"the work that was reviewed")
    (root / TREE / "ebsynth" / "keys" / "key.0001.png").write_bytes(b"png")
    past = 1_700_000_000  # 2023: long before the revision below
    for path in (root / TREE / "ae" / "comp.aep", root / TREE / "ebsynth" / "keys" / "key.0001.png"):
        os.utime(path, (past, past))
    shot_force_status(shot_id=shot.pk, to_status=Status.REVISION_REQUESTED, actor="reviewer", reason="too dark")
    watch()
    shot.refresh_from_db()
    assert shot.status == Status.REVISION_REQUESTED
    # The rework: the project saved again after the revision moves the shot back into AE.
    (root / TREE / "ae" / "comp.aep").write_bytes(b"the rework")
    watch(advance=1)
    shot.refresh_from_db()
    assert shot.status == Status.AE_IN_PROGRESS
