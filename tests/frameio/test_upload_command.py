"""`manage.py frameio_upload` runs the watcher's verification before it sends anything (issue #15, point 2):
a failure exits 1 with the reason the watcher stores for the same file, and takes no version number;
`--no-verify` skips it and says so on the render."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from frameio.models import Upload
from ingest import services
from ingest.models import Render
from tests.factories import make_render_of_file, make_shot
from tests.ingest.media import make_clip

pytestmark = pytest.mark.django_db(transaction=True)


def watcher_reason(path: Path) -> str:
    """What the watcher stores when it verifies `path` (a stable render under its parent folder)."""
    row = make_render_of_file(path, state=Render.State.STABLE)
    config = services.WatchConfig.from_settings(root=path.parent)
    verified = services.render_verify(render_id=row.pk, config=config, now=timezone.now())
    assert verified.state == Render.State.QUARANTINED
    return verified.reason


def refused(path: Path, shot: str, *args: str) -> str:
    with pytest.raises(CommandError) as failure:
        call_command("frameio_upload", str(path), "--shot", shot, *args, stdout=StringIO())
    assert failure.value.returncode == 1
    return str(failure.value)


def test_a_text_file_is_refused_with_the_watchers_reason(sandbox, shot, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("call the colourist\n")
    message = refused(notes, shot.nomenclature)
    assert not Render.objects.exists() and not Upload.objects.exists()  # no version taken
    assert sandbox.state.files == {}
    # The watcher stops at the name of notes.txt (no template); under a render's name it is the probe that
    # refuses it, with the reason the command gave.
    named = tmp_path / "mount" / "UNDLM_00042_v001.mov"
    named.parent.mkdir()
    named.write_bytes(notes.read_bytes())
    reason = watcher_reason(named)
    assert reason.startswith("unreadable container") and reason in message
    assert reason in refused(named, shot.nomenclature)


def test_a_clip_the_watcher_quarantined_for_its_length_is_refused_again(sandbox, shot, tmp_path):
    clip = make_clip(tmp_path / "mount" / "UNDLM_00042_v001.mov", frames=80)  # the shot is 50 frames
    reason = watcher_reason(clip)
    assert "80 frames, 30 frames longer than the shot" in reason
    assert reason in refused(clip, shot.nomenclature)
    row = Render.objects.get()
    assert (row.state, row.version, row.reason) == (Render.State.QUARANTINED, None, reason)
    assert not Upload.objects.exists() and sandbox.state.files == {}


def test_a_wrong_rate_a_name_for_another_shot_or_an_unknown_shot_in_the_name_is_refused(sandbox, shot, tmp_path):
    fast = make_clip(tmp_path / "a" / "UNDLM_00042_v001.mov", frames=50, fps=30)
    assert watcher_reason(fast) in refused(fast, shot.nomenclature)
    other = make_shot(shot.project, scene=shot.scene, shot_number="043", nomenclature="UNDLM_00043", duration=50)
    elsewhere = make_clip(tmp_path / "b" / "UNDLM_00043_v001.mov", frames=50)
    assert "points to UNDLM_00043, not UNDLM_00042" in refused(elsewhere, shot.nomenclature)
    unknown = make_clip(tmp_path / "c" / "UNDLM_00099_v001.mov", frames=50)
    assert watcher_reason(unknown) in refused(unknown, other.nomenclature)
    assert not Upload.objects.exists()


def test_a_verified_clip_goes_up_with_its_media_facts(sandbox, shot, tmp_path):
    clip = make_clip(tmp_path / "UNDLM_00042_v003.mov", frames=51)  # inside the tolerance
    out = StringIO()
    call_command("frameio_upload", str(clip), "--shot", shot.nomenclature, stdout=out)
    assert "uploaded:" in out.getvalue()
    render = Render.objects.get()
    assert (render.version, render.media["frames"], render.media["frames_vs_shot"]) == (3, 51, 1)
    assert render.reason == "uploaded with manage.py frameio_upload"
    assert render.upload.state in Upload.IN_FRAMEIO


def test_no_verify_sends_it_anyway_and_says_so_on_the_render(sandbox, shot, tmp_path, admin_client):
    notes = tmp_path / "notes.txt"
    notes.write_text("call the colourist\n")
    err = StringIO()
    call_command(
        "frameio_upload", str(notes), "--shot", shot.nomenclature, "--no-verify", stdout=StringIO(), stderr=err
    )
    render = Render.objects.get()
    assert render.reason == services.NOT_VERIFIED and render.version == 1
    assert render.upload.state in Upload.IN_FRAMEIO
    assert "--no-verify" in err.getvalue()
    page = admin_client.get(f"/admin/frameio/upload/{render.upload.pk}/change/").content.decode()
    assert services.NOT_VERIFIED in page  # the upload's admin page says it was not verified
