"""Review from Frame.io: comments placed in the render and the cut, Status moving the shot, reconciliation.

Against the sandbox over real HTTP (the reviewer acts through the sandbox API, as in Frame.io).
Record timecodes are checked against values computed by hand.
"""

from pathlib import Path

import pytest

from frameio import review, signals, uploads
from frameio.models import ReviewNote, ReviewState, Upload
from frameio.review import reads
from frameio_sandbox.server import SandboxConfig, run_sandbox
from postflow.lib import timecode
from postflow.models import LiveEvent
from shots.models import ShotEvent
from shots.workflow import Status
from tests.factories import make_project, make_scene, make_shot
from tests.frameio.uploading import connect_to_sandbox, queued_render
from tests.frameio_sandbox.harness import SandboxApi

MB = 1_000_000
NTSC_FILM = 24000 / 1001
pytestmark = pytest.mark.django_db(transaction=True)


# --- fixtures shared with test_webhooks.py ----------------------------------------------------


@pytest.fixture
def sandbox(settings, tmp_path):
    """A sandbox with a server-to-server connection; webhook back-offs shrunk 1000 times."""
    config = SandboxConfig(
        port=0, seed=11, transcode_delay=0.05, data_dir=tmp_path / "sandbox", webhook_retry_scale=0.001
    )
    with run_sandbox(config) as sb:
        settings.FRAMEIO_STATUS_MAP = {"Approved": "review_approved", "Needs Changes": "revision_requested"}
        connect_to_sandbox(settings, sb)
        yield sb


@pytest.fixture
def api(sandbox):
    """The reviewer, working in Frame.io."""
    return SandboxApi(sandbox)


def make_review_shot(fps: float = 25.0, *, timeline_in: int = 900_000, code: str = "UNDLM"):
    project = make_project(code=code, name=f"{code} Documentary", fps=fps)
    scene = make_scene(project, "REVEIL HOPITAL - JOUR", number=1)
    return make_shot(
        project,
        scene=scene,
        nomenclature=f"{code}_00042",
        timeline_in=timeline_in,
        timeline_out=timeline_in + 100,
        duration=100,
        status=Status.AE_COMPLETED,
    )


@pytest.fixture
def shot(db):
    return make_review_shot()  # 25 fps, record in 10:00:00:00


def upload_version(tmp_path: Path, shot, version: int, *, fps: float | None = None) -> Upload:
    """A verified render of `shot` (1 MB), uploaded to the sandbox by the real upload job."""
    media = {"fps": round(fps or shot.project.fps, 6), "frames": 100}
    render = queued_render(tmp_path, shot, version, data=bytes([version]) * MB, media=media)
    upload = uploads.upload_render(render_id=render.pk)
    assert upload.state == Upload.State.UPLOADED, upload.last_error
    return upload


def comment(api, file_id: str, text: str, timestamp: int | None = None, **fields) -> dict:
    data = {"text": text, **fields}
    if timestamp is not None:
        data["timestamp"] = timestamp
    response = api.post(f"/files/{file_id}/comments", data)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def set_status(api, sandbox, upload: Upload, option: str) -> None:
    project_id = sandbox.state.files[upload.frameio_file_id]["project_id"]
    values = [{"field_definition_id": review_status_field(sandbox), "value": [sandbox.state.status_option_id(option)]}]
    response = api.patch(
        f"/projects/{project_id}/metadata/values", {"file_ids": [upload.frameio_file_id], "values": values}
    )
    assert response.status_code == 204, response.text


def review_status_field(sandbox) -> str:
    return next(f["id"] for f in sandbox.state.field_definitions.values() if f["name"] == "Status")


def note_events() -> list[dict]:
    return [e.payload for e in LiveEvent.objects.filter(kind="review.note").order_by("id")]


