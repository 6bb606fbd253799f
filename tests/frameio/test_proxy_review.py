"""An image sequence end to end, on real files and the sandbox over real HTTP: the watcher sees it, the
proxy job builds its review proxy, the upload sends the proxy (named after the shot and version), and a
reviewer's comment on the proxy's frame 37 comes back as a note at the render's frame 37, in the cut where
the proxy's burn-in says it is."""

from datetime import timedelta
from pathlib import Path

import pytest
import xxhash
from django.utils import timezone
from PIL import ImageStat

from frameio import review, uploads
from frameio.models import ReviewNote, Upload
from ingest import proxies
from ingest.models import Render
from ingest.proxy_media import BurnIn
from shots.workflow import Status
from tests.factories import make_project, make_scene, make_shot
from tests.frameio import test_review
from tests.frameio.test_review import comment
from tests.frameio.uploading import MB, queued_render
from tests.ingest.media import decoded_frames, make_sequence
from tests.ingest.test_proxies import make_watcher, nearest_frame
from tests.ingest.test_watcher import SETTLE, FakeClock, scan_across_the_settle_window

pytestmark = pytest.mark.django_db(transaction=True)
sandbox, api = test_review.sandbox, test_review.api  # a sandbox with a Server-to-Server connection; the reviewer

FIRST, FRAMES = 1001, 75
KEY = "UNDLM_00042/renders/UNDLM_00042_v001.####.png"


@pytest.fixture
def shot(db):
    project = make_project(code="UNDLM", name="UNDLM Documentary", fps=25)
    scene = make_scene(project, "REVEIL HOPITAL - JOUR", number=1)
    return make_shot(
        project,
        scene=scene,
        nomenclature="UNDLM_00042",
        duration=FRAMES,
        timeline_in=900_000,  # 10:00:00:00
        timeline_out=900_000 + FRAMES,
        status=Status.AE_COMPLETED,
    )


