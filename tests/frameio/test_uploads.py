"""Renders to Frame.io against the sandbox over real HTTP: structure, parts, stacks, exactly once."""

import os
import queue
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import xxhash
from django.utils import timezone

from frameio import auth, jobs, structure, uploads
from frameio.client import FrameioClient
from frameio.models import Upload, UploadPart
from frameio.uploads import attempt, claims, errors, stacking, transfer
from ingest.models import Render
from postflow.lib import shutdown
from shots.models import ShotEvent
from shots.workflow import Status
from tests.concurrency import race
from tests.factories import make_shot
from tests.frameio.uploading import MB, queued_render

pytestmark = pytest.mark.django_db(transaction=True)


def remote_bytes(sandbox, file_id: str) -> bytes:
    record = sandbox.state.files[file_id]
    return b"".join(Path(record["_parts"][str(i)]["path"]).read_bytes() for i in range(1, len(record["_plan"]) + 1))


def part_puts(sandbox):
    return sandbox.faults.add("PUT /s3/*")  # a rule that changes nothing and counts what it matches


def test_a_render_goes_up_in_parts_and_the_shot_moves_to_review(sandbox, shot, tmp_path):
    render = queued_render(tmp_path, shot, 1)
    counter = part_puts(sandbox)
    upload = uploads.upload_render(render_id=render.pk)
    assert upload.state == Upload.State.UPLOADED, upload.last_error
    assert remote_bytes(sandbox, upload.frameio_file_id) == (Path(render.root) / render.path).read_bytes()
    assert counter.hits == 3 == UploadPart.objects.filter(upload=upload, done_at__isnull=False).count()
    assert upload.bytes_done == upload.bytes_total == render.size
    # Structure: the production's project, one folder per scene, ids cached.
    shot.scene.refresh_from_db()
    shot.project.refresh_from_db()
    folder = sandbox.state.folders[shot.scene.frameio_folder_id]
    assert folder["name"] == "SEQ01 - REVEIL HOPITAL - JOUR"
    assert sandbox.state.projects[shot.project.frameio_project_id]["name"] == "UNDLM Documentary"
    assert sandbox.state.files[upload.frameio_file_id]["parent_id"] == folder["id"]
    # Review: the Status field says "Needs Review", the shot moved, the render is uploaded.
    status_field = next(f for f in sandbox.state.field_definitions.values() if f["name"] == "Status")
    option = next(o for o in status_field["field_configuration"]["options"] if o["display_name"] == "Needs Review")
    assert sandbox.state.metadata_values[upload.frameio_file_id][status_field["id"]] == [option["id"]]
    shot.refresh_from_db()
    assert shot.status == Status.REVIEW_UPLOADED
    assert shot.events.get().details["view_url"] == upload.view_url
    render.refresh_from_db()
    assert render.state == Render.State.UPLOADED


def test_versions_stack_in_order(sandbox, shot, tmp_path):
    files = [
        uploads.upload_render(render_id=queued_render(tmp_path, shot, v, size=MB).pk).frameio_file_id for v in (1, 2, 3)
    ]
    shot.refresh_from_db()
    stack = sandbox.state.version_stacks[shot.frameio_version_stack_id]
    assert stack["parent_id"] == shot.scene.frameio_folder_id
    children = [f["id"] for f in sandbox.state.files.values() if f["parent_id"] == stack["id"]]
    assert sorted(children) == sorted(files)
    client = FrameioClient(base_url=sandbox.base_url, token_provider=sandbox.issue_token)
    head = client.show_version_stack(account_id=sandbox.account_id, version_stack_id=stack["id"]).head_version
    assert head.id == files[2]
    # The second and third versions find the shot in review already: nothing to record (#13: no refusal).
    assert not shot.events.filter(kind=ShotEvent.Kind.REFUSED).exists()


def test_an_upload_whose_structure_exists_costs_three_api_calls(sandbox, shot, tmp_path, monkeypatch):
    uploads.upload_render(render_id=queued_render(tmp_path, shot, 1, size=MB).pk)
    uploads.upload_render(render_id=queued_render(tmp_path, shot, 2, size=MB).pk)  # creates the stack
    calls: list[str] = []
    real = FrameioClient.request

    def counting(self, endpoint, **kwargs):
        calls.append(endpoint.op)
        return real(self, endpoint, **kwargs)

    monkeypatch.setattr(FrameioClient, "request", counting)
    upload = uploads.upload_render(render_id=queued_render(tmp_path, shot, 3, size=MB).pk)
    assert upload.state == Upload.State.UPLOADED
    core = [name for name in calls if "metadata" not in name and "field" not in name]
    assert core == ["files.create_local_upload", "files.show_file_upload_status", "files.move"], calls
    assert len(calls) - len(core) == 1  # the Status field, batched; its definition is cached