# --- where a comment falls: hand-computed ------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "render_fps", "project_fps", "offset", "render_tc"),
    [
        (1, 25, 25, 0, "00:00:00:00"),  # Frame.io counts frames from 1
        (38, 25, 25, 37, "00:00:01:12"),  # 37 = 1 s + 12 frames at 25
        (0, 25, 25, 0, "00:00:00:00"),  # the spec allows 0: the first frame too
        (49, NTSC_FILM, NTSC_FILM, 48, "00:00:02:00"),  # 48 frames = 2 timecode seconds at 24000/1001
        (1441, 23.976024, NTSC_FILM, 1440, "00:01:00:00"),  # the probe's rounded rate is the same rate
        # 25 fps render in a 23.976 cut: 25 frames = 1.0 s = 23.976 project frames -> floor 23
        (26, 25, NTSC_FILM, 23, "00:00:01:00"),
        # 23.976 render in a 25 cut: 48 frames = 2.002 s = 50.05 project frames -> floor 50
        (49, NTSC_FILM, 25, 50, "00:00:02:00"),
    ],
)
def test_offset_and_render_timecode(frame, render_fps, project_fps, offset, render_tc):
    assert timecode.offset_in_shot(frame, render_fps, project_fps) == offset
    assert timecode.render_timecode(frame, render_fps) == render_tc


def test_no_timestamp_means_the_whole_shot():
    assert timecode.offset_in_shot(None, 25, 25) is None
    assert timecode.render_timecode(None, 25) == ""


# --- comments -> notes ---------------------------------------------------------------------------


def test_a_comment_becomes_a_note_at_its_record_timecode_at_25_fps(sandbox, api, shot, tmp_path):
    upload = upload_version(tmp_path, shot, 1)
    created = comment(api, upload.frameio_file_id, "Le ciel est trop clair", timestamp=38)
    assert review.comment_sync(comment_id=created["id"]).endswith("created")
    note = ReviewNote.objects.get(frameio_comment_id=created["id"])
    assert (note.shot_id, note.render_id, note.version) == (shot.pk, upload.render_id, 1)
    assert (note.text, note.author, note.frame) == ("Le ciel est trop clair", "Sandbox User", 38)
    # Hand-computed: frame 38 is 37 frames in = 00:00:01:12 at 25; record 10:00:00:00 + 1 s 12 f.
    assert (note.render_timecode, note.offset_frames, note.record_frame) == ("00:00:01:12", 37, 900_037)
    assert note.record_timecode == "10:00:01:12"
    assert note.fps_mismatch is False and note.completed is False
    [event] = note_events()
    assert event["action"] == "created" and event["record_timecode"] == "10:00:01:12"
    assert event["shot_id"] == shot.pk and event["version"] == 1


def test_record_timecode_at_23_976(sandbox, api, tmp_path):
    # 01:00:00:00 at 24000/1001 non-drop is 86400 frames (timecode counts 24 a second).
    shot = make_review_shot(NTSC_FILM, timeline_in=86_400)
    upload = upload_version(tmp_path, shot, 1)
    sandbox.set_file_fps(upload.frameio_file_id, NTSC_FILM)
    created = comment(api, upload.frameio_file_id, "flicker", timestamp=1441)
    review.comment_sync(comment_id=created["id"])
    note = ReviewNote.objects.get()
    assert (note.render_timecode, note.record_timecode) == ("00:01:00:00", "01:01:00:00")
    assert note.fps_mismatch is False
    # Frame.io shows the same timecode for it (timestamp_as_timecode, at the file's rate).
    shown = api.get(f"/comments/{created['id']}", params={"timestamp_as_timecode": "true"}).json()["data"]
    assert shown["timestamp"] == note.render_timecode


def test_a_render_at_another_rate_is_flagged_and_placed_through_time(sandbox, api, tmp_path):
    shot = make_review_shot(NTSC_FILM, timeline_in=86_400)
    upload = upload_version(tmp_path, shot, 1, fps=25.0)
    review.comment_sync(comment_id=comment(api, upload.frameio_file_id, "late", timestamp=26)["id"])
    note = ReviewNote.objects.get()
    assert note.fps_mismatch is True
    assert (note.render_timecode, note.offset_frames, note.record_timecode) == ("00:00:01:00", 23, "01:00:00:23")


