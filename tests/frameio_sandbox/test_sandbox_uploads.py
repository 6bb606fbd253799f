"""Local upload against the sandbox: presigned part URLs, S3's refusals, streaming, and the faults
(connection resets, bandwidth caps, injected errors, latency)."""

import hashlib
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psutil
import pytest
import requests

from frameio_sandbox import SandboxConfig, run_sandbox
from frameio_sandbox.uploads import plan_parts
from tests.frameio_sandbox.harness import SandboxApi, SpecChecker, put_parts

MiB = 1024 * 1024
HEADERS = {"Content-Type": "video/quicktime", "x-amz-acl": "private"}


@pytest.fixture(scope="module")
def checker():
    return SpecChecker()  # the in-repo slice of the spec: every answer is checked, with or without ../shared


@pytest.fixture
def sandbox():
    with run_sandbox(SandboxConfig(transcode_delay=0.1, upload_part_size=MiB, seed=3)) as running:
        yield running


@pytest.fixture
def api(sandbox, checker):
    checker.problems.clear()
    yield SandboxApi(sandbox, checker=checker)
    assert checker.problems == []


@pytest.fixture
def root(api, sandbox):
    project = api.post(f"/workspaces/{sandbox.workspace_id}/projects", {"name": "Uploads"}).json()["data"]
    return project["root_folder_id"]


def create_upload(api, root: str, size: int, name: str = "SH010_v001.mov") -> dict:
    response = api.post(f"/folders/{root}/files/local_upload", {"name": name, "file_size": size})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def status_of(api, file_id: str) -> dict:
    return api.get(f"/files/{file_id}/status").json()["data"]


