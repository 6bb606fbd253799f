"""Cached Frame.io ids that Frame.io no longer knows (issue #15, point 3): a folder, a version stack or the
project deleted in Frame.io between two uploads. The next upload drops the stale id, finds or makes the
object again once, records a `cache_dropped` event and goes on. And `manage.py frameio_cache`."""

import json
from io import StringIO

import pytest
import responses
from django.core.management import CommandError, call_command

from frameio import uploads
from frameio.client import FrameioClient, FrameioError, StaleReference
from frameio.models import FrameioConnection, FrameioConnectionEvent, Upload
from shots.models import Project, Scene, Shot
from tests.frameio.uploading import MB, queued_render
from tests.frameio_sandbox.harness import SandboxApi

pytestmark = pytest.mark.django_db(transaction=True)


def upload(tmp_path, shot, version: int) -> Upload:
    done = uploads.upload_render(render_id=queued_render(tmp_path, shot, version, size=MB).pk)
    assert done.state == Upload.State.UPLOADED, done.last_error
    return done


def dropped() -> list[tuple[str, str]]:
    events = FrameioConnectionEvent.objects.filter(kind=FrameioConnectionEvent.Kind.CACHE_DROPPED).order_by("id")
    return [(e.details["what"], e.details["id"]) for e in events]


def stack_children(sandbox, stack_id: str) -> set[str]:
    return {f["id"] for f in sandbox.state.files.values() if f["parent_id"] == stack_id}


def test_a_scene_folder_deleted_in_frameio_is_made_again_by_the_next_upload(sandbox, shot, tmp_path):
    first = upload(tmp_path, shot, 1)
    shot.scene.refresh_from_db()
    old_folder = shot.scene.frameio_folder_id
    assert SandboxApi(sandbox).delete(f"/folders/{old_folder}").status_code == 204  # v1 goes with it

    second = upload(tmp_path, shot, 2)  # was: HTTP 404 Folder not found, every time
    shot.scene.refresh_from_db()
    new_folder = shot.scene.frameio_folder_id
    assert new_folder != old_folder and sandbox.state.folders[new_folder]["name"] == "SEQ01 - REVEIL HOPITAL - JOUR"
    assert sandbox.state.files[second.frameio_file_id]["parent_id"] == new_folder
    assert first.frameio_file_id not in sandbox.state.files
    assert dropped() == [("scene folder", old_folder)]
    shot.refresh_from_db()
    assert shot.frameio_version_stack_id == ""  # v1 is gone: v2 stays a plain file
    third = upload(tmp_path, shot, 3)  # and v3 stacks onto v2
    shot.refresh_from_db()
    assert stack_children(sandbox, shot.frameio_version_stack_id) == {second.frameio_file_id, third.frameio_file_id}


def test_a_deleted_project_is_found_by_name_or_made_again(sandbox, shot, tmp_path):
    upload(tmp_path, shot, 1)
    project = Project.objects.get(pk=shot.project_id)
    old_project = project.frameio_project_id
    assert FrameioConnection.objects.get().project_id == old_project  # the first upload chose it
    assert SandboxApi(sandbox).delete(f"/projects/{old_project}").status_code == 204

    second = upload(tmp_path, shot, 2)
    project.refresh_from_db()
    assert project.frameio_project_id not in ("", old_project)
    assert sandbox.state.projects[project.frameio_project_id]["name"] == "UNDLM Documentary"
    assert sandbox.state.files[second.frameio_file_id]["project_id"] == project.frameio_project_id
    assert FrameioConnection.objects.get().project_id == project.frameio_project_id
    kinds = [what for what, _ in dropped()]
    assert kinds == ["scene folder", "project", "connection project"]


def test_a_version_stack_taken_apart_in_frameio_is_stacked_afresh(sandbox, shot, tmp_path):
    files = [upload(tmp_path, shot, v).frameio_file_id for v in (1, 2)]
    shot.refresh_from_db()
    old_stack, folder = shot.frameio_version_stack_id, shot.scene.frameio_folder_id
    api = SandboxApi(sandbox)
    for file_id in files:  # out of the stack, which Frame.io deletes once empty
        assert api.patch(f"/files/{file_id}/move", {"parent_id": folder}).status_code == 200
    assert old_stack not in sandbox.state.version_stacks

    third = upload(tmp_path, shot, 3)
    shot.refresh_from_db()
    assert shot.frameio_version_stack_id not in ("", old_stack)
    assert stack_children(sandbox, shot.frameio_version_stack_id) == {files[1], third.frameio_file_id}
    assert dropped() == [("version stack", old_stack)]