def test_a_comment_without_timestamp_is_placed_at_the_shot_start(sandbox, api, shot, tmp_path):
    upload = upload_version(tmp_path, shot, 1)
    review.comment_sync(comment_id=comment(api, upload.frameio_file_id, "whole shot too dark")["id"])
    note = ReviewNote.objects.get()
    assert (note.frame, note.render_timecode, note.record_timecode) == (None, "", "10:00:00:00")


def test_edits_completions_and_deletions_follow(sandbox, api, shot, tmp_path):
    upload = upload_version(tmp_path, shot, 1)
    comment_id = comment(api, upload.frameio_file_id, "first", timestamp=10)["id"]
    review.comment_sync(comment_id=comment_id)
    assert api.patch(f"/comments/{comment_id}", {"text": "second"}).status_code == 200
    assert review.comment_sync(comment_id=comment_id).endswith("updated")
    assert ReviewNote.objects.get().text == "second"
    assert api.patch(f"/comments/{comment_id}", {"completed": True}).status_code == 200
    assert review.comment_sync(comment_id=comment_id).endswith("completed")
    assert ReviewNote.objects.get().completed
    assert api.patch(f"/comments/{comment_id}", {"completed": False}).status_code == 200
    assert review.comment_sync(comment_id=comment_id).endswith("reopened")
    assert api.delete(f"/comments/{comment_id}").status_code == 204
    # The comment.updated job of an edit that came late finds it gone: deleted, once.
    assert review.comment_sync(comment_id=comment_id).endswith("deleted")
    assert "no open note" in review.comment_sync(comment_id=comment_id, deleted=True)
    note = ReviewNote.objects.get()
    assert note.deleted_at is not None
    assert [e["action"] for e in note_events()] == ["created", "updated", "completed", "reopened", "deleted"]


def test_syncing_a_comment_twice_writes_and_publishes_once(sandbox, api, shot, tmp_path, request):
    added: list[int] = []
    signals.note_added.connect(lambda note_id, **kw: added.append(note_id), weak=False, dispatch_uid="t")
    request.addfinalizer(lambda: signals.note_added.disconnect(dispatch_uid="t"))
    upload = upload_version(tmp_path, shot, 1)
    comment_id = comment(api, upload.frameio_file_id, "once", timestamp=5)["id"]
    review.comment_sync(comment_id=comment_id)
    assert review.comment_sync(comment_id=comment_id).endswith("unchanged")
    assert ReviewNote.objects.count() == 1 and len(note_events()) == 1
    assert added == [ReviewNote.objects.get().pk]  # frameio.signals.note_added, for the creation only


def test_a_comment_on_a_file_postflow_did_not_upload_is_ignored(sandbox, api, shot, tmp_path):
    upload = upload_version(tmp_path, shot, 1)
    folder = sandbox.state.files[upload.frameio_file_id]["parent_id"]
    other = api.post(f"/folders/{folder}/files/local_upload", {"name": "other.mov", "file_size": 3}).json()["data"]
    outcome = review.comment_sync(comment_id=comment(api, other["id"], "not ours", timestamp=1)["id"])
    assert "not a postflow render" in outcome and not ReviewNote.objects.exists()


# --- Status -> shot status ----------------------------------------------------------------------


def test_status_approved_moves_the_shot_once(sandbox, api, shot, tmp_path):
    upload = upload_version(tmp_path, shot, 1)
    shot.refresh_from_db()
    assert shot.status == Status.REVIEW_UPLOADED
    set_status(api, sandbox, upload, "Approved")
    assert "moved to review_approved" in review.status_sync(file_id=upload.frameio_file_id)
    shot.refresh_from_db()
    assert shot.status == Status.REVIEW_APPROVED
    event = shot.events.first()
    assert (event.kind, event.actor, event.to_status) == (ShotEvent.Kind.TRANSITION, "frameio", "review_approved")
    assert event.details["status_option"] == "Approved"
    assert "unchanged" in review.status_sync(file_id=upload.frameio_file_id)
    assert shot.events.count() == 2  # the upload's move to review, then this one


