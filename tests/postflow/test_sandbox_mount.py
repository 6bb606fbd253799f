"""The Frame.io sandbox embedded in the web process: daphne serving postflow.asgi on a free port, in the
embedded default (no Frame.io credentials), checked through the web port: IMS and /v4 under
/frameio-sandbox, part URLs and links through the web origin, multi-MB part PUTs and downloads streamed with
bounded memory, Django still serving the other paths, `frameio_health` green, state kept across restarts;
and with credentials set, no sandbox under the prefix."""

import asyncio
import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import psutil
import pytest
import requests

from frameio_sandbox.asgi import SandboxProxy, _is_loopback, _local_request, mount
from frameio_sandbox.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SandboxConfig
from frameio_sandbox.state import ACCOUNT_ID, WORKSPACE_ID

REPO = Path(__file__).resolve().parents[2]
PREFIX = "/frameio-sandbox"
MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def web_env(var_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """The embedded default: no credentials, everything under `var_dir` (set empty, not unset, so that a
    developer's .env cannot fill them in)."""
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "POSTFLOW_VAR_DIR": str(var_dir),
        "POSTFLOW_PORT": str(port),
        "DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}",
        "FRAMEIO_CLIENT_ID": "",
        "FRAMEIO_CLIENT_SECRET": "",
        "FRAMEIO_SANDBOX": "",
        "FRAMEIO_SANDBOX_URL": "",
        "FRAMEIO_AUTH": "s2s",
        "FRAMEIO_SCOPES": "",
        "FRAMEIO_ACCOUNT_ID": "",
        "FRAMEIO_WORKSPACE_ID": "",
        "FRAMEIO_DEFAULT_PROJECT_ID": "",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(extra)
    return env


class Web:
    """`daphne -b 127.0.0.1 -p PORT postflow.asgi:application`, as the Procfile runs it."""

    def __init__(self, var_dir: Path, env: dict[str, str], port: int) -> None:
        self.var_dir, self.env, self.port = var_dir, env, port
        self.origin = f"http://127.0.0.1:{port}"
        self.sandbox_url = self.origin + PREFIX
        self.process: subprocess.Popen | None = None

    def start(self) -> "Web":
        log = (self.var_dir / "daphne.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "postflow.asgi:application"],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited: {self.log()[-3000:]}")
            try:
                requests.get(self.origin + "/", timeout=2, allow_redirects=False)
                return self
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"daphne did not come up: {self.log()[-3000:]}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return (self.var_dir / "daphne.log").read_text(errors="replace")

    @property
    def rss(self) -> int:
        return psutil.Process(self.process.pid).memory_info().rss


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("embedded")
    port = free_port()
    env = web_env(var_dir, port)
    migrate(env)
    server = Web(var_dir, env, port).start()
    yield server
    server.stop()


def s2s_token(base: str) -> str:
    response = requests.post(
        f"{base}/ims/token/v3",
        data={"grant_type": "client_credentials", "scope": "openid AdobeID frame.s2s.all"},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


class PacedSession(requests.Session):
    """Waits and tries again on 429, as a client honouring the published rate limits would."""

    def request(self, *args, **kwargs):
        for _ in range(30):
            response = super().request(*args, **kwargs)
            if response.status_code != 429:
                return response
            time.sleep(0.35)
        return response


@pytest.fixture(scope="module")
def api(web):
    session = PacedSession()
    session.headers["Authorization"] = f"Bearer {s2s_token(web.sandbox_url)}"
    return session


def make_project(web, api, name: str) -> dict:
    response = api.post(
        f"{web.sandbox_url}/v4/accounts/{ACCOUNT_ID}/workspaces/{WORKSPACE_ID}/projects",
        json={"data": {"name": name}},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]


class GeneratedBody:
    """A request body made on the fly (never whole in memory), with a length, so requests sends
    Content-Length. Its bytes are a function of the offset, so a download can be checked."""

    def __init__(self, size: int, offset: int = 0) -> None:
        self.offset, self.end = offset, offset + size
        self.md5 = hashlib.md5()  # noqa: S324 - what S3 puts in a part's ETag

    def __len__(self) -> int:
        return self.end - self.offset

    def read(self, size: int = -1) -> bytes:
        size = len(self) if size is None or size < 0 else min(size, len(self))
        data = pattern(self.offset, size)
        self.offset += size
        self.md5.update(data)
        return data


def pattern(offset: int, size: int) -> bytes:
    block = bytes(range(256)) * 256  # 64 KiB
    start = offset % len(block)
    out = (block[start:] + block * (size // len(block) + 1))[:size]
    return out


class PeakRss:
    """The highest RSS of a process, sampled every 5 ms while the block runs."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> "PeakRss":
        self.base = self.process.memory_info().rss
        self.peak = self.base
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.base


# -- through the web port ---------------------------------------------------------------------------------


def test_me_with_a_client_credentials_token(web):
    token = s2s_token(web.sandbox_url)
    response = requests.get(f"{web.sandbox_url}/v4/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Server"].startswith("FrameioSandbox")
    assert response.headers["x-ratelimit-limit"]
    assert response.json()["data"]["id"]
    unauthenticated = requests.get(f"{web.sandbox_url}/v4/me", timeout=10)
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["errors"][0]["detail"] == "Missing bearer token"


def test_authorization_code_with_pkce_through_the_web_port(web):
    """What a browser and postflow's callback do against FRAMEIO_IMS_URL, here the web port."""
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    redirect_uri = f"{web.origin}/frameio/callback/"
    response = requests.get(
        f"{web.sandbox_url}/ims/authorize/v2",
        params={
            "client_id": DEFAULT_CLIENT_ID,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "openid offline_access",
            "state": "s1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    query = dict(parse_qsl(location.query))
    assert query["state"] == "s1"
    tokens = requests.post(
        f"{web.sandbox_url}/ims/token/v3",
        data={
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        timeout=10,
    ).json()
    assert tokens["refresh_token"]
    me = requests.get(
        f"{web.sandbox_url}/v4/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10
    )
    assert me.status_code == 200


def test_other_paths_are_still_django(web):
    # (No collectstatic here, so no page that renders: a redirect and Django's own 404 tell enough.)
    response = requests.get(f"{web.origin}/", timeout=10, allow_redirects=False)
    assert response.status_code == 302
    assert "/login/" in response.headers["Location"]
    assert not response.headers.get("Server", "").startswith("FrameioSandbox")
    # A path that only starts like the prefix is not the sandbox's either.
    assert (
        not requests.get(f"{web.origin}{PREFIX}-not/v4/me", timeout=10)
        .headers.get("Server", "")
        .startswith("FrameioSandbox")
    )


def test_handed_out_urls_go_through_the_web_server(web, api):
    project = make_project(web, api, "Embedded")
    assert project["view_url"].startswith(f"{web.sandbox_url}/project/")
    page = requests.get(project["view_url"], timeout=10)
    assert page.status_code == 200 and "Embedded" in page.text
    home = requests.get(f"{web.sandbox_url}/", timeout=10)
    assert f"{web.sandbox_url}/v4" in home.text


def test_pagination_links_through_the_web_port(web, api):
    project = make_project(web, api, "Pages")
    root = project["root_folder_id"]
    names = {f"folder {i}" for i in range(5)}
    for name in sorted(names):
        response = api.post(
            f"{web.sandbox_url}/v4/accounts/{ACCOUNT_ID}/folders/{root}/folders", json={"data": {"name": name}}
        )
        assert response.status_code == 201, response.text
    seen, pages = [], 0
    url = f"{web.sandbox_url}/v4/accounts/{ACCOUNT_ID}/folders/{root}/children"
    params = {"page_size": 2}
    while url:
        response = api.get(url, params=params, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [item["name"] for item in body["data"]]
        pages += 1
        next_link = body["links"]["next"]
        if next_link:
            # As Frame.io: a relative path under /v4 carrying the cursor, taken against the API base URL.
            assert next_link.startswith(f"/v4/accounts/{ACCOUNT_ID}/folders/{root}/children?after=")
        url = f"{web.sandbox_url}{next_link}" if next_link else None
    assert pages == 3
    assert sorted(seen) == sorted(names)


def upload_and_put(web, api, size: int) -> tuple[dict, PeakRss]:
    project = make_project(web, api, f"Upload {size}")
    response = api.post(
        f"{web.sandbox_url}/v4/accounts/{ACCOUNT_ID}/folders/{project['root_folder_id']}/files/local_upload",
        json={"data": {"name": "A001_C002.mov", "file_size": size}},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    upload = response.json()["data"]
    assert all(part["url"].startswith(f"{web.sandbox_url}/s3/") for part in upload["upload_urls"])
    headers = {"Content-Type": upload["media_type"], "x-amz-acl": "private"}
    offsets = [sum(part["size"] for part in upload["upload_urls"][:i]) for i in range(len(upload["upload_urls"]))]
    local = threading.local()

    def put(part: dict, offset: int) -> None:
        local.session = getattr(local, "session", None) or requests.Session()  # keep-alive, as uploaders do
        body = GeneratedBody(part["size"], offset)
        response = local.session.put(part["url"], data=body, headers=headers, timeout=120)
        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == f'"{body.md5.hexdigest()}"'

    with PeakRss(web.process.pid) as rss, ThreadPoolExecutor(4) as pool:  # 4 parts at a time, as uploaders do
        list(pool.map(put, upload["upload_urls"], offsets))
    return upload, rss


def test_part_puts_stream_through_the_web_process(web, api):
    size = 200 * MB
    upload, rss = upload_and_put(web, api, size)
    assert len(upload["upload_urls"]) == 11  # parts of ~19 MB (stock daphne would hold each one whole)
    print(f"\nweb process RSS while PUTting {size // MB} MB in 11 parts: {rss.base / MB:.0f} -> {rss.peak / MB:.0f} MB")
    assert rss.growth < 8 * MB, f"the web process grew by {rss.growth / MB:.0f} MB during a {size // MB} MB upload"
    status = api.get(f"{web.sandbox_url}/v4/accounts/{ACCOUNT_ID}/files/{upload['id']}/status", timeout=10)
    assert status.json()["data"]["upload_complete"] is True

    # The download comes back through the web port too, streamed, byte for byte.
    shown = api.get(
        f"{web.sandbox_url}/v4/accounts/{ACCOUNT_ID}/files/{upload['id']}",
        params={"include": "media_links.original"},
        timeout=10,
    ).json()["data"]
    url = shown["media_links"]["original"]["download_url"]
    assert url.startswith(f"{web.sandbox_url}/s3/")
    digest, received = hashlib.sha256(), 0
    with PeakRss(web.process.pid) as rss, requests.get(url, stream=True, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["Content-Length"] == str(size)
        for chunk in response.iter_content(MB):
            digest.update(chunk)
            received += len(chunk)
    expected = hashlib.sha256()
    for offset in range(0, size, 8 * MB):
        expected.update(pattern(offset, min(8 * MB, size - offset)))
    assert received == size and digest.hexdigest() == expected.hexdigest()
    print(f"web process RSS while downloading it: {rss.base / MB:.0f} -> {rss.peak / MB:.0f} MB")
    assert rss.growth < 8 * MB


def test_a_200_mb_request_body_streams_through_the_web_process(web, api):
    """One PUT of 200 MB (S3 takes parts up to 5 GB; the sandbox stores a part of any size)."""
    project = make_project(web, api, "One big part")
    upload = api.post(
        f"{web.sandbox_url}/v4/accounts/{ACCOUNT_ID}/folders/{project['root_folder_id']}/files/local_upload",
        json={"data": {"name": "big.mov", "file_size": 1000}},
        timeout=10,
    ).json()["data"]
    body = GeneratedBody(200 * MB)
    headers = {"Content-Type": upload["media_type"], "x-amz-acl": "private"}
    with PeakRss(web.process.pid) as rss:
        response = requests.put(upload["upload_urls"][0]["url"], data=body, headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == f'"{body.md5.hexdigest()}"'
    print(f"\nweb process RSS during one 200 MB PUT: {rss.base / MB:.0f} -> {rss.peak / MB:.0f} MB")
    assert rss.growth < 8 * MB, f"the web process grew by {rss.growth / MB:.0f} MB during one 200 MB PUT"


def test_slow_reader_does_not_fill_the_web_process(web, api):
    """A client that reads slowly: the proxy waits for Twisted's write buffer instead of queueing the file."""
    upload, _ = upload_and_put(web, api, 60 * MB)
    shown = api.get(
        f"{web.sandbox_url}/v4/accounts/{ACCOUNT_ID}/files/{upload['id']}",
        params={"include": "media_links.original"},
        timeout=10,
    ).json()["data"]
    url = shown["media_links"]["original"]["download_url"]
    with PeakRss(web.process.pid) as rss, requests.get(url, stream=True, timeout=60) as response:
        time.sleep(3)  # not reading: the whole file would be in daphne's buffer by now without back-pressure
        received = sum(len(chunk) for chunk in response.iter_content(MB))
    assert received == 60 * MB
    assert rss.growth < 30 * MB, f"grew by {rss.growth / MB:.0f} MB"


def test_refused_part_put_and_chunked_put(web, api):
    upload, _ = upload_and_put(web, api, 2 * MB + 1)  # a fresh file to PUT at again
    part = upload["upload_urls"][0]
    wrong = requests.put(
        part["url"],
        data=GeneratedBody(part["size"]),
        headers={"Content-Type": "text/plain", "x-amz-acl": "private"},
        timeout=30,
    )
    assert wrong.status_code == 403
    assert wrong.headers["x-sandbox-reason"].startswith("Content-Type text/plain")
    assert "<Code>SignatureDoesNotMatch</Code>" in wrong.text
    # Refused at once with more body coming than the sandbox reads before closing (16 MiB): still answered.
    wrong = requests.put(
        part["url"],
        data=GeneratedBody(40 * MB),
        headers={"Content-Type": upload["media_type"], "x-amz-acl": "public-read"},
        timeout=30,
    )
    assert wrong.status_code == 403
    assert wrong.headers["x-sandbox-reason"] == "x-amz-acl is public-read, not private"

    def chunks():
        yield b"x" * 1000

    chunked = requests.put(
        part["url"], data=chunks(), headers={"Content-Type": upload["media_type"], "x-amz-acl": "private"}, timeout=30
    )
    assert chunked.status_code == 411
    assert "MissingContentLength" in chunked.text
    # The web server is fine afterwards.
    assert requests.get(f"{web.sandbox_url}/v4/me", timeout=10).status_code == 401


def test_client_gone_in_the_middle_of_a_part(web, api):
    project = make_project(web, api, "Cut")
    upload = api.post(
        f"{web.sandbox_url}/v4/accounts/{ACCOUNT_ID}/folders/{project['root_folder_id']}/files/local_upload",
        json={"data": {"name": "cut.mov", "file_size": 30 * MB}},
        timeout=10,
    ).json()["data"]
    part = upload["upload_urls"][0]
    target = part["url"][len(web.origin) :]
    with socket.create_connection(("127.0.0.1", web.port)) as sock:
        head = (
            f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1:{web.port}\r\nContent-Type: {upload['media_type']}\r\n"
            f"x-amz-acl: private\r\nContent-Length: {part['size']}\r\n\r\n"
        )
        sock.sendall(head.encode() + pattern(0, 4 * MB))
    status_url = f"{web.sandbox_url}/v4/accounts/{ACCOUNT_ID}/files/{upload['id']}/status"
    time.sleep(0.5)
    assert api.get(status_url, timeout=10).json()["data"]["upload_complete"] is False
    # A complete PUT of the same part afterwards works.
    response = requests.put(
        part["url"],
        data=GeneratedBody(part["size"]),
        headers={"Content-Type": upload["media_type"], "x-amz-acl": "private"},
        timeout=60,
    )
    assert response.status_code == 200


def test_frameio_health_is_green_against_the_embedded_sandbox(web, api):
    project = make_project(web, api, "Health")
    env = {
        **web.env,
        "FRAMEIO_ACCOUNT_ID": ACCOUNT_ID,
        "FRAMEIO_WORKSPACE_ID": WORKSPACE_ID,
        "FRAMEIO_DEFAULT_PROJECT_ID": project["id"],
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "frameio_health", "--json", "--write"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = json.loads(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert result["ok"] is True
    names = [check["name"] for check in result["checks"]]
    assert names == ["config", "token", "me", "account", "workspace", "project", "write", "webhook", "rate_limits"]
    assert f"sandbox at {web.sandbox_url}" in result["checks"][0]["detail"]


# -- restarts and the non-embedded case -------------------------------------------------------------------


def test_state_survives_a_restart(tmp_path):
    port = free_port()
    server = Web(tmp_path, web_env(tmp_path, port), port).start()
    try:
        session = PacedSession()
        session.headers["Authorization"] = f"Bearer {s2s_token(server.sandbox_url)}"
        project = make_project(server, session, "Kept")
    finally:
        server.stop()
    assert (tmp_path / "frameio-sandbox.json").exists()
    server.start()
    try:
        # The token too is in the state file.
        response = session.get(f"{server.sandbox_url}/v4/accounts/{ACCOUNT_ID}/projects/{project['id']}", timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["name"] == "Kept"
    finally:
        server.stop()


def test_with_credentials_the_prefix_is_django_s(tmp_path):
    port = free_port()
    env = web_env(tmp_path, port, FRAMEIO_CLIENT_ID="real-id", FRAMEIO_CLIENT_SECRET="real-secret")
    server = Web(tmp_path, env, port).start()
    try:
        response = requests.get(f"{server.sandbox_url}/v4/me", timeout=10)
        assert response.status_code == 404
        assert not response.headers.get("Server", "").startswith("FrameioSandbox")
        assert "errors" not in response.text
    finally:
        server.stop()
    assert not (tmp_path / "frameio-sandbox.json").exists()


def test_a_standalone_sandbox_url_turns_the_embedded_one_off(tmp_path):
    port = free_port()
    env = web_env(tmp_path, port, FRAMEIO_SANDBOX_URL="http://127.0.0.1:8001")
    server = Web(tmp_path, env, port).start()
    try:
        assert requests.get(f"{server.sandbox_url}/v4/me", timeout=10).status_code == 404
    finally:
        server.stop()


# -- the proxy in-process -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "local"),
    [
        ([(b"host", b"127.0.0.1:8000")], True),
        ([(b"host", b"localhost:8000")], True),
        ([(b"host", b"[::1]:8000")], True),
        ([(b"host", b"post.example.com")], False),  # behind a reverse proxy on loopback
        ([(b"host", b"evil.example:8000")], False),  # DNS rebinding from a browser
        ([(b"host", b"127.0.0.1:8000"), (b"x-forwarded-for", b"203.0.113.9")], False),
        ([(b"host", b"127.0.0.1:8000"), (b"forwarded", b"for=203.0.113.9")], False),
        ([(b"host", b"127.0.0.1:8000"), (b"x-real-ip", b"203.0.113.9")], False),
        ([], False),
    ],
)
def test_only_requests_made_on_this_machine_for_this_machine(headers, local):
    scope = {"client": ("127.0.0.1", 5000), "headers": headers}
    assert _local_request(scope) is local


def test_loopback_clients_only():
    assert _is_loopback(["127.0.0.1", 5000])
    assert _is_loopback(["::1", 5000])
    assert _is_loopback(["::ffff:127.0.0.1", 5000])
    assert not _is_loopback(None)  # no peer address: not provably local
    assert not _is_loopback(["192.168.1.20", 5000])
    assert not _is_loopback(["2001:db8::1", 5000])


def call_asgi(app, scope: dict, body: bytes = b"") -> tuple[int, dict, bytes]:
    async def run():
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent = []

        async def receive():
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        return sent

    sent = asyncio.run(run())
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def http_scope(path: str, client=("127.0.0.1", 40000), method: str = "GET") -> dict:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "client": client,
        "server": ("127.0.0.1", 8000),
        "scheme": "http",
    }


def test_proxy_in_process_lazy_start_and_refusal_of_remote_clients(tmp_path):
    config = SandboxConfig(
        path_prefix=PREFIX, public_url="http://127.0.0.1:8000" + PREFIX, state_file=tmp_path / "state.json"
    )
    proxy = SandboxProxy(config)

    async def other(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = mount(PREFIX, proxy, other)
    try:
        status, _, body = call_asgi(app, http_scope(f"{PREFIX}/v4/me", client=("10.1.2.3", 5000)))
        assert status == 403 and b"loopback" in body
        assert proxy.sandbox is None  # not started for a refused request
        assert call_asgi(app, http_scope("/shots/"))[0] == 204
        status, headers, body = call_asgi(app, http_scope(f"{PREFIX}/v4/me"))
        assert status == 401 and headers[b"content-length"] == str(len(body)).encode()
        assert proxy.sandbox is not None
        assert proxy.sandbox.base_url == "http://127.0.0.1:8000" + PREFIX
        assert proxy.sandbox.listen_url.endswith(PREFIX) and proxy.sandbox.listen_url != proxy.sandbox.base_url
    finally:
        proxy.stop()
    assert (tmp_path / "state.json").exists()
