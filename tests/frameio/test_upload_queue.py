"""The upload queue over time (issue #19): failed and cancelled uploads stay ended until a person or the
watcher says otherwise, a vanished file goes back to the watcher, and a freed slot starts the oldest
waiting upload at once instead of waiting for the reconciler."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from frameio import uploads
from frameio.models import Upload
from frameio.uploads import claims
from ingest.models import Render
from shots.workflow import Status
from tests.factories import make_shot
from tests.frameio.uploading import MB, queued_render

pytestmark = pytest.mark.django_db(transaction=True)


def _failed_upload(sandbox, shot, tmp_path, settings, version: int = 1) -> Upload:
    settings.FRAMEIO_UPLOAD_MAX_ATTEMPTS = 1
    settings.FRAMEIO_PART_RETRIES = 1
    rule = sandbox.faults.add("PUT /s3/*", status=500)
    upload = uploads.upload_render(render_id=queued_render(tmp_path, shot, version, size=MB).pk)
    sandbox.faults.remove(rule)
    assert upload.state == Upload.State.FAILED, upload.last_error
    return upload


def test_a_failed_upload_is_not_restarted_by_the_reconciler(sandbox, shot, tmp_path, settings, enqueued):
    upload = _failed_upload(sandbox, shot, tmp_path, settings)
    for _ in range(3):  # three minutes of the schedule
        assert uploads.uploads_reconcile()["renders"] == 0
    assert enqueued == []
    # Even a job delivered again (the watcher's, from before the failure) does not start it over.
    uploads.upload_render(render_id=upload.render_id)
    upload.refresh_from_db()
    assert (upload.state, upload.attempts) == (Upload.State.FAILED, 1)


def test_a_cancelled_upload_stays_cancelled(sandbox, shot, tmp_path, enqueued):
    render = queued_render(tmp_path, shot, 1, size=MB)
    upload = uploads.upload_for_render(render_id=render.pk)
    assert uploads.upload_cancel(upload_id=upload.pk)
    uploads.uploads_reconcile()
    uploads.upload_render(render_id=render.pk)
    upload.refresh_from_db()
    assert upload.state == Upload.State.CANCELLED and enqueued == []
    assert not sandbox.state.files


def test_a_person_retries_a_failed_upload(sandbox, shot, tmp_path, settings, enqueued):
    upload = _failed_upload(sandbox, shot, tmp_path, settings)
    assert uploads.upload_retry(upload_id=upload.pk)
    assert uploads.upload_run(upload_id=upload.pk).state == Upload.State.UPLOADED


def test_a_render_the_watcher_queued_again_after_a_failure_starts_over(sandbox, shot, tmp_path, settings):
    upload = _failed_upload(sandbox, shot, tmp_path, settings)
    # The watcher verified the file again and queued it (a new version of the file, or the same bytes back).
    Render.objects.filter(pk=upload.render_id).update(queued_at=timezone.now() + timedelta(seconds=1))
    again = uploads.upload_render(render_id=upload.render_id)
    assert again.state == Upload.State.UPLOADED, again.last_error


def test_a_vanished_file_goes_back_to_the_watcher(sandbox, shot, tmp_path, enqueued):
    render = queued_render(tmp_path, shot, 1, size=MB)
    (Path(render.root) / render.path).unlink()
    upload = uploads.upload_render(render_id=render.pk)
    render.refresh_from_db()
    assert upload.state == Upload.State.FAILED
    assert render.state == Render.State.GONE and "back to the watcher" in render.reason
    uploads.uploads_reconcile()
    assert enqueued == []  # not round the upload loop


def test_a_file_changed_after_verification_goes_back_to_the_watcher(sandbox, shot, tmp_path):
    render = queued_render(tmp_path, shot, 1, size=MB)
    (Path(render.root) / render.path).write_bytes(b"something else entirely")
    upload = uploads.upload_render(render_id=render.pk)
    render.refresh_from_db()
    assert upload.state == Upload.State.FAILED
    assert render.state == Render.State.DISCOVERED  # it settles and is verified again
    assert not sandbox.state.files


def test_a_freed_slot_starts_the_oldest_waiting_upload(sandbox, shot, tmp_path, settings, enqueued):
    settings.MAX_CONCURRENT_UPLOADS = 1
    shots = [shot] + [
        make_shot(shot.project, scene=shot.scene, nomenclature=f"UNDLM_0005{n}", status=Status.AE_COMPLETED)
        for n in range(3)
    ]
    renders = [queued_render(tmp_path, s, 1, size=MB) for s in shots]
    now = timezone.now()
    for age, render in enumerate(renders):  # renders[0] verified last, renders[3] first
        Render.objects.filter(pk=render.pk).update(verified_at=now - timedelta(minutes=age))
    waiting = [uploads.upload_for_render(render_id=r.pk) for r in renders]
    first = uploads.upload_run(upload_id=waiting[0].pk)
    assert first.state == Upload.State.UPLOADED
    # The slot it held is free: the oldest verified of those waiting is started, not left to the reconciler.
    assert enqueued == [("frameio.tasks.upload_run", waiting[3].pk)]


def test_a_freed_slot_starts_nothing_that_cannot_go(sandbox, shot, tmp_path, settings, enqueued):
    settings.MAX_CONCURRENT_UPLOADS = 1
    done = uploads.upload_render(render_id=queued_render(tmp_path, shot, 1, size=MB).pk)
    assert done.state == Upload.State.UPLOADED
    failed = _failed_upload(sandbox, shot, tmp_path, settings, version=2)
    enqueued.clear()
    uploads.upload_run(upload_id=failed.pk)  # not claimable: ended
    assert enqueued == []


def test_frameio_upload_says_who_holds_the_lease(sandbox, shot, tmp_path):
    render = queued_render(tmp_path, shot, 1, size=MB)
    upload = uploads.upload_for_render(render_id=render.pk)
    until = timezone.now() + timedelta(minutes=5)
    Upload.objects.filter(pk=upload.pk).update(
        state=Upload.State.UPLOADING, lease_owner="render-box-2:4242:1a2b3c4d", lease_until=until
    )
    with pytest.raises(CommandError) as failure:
        call_command("frameio_upload", str(Path(render.root) / render.path), "--shot", shot.nomenclature)
    message = str(failure.value)
    assert "render-box-2:4242" in message and timezone.localtime(until).strftime("%H:%M:%S") in message, message
    assert "  " not in message  # no blank reason


def test_a_lease_owner_names_its_machine_and_process():
    owner = claims.new_owner()
    host, pid, token = owner.split(":")
    assert host and int(pid) > 0 and len(token) == 8 and len(owner) <= 64


def test_an_upload_never_waits_for_the_status_fields_rate_limit(sandbox, shot, tmp_path, enqueued):
    """The Status batch allows 10 calls a minute: a rate-limited batch is left to the reconciler, and the
    upload ends (and frees its slot) at once instead of retrying inside its attempt."""
    limited = sandbox.faults.add("PATCH /v4/*/metadata/values", status=429)
    upload = uploads.upload_render(render_id=queued_render(tmp_path, shot, 1, size=MB).pk)
    assert upload.state == Upload.State.UPLOADED and upload.status_field_set_at is None
    assert limited.hits == 1  # tried once, not retried
    sandbox.faults.remove(limited)
    uploads.uploads_reconcile()
    upload.refresh_from_db()
    assert upload.status_field_set_at is not None


def test_a_cancel_during_an_attempt_is_never_overwritten_by_its_next_step(sandbox, shot, tmp_path, monkeypatch):
    from frameio.uploads import transfer

    render = queued_render(tmp_path, shot, 1, size=MB)
    real_put_parts = transfer.put_parts

    def cancelled_meanwhile(job, keeper, on_progress):
        real_put_parts(job, keeper, on_progress)  # every part sent...
        assert uploads.upload_cancel(upload_id=job.upload.pk)  # ...then a producer cancels

    monkeypatch.setattr(transfer, "put_parts", cancelled_meanwhile)
    upload = uploads.upload_render(render_id=render.pk)
    assert upload.state == Upload.State.CANCELLED and upload.lease_owner == ""
    render.refresh_from_db()
    assert render.state == Render.State.QUEUED  # not marked uploaded behind the producer's back


def test_the_reconciler_enqueues_no_more_uploads_than_free_slots(sandbox, shot, tmp_path, settings, enqueued):
    settings.MAX_CONCURRENT_UPLOADS = 2
    others = [
        make_shot(shot.project, scene=shot.scene, nomenclature=f"UNDLM_0006{n}", status=Status.AE_COMPLETED)
        for n in range(5)
    ]
    waiting = [uploads.upload_for_render(render_id=queued_render(tmp_path, s, 1, size=MB).pk) for s in others]
    # v2 of the first shot waits for its v1: it is passed over, holding nobody up.
    blocked = uploads.upload_for_render(render_id=queued_render(tmp_path, others[0], 2, size=MB).pk)
    Render.objects.filter(pk=blocked.render_id).update(verified_at=timezone.now() - timedelta(hours=1))
    uploads.uploads_reconcile()
    started = [upload_id for name, upload_id in enqueued if name == "frameio.tasks.upload_run"]
    assert len(started) == 2 and blocked.pk not in started
    assert set(started) <= {u.pk for u in waiting}


def test_giving_back_an_attempt_never_makes_the_count_negative(shot, tmp_path):
    upload = uploads.upload_for_render(render_id=queued_render(tmp_path, shot, 1, size=MB).pk)
    Upload.objects.filter(pk=upload.pk).update(lease_owner="me", attempts=0)  # a retry reset it meanwhile
    claims.release(upload.pk, "me", give_back_attempt=True)
    upload.refresh_from_db()
    assert upload.attempts == 0 and upload.lease_owner == ""
