"""End to end against the Frame.io + IMS sandbox over real HTTP: the OAuth flow through the Django test
client, refresh (ahead of expiry, after a 401, once across 8 workers), invalid_grant, bad callbacks,
frameio_health, and a 300-call burst that draws no 429."""

import json
import threading
from datetime import timedelta
from io import StringIO
from urllib.parse import urlsplit

import pytest
import requests
from django.core.management import CommandError, call_command
from django.utils import timezone

from frameio import auth, crypto
from frameio.client import Endpoint, FrameioClient, FrameioError, RetryPolicy, TimeoutSession
from frameio.models import FrameioConnection
from tests.concurrency import race

sandbox_server = pytest.importorskip("frameio_sandbox.server")

CONNECT = "/frameio/connect/"


@pytest.fixture
def sandbox(settings):
    with sandbox_server.run_sandbox(sandbox_server.SandboxConfig(port=0, seed=7)) as sb:
        settings.FRAMEIO_SANDBOX = True
        settings.FRAMEIO_AUTH = "oauth"
        settings.FRAMEIO_API_URL = settings.FRAMEIO_IMS_URL = sb.base_url
        settings.FRAMEIO_CLIENT_ID, settings.FRAMEIO_CLIENT_SECRET = sb.client_id, sb.client_secret
        settings.FRAMEIO_SCOPES = "openid email profile offline_access additional_info.roles"
        settings.FRAMEIO_REDIRECT_URI = ""
        settings.FRAMEIO_ACCOUNT_ID = settings.FRAMEIO_WORKSPACE_ID = settings.FRAMEIO_DEFAULT_PROJECT_ID = ""
        settings.FRAMEIO_TOKEN_KEY = ""
        settings.STORAGES = {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        yield sb


@pytest.fixture
def browser(admin_client):
    # The sandbox credential, like a real one, only redirects to registered URIs: loopback ones.
    admin_client.defaults["HTTP_HOST"] = "localhost"
    return admin_client


def authorize(browser, sandbox):
    """Press "Connect", let the sandbox's IMS approve; return the callback path+query it redirects to."""
    resp = browser.post(CONNECT)
    assert resp.status_code == 302 and resp["Location"].startswith(f"{sandbox.base_url}/ims/authorize/v2?")
    approved = requests.get(resp["Location"], allow_redirects=False, timeout=10)
    assert approved.status_code == 302, approved.text
    back = urlsplit(approved.headers["Location"])
    assert (back.netloc, back.path) == ("localhost", "/frameio/callback/")
    return f"{back.path}?{back.query}"


def connect(browser, sandbox, project_name="UNDLM Documentary"):
    """The whole OAuth flow, then the choice page creating the project."""
    resp = browser.get(authorize(browser, sandbox))
    assert resp.status_code == 302 and resp["Location"] == "/frameio/choose/"
    assert "Sandbox Account" in browser.get("/frameio/choose/").content.decode()
    resp = browser.post(
        "/frameio/choose/",
        {"account": sandbox.account_id, "workspace": sandbox.workspace_id, "new_project_name": project_name},
    )
    assert resp.status_code == 302 and resp["Location"] == CONNECT
    return auth.connection_get()


def ims_refresh(sandbox, refresh_token: str) -> requests.Response:
    """A refresh made by someone else than postflow, straight at the sandbox's IMS."""
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    data |= {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret}
    return requests.post(f"{sandbox.base_url}/ims/token/v3", data=data, timeout=10)


def expire_locally():
    FrameioConnection.objects.update(expires_at=timezone.now() - timedelta(seconds=1))


def health_json(*args):
    """`frameio_health --json` output; the command raises CommandError (exit 1) exactly when ok is false."""
    out = StringIO()
    try:
        call_command("frameio_health", "--json", *args, stdout=out)
        failed = False
    except CommandError:
        failed = True
    result = json.loads(out.getvalue())
    assert result["ok"] is not failed
    return result


# --- the OAuth flow ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_oauth_flow_then_health_then_refresh(browser, sandbox):
    conn = connect(browser, sandbox)
    assert sandbox.token_calls == {"authorization_code": 1}
    assert conn.connected_as == "Sandbox User <sandbox.user@example.com>"
    assert (conn.account_id, conn.workspace_id, conn.project_name) == (
        sandbox.account_id,
        sandbox.workspace_id,
        "UNDLM Documentary",
    )
    assert conn.root_folder_id and conn.refresh_token_enc and not conn.needs_reauth
    page = browser.get(CONNECT).content.decode()
    assert "Connected as Sandbox User" in page and "UNDLM Documentary" in page

    result = health_json("--write")
    assert result["ok"] is True, result
    names = [c["name"] for c in result["checks"]]
    assert names == ["config", "token", "me", "account", "workspace", "project", "write", "webhook", "rate_limits"]

    # Ahead of expiry: one refresh, the new pair saved, the old refresh token spent at IMS.
    old_refresh = crypto.decrypt(conn.refresh_token_enc)
    expire_locally()
    token = auth.get_access_token()
    assert sandbox.token_calls.get("refresh_token") == 1
    conn.refresh_from_db()
    assert crypto.decrypt(conn.access_token_enc) == token
    assert crypto.decrypt(conn.refresh_token_enc) != old_refresh
    replay = ims_refresh(sandbox, old_refresh)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert auth.build_client().me().name == "Sandbox User"


@pytest.mark.django_db
def test_a_revoked_token_is_refreshed_once_after_the_401(browser, sandbox):
    conn = connect(browser, sandbox)
    revoked = crypto.decrypt(conn.access_token_enc)
    resp = requests.post(
        f"{sandbox.base_url}/ims/revoke",
        data={"token": revoked, "client_id": sandbox.client_id, "client_secret": sandbox.client_secret},
        timeout=10,
    )
    assert resp.status_code == 200
    client = auth.build_client()
    assert client.me().id  # 401, refresh, retry
    assert sandbox.token_calls.get("refresh_token") == 1
    assert crypto.decrypt(auth.connection_get().access_token_enc) != revoked


@pytest.mark.django_db
def test_disconnect_revokes_both_tokens_at_ims(browser, sandbox):
    conn = connect(browser, sandbox)
    access, refresh = crypto.decrypt(conn.access_token_enc), crypto.decrypt(conn.refresh_token_enc)
    page = browser.post("/frameio/disconnect/", follow=True).content.decode()
    assert "revoked at Adobe IMS" in page
    me = requests.get(f"{sandbox.base_url}/v4/me", headers={"Authorization": f"Bearer {access}"}, timeout=10)
    assert me.status_code == 401  # a copy of the token, taken before, no longer works
    refreshed = ims_refresh(sandbox, refresh)
    assert (refreshed.status_code, refreshed.json()["error"]) == (400, "invalid_grant")


@pytest.mark.django_db
def test_a_spent_refresh_token_marks_needs_reauth(browser, sandbox):
    conn = connect(browser, sandbox)
    refresh_token = crypto.decrypt(conn.refresh_token_enc)
    spent = ims_refresh(sandbox, refresh_token)
    assert spent.status_code == 200  # someone else used it
    expire_locally()
    with pytest.raises(auth.FrameioAuthError) as exc:
        auth.get_access_token()
    assert exc.value.kind == "needs_reauth"
    with pytest.raises(auth.FrameioAuthError):
        auth.get_access_token()
    assert sandbox.token_calls.get("refresh_token") == 2  # ours once, not again
    assert "Frame.io needs to be connected again" in browser.get(CONNECT).content.decode()
    assert health_json()["ok"] is False
    # Connecting again clears it, and keeps the project chosen before.
    resp = browser.get(authorize(browser, sandbox))
    assert resp.status_code == 302 and resp["Location"] == CONNECT
    conn = auth.connection_get()
    assert not conn.needs_reauth and conn.project_name == "UNDLM Documentary"
    assert health_json()["ok"] is True


@pytest.mark.django_db(transaction=True)
def test_eight_workers_with_an_expired_token_make_one_refresh(browser, sandbox):
    connect(browser, sandbox)
    expire_locally()
    results, errors = race(auth.get_access_token, threads=8)
    assert errors == []
    assert len(results) == 8 and len(set(results)) == 1
    assert sandbox.token_calls.get("refresh_token") == 1
    assert auth.build_client().me().id


# --- bad callbacks ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_expired_code(browser, sandbox):
    callback = authorize(browser, sandbox)
    sandbox.advance_clock(sandbox.config.auth_code_ttl + 1)
    resp = browser.get(callback)
    assert resp.status_code == 400 and "The sign-in code expired or was already used" in resp.content.decode()
    assert not FrameioConnection.objects.exists()


@pytest.mark.django_db
def test_replayed_callback(browser, sandbox):
    callback = authorize(browser, sandbox)
    assert browser.get(callback).status_code == 302
    before = FrameioConnection.objects.values().get()
    resp = browser.get(callback)
    assert resp.status_code == 400 and "No Frame.io sign-in is in progress" in resp.content.decode()
    assert FrameioConnection.objects.values().get() == before
    assert sandbox.token_calls == {"authorization_code": 1}


@pytest.mark.django_db
def test_tampered_state(browser, sandbox):
    callback = authorize(browser, sandbox)
    resp = browser.get(callback.replace("state=", "state=x"))
    assert resp.status_code == 400 and "The sign-in state does not match" in resp.content.decode()
    assert not FrameioConnection.objects.exists() and sandbox.token_calls == {}


@pytest.mark.django_db
def test_ims_500(browser, sandbox):
    callback = authorize(browser, sandbox)
    sandbox.faults.ims_token_status = 500
    resp = browser.get(callback)
    assert resp.status_code == 502 and "Adobe IMS is not answering properly" in resp.content.decode()
    assert not FrameioConnection.objects.exists()


@pytest.mark.django_db
def test_access_denied(browser, sandbox):
    sandbox.faults.ims_authorize_error = "access_denied"
    resp = browser.get(authorize(browser, sandbox))
    assert resp.status_code == 403 and "Access was declined" in resp.content.decode()
    assert not FrameioConnection.objects.exists()


# --- server-to-server and health --------------------------------------------------------------------


@pytest.mark.django_db
def test_s2s_connection_and_health(admin_client, sandbox, settings):
    settings.FRAMEIO_AUTH = "s2s"
    settings.FRAMEIO_SCOPES = "openid AdobeID frame.s2s.all"
    client = FrameioClient(base_url=sandbox.base_url, token_provider=sandbox.issue_token)
    project = client.create_project(account_id=sandbox.account_id, workspace_id=sandbox.workspace_id, name="S2S")
    settings.FRAMEIO_ACCOUNT_ID, settings.FRAMEIO_WORKSPACE_ID = sandbox.account_id, sandbox.workspace_id
    settings.FRAMEIO_DEFAULT_PROJECT_ID = project.id
    resp = admin_client.post(CONNECT)
    assert resp.status_code == 302 and resp["Location"] == CONNECT
    conn = auth.connection_get()
    assert conn.mode == "s2s" and conn.project_name == "S2S" and conn.connected_as.startswith("Service Account User")
    assert sandbox.token_calls == {"client_credentials": 1}
    result = health_json("--write")
    assert result["ok"] is True, result
    expire_locally()
    assert auth.get_access_token()
    assert sandbox.token_calls == {"client_credentials": 2}


@pytest.mark.django_db
def test_health_reports_an_unreachable_project(browser, sandbox, settings):
    connect(browser, sandbox)
    settings.FRAMEIO_DEFAULT_PROJECT_ID = "00000000-0000-4000-8000-000000000000"
    result = health_json()
    failed = [c for c in result["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["project"] and "HTTP 404" in failed[0]["detail"]


# --- pacing -----------------------------------------------------------------------------------------


class StatusCounter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: list[int] = []

    def __call__(self, response, *args, **kwargs):
        with self.lock:
            self.statuses.append(response.status_code)


def counted_client(sandbox, **kwargs) -> tuple[FrameioClient, StatusCounter]:
    counter = StatusCounter()
    session = TimeoutSession((5, 30))
    session.hooks["response"].append(counter)
    token = sandbox.issue_token()
    return FrameioClient(base_url=sandbox.base_url, token_provider=lambda: token, session=session, **kwargs), counter


def test_a_burst_of_300_calls_draws_no_429(sandbox):
    client, counter = counted_client(sandbox)
    a = sandbox.account_id
    project = client.create_project(account_id=a, workspace_id=sandbox.workspace_id, name="Burst")
    root = project.root_folder_id
    file_id = client.create_local_upload(account_id=a, folder_id=root, name="a.mov", file_size=10).file.id
    files_list = Endpoint("files.list", "GET", "/v4/accounts/{account_id}/folders/{folder_id}/files")  # 5/s
    folders_list = Endpoint("folders.list", "GET", "/v4/accounts/{account_id}/folders/{folder_id}/folders")  # 5/s
    plan = [
        (120, lambda: client.show_file(account_id=a, file_id=file_id)),  # files.show, 10/s
        (60, lambda: client.file_upload_status(account_id=a, file_id=file_id)),  # 5/s
        (60, lambda: client.request(files_list, account_id=a, folder_id=root)),
        (60, lambda: client.request(folders_list, account_id=a, folder_id=root)),
    ]
    counter.statuses.clear()
    errors = []

    def run(n, call):
        try:
            for _ in range(n):
                call()
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=step) for step in plan]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len(counter.statuses) == 300
    assert counter.statuses.count(429) == 0
    assert set(client.rate_limits()) >= {"files.show", "files.show_file_upload_status", "files.list", "folders.list"}


def test_the_same_burst_unpaced_is_refused(sandbox):
    """The control: the sandbox does enforce the limits the paced burst stays under."""
    client, counter = counted_client(sandbox, pacing=False, retry=RetryPolicy(max_attempts=1))
    a = sandbox.account_id
    project = client.create_project(account_id=a, workspace_id=sandbox.workspace_id, name="Burst")
    file_id = client.create_local_upload(
        account_id=a, folder_id=project.root_folder_id, name="a.mov", file_size=10
    ).file.id
    refused = 0
    for _ in range(30):
        try:
            client.show_file(account_id=a, file_id=file_id)  # 10/s
        except FrameioError as exc:
            assert exc.status == 429
            refused += 1
    assert refused > 0 and counter.statuses.count(429) == refused
