"""The first three stages from evidence alone (issue #13), end to end on real files: import the shot list,
lay out the shot tree, verify the rushes, then an After Effects project, an AE render, key frames and an
EbSynth output sequence on the mount walk the shot to ebsynth_completed. Nobody types a status, and no
move is refused."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from PIL import Image

from ingest.models import Render
from ingest.services import WatchConfig
from ingest.watcher import Watcher
from shots.models import Shot, ShotEvent
from shots.workflow import Status
from tests.ingest.media import make_clip
from tests.ingest.test_watcher import SETTLE, FakeClock

pytestmark = pytest.mark.django_db

SHOT_LIST = (
    "SHOT_NUMBER,NOMENCLATURE,SCENE,SOURCE_FILE,SOURCE_IN,SOURCE_OUT,TIMELINE_IN,TIMELINE_OUT,DURATION,NOTES\n"
    "042,UNDLM_00042,REVEIL HOPITAL - JOUR,A001C003_UNDLM.mov,01:00:00:10,01:00:02:10,"
    "00:00:00:00,00:00:02:00,00:00:02:00,\n"
)
TREE = "UNDLM/SEQ01/UNDLM_00042"


@pytest.fixture
def mount(tmp_path, settings) -> Path:
    root = tmp_path / "mount"
    root.mkdir()
    settings.LUCIDLINK_MOUNT_PATH = root
    settings.POSTFLOW_RUSHES_PATH = root / "rushes"
    return root


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _frames(folder: Path, name: str, frames) -> None:
    for frame in frames:
        Image.new("RGB", (8, 8), (frame % 256, 40, 90)).save(folder / f"{name}.{frame:04d}.png")


def test_import_tree_rushes_ae_and_ebsynth_end_at_ebsynth_completed(
    mount, tmp_path, enqueued, django_capture_on_commit_callbacks
):
    sheet = tmp_path / "shots.csv"
    sheet.write_text(SHOT_LIST)
    _run("import_shots", str(sheet), "--project", "UNDLM")
    shot = Shot.objects.get(nomenclature="UNDLM_00042")
    assert shot.status == Status.PENDING

    _run("shot_tree", "--create")
    folders = {"ae", "ebsynth/keys", "ebsynth/out", "renders"}
    assert all((mount / TREE / folder).is_dir() for folder in folders)

    make_clip(mount / "rushes" / "DAY01" / "A001C003_UNDLM.mov", frames=100, timecode="01:00:00:00")
    report = json.loads(_run("verify_sources", "--json"))
    assert (report["verified"], report["problems"]) == (1, [])

    clock = FakeClock()
    watcher = Watcher(WatchConfig.from_settings(mount), clock=clock, full_scan_seconds=300)

    def tick(advance: float = 1.0) -> None:
        clock.advance(advance)
        with django_capture_on_commit_callbacks(execute=True):
            watcher.tick()

    (mount / TREE / "ae" / "UNDLM_00042_comp.aep").write_bytes(b"After Effects project")
    tick()
    make_clip(mount / TREE / "ae" / "UNDLM_00042_v001.mov", frames=50)
    tick()
    tick(SETTLE)
    _frames(mount / TREE / "ebsynth" / "keys", "UNDLM_00042_key", [1001, 1025, 1049])
    tick()
    _frames(mount / TREE / "ebsynth" / "out", "UNDLM_00042_v002", range(1001, 1026))  # half of it so far
    tick()
    shot.refresh_from_db()
    assert shot.status == Status.EBSYNTH_IN_PROGRESS
    _frames(mount / TREE / "ebsynth" / "out", "UNDLM_00042_v002", range(1026, 1051))
    tick()
    tick(SETTLE)

    shot.refresh_from_db()
    assert shot.status == Status.EBSYNTH_COMPLETED
    moves = [(e.actor, e.to_status) for e in shot.events.filter(kind=ShotEvent.Kind.TRANSITION).order_by("id")]
    assert moves == [
        ("sources", "sources_verified"),
        ("watcher", "ae_ready"),
        ("watcher", "ae_in_progress"),
        ("watcher", "ae_completed"),
        ("watcher", "ebsynth_ready"),
        ("watcher", "ebsynth_in_progress"),
        ("watcher", "ebsynth_completed"),
    ]
    assert not shot.events.filter(kind=ShotEvent.Kind.REFUSED).exists()
    # The AE render and the EbSynth sequence are versions of the shot in the ledger; the keys are not.
    assert sorted((r.version, r.frame_count) for r in Render.objects.all()) == [
        (1, 0),
        (2, 50),
    ]  # a movie has no frame range
    assert enqueued == []  # neither is queued for review: the stage rules say what they complete