def test_a_job_delivered_twice_does_nothing_twice(sandbox, shot, tmp_path):
    render = queued_render(tmp_path, shot, 1)
    first = uploads.upload_render(render_id=render.pk)
    files_before = len(sandbox.state.files)
    counter = part_puts(sandbox)
    again = uploads.upload_render(render_id=render.pk)
    assert (again.pk, again.state, again.frameio_file_id) == (first.pk, Upload.State.UPLOADED, first.frameio_file_id)
    assert len(sandbox.state.files) == files_before and counter.hits == 0
    assert ShotEvent.objects.filter(shot=shot, kind=ShotEvent.Kind.TRANSITION).count() == 1


def test_two_workers_at_once_one_file(sandbox, shot, tmp_path):
    render = queued_render(tmp_path, shot, 1)
    sandbox.faults.add("PUT /s3/*", latency=0.2)  # keep the first worker busy while the second arrives
    upload = uploads.upload_for_render(render_id=render.pk)
    results = []

    def work():
        results.append(uploads.upload_run(upload_id=upload.pk).state)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    upload.refresh_from_db()
    assert upload.state == Upload.State.UPLOADED
    assert upload.attempts == 1  # the second worker found the lease taken
    assert [f for f in sandbox.state.files.values() if f["name"] == "UNDLM_00042_v001.mov"] == [
        sandbox.state.files[upload.frameio_file_id]
    ]


def test_failed_parts_resume_without_resending_the_parts_that_landed(sandbox, shot, tmp_path, settings):
    settings.FRAMEIO_PART_RETRIES = 1
    settings.FRAMEIO_PART_CONCURRENCY = 1
    render = queued_render(tmp_path, shot, 1, size=20 * MB)  # 5 parts
    # Two parts go through, then the network fails: the first attempt ends with 2 of 5 parts done.
    upload = uploads.upload_for_render(render_id=render.pk)
    original_put = transfer.put_part
    sent = []

    def two_then_fail(job, fd, part, progress, stop):
        if len(sent) >= 2:
            raise uploads.UploadFailed("network down")
        sent.append(part.index)
        return original_put(job, fd, part, progress, stop)

    transfer.put_part = two_then_fail
    try:
        upload = uploads.upload_run(upload_id=upload.pk)
    finally:
        transfer.put_part = original_put
    assert upload.state == Upload.State.UPLOADING and upload.attempts == 1
    assert upload.last_error == "network down" and upload.next_attempt_at is not None
    assert upload.bytes_done == 2 * 4 * MB
    counter = part_puts(sandbox)
    Upload.objects.filter(pk=upload.pk).update(next_attempt_at=None)
    upload = uploads.upload_run(upload_id=upload.pk)
    assert upload.state == Upload.State.UPLOADED, upload.last_error
    assert counter.hits == 3  # only the parts that had not landed
    assert remote_bytes(sandbox, upload.frameio_file_id) == (Path(render.root) / render.path).read_bytes()


def test_expired_part_urls_recreate_the_file_and_delete_the_orphan(sandbox, shot, tmp_path, monkeypatch):
    render = queued_render(tmp_path, shot, 1)
    upload = uploads.upload_for_render(render_id=render.pk)
    monkeypatch.setattr(transfer, "put_parts", _fail_once(transfer.put_parts))
    upload = uploads.upload_run(upload_id=upload.pk)  # file created, nothing sent
    first_file = upload.frameio_file_id
    assert first_file and upload.state == Upload.State.UPLOADING
    monkeypatch.undo()
    sandbox.advance_clock(2 * 3600)  # the presigned URLs (1 h) are now expired
    Upload.objects.filter(pk=upload.pk).update(next_attempt_at=None)
    upload = uploads.upload_run(upload_id=upload.pk)
    assert upload.state == Upload.State.UPLOADED, upload.last_error
    assert upload.frameio_file_id != first_file
    assert first_file not in sandbox.state.files  # the orphan was deleted


def _fail_once(real):
    def failing(job, keeper, on_progress):
        raise uploads.UploadFailed("simulated network loss before any part")

    return failing