def test_a_version_stack_deleted_with_its_versions_leaves_the_next_one_plain(sandbox, shot, tmp_path):
    for version in (1, 2):
        upload(tmp_path, shot, version)
    shot.refresh_from_db()
    old_stack = shot.frameio_version_stack_id
    with sandbox.state.lock:  # deleted in Frame.io's web app, with the files in it
        sandbox.state.delete_asset(old_stack)
    third = upload(tmp_path, shot, 3)
    assert sandbox.state.files[third.frameio_file_id]["parent_id"] == shot.scene.frameio_folder_id
    shot.refresh_from_db()
    assert shot.frameio_version_stack_id == "" and dropped() == [("version stack", old_stack)]


def test_the_id_is_made_again_once_not_in_a_loop(sandbox, shot, tmp_path, settings):
    settings.FRAMEIO_UPLOAD_MAX_ATTEMPTS = 1
    upload(tmp_path, shot, 1)
    refused = sandbox.faults.add("POST /v4/accounts/*/folders/*/files/local_upload", status=404)
    failed = uploads.upload_render(render_id=queued_render(tmp_path, shot, 2, size=MB).pk)
    assert failed.state == Upload.State.FAILED and "HTTP 404" in failed.last_error
    assert refused.hits == 2  # the cached folder, then the one found again: no more
    assert [what for what, _ in dropped()] == ["scene folder"]


def test_a_404_and_a_403_not_in_this_project_are_stale_references_other_errors_are_not(rsps):
    client = FrameioClient(base_url="https://api.example.com", token_provider=lambda: "t")
    folder = "https://api.example.com/v4/accounts/a/folders/f"
    for status, detail, stale in (
        (404, "Folder not found", True),
        (403, "Folder is not in this project", True),
        (403, "You do not have permission", False),
        (422, "Missing field: name", False),
    ):
        rsps.get(folder, status=status, json={"errors": [{"detail": detail}]})
        with pytest.raises(FrameioError) as error:
            client.show_folder(account_id="a", folder_id="f")
        assert isinstance(error.value, StaleReference) is stale, (status, detail)
        assert error.value.status == status
        rsps.remove(responses.GET, folder)


# --- manage.py frameio_cache ------------------------------------------------------------------------


def cache(*args: str) -> tuple[int, dict]:
    out = StringIO()
    try:
        call_command("frameio_cache", *args, "--json", stdout=out)
        code = 0
    except CommandError as error:
        code = error.returncode
    return code, json.loads(out.getvalue()) if out.getvalue() else {}


def test_frameio_cache_stats_verify_and_clear(sandbox, shot, tmp_path):
    for version in (1, 2):
        upload(tmp_path, shot, version)
    code, stats = cache("stats")
    assert code == 0
    assert [row["kind"] for row in stats["cached"]] == ["project", "root folder", "scene folder", "version stack"]
    code, verified = cache("verify")
    assert code == 0 and {row["state"] for row in verified["cached"]} == {"ok"}

    shot.refresh_from_db()
    SandboxApi(sandbox).delete(f"/folders/{shot.scene.frameio_folder_id}")
    code, verified = cache("verify", "--scene", "1")
    states = {row["kind"]: row["state"] for row in verified["cached"]}
    assert code == 1 and states["scene folder"].startswith("gone") and states["version stack"].startswith("gone")
    assert cache("verify")[1]["cached"][0]["state"] == "ok"  # the project is still there

    code, cleared = cache("clear", "--scene", "1")
    assert code == 0 and [row["kind"] for row in cleared["cleared"]] == ["scene folder", "version stack"]
    assert Scene.objects.get().frameio_folder_id == "" and Shot.objects.get().frameio_version_stack_id == ""
    assert Project.objects.get().frameio_project_id  # only that scene's
    event = FrameioConnectionEvent.objects.get(kind=FrameioConnectionEvent.Kind.CACHE_DROPPED)
    assert event.actor == "manage.py frameio_cache" and len(event.details["ids"]) == 2

    upload(tmp_path, shot, 3)  # the next upload makes what is missing
    assert Scene.objects.get().frameio_folder_id in sandbox.state.folders
    code, cleared = cache("clear")
    assert code == 0 and [row["kind"] for row in cleared["cleared"]] == ["project", "root folder", "scene folder"]
    assert cache("stats") == (0, {"cached": []})
    upload(tmp_path, shot, 4)  # found again by name: no second project, no second folder
    assert len(sandbox.state.projects) == 1
    assert len([f for f in sandbox.state.folders.values() if f["name"].startswith("SEQ01")]) == 1


def test_frameio_cache_usage_errors_exit_2(sandbox, shot):
    assert cache("stats", "--scene", "9")[0] == 2
    with pytest.raises(CommandError) as error:
        call_command("frameio_cache", "clear", "--scene", "9", stdout=StringIO())
    assert error.value.returncode == 2