def test_part_plan_follows_the_documented_example():
    # Frame.io's own example: 50,645,990 bytes in 3 parts of 16,881,997 (the last one shorter).
    assert plan_parts(50_645_990, 20_000_000, 10_000) == [16_881_997, 16_881_997, 16_881_996]
    assert plan_parts(1, 20_000_000, 10_000) == [1]
    assert plan_parts(20_000_000, 20_000_000, 10_000) == [20_000_000]
    assert len(plan_parts(5 * 10**12, 20_000_000, 10_000)) == 10_000
    for size in (1, 2, 999, 1000, 1001, 10_001, 123_457):
        for part_size, cap in ((1, 10_000), (7, 3), (1000, 10_000)):
            plan = plan_parts(size, part_size, cap)
            assert sum(plan) == size and min(plan) > 0 and len(plan) <= cap
            assert plan[:-1] == [plan[0]] * (len(plan) - 1) and plan[0] == -(-size // len(plan))


def test_multipart_upload_created_uploaded_transcoded(api, sandbox, root):
    payload = os.urandom(2 * MiB + 12345)
    upload = create_upload(api, root, len(payload))
    assert upload["status"] == "created"
    sizes = [part["size"] for part in upload["upload_urls"]]
    assert sizes == [-(-len(payload) // 3)] * 2 + [len(payload) - 2 * -(-len(payload) // 3)]
    assert all(re.search(r"X-Amz-Expires=\d+&.*X-Amz-Signature=[0-9a-f]{64}", p["url"]) for p in upload["upload_urls"])
    assert status_of(api, upload["id"]) | {"id": None} == {
        "id": None,
        "filetype": "video/quicktime",
        "upload_complete": False,
        "upload_failed": False,
        "uploaded_at": None,
        "upload_completed_at": None,
    }

    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    chunks = [payload[o : o + s] for o, s in zip(offsets, sizes, strict=True)]
    first, *rest = list(zip(upload["upload_urls"], chunks, strict=True))
    response = requests.put(first[0]["url"], data=first[1], headers=HEADERS, timeout=10)
    assert response.status_code == 200
    assert response.headers["ETag"] == f'"{hashlib.md5(first[1]).hexdigest()}"'  # noqa: S324
    assert status_of(api, upload["id"])["upload_complete"] is False
    assert status_of(api, upload["id"])["uploaded_at"] is not None

    with ThreadPoolExecutor(max_workers=2) as pool:  # the remaining parts in parallel, as the SDK does
        results = list(pool.map(lambda pc: requests.put(pc[0]["url"], data=pc[1], headers=HEADERS, timeout=10), rest))
    assert [r.status_code for r in results] == [200, 200]

    status = status_of(api, upload["id"])
    assert status["upload_complete"] is True and status["upload_completed_at"] is not None
    assert api.get(f"/files/{upload['id']}").json()["data"]["status"] in ("uploaded", "transcoded")
    sandbox.wait_for(lambda: sandbox.state.files[upload["id"]]["status"] == "transcoded")
    assert sandbox.state.file_content(upload["id"]) == payload
    events = [e["type"] for e in sandbox.state.events if e["resource"]["id"] == upload["id"]]
    assert events == ["file.created", "file.upload.completed", "file.ready"]

    shown = api.get(f"/files/{upload['id']}", params={"include": "media_links.original,media_links.thumbnail"})
    assert shown.json()["data"]["status"] == "transcoded"
    links = shown.json()["data"]["media_links"]
    download = requests.get(links["original"]["download_url"], timeout=10)
    assert download.content == payload and download.headers["Content-Disposition"].startswith("attachment")
    assert links["thumbnail"]["url"]


def test_wrong_content_type_or_missing_acl_is_403(api, sandbox, root):
    upload = create_upload(api, root, 10)
    url = upload["upload_urls"][0]["url"]
    wrong_type = requests.put(url, data=b"0123456789", headers={**HEADERS, "Content-Type": "video/mp4"}, timeout=5)
    assert wrong_type.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in wrong_type.text
    assert "media_type video/quicktime" in wrong_type.headers["x-sandbox-reason"]
    no_acl = requests.put(url, data=b"0123456789", headers={"Content-Type": "video/quicktime"}, timeout=5)
    assert no_acl.status_code == 403
    assert "x-amz-acl" in no_acl.headers["x-sandbox-reason"]
    public = requests.put(url, data=b"0123456789", headers={**HEADERS, "x-amz-acl": "public-read"}, timeout=5)
    assert public.status_code == 403
    tampered = requests.put(url[:-4] + "0000", data=b"0123456789", headers=HEADERS, timeout=5)
    assert tampered.status_code == 403
    unsigned = requests.put(url.split("?")[0], data=b"0123456789", headers=HEADERS, timeout=5)
    assert unsigned.status_code == 403
    assert sandbox.state.files[upload["id"]]["_parts"] == {}
    assert status_of(api, upload["id"])["upload_complete"] is False
    # the refusals drained the bodies, so the keep-alive connection still serves the right PUT
    session = requests.Session()
    assert session.put(url, data=b"0123456789", headers={**HEADERS, "x-amz-acl": "x"}, timeout=5).status_code == 403
    assert session.put(url, data=b"0123456789", headers=HEADERS, timeout=5).status_code == 200


def test_expired_url_is_403_request_has_expired(api, sandbox, root):
    upload = create_upload(api, root, 10)
    sandbox.advance_clock(sandbox.config.upload_url_ttl + 1)
    response = requests.put(upload["upload_urls"][0]["url"], data=b"0123456789", headers=HEADERS, timeout=5)
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code><Message>Request has expired</Message>" in response.text
    assert response.headers["Content-Type"] == "application/xml"


def test_chunked_body_is_411_like_s3(api, root):
    upload = create_upload(api, root, 10)
    response = requests.put(
        upload["upload_urls"][0]["url"], data=iter([b"01234", b"56789"]), headers=HEADERS, timeout=5
    )
    assert response.status_code == 411
    assert "MissingContentLength" in response.text


def test_a_part_put_twice_overwrites_and_completes_once(api, sandbox, root):
    payload = os.urandom(int(1.5 * MiB))
    upload = create_upload(api, root, len(payload))
    first, second = upload["upload_urls"]
    put = lambda part, data: requests.put(part["url"], data=data, headers=HEADERS, timeout=10)  # noqa: E731
    assert put(first, b"\0" * first["size"]).status_code == 200
    assert put(first, payload[: first["size"]]).status_code == 200
    assert put(second, payload[first["size"] :]).status_code == 200
    assert put(second, payload[first["size"] :]).status_code == 200  # after completion: still accepted
    assert sandbox.state.file_content(upload["id"]) == payload
    events = [e["type"] for e in sandbox.state.events if e["resource"]["id"] == upload["id"]]
    assert events.count("file.upload.completed") == 1


def test_a_part_of_the_wrong_size_keeps_the_file_created(api, root):
    upload = create_upload(api, root, 3 * MiB // 2)
    first, second = upload["upload_urls"]
    assert requests.put(first["url"], data=b"x" * (first["size"] - 1), headers=HEADERS, timeout=10).status_code == 200
    assert requests.put(second["url"], data=b"y" * second["size"], headers=HEADERS, timeout=10).status_code == 200
    assert status_of(api, upload["id"]) | {"id": None, "uploaded_at": None} == {
        "id": None,
        "filetype": "video/quicktime",
        "upload_complete": False,
        "upload_failed": True,
        "uploaded_at": None,
        "upload_completed_at": None,
    }
    assert requests.put(first["url"], data=b"x" * first["size"], headers=HEADERS, timeout=10).status_code == 200
    assert status_of(api, upload["id"])["upload_complete"] is True
    assert status_of(api, upload["id"])["upload_failed"] is False


class SizedStream:
    """A body of `size` bytes made on the fly, with a length so requests sends Content-Length."""

    def __init__(self, size: int, chunk: bytes):
        self.size, self.chunk, self.md5 = size, chunk, hashlib.md5()  # noqa: S324

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        left = self.size
        while left:
            piece = self.chunk[: min(left, len(self.chunk))]
            self.md5.update(piece)
            left -= len(piece)
            yield piece


def test_a_64_mib_part_streams_to_disk_in_bounded_chunks(api, sandbox, root):
    size = 64 * MiB
    sandbox.config.upload_part_size = size
    upload = create_upload(api, root, size)
    assert len(upload["upload_urls"]) == 1
    process, peak, done = psutil.Process(), [0], threading.Event()
    baseline = process.memory_info().rss

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    body = SizedStream(size, os.urandom(MiB))
    try:
        response = requests.put(upload["upload_urls"][0]["url"], data=body, headers=HEADERS, timeout=60)
    finally:
        done.set()
        sampler.join()
    assert response.status_code == 200
    assert response.headers["ETag"] == f'"{body.md5.hexdigest()}"'
    assert (sandbox.data_dir / upload["id"] / "part_1").stat().st_size == size
    assert peak[0] - baseline < 16 * MiB, f"the server's memory grew by {(peak[0] - baseline) / MiB:.0f} MiB"
    assert sandbox.stats["max_body_read"] <= sandbox.config.body_chunk_size


def test_connection_reset_in_the_middle_of_a_put(api, sandbox, root):
    payload = os.urandom(MiB)
    upload = create_upload(api, root, len(payload))
    rule = sandbox.faults.add("PUT /s3/*", reset_after=200_000, times=1)
    with pytest.raises(requests.ConnectionError):
        requests.put(upload["upload_urls"][0]["url"], data=payload, headers=HEADERS, timeout=10)
    assert rule.hits == 1
    assert sandbox.state.files[upload["id"]]["_parts"] == {}
    assert [p.name for p in (sandbox.data_dir / upload["id"]).iterdir()] == []  # no half part left behind
    retry = requests.put(upload["upload_urls"][0]["url"], data=payload, headers=HEADERS, timeout=10)
    assert retry.status_code == 200
    assert status_of(api, upload["id"])["upload_complete"] is True


def test_bandwidth_cap_slows_a_put(api, sandbox, root):
    payload = os.urandom(400_000)
    upload = create_upload(api, root, len(payload))
    url = upload["upload_urls"][0]["url"]
    started = time.monotonic()
    assert requests.put(url, data=payload, headers=HEADERS, timeout=10).status_code == 200
    uncapped = time.monotonic() - started
    sandbox.faults.add("PUT /s3/*", bandwidth=1_000_000)
    started = time.monotonic()
    assert requests.put(url, data=payload, headers=HEADERS, timeout=10).status_code == 200
    capped = time.monotonic() - started
    assert capped >= 0.38 and capped > 4 * uncapped, (capped, uncapped)


def test_injected_errors_are_deterministic_with_a_seed():
    def statuses(seed: int) -> list[int]:
        with run_sandbox(SandboxConfig(seed=seed)) as sandbox:
            sandbox.faults.add("GET /v4/me", status=503, rate=0.5)
            api = SandboxApi(sandbox)
            return [api.get("/v4/me").status_code for _ in range(30)]

    first = statuses(11)
    assert set(first) == {200, 503}
    assert statuses(11) == first
    assert statuses(12) != first


def test_injected_429_latency_and_s3_errors(api, sandbox, root):
    sandbox.faults.add("/v4/*/projects", status=429, times=1)
    limited = api.get("/projects")
    assert limited.status_code == 429
    assert limited.headers["x-ratelimit-remaining"] == "0" and limited.headers["x-ratelimit-limit"] == "100"
    assert api.get("/projects").status_code == 200  # times=1: spent

    sandbox.faults.add("GET /v4/me", latency=0.2)
    started = time.monotonic()
    assert api.get("/v4/me").status_code == 200
    assert time.monotonic() - started >= 0.2

    upload = create_upload(api, root, 10)
    sandbox.faults.add("PUT /s3/*", status=500, times=1)
    failed = requests.put(upload["upload_urls"][0]["url"], data=b"0123456789", headers=HEADERS, timeout=5)
    assert failed.status_code == 500 and "<Code>InternalError</Code>" in failed.text
    assert put_parts(upload, b"0123456789")[0].status_code == 200
    sandbox.faults.clear()
    assert sandbox.faults.rules == []


def test_remote_upload_fetches_loopback_urls_only(api, sandbox, root):
    payload = os.urandom(300_000)

    class Source(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Source)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/SH010_v001.mov"
        created = api.post(f"/folders/{root}/files/remote_upload", {"name": "SH010_v001.mov", "source_url": url})
        assert created.status_code == 202, created.text
        file_id = created.json()["data"]["id"]
        assert created.json()["links"]["status"].endswith(f"/files/{file_id}/status")
        sandbox.wait_for(lambda: status_of(api, file_id)["upload_complete"], timeout=10)
        record = sandbox.state.files[file_id]
        assert record["file_size"] == len(payload) and sandbox.fetches == [{"range": None, "status": 200}]
        elsewhere = {"name": "x.mov", "source_url": "https://example.com/x.mov"}
        refused = api.post(f"/folders/{root}/files/remote_upload", elsewhere)
        assert refused.status_code == 422
    finally:
        server.shutdown()