def test_needs_changes_then_approved(sandbox, api, shot, tmp_path):
    upload = upload_version(tmp_path, shot, 1)
    set_status(api, sandbox, upload, "Needs Changes")
    review.status_sync(file_id=upload.frameio_file_id)
    shot.refresh_from_db()
    assert shot.status == Status.REVISION_REQUESTED
    # An option the map does not name is recorded, and moves nothing.
    set_status(api, sandbox, upload, "In Progress")
    assert "not mapped" in review.status_sync(file_id=upload.frameio_file_id)
    assert ReviewState.objects.get().status_option == "In Progress"


def test_an_illegal_move_is_recorded_not_forced_and_only_once(sandbox, api, shot, tmp_path):
    upload = upload_version(tmp_path, shot, 1)
    set_status(api, sandbox, upload, "Needs Changes")
    review.status_sync(file_id=upload.frameio_file_id)
    shot.refresh_from_db()
    assert shot.status == Status.REVISION_REQUESTED
    # The artist is back at work; a reviewer then sets "Approved" on the old version in Frame.io.
    from shots.services import shot_transition

    shot_transition(shot_id=shot.pk, to_status=Status.AE_IN_PROGRESS, actor="user:artist")
    set_status(api, sandbox, upload, "Approved")
    assert "refused to move to review_approved" in review.status_sync(file_id=upload.frameio_file_id)
    shot.refresh_from_db()
    assert shot.status == Status.AE_IN_PROGRESS
    refused = shot.events.get(kind=ShotEvent.Kind.REFUSED)
    assert (refused.from_status, refused.to_status, refused.actor) == ("ae_in_progress", "review_approved", "frameio")
    review.status_sync(file_id=upload.frameio_file_id)
    assert shot.events.filter(kind=ShotEvent.Kind.REFUSED).count() == 1


def test_only_the_latest_version_decides(sandbox, api, shot, tmp_path):
    first = upload_version(tmp_path, shot, 1)
    upload_version(tmp_path, shot, 2)
    set_status(api, sandbox, first, "Approved")
    assert "not the shot's latest version" in review.status_sync(file_id=first.frameio_file_id)
    shot.refresh_from_db()
    assert shot.status == Status.REVIEW_UPLOADED


# --- reconciliation --------------------------------------------------------------------------------


def test_reconciliation_catches_what_no_webhook_told(sandbox, api, shot, tmp_path):
    upload = upload_version(tmp_path, shot, 1)
    keep = comment(api, upload.frameio_file_id, "keep", timestamp=38)
    gone = comment(api, upload.frameio_file_id, "gone", timestamp=2)
    comment(api, upload.frameio_file_id, "done", timestamp=3, completed=True)
    set_status(api, sandbox, upload, "Approved")
    # No webhook is registered: nobody told postflow. The schedule's job finds it all.
    totals = review.review_reconcile()
    assert totals == {"files": 1, "failed": 0, "notes_changed": 3, "notes_deleted": 0}
    assert ReviewNote.objects.get(frameio_comment_id=keep["id"]).record_timecode == "10:00:01:12"
    assert ReviewNote.objects.filter(completed_at__isnull=False).count() == 1
    shot.refresh_from_db()
    assert shot.status == Status.REVIEW_APPROVED
    # A comment deleted in Frame.io without a webhook: its note is marked deleted on the next run.
    api.delete(f"/comments/{gone['id']}")
    events_before, live_before = shot.events.count(), len(note_events())
    totals = review.review_reconcile()
    assert totals["notes_deleted"] == 1 and totals["notes_changed"] == 0
    assert ReviewNote.objects.get(frameio_comment_id=gone["id"]).deleted_at is not None
    # Idempotent: one more run changes nothing.
    assert review.review_reconcile() == {"files": 1, "failed": 0, "notes_changed": 0, "notes_deleted": 0}
    assert shot.events.count() == events_before and len(note_events()) == live_before + 1