def test_a_sequence_goes_to_frameio_as_its_proxy_and_comments_come_back_at_its_frames(
    sandbox, api, shot, tmp_path, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.POSTFLOW_PROXY_WIDTH, settings.POSTFLOW_PROXY_PATH = 320, ""
    jobs: list[tuple] = []
    monkeypatch.setattr("ingest.jobs.async_task", lambda *args: jobs.append(args))
    monkeypatch.setattr("frameio.jobs.async_task", lambda *args: jobs.append(args))
    root = tmp_path / "mount"
    make_sequence(root / "UNDLM_00042/renders", "UNDLM_00042_v001", range(FIRST, FIRST + FRAMES))
    clock = FakeClock()
    scan_across_the_settle_window(make_watcher(root, clock, django_capture_on_commit_callbacks), clock)
    render = Render.objects.get(path=KEY)
    assert jobs == [("ingest.tasks.build_proxy", render.pk)]

    # The worker runs the proxy job, then the upload job it led to.
    with django_capture_on_commit_callbacks(execute=True):
        proxy = proxies.proxy_build(render_id=render.pk)
    assert proxy.state == "ready" and jobs[-1] == ("frameio.tasks.upload_render", render.pk)
    upload = uploads.upload_render(render_id=render.pk)
    assert upload.state == Upload.State.UPLOADED, upload.last_error
    assert Render.objects.get(pk=render.pk).state == Render.State.UPLOADED

    # The Frame.io file is the proxy: its name, its size, its very bytes.
    remote = sandbox.state.files[upload.frameio_file_id]
    assert (remote["name"], remote["file_size"]) == ("UNDLM_00042_v001.mp4", proxy.size)
    assert remote["media_type"] == "video/mp4"
    parts = range(1, len(remote["_plan"]) + 1)
    received = b"".join(Path(remote["_parts"][str(i)]["path"]).read_bytes() for i in parts)
    assert xxhash.xxh3_128(received).hexdigest() == proxy.checksum == upload.render.proxy.checksum
    assert upload.checksum == render.checksum  # the upload is of the render's verified content
    facts, images = decoded_frames(Path(proxy.path))
    assert (facts["frames"], facts["rate"]) == (FRAMES, 25)  # the render's frame count and rate

    # A reviewer comments on frame 37 of what Frame.io shows: the note is at the render's frame 37.
    created = comment(api, upload.frameio_file_id, "la lumière saute ici", timestamp=37)
    review.comment_sync(comment_id=created["id"])
    note = ReviewNote.objects.get()
    assert (note.render_id, note.version, note.frame, note.offset_frames) == (render.pk, 1, 37, 36)
    assert (note.render_timecode, note.record_timecode) == ("00:00:01:11", "10:00:01:11")
    # What the proxy shows at that frame is the render's frame 37 (1001 + 36), and its burn-in reads the
    # same record timecode as the note.
    colour = ImageStat.Stat(images[36].crop((0, 0, 320, 100))).mean
    assert nearest_frame(colour) == FIRST + 36
    burn_in = BurnIn("UNDLM_00042", 1, "SEQ01 REVEIL HOPITAL - JOUR", 900_000, 25.0, FRAMES, FIRST)
    assert burn_in.lines(note.frame - 1)[1] == f"REC {note.record_timecode}   frame 37/75   #1037"


def test_a_proxy_built_again_mid_upload_is_sent_whole_as_a_new_file(
    sandbox, shot, tmp_path, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.POSTFLOW_PROXY_WIDTH, settings.POSTFLOW_PROXY_PATH, settings.FRAMEIO_PART_RETRIES = 320, "", 1
    monkeypatch.setattr("ingest.jobs.async_task", lambda *args: None)  # the jobs run here, by hand
    monkeypatch.setattr("frameio.jobs.async_task", lambda *args: None)
    root = tmp_path / "mount"
    make_sequence(root / "UNDLM_00042/renders", "UNDLM_00042_v001", range(FIRST, FIRST + FRAMES))
    clock = FakeClock()
    watcher = make_watcher(root, clock, django_capture_on_commit_callbacks)
    scan_across_the_settle_window(watcher, clock)
    render = Render.objects.get(path=KEY)
    first = proxies.proxy_build(render_id=render.pk)
    # The upload plans its parts for this proxy, and its PUTs fail: the Frame.io file waits, half sent.
    broken = sandbox.faults.add("PUT /s3/*", status=500)
    upload = uploads.upload_render(render_id=render.pk)
    assert upload.state == Upload.State.UPLOADING and upload.file_checksum == first.checksum
    planned_for = upload.frameio_file_id
    sandbox.faults.remove(broken)

    # Someone deletes the proxy: the next attempt cannot read it, the watcher takes the render back and
    # verifies it again (the same content), and the proxy is built again, now 240 wide: other bytes.
    Path(first.path).unlink()
    uploads.upload_run(upload_id=upload.pk)
    assert Render.objects.get(pk=render.pk).state == Render.State.DISCOVERED
    clock.now = timezone.now() + timedelta(seconds=SETTLE)  # the watcher's clock, past the settle window
    watcher.tick_committed()
    assert Render.objects.get(pk=render.pk).state == Render.State.VERIFIED
    settings.POSTFLOW_PROXY_WIDTH = 240
    second = proxies.proxy_build(render_id=render.pk)
    assert second.state == "ready" and second.checksum != first.checksum

    upload = uploads.upload_render(render_id=render.pk)
    assert upload.state == Upload.State.UPLOADED, upload.last_error
    assert upload.frameio_file_id != planned_for and planned_for not in sandbox.state.files  # replaced
    remote = sandbox.state.files[upload.frameio_file_id]
    parts = range(1, len(remote["_plan"]) + 1)
    received = b"".join(Path(remote["_parts"][str(i)]["path"]).read_bytes() for i in parts)
    assert xxhash.xxh3_128(received).hexdigest() == second.checksum  # the new proxy whole, nothing of the old


def test_a_proxy_stacks_with_the_shots_other_versions(
    sandbox, shot, tmp_path, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.POSTFLOW_PROXY_WIDTH, settings.POSTFLOW_PROXY_PATH = 320, ""
    monkeypatch.setattr("ingest.jobs.async_task", lambda *args: None)  # the jobs run here, by hand
    monkeypatch.setattr("frameio.jobs.async_task", lambda *args: None)
    v1 = uploads.upload_render(render_id=queued_render(tmp_path, shot, 1, size=MB // 2).pk)  # a movie
    root = tmp_path / "farm"  # the sequence is rendered elsewhere
    make_sequence(root / "UNDLM_00042/renders", "UNDLM_00042_v002", range(FIRST, FIRST + FRAMES))
    clock = FakeClock()
    scan_across_the_settle_window(make_watcher(root, clock, django_capture_on_commit_callbacks), clock)
    render = Render.objects.get(version=2)
    assert proxies.proxy_build(render_id=render.pk).state == "ready"
    v2 = uploads.upload_render(render_id=render.pk)
    assert v2.state == Upload.State.UPLOADED and v2.stacked_at, v2.last_error
    shot.refresh_from_db()
    stack = shot.frameio_version_stack_id
    names = {
        sandbox.state.files[u.frameio_file_id]["name"]: sandbox.state.files[u.frameio_file_id]["parent_id"]
        for u in (v1, v2)
    }
    assert names == {"UNDLM_00042_v001.mov": stack, "UNDLM_00042_v002.mp4": stack} and stack