def test_after_max_attempts_the_upload_fails_with_the_reason_and_can_be_retried(sandbox, shot, tmp_path, settings):
    settings.FRAMEIO_UPLOAD_MAX_ATTEMPTS = 2
    settings.FRAMEIO_PART_RETRIES = 1
    render = queued_render(tmp_path, shot, 1, size=MB)
    rule = sandbox.faults.add("PUT /s3/*", status=500)
    upload = uploads.upload_for_render(render_id=render.pk)
    for _ in range(2):
        Upload.objects.filter(pk=upload.pk).update(next_attempt_at=None)
        upload = uploads.upload_run(upload_id=upload.pk)
    assert upload.state == Upload.State.FAILED
    assert "HTTP 500" in upload.last_error and "after 1 tries" in upload.last_error
    assert upload.attempts == 2
    sandbox.faults.remove(rule)
    assert uploads.upload_retry(upload_id=upload.pk)
    assert uploads.upload_run(upload_id=upload.pk).state == Upload.State.UPLOADED


def test_a_render_swapped_after_verification_is_not_uploaded(sandbox, shot, tmp_path):
    render = queued_render(tmp_path, shot, 1, size=MB)
    (Path(render.root) / render.path).write_bytes(b"something else entirely")
    upload = uploads.upload_render(render_id=render.pk)
    assert upload.state == Upload.State.FAILED
    assert "changed since it was verified" in upload.last_error
    assert not sandbox.state.files


def test_cancel_stops_and_retry_resumes(sandbox, shot, tmp_path):
    render = queued_render(tmp_path, shot, 1, size=MB)
    upload = uploads.upload_for_render(render_id=render.pk)
    assert uploads.upload_cancel(upload_id=upload.pk)
    assert uploads.upload_run(upload_id=upload.pk).state == Upload.State.CANCELLED
    assert not sandbox.state.files
    assert uploads.upload_retry(upload_id=upload.pk)
    assert uploads.upload_run(upload_id=upload.pk).state == Upload.State.UPLOADED


def test_max_concurrent_uploads_is_a_cap(sandbox, shot, tmp_path, settings):
    settings.MAX_CONCURRENT_UPLOADS = 1
    busy = uploads.upload_for_render(render_id=queued_render(tmp_path, shot, 1, size=MB).pk)
    Upload.objects.filter(pk=busy.pk).update(lease_owner="other", lease_until=timezone.now() + timedelta(minutes=1))
    other = make_shot(shot.project, scene=shot.scene, nomenclature="UNDLM_00043", status=Status.AE_COMPLETED)
    waiting = uploads.upload_for_render(render_id=queued_render(tmp_path, other, 1, size=MB).pk)
    assert uploads.upload_run(upload_id=waiting.pk).attempts == 0  # not claimed: no slot
    Upload.objects.filter(pk=busy.pk).update(lease_until=timezone.now() - timedelta(seconds=1))  # its worker died
    assert uploads.upload_run(upload_id=waiting.pk).state == Upload.State.UPLOADED


def test_the_versions_of_a_shot_go_up_one_at_a_time_oldest_first(sandbox, shot, tmp_path):
    """Two versions stacking at once would each create a version stack; v2 before v1 would stack on nothing."""
    v1 = uploads.upload_for_render(render_id=queued_render(tmp_path, shot, 1, size=MB).pk)
    v2 = uploads.upload_for_render(render_id=queued_render(tmp_path, shot, 2, size=MB).pk)
    assert uploads.upload_run(upload_id=v2.pk).attempts == 0  # not claimed: v1 goes first
    Upload.objects.filter(pk=v1.pk).update(lease_owner="other", lease_until=timezone.now() + timedelta(minutes=1))
    assert uploads.upload_run(upload_id=v2.pk).attempts == 0  # not claimed: v1 is uploading
    Upload.objects.filter(pk=v1.pk).update(lease_owner="", lease_until=None)
    assert uploads.upload_run(upload_id=v1.pk).state == Upload.State.UPLOADED
    v2 = uploads.upload_run(upload_id=v2.pk)
    assert v2.state == Upload.State.UPLOADED and v2.stacked_at
    shot.refresh_from_db()
    v1.refresh_from_db()
    stack = shot.frameio_version_stack_id
    assert [sandbox.state.files[f.frameio_file_id]["parent_id"] for f in (v1, v2)] == [stack, stack] != [""] * 2


def test_an_earlier_version_that_left_the_queue_holds_nobody_up(sandbox, shot, tmp_path):
    v1 = uploads.upload_for_render(render_id=queued_render(tmp_path, shot, 1, size=MB).pk)
    Render.objects.filter(pk=v1.render_id).update(state=Render.State.DISCOVERED)  # its file changed
    v2 = uploads.upload_for_render(render_id=queued_render(tmp_path, shot, 2, size=MB).pk)
    assert uploads.upload_run(upload_id=v2.pk).state == Upload.State.UPLOADED