def test_reconciliation_polls_the_least_recently_polled_first(sandbox, shot, tmp_path, settings):
    other = make_shot(shot.project, scene=shot.scene, nomenclature="UNDLM_00043", status=Status.AE_COMPLETED)
    first, second = upload_version(tmp_path, shot, 1), upload_version(tmp_path, other, 1)
    assert review.review_reconcile(limit=1)["files"] == 1
    polled = set(ReviewState.objects.filter(polled_at__isnull=False).values_list("frameio_file_id", flat=True))
    assert polled == {first.frameio_file_id}
    review.review_reconcile(limit=1)
    polled = set(ReviewState.objects.filter(polled_at__isnull=False).values_list("frameio_file_id", flat=True))
    assert polled == {first.frameio_file_id, second.frameio_file_id}


def test_shots_out_of_review_are_not_polled(sandbox, api, shot, tmp_path):
    upload = upload_version(tmp_path, shot, 1)
    from shots.services import shot_transition

    shot_transition(shot_id=shot.pk, to_status=Status.REVIEW_APPROVED, actor="user:producer")
    shot_transition(shot_id=shot.pk, to_status=Status.FINAL_DELIVERY, actor="user:producer")
    comment(api, upload.frameio_file_id, "too late", timestamp=1)
    assert review.review_reconcile()["files"] == 0


# --- admin ------------------------------------------------------------------------------------------


def test_the_shot_page_shows_its_notes_read_only(sandbox, api, shot, tmp_path, admin_client):
    upload = upload_version(tmp_path, shot, 1)
    review.comment_sync(comment_id=comment(api, upload.frameio_file_id, "grain too strong", timestamp=38)["id"])
    page = admin_client.get(f"/admin/shots/shot/{shot.pk}/change/")
    notes = page.context["inline_admin_formsets"][1]
    assert (notes.has_add_permission, notes.has_change_permission, notes.has_delete_permission) == (False,) * 3
    html = page.content.decode()
    assert "grain too strong" in html and "10:00:01:12" in html and "00:00:01:12" in html
    for model in ("reviewnote", "webhookdelivery", "frameiowebhook"):
        assert admin_client.get(f"/admin/frameio/{model}/").status_code == 200


def test_a_file_gone_from_frameio_goes_to_the_back_of_the_line(sandbox, api, shot, tmp_path):
    other = make_shot(shot.project, scene=shot.scene, nomenclature="UNDLM_00043", status=Status.AE_COMPLETED)
    gone, kept = upload_version(tmp_path, shot, 1), upload_version(tmp_path, other, 1)
    assert api.delete(f"/files/{gone.frameio_file_id}").status_code == 204
    assert review.review_reconcile(limit=1) == {"files": 0, "failed": 1, "notes_changed": 0, "notes_deleted": 0}
    assert review.review_reconcile(limit=1)["files"] == 1  # the other file's turn, not the gone one again
    assert ReviewState.objects.get(frameio_file_id=kept.frameio_file_id).polled_at is not None


def test_replies_are_notes_of_their_own():
    from frameio.client import Comment

    class Client:
        def list_comments(self, **kwargs):
            assert kwargs["include"] == ("owner", "replies")
            raw = {"id": "c1", "file_id": "f1", "timestamp": 10, "replies": [{"id": "r1", "text": "agreed"}]}
            return [Comment(id="c1", file_id="f1", timestamp=10, raw=raw)]

    found = list(reads.list_file_comments(Client(), account_id="a", file_id="f1"))
    assert [(c.id, c.file_id, c.timestamp, c.text) for c in found] == [
        ("c1", "f1", 10, None),
        ("r1", "f1", None, "agreed"),
    ]
