"""Pull mode (frameio/uploads/pull.py): the signed URL Frame.io fetches a render from, and an upload in
which the sandbox fetches it itself over loopback, cut once and resumed with a Range request."""

import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from frameio import uploads
from frameio.models import Upload
from frameio.uploads import pull
from tests.frameio.uploading import MB, queued_render

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def public(settings):
    settings.POSTFLOW_PUBLIC_URL = "https://postflow.example.com"
    settings.FRAMEIO_PULL_URL_TTL = 3600
    return settings


def _path(url: str) -> str:
    return urlsplit(url).path


def test_the_signed_url_serves_the_render_whole_and_by_range(public, shot, tmp_path, client):
    render = queued_render(tmp_path, shot, 1, size=3 * MB)
    data = (Path(render.root) / render.path).read_bytes()
    url = pull.signed_url(render)
    assert url.startswith("https://postflow.example.com/frameio/pull/") and url.endswith("/UNDLM_00042_v001.mov")
    whole = client.get(_path(url))
    assert whole.status_code == 200 and b"".join(whole.streaming_content) == data
    etag = f'"{render.checksum}"'
    assert whole["ETag"] == etag and whole["Accept-Ranges"] == "bytes" and whole["Content-Length"] == str(len(data))
    head = client.head(_path(url))
    assert head.status_code == 200 and head["Content-Length"] == str(len(data)) and head.content == b""
    part = client.get(_path(url), HTTP_RANGE="bytes=1000-")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"
    assert b"".join(part.streaming_content) == data[1000:]
    tail = client.get(_path(url), HTTP_RANGE="bytes=-10", HTTP_IF_RANGE=etag)
    assert tail.status_code == 206 and b"".join(tail.streaming_content) == data[-10:]
    other = client.get(_path(url), HTTP_RANGE="bytes=1000-", HTTP_IF_RANGE='"another content"')
    assert other.status_code == 200 and b"".join(other.streaming_content) == data  # If-Range failed: all of it
    assert client.get(_path(url), HTTP_RANGE=f"bytes={len(data)}-").status_code == 416


def test_a_bad_signature_an_expired_url_and_other_paths_are_refused(public, shot, tmp_path, client):
    render = queued_render(tmp_path, shot, 1, size=MB)
    path = _path(pull.signed_url(render))
    render_id, expires, signature, _name = path.split("/")[-4:]
    forged = path.replace(signature, signature[:-1] + ("0" if signature[-1] != "0" else "1"))
    assert client.get(forged).status_code == 403
    other_render = path.replace(f"/pull/{render_id}/", f"/pull/{int(render_id) + 1}/")
    assert client.get(other_render).status_code == 410  # no such render: nothing tells it from a bad one
    later = path.replace(f"/{expires}/", f"/{int(expires) + 60}/")  # a longer life is another signature
    assert client.get(later).status_code == 403
    expired = _path(pull.signed_url(render, now=time.time() - 2 * 3600))
    assert client.get(expired).status_code == 403
    assert client.get(path.rsplit("/", 1)[0] + "/").status_code == 404  # no listing
    assert client.post(path).status_code == 405


def test_a_changed_file_is_refused(public, shot, tmp_path, client):
    render = queued_render(tmp_path, shot, 1, size=MB)
    path = _path(pull.signed_url(render))
    file = Path(render.root) / render.path
    file.write_bytes(os.urandom(MB))  # changed on disk, not yet seen by the watcher
    assert client.get(path).status_code == 410
    render.checksum = "0" * 32  # the watcher verified new content: the URL was signed for the old one
    render.save(update_fields=["checksum"])
    assert client.get(path).status_code == 403


def test_pull_upload_end_to_end_in_the_sandbox(sandbox, shot, tmp_path, settings, live_server):
    settings.FRAMEIO_UPLOAD_MODE = "pull"
    settings.POSTFLOW_PUBLIC_URL = live_server.url
    sandbox.faults.add("FETCH *", reset_after=3 * MB, times=1)  # the first fetch is cut after 3 MB
    render = queued_render(tmp_path, shot, 1, size=10 * MB)
    upload = uploads.upload_render(render_id=render.pk)
    assert upload.state == Upload.State.UPLOADED, upload.last_error
    assert [f["range"] for f in sandbox.fetches] == [None, f"bytes={3 * MB - 3 * MB % 65536}-"]
    assert [f["status"] for f in sandbox.fetches] == [200, 206]
    files = [f for f in sandbox.state.files.values() if f["name"] == render.path]
    assert len(files) == 1 and files[0]["id"] == upload.frameio_file_id  # one Frame.io file
    record = files[0]
    assert Path(record["_parts"]["1"]["path"]).read_bytes() == (Path(render.root) / render.path).read_bytes()
    assert upload.bytes_done == render.size
    shot.refresh_from_db()
    assert shot.status == "review_uploaded"
    again = uploads.upload_run(upload_id=upload.pk)  # run twice: nothing more in Frame.io
    assert again.frameio_file_id == upload.frameio_file_id
    assert len([f for f in sandbox.state.files.values() if f["name"] == render.path]) == 1


def test_pull_mode_without_a_public_url_fails_the_check(settings):
    from frameio.checks import check_pull_mode

    settings.FRAMEIO_UPLOAD_MODE, settings.POSTFLOW_PUBLIC_URL = "pull", ""
    assert [e.id for e in check_pull_mode()] == ["frameio.E010"]
    settings.POSTFLOW_PUBLIC_URL = "https://postflow.example.com"
    assert check_pull_mode() == []