def test_racing_claims_never_take_more_slots_than_the_cap(shot, tmp_path, settings):
    settings.MAX_CONCURRENT_UPLOADS = 2
    ids = queue.SimpleQueue()
    for number in range(1, 9):  # one render each of 8 shots
        other = make_shot(shot.project, scene=shot.scene, nomenclature=f"UNDLM_{100 + number:05d}")
        ids.put(uploads.upload_for_render(render_id=queued_render(tmp_path, other, 1, size=MB).pk).pk)
    results, errors = race(lambda: claims.claim(ids.get(), owner=f"worker-{threading.get_ident()}"), threads=8)
    assert not errors
    assert sorted(results) == [False] * 6 + [True] * 2
    assert Upload.objects.filter(lease_until__gt=timezone.now()).count() == 2


def test_reconciler_enqueues_due_work_and_follows_transcoding(sandbox, shot, tmp_path, monkeypatch):
    enqueued = []
    monkeypatch.setattr(jobs, "async_task", lambda *args: enqueued.append(args))
    done = uploads.upload_render(render_id=queued_render(tmp_path, shot, 1, size=MB).pk)
    orphan = queued_render(tmp_path, shot, 2, size=MB)  # queued by the watcher, its job lost
    stuck = uploads.upload_for_render(render_id=queued_render(tmp_path, shot, 3, size=MB).pk)
    Upload.objects.filter(pk=stuck.pk).update(lease_owner="dead", lease_until=timezone.now() - timedelta(seconds=5))
    sandbox.wait_for(lambda: sandbox.state.files[done.frameio_file_id]["status"] == "transcoded")
    result = uploads.uploads_reconcile()
    assert sorted(enqueued) == sorted(
        [("frameio.tasks.upload_render", orphan.pk), ("frameio.tasks.upload_run", stuck.pk)]
    )
    assert result == {"renders": 1, "uploads": 1, "followed": 1}
    done.refresh_from_db()
    assert done.state == Upload.State.READY and done.ready_at is not None


def test_two_workers_creating_one_scene_folder_end_with_one(sandbox, shot):
    client = auth.build_client()
    ids = []

    def create():
        from shots.models import Scene

        ids.append(
            structure.scene_folder(client, account_id=sandbox.account_id, scene=Scene.objects.get(pk=shot.scene_id))
        )

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1
    assert [f for f in sandbox.state.folders.values() if f["name"].startswith("SEQ01")] == [
        sandbox.state.folders[ids[0]]
    ]


def test_part_urls_are_encrypted_at_rest(sandbox, shot, tmp_path):
    upload = uploads.upload_render(render_id=queued_render(tmp_path, shot, 1, size=MB).pk)
    part = UploadPart.objects.filter(upload=upload).first()
    assert "X-Amz" not in part.url_enc and "/s3/" not in part.url_enc


def test_server_to_server_needs_no_sign_in(sandbox, shot, tmp_path, settings):
    """As in `make run`: the sandbox, S2S, no connection stored and no ids configured."""
    from frameio.models import FrameioConnection

    FrameioConnection.objects.all().delete()
    settings.FRAMEIO_ACCOUNT_ID = settings.FRAMEIO_WORKSPACE_ID = ""
    upload = uploads.upload_render(render_id=queued_render(tmp_path, shot, 1, size=MB).pk)
    assert upload.state == Upload.State.UPLOADED, upload.last_error
    connection = auth.connection_get()
    assert (connection.account_id, connection.workspace_id) == (sandbox.account_id, sandbox.workspace_id)


def test_two_first_uploads_connect_once_and_keep_the_project(sandbox, shot, tmp_path, settings):
    """Two uploads starting together on a fresh install: one S2S connection, the project kept."""
    from frameio.models import FrameioConnection

    FrameioConnection.objects.all().delete()
    settings.FRAMEIO_ACCOUNT_ID = settings.FRAMEIO_WORKSPACE_ID = ""
    before = sandbox.token_calls.get("client_credentials", 0)
    other = make_shot(shot.project, scene=shot.scene, nomenclature="UNDLM_00043", status=Status.AE_COMPLETED)
    ids = [uploads.upload_for_render(render_id=queued_render(tmp_path, s, 1, size=MB).pk).pk for s in (shot, other)]
    threads = [threading.Thread(target=uploads.upload_run, kwargs={"upload_id": pk}) for pk in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(Upload.objects.values_list("state", flat=True)) == {Upload.State.UPLOADED}
    connection = auth.connection_get()
    shot.project.refresh_from_db()
    assert connection.project_id == shot.project.frameio_project_id != ""
    # One connection was made: the second upload waited and used it (its worker's own token
    # provider may fetch one more token, but nothing reset the target).
    assert sandbox.token_calls["client_credentials"] - before <= 2


def test_the_first_connect_calls_ims_outside_any_transaction_and_keeps_a_connection_made_meanwhile(
    sandbox, shot, tmp_path, settings, monkeypatch
):
    from django.db import connection as db

    from frameio.models import FrameioConnection

    FrameioConnection.objects.all().delete()
    settings.FRAMEIO_ACCOUNT_ID = settings.FRAMEIO_WORKSPACE_ID = ""
    real_credentials = auth._client_credentials
    calls = []

    def credentials_while_another_worker_connects():
        calls.append(db.in_atomic_block)  # no row or table lock held while IMS answers
        tokens = real_credentials()
        if len(calls) == 1:  # the other worker stores its connection, with the project chosen
            auth.connect_server_to_server()
            FrameioConnection.objects.update(project_id="project-chosen-meanwhile")
        return tokens

    monkeypatch.setattr(auth, "_client_credentials", credentials_while_another_worker_connects)
    assert attempt.target_or_connect().project_id == "project-chosen-meanwhile"
    assert calls == [False, False]
    assert auth.connection_get().project_id == "project-chosen-meanwhile"


def test_a_file_swapped_for_a_symlink_after_the_check_is_never_read(sandbox, shot, tmp_path, monkeypatch):
    """The swap lands between the attempt's check and the parts: the descriptor check refuses it."""
    secret = tmp_path / "secret_key"
    secret.write_bytes(b"TOP-SECRET" * 100_000)
    render = queued_render(tmp_path, shot, 1, size=MB)
    path = Path(render.root) / render.path
    real_put_parts = transfer.put_parts

    def swap_then_put(job, keeper, on_progress):
        path.unlink()
        path.symlink_to(secret)
        return real_put_parts(job, keeper, on_progress)

    monkeypatch.setattr(transfer, "put_parts", swap_then_put)
    upload = uploads.upload_render(render_id=render.pk)
    assert upload.state == Upload.State.FAILED and "cannot open" in upload.last_error
    assert not any(f["_parts"] for f in sandbox.state.files.values())  # not one byte went up


# --- regressions from the review -------------------------------------------------------------


def _run_enqueued(enqueued):
    for name, arg in list(enqueued):
        if name == "frameio.tasks.upload_run":
            uploads.upload_run(upload_id=arg)
        else:
            uploads.upload_render(render_id=arg)
    enqueued.clear()


def test_steps_after_the_bytes_are_retried_by_the_reconciler(sandbox, shot, tmp_path, monkeypatch):
    from frameio.client import FrameioError

    real_stack, calls = stacking.stack_version, []

    def flaky(job):
        calls.append(job.upload.pk)
        if len(calls) == 1:
            raise FrameioError(503, False, "Service Unavailable", "files.move")
        return real_stack(job)

    monkeypatch.setattr(stacking, "stack_version", flaky)
    enqueued = []
    monkeypatch.setattr(jobs, "async_task", lambda *args: enqueued.append(args))
    upload = uploads.upload_render(render_id=queued_render(tmp_path, shot, 1, size=MB).pk)
    assert upload.state == Upload.State.UPLOADED and upload.stacked_at is None and upload.shot_moved_at is None
    assert "503" in upload.last_error and upload.next_attempt_at is not None and upload.lease_owner == ""
    uploads.uploads_reconcile()
    assert ("frameio.tasks.upload_run", upload.pk) not in enqueued  # backing off
    enqueued.clear()
    Upload.objects.filter(pk=upload.pk).update(next_attempt_at=None)
    sandbox.wait_for(lambda: sandbox.state.files[upload.frameio_file_id]["status"] == "transcoded")
    uploads.uploads_reconcile()  # READY now, and its later steps are due
    assert ("frameio.tasks.upload_run", upload.pk) in enqueued
    counter = part_puts(sandbox)
    _run_enqueued(enqueued)
    upload.refresh_from_db()
    shot.refresh_from_db()
    assert upload.state == Upload.State.READY and upload.stacked_at and upload.shot_moved_at
    assert shot.status == Status.REVIEW_UPLOADED and counter.hits == 0 and upload.last_error == ""
    uploads.uploads_reconcile()
    assert not enqueued  # nothing left to do


def test_a_restart_during_an_attempt_stops_that_attempt(sandbox, shot, tmp_path, monkeypatch):
    render = queued_render(tmp_path, shot, 1, size=MB)
    path = Path(render.root) / render.path
    upload = uploads.upload_for_render(render_id=render.pk)
    real_put_parts = transfer.put_parts

    def restarted_meanwhile(job, keeper, on_progress):
        real_put_parts(job, keeper, on_progress)
        # The file changed; the watcher verified the new content and queued it again: _restart.
        data = b"N" * MB
        path.write_bytes(data)
        st = path.stat()
        Render.objects.filter(pk=render.pk).update(
            size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino, checksum=xxhash.xxh3_128(data).hexdigest()
        )
        uploads.upload_for_render(render_id=render.pk)

    monkeypatch.setattr(transfer, "put_parts", restarted_meanwhile)
    upload = uploads.upload_run(upload_id=upload.pk)
    assert upload.state == Upload.State.QUEUED and upload.frameio_file_id == "" and upload.orphan_file_id
    assert upload.last_error == "" and upload.attempts == 0 and upload.lease_owner == ""
    render.refresh_from_db()
    assert render.state == Render.State.QUEUED
    monkeypatch.undo()
    upload = uploads.upload_run(upload_id=upload.pk)
    assert upload.state == Upload.State.UPLOADED, upload.last_error
    assert remote_bytes(sandbox, upload.frameio_file_id) == b"N" * MB


def _watcher_reset(render):
    path = Path(render.root) / render.path
    path.write_bytes(b"half-written new render")
    st = path.stat()
    Render.objects.filter(pk=render.pk).update(
        size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino, state=Render.State.DISCOVERED, checksum=""
    )


def test_an_attempt_on_a_render_the_watcher_reset_stops_cleanly(sandbox, shot, tmp_path):
    render = queued_render(tmp_path, shot, 1, size=MB)
    upload = uploads.upload_for_render(render_id=render.pk)
    _watcher_reset(render)
    upload = uploads.upload_run(upload_id=upload.pk)
    assert upload.state == Upload.State.QUEUED and upload.last_error == "" and upload.next_attempt_at is None
    assert not sandbox.state.files and upload.lease_owner == ""
    assert uploads.uploads_reconcile(client=auth.build_client())["uploads"] == 0  # left to the re-queue


def test_a_render_reset_while_parts_go_up_is_not_marked_processing(sandbox, shot, tmp_path, monkeypatch):
    render = queued_render(tmp_path, shot, 1, size=MB)
    upload = uploads.upload_for_render(render_id=render.pk)
    real_put_parts = transfer.put_parts

    def reset_meanwhile(job, keeper, on_progress):
        real_put_parts(job, keeper, on_progress)
        _watcher_reset(render)

    monkeypatch.setattr(transfer, "put_parts", reset_meanwhile)
    upload = uploads.upload_run(upload_id=upload.pk)
    assert upload.state == Upload.State.UPLOADING and upload.last_error == ""
    render.refresh_from_db()
    assert render.state == Render.State.DISCOVERED


def test_a_render_queued_again_with_the_same_bytes_is_not_stranded(sandbox, shot, tmp_path, monkeypatch):
    render = queued_render(tmp_path, shot, 1, size=MB)
    upload = uploads.upload_for_render(render_id=render.pk)
    Upload.objects.filter(pk=upload.pk).update(state=Upload.State.FAILED, attempts=5, last_error="old")
    # The watcher verified the same bytes again and queued the render after the failure; its job was lost.
    Render.objects.filter(pk=render.pk).update(queued_at=timezone.now() + timedelta(seconds=1))
    enqueued = []
    monkeypatch.setattr(jobs, "async_task", lambda *args: enqueued.append(args))
    uploads.uploads_reconcile()
    assert enqueued == [("frameio.tasks.upload_render", render.pk)]  # QUEUED without an active upload
    _run_enqueued(enqueued)
    upload.refresh_from_db()
    assert upload.state == Upload.State.UPLOADED and upload.attempts == 1, upload.last_error
    render.refresh_from_db()
    assert render.state == Render.State.UPLOADED
    # Touched again, same bytes: queued again with an upload already in Frame.io.
    Render.objects.filter(pk=render.pk).update(state=Render.State.QUEUED)
    files_before = len(sandbox.state.files)
    again = uploads.upload_render(render_id=render.pk)
    render.refresh_from_db()
    assert again.state == Upload.State.UPLOADED and render.state == Render.State.UPLOADED
    assert len(sandbox.state.files) == files_before
    uploads.uploads_reconcile()
    assert not enqueued


def test_no_frameio_call_is_made_inside_a_transaction(sandbox, shot, tmp_path, monkeypatch):
    from django.db import connection

    inside = []
    real = FrameioClient.request

    def watching(self, endpoint, **kwargs):
        if connection.in_atomic_block:
            inside.append(endpoint.op)
        return real(self, endpoint, **kwargs)

    monkeypatch.setattr(FrameioClient, "request", watching)
    for version in (1, 2, 3):  # project, folder, stack created, then a move into the stack
        upload = uploads.upload_render(render_id=queued_render(tmp_path, shot, version, size=MB).pk)
        assert upload.state == Upload.State.UPLOADED, upload.last_error
    shot.refresh_from_db()
    assert shot.frameio_version_stack_id and inside == []


def test_a_token_refresh_refuses_to_run_inside_a_transaction(sandbox):
    from django.db import transaction

    before = dict(sandbox.token_calls)
    with transaction.atomic(), pytest.raises(RuntimeError):
        auth.refresh_access_token()  # its commit would be undone by the caller's rollback
    assert sandbox.token_calls == before


def test_a_lost_version_stack_race_moves_the_file_into_the_winner(sandbox, shot, tmp_path, monkeypatch):
    from shots.models import Shot

    v1 = uploads.upload_render(render_id=queued_render(tmp_path, shot, 1, size=MB).pk)
    real_create = FrameioClient.create_version_stack
    winner = {}

    def racing(self, *, account_id, folder_id, file_ids):
        theirs = [  # another worker's stack, of other files of the folder, saved first
            self.create_local_upload(
                account_id=account_id, folder_id=folder_id, name=f"other{i}.mov", file_size=10
            ).file.id
            for i in (1, 2)
        ]
        other = real_create(self, account_id=account_id, folder_id=folder_id, file_ids=theirs)
        Shot.objects.filter(pk=shot.pk).update(frameio_version_stack_id=other.id)  # another worker saved first
        winner["id"] = other.id
        return real_create(self, account_id=account_id, folder_id=folder_id, file_ids=file_ids)

    monkeypatch.setattr(FrameioClient, "create_version_stack", racing)
    v2 = uploads.upload_render(render_id=queued_render(tmp_path, shot, 2, size=MB).pk)
    assert v2.state == Upload.State.UPLOADED and v2.stacked_at, v2.last_error
    shot.refresh_from_db()
    assert shot.frameio_version_stack_id == winner["id"]
    for file_id in (v1.frameio_file_id, v2.frameio_file_id):
        assert sandbox.state.files[file_id]["parent_id"] == winner["id"]


def test_the_lease_keeper_survives_a_database_error_and_gives_up_when_the_lease_ran_out(db, settings, monkeypatch):
    settings.FRAMEIO_UPLOAD_LEASE_SECONDS = 0.4
    failures = []

    def broken(self, until):
        failures.append(until)
        raise RuntimeError("database is locked")

    monkeypatch.setattr(claims.LeaseKeeper, "_renew", broken)
    keeper = claims.LeaseKeeper(0, "me")
    keeper.start()
    time.sleep(0.25)
    assert keeper.is_alive() and not keeper.lost.is_set() and failures  # retried, lease not over yet
    assert keeper.lost.wait(2)  # the lease passed without a renewal
    keeper.stop()
    assert len(failures) >= 2

    calls = []

    def once_broken(self, until):
        calls.append(until)
        if len(calls) == 1:
            raise RuntimeError("database is locked")
        return 1

    monkeypatch.setattr(claims.LeaseKeeper, "_renew", once_broken)
    keeper = claims.LeaseKeeper(0, "me")
    keeper.start()
    time.sleep(0.6)
    keeper.stop()
    assert len(calls) >= 3 and not keeper.lost.is_set()


def test_an_unexpected_error_is_a_counted_failed_attempt(sandbox, shot, tmp_path, monkeypatch):
    render = queued_render(tmp_path, shot, 1, size=MB)
    upload = uploads.upload_for_render(render_id=render.pk)

    def boom(job, keeper, on_progress):
        raise RuntimeError("bug")

    monkeypatch.setattr(transfer, "put_parts", boom)
    upload = uploads.upload_run(upload_id=upload.pk)
    assert upload.state == Upload.State.UPLOADING and upload.attempts == 1
    assert upload.last_error == "bug" and upload.next_attempt_at is not None and upload.lease_owner == ""


def test_part_urls_expiring_twice_is_a_failed_attempt(sandbox, shot, tmp_path, monkeypatch):
    upload = uploads.upload_for_render(render_id=queued_render(tmp_path, shot, 1, size=MB).pk)

    def expired(job, keeper, on_progress):
        raise errors.UrlsExpired()

    monkeypatch.setattr(transfer, "put_parts", expired)
    upload = uploads.upload_run(upload_id=upload.pk)
    assert upload.state == Upload.State.UPLOADING and upload.attempts == 1 and upload.lease_owner == ""
    assert "expired again" in upload.last_error and upload.next_attempt_at is not None


@pytest.fixture
def worker_stopping():
    """What a qcluster worker's SIGTERM sets (postflow/management/commands/qcluster.py)."""
    yield shutdown.request
    shutdown.reset()


def test_a_worker_stop_keeps_the_parts_done_and_gives_back_the_lease(
    sandbox, shot, tmp_path, settings, worker_stopping
):
    settings.FRAMEIO_PART_CONCURRENCY = 1
    render = queued_render(tmp_path, shot, 1, size=20 * MB)  # 5 parts
    upload = uploads.upload_for_render(render_id=render.pk)
    original_put = transfer.put_part
    started, slow = [], []

    def stop_during_the_third(job, fd, part, progress, stop):
        started.append(part.index)
        if len(started) == 3:  # a stop while this part goes up at 2 MB/s
            slow.append(sandbox.faults.add("PUT /s3/*", bandwidth=2 * MB))
            threading.Timer(0.3, worker_stopping).start()
        return original_put(job, fd, part, progress, stop)

    transfer.put_part = stop_during_the_third
    try:
        upload = uploads.upload_run(upload_id=upload.pk)
    finally:
        transfer.put_part = original_put
    # The part in flight was cut short, or had already left in the socket's buffers and landed.
    done = UploadPart.objects.filter(done_at__isnull=False).count()
    assert len(started) == 3 and done in (2, 3) and upload.bytes_done == done * 4 * MB  # the last two never started
    assert upload.state == Upload.State.UPLOADING and upload.lease_owner == "" and upload.lease_until is None
    assert upload.last_error == "" and upload.next_attempt_at is None  # not a failure: due again at once
    assert upload.attempts == 0  # nor a try: FRAMEIO_UPLOAD_MAX_ATTEMPTS counts failures, not deploys

    shutdown.reset()  # the next worker
    sandbox.faults.remove(slow[0])
    counter = part_puts(sandbox)
    upload = uploads.upload_run(upload_id=upload.pk)
    assert upload.state == Upload.State.UPLOADED, upload.last_error
    assert counter.hits == 5 - done
    assert remote_bytes(sandbox, upload.frameio_file_id) == (Path(render.root) / render.path).read_bytes()


def test_a_worker_stop_cuts_the_put_of_a_part_short(tmp_path, worker_stopping):
    """Stopped, raised by the body as requests reads it, ends the PUT and reaches the attempt as is."""
    listener = socket.create_server(("127.0.0.1", 0))
    received = []

    def read_without_answering():  # a slow network: it takes the bytes and never answers
        connection, _ = listener.accept()
        with connection:
            while data := connection.recv(65536):
                received.append(len(data))

    threading.Thread(target=read_without_answering, daemon=True).start()
    path = tmp_path / "part"
    path.write_bytes(b"x" * 64 * MB)
    fd = os.open(path, os.O_RDONLY)
    sent = []

    def on_bytes(amount: int) -> None:
        sent.append(amount)
        if sum(sent) >= MB:
            worker_stopping()

    try:
        with pytest.raises(errors.Stopped):
            requests.put(
                f"http://127.0.0.1:{listener.getsockname()[1]}/part",
                data=transfer.PartBody(fd, 0, 64 * MB, on_bytes),
                timeout=(5, 30),
            )
    finally:
        os.close(fd)
        listener.close()
    assert MB <= sum(sent) < 64 * MB


def test_a_stopping_worker_starts_no_upload(sandbox, shot, tmp_path, worker_stopping):
    upload = uploads.upload_for_render(render_id=queued_render(tmp_path, shot, 1, size=MB).pk)
    worker_stopping()
    upload = uploads.upload_run(upload_id=upload.pk)
    assert upload.state == Upload.State.QUEUED and upload.attempts == 0 and upload.lease_owner == ""
    assert not sandbox.state.files


def test_one_missing_file_does_not_stop_following_the_others(sandbox, shot, tmp_path):
    gone = uploads.upload_render(render_id=queued_render(tmp_path, shot, 1, size=MB).pk)
    kept = uploads.upload_render(render_id=queued_render(tmp_path, shot, 2, size=MB).pk)
    Upload.objects.filter(pk=gone.pk).update(frameio_file_id="00000000-0000-0000-0000-000000000000")
    sandbox.wait_for(lambda: sandbox.state.files[kept.frameio_file_id]["status"] == "transcoded")
    assert uploads.uploads_reconcile()["followed"] == 1
    kept.refresh_from_db()
    gone.refresh_from_db()
    assert (kept.state, gone.state) == (Upload.State.READY, Upload.State.UPLOADED)
