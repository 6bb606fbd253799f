"""frameio.auth and frameio.crypto: PKCE, the code exchange, refresh once across workers, needs_reauth, S2S."""

import base64
import hashlib
import json
import logging
import runpy
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from cryptography.fernet import Fernet
from django.test import override_settings
from django.utils import timezone

from frameio import auth, crypto
from frameio.auth import FrameioAuthError, PendingAuthorization, Target, TokenSet
from frameio.models import FrameioConnection
from tests.concurrency import race

IMS = "https://ims.test"
API = "https://api.frame.test"
TOKEN_URL = f"{IMS}/ims/token/v3"
CLIENT_SECRET = "csecret-DO-NOT-LEAK"
SETTINGS = {
    "FRAMEIO_AUTH": "oauth",
    "FRAMEIO_SANDBOX": False,
    "FRAMEIO_API_URL": API,
    "FRAMEIO_IMS_URL": IMS,
    "FRAMEIO_CLIENT_ID": "cid-123",
    "FRAMEIO_CLIENT_SECRET": CLIENT_SECRET,
    "FRAMEIO_REDIRECT_URI": "",
    "FRAMEIO_SCOPES": "openid email profile offline_access additional_info.roles",
    "FRAMEIO_ACCOUNT_ID": "",
    "FRAMEIO_WORKSPACE_ID": "",
    "FRAMEIO_DEFAULT_PROJECT_ID": "",
    "FRAMEIO_TOKEN_KEY": "",
    "FRAMEIO_TIMEOUT_SECONDS": 10.0,
}


@pytest.fixture(autouse=True)
def frameio_settings():
    with override_settings(**SETTINGS):
        yield


def token_json(access="at-new", refresh="rt-new", expires_in=86399, **extra):
    body = {"access_token": access, "token_type": "bearer", "expires_in": expires_in, **extra}
    if refresh:
        body["refresh_token"] = refresh
    return body


def form(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def make_connection(*, access="at-old", refresh="rt-old", expires_in=timedelta(hours=20), **fields):
    target = Target(**{k: fields.pop(k) for k in list(fields) if k in Target.__dataclass_fields__})
    conn = auth.connection_connect(
        mode=fields.pop("mode", FrameioConnection.Mode.OAUTH),
        tokens=TokenSet(access_token=access, refresh_token=refresh, expires_in=3600),
        target=target,
        connected_as="Ada <ada@example.com>",
        actor="user:test",  # every change of the connection names who made it (the audit row)
    )
    FrameioConnection.objects.filter(pk=conn.pk).update(expires_at=timezone.now() + expires_in, **fields)
    conn.refresh_from_db()
    return conn


# --- crypto -----------------------------------------------------------------------------------------


def test_tokens_are_encrypted_at_rest(db):
    conn = make_connection(access="at-PLAINTEXT", refresh="rt-PLAINTEXT")
    raw = FrameioConnection.objects.values("access_token_enc", "refresh_token_enc").get(pk=conn.pk)
    assert "PLAINTEXT" not in json.dumps(raw)
    assert crypto.decrypt(raw["access_token_enc"]) == "at-PLAINTEXT"


def test_derived_key_follows_secret_key():
    ciphertext = crypto.encrypt("hello")
    assert crypto.derive_key("a") != crypto.derive_key("b")
    assert base64.urlsafe_b64decode(crypto.derive_key("a")).__len__() == 32
    with override_settings(SECRET_KEY="another-secret-key"), pytest.raises(crypto.TokenDecryptError):
        crypto.decrypt(ciphertext)


def test_token_key_rotation():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(FRAMEIO_TOKEN_KEY=old):
        ciphertext = crypto.encrypt("hello")
    with override_settings(FRAMEIO_TOKEN_KEY=f"{new},{old}"):
        assert crypto.decrypt(ciphertext) == "hello"
        rotated = crypto.encrypt("hello")
    with override_settings(FRAMEIO_TOKEN_KEY=new):
        assert crypto.decrypt(rotated) == "hello"
        with pytest.raises(crypto.TokenDecryptError):
            crypto.decrypt(ciphertext)


# --- authorize URL and code exchange ----------------------------------------------------------------


def test_pkce_pair_is_s256():
    verifier, challenge = auth.new_pkce_pair()
    assert 43 <= len(verifier) <= 128
    assert set(verifier) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == expected
    assert auth.new_pkce_pair()[0] != verifier


def test_authorize_url_carries_state_pkce_and_scopes():
    url, pending = auth.begin_authorization(redirect_uri="https://post.example/frameio/callback/")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{IMS}/ims/authorize/v2"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["client_id"] == "cid-123"
    assert query["response_type"] == "code"
    assert query["redirect_uri"] == "https://post.example/frameio/callback/"
    assert query["scope"] == SETTINGS["FRAMEIO_SCOPES"]
    assert query["state"] == pending.state and len(pending.state) >= 32
    assert query["code_challenge_method"] == "S256"
    challenge = base64.urlsafe_b64encode(hashlib.sha256(pending.code_verifier.encode()).digest()).rstrip(b"=")
    assert query["code_challenge"] == challenge.decode()
    assert pending.code_verifier not in url and CLIENT_SECRET not in url


def pending(redirect_uri="https://post.example/frameio/callback/"):
    return PendingAuthorization(state="st", code_verifier="v" * 50, redirect_uri=redirect_uri, started_at=time.time())


def test_exchange_sends_code_verifier_and_client_secret(rsps):
    rsps.post(TOKEN_URL, json=token_json())
    tokens = auth.exchange_code(code="the-code", pending=pending())
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_in) == ("at-new", "rt-new", 86399)
    body = form(rsps.calls[0])
    assert body == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": "https://post.example/frameio/callback/",
        "client_id": "cid-123",
        "client_secret": CLIENT_SECRET,
        "code_verifier": "v" * 50,
    }
    assert "at-new" not in repr(tokens)


@pytest.mark.parametrize(
    ("status", "body", "kind", "permanent"),
    [
        (400, {"error": "invalid_grant", "error_description": "Code expired"}, "invalid_grant", True),
        (
            400,
            {"error": "invalid_request", "error_description": "redirect_uri mismatch"},
            "redirect_uri_mismatch",
            True,
        ),
        (401, {"error": "invalid_client"}, "invalid_client", True),
        (500, None, "server_error", False),
        (503, {"error": "temporarily_unavailable"}, "server_error", False),
    ],
)
def test_exchange_errors_are_classified(rsps, status, body, kind, permanent):
    if body is None:
        rsps.post(TOKEN_URL, status=status, body="<html>Internal Server Error</html>")
    else:
        rsps.post(TOKEN_URL, status=status, json=body)
    with pytest.raises(FrameioAuthError) as exc:
        auth.exchange_code(code="c", pending=pending())
    assert (exc.value.kind, exc.value.permanent, exc.value.status) == (kind, permanent, status)


def test_exchange_network_error(rsps):
    rsps.post(TOKEN_URL, body=requests.ConnectionError("refused"))
    with pytest.raises(FrameioAuthError) as exc:
        auth.exchange_code(code="c", pending=pending())
    assert (exc.value.kind, exc.value.permanent) == ("network", False)


def test_pending_authorization_round_trips_through_the_session():
    p = pending()
    assert PendingAuthorization.from_session(p.as_session()) == p
    assert PendingAuthorization.from_session(None) is None
    assert PendingAuthorization.from_session({"state": "x"}) is None
    assert PendingAuthorization(state="s", code_verifier="v", redirect_uri="r", started_at=time.time() - 601).expired()


# --- tokens for API calls ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_fresh_token_needs_no_ims_call(rsps):
    make_connection(access="at-fresh")
    assert auth.get_access_token() == "at-fresh"


@pytest.mark.django_db
def test_not_connected():
    with pytest.raises(FrameioAuthError) as exc:
        auth.get_access_token()
    assert exc.value.kind == "not_connected" and "/frameio/connect/" in str(exc.value)


@pytest.mark.django_db
def test_a_token_expiring_soon_is_refreshed_and_saved_first(rsps):
    conn = make_connection(expires_in=timedelta(minutes=4))
    before = conn.refresh_token_issued_at
    rsps.post(TOKEN_URL, json=token_json(access="at-2", refresh="rt-2"))
    assert auth.get_access_token() == "at-2"
    assert form(rsps.calls[0]) == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-old",
        "client_id": "cid-123",
        "client_secret": CLIENT_SECRET,
    }
    conn.refresh_from_db()
    assert crypto.decrypt(conn.access_token_enc) == "at-2"
    assert crypto.decrypt(conn.refresh_token_enc) == "rt-2"
    assert conn.refresh_token_issued_at > before
    assert conn.expires_at > timezone.now() + timedelta(hours=23)
    assert conn.last_refreshed_at is not None
    assert auth.get_access_token() == "at-2"  # and no second IMS call


@pytest.mark.django_db
def test_a_refresh_without_new_refresh_token_keeps_the_old_one(rsps):
    conn = make_connection(expires_in=timedelta(seconds=-10))
    issued = conn.refresh_token_issued_at
    rsps.post(TOKEN_URL, json=token_json(access="at-2", refresh=None))
    assert auth.get_access_token() == "at-2"
    conn.refresh_from_db()
    assert crypto.decrypt(conn.refresh_token_enc) == "rt-old"
    assert conn.refresh_token_issued_at == issued


@pytest.mark.django_db
def test_invalid_grant_marks_needs_reauth_instead_of_looping(rsps):
    make_connection(expires_in=timedelta(seconds=-10))
    rsps.post(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "token revoked"})
    with pytest.raises(FrameioAuthError) as exc:
        auth.get_access_token()
    assert exc.value.kind == "needs_reauth" and exc.value.permanent
    conn = auth.connection_get()
    assert conn.needs_reauth and "invalid_grant" in conn.reauth_reason and "token revoked" in conn.reauth_reason
    with pytest.raises(FrameioAuthError) as again:  # no second IMS call (responses would fail on it)
        auth.get_access_token()
    assert again.value.kind == "needs_reauth"
    assert len(rsps.calls) == 1


@pytest.mark.django_db
def test_an_ims_outage_changes_nothing(rsps):
    conn = make_connection(expires_in=timedelta(seconds=-10))
    rsps.post(TOKEN_URL, status=502, body="bad gateway")
    with pytest.raises(FrameioAuthError) as exc:
        auth.get_access_token()
    assert exc.value.kind == "server_error" and not exc.value.permanent
    after = auth.connection_get()
    assert not after.needs_reauth
    assert (after.access_token_enc, after.refresh_token_enc) == (conn.access_token_enc, conn.refresh_token_enc)


@pytest.mark.django_db
def test_a_rejected_fresh_token_is_refreshed_once(rsps):
    make_connection(access="at-revoked")
    rsps.post(TOKEN_URL, json=token_json(access="at-2", refresh="rt-2"))
    token, _ = auth.refresh_access_token(rejected_token="at-revoked")
    assert token == "at-2"
    # Another worker that got a 401 with the old token now finds the new one: no IMS call.
    token, _ = auth.refresh_access_token(rejected_token="at-revoked")
    assert token == "at-2"
    assert len(rsps.calls) == 1


@pytest.mark.django_db
def test_undecryptable_tokens_ask_for_a_reconnect(rsps):
    make_connection(expires_in=timedelta(seconds=-10))
    with override_settings(SECRET_KEY="rotated-secret-key"), pytest.raises(FrameioAuthError) as exc:
        auth.get_access_token()
    assert exc.value.kind == "undecryptable"
    assert auth.connection_get().needs_reauth


@pytest.mark.django_db
def test_client_401_refreshes_through_the_connection_and_retries(rsps):
    make_connection(access="at-old")
    rsps.get(f"{API}/v4/me", status=401, json={"errors": [{"detail": "Invalid token"}]})
    rsps.post(TOKEN_URL, json=token_json(access="at-2", refresh="rt-2"))
    rsps.get(f"{API}/v4/me", json={"data": {"id": "u1", "name": "Ada"}})
    client = auth.build_client(sleep=lambda s: None)
    assert client.me().id == "u1"
    assert rsps.calls[2].request.headers["Authorization"] == "Bearer at-2"


@pytest.mark.django_db
def test_the_provider_caches_the_token(rsps, django_assert_max_num_queries):
    make_connection(access="at-fresh")
    provider = auth.ConnectionTokenProvider()
    assert provider() == "at-fresh"
    with django_assert_max_num_queries(0):
        assert provider() == "at-fresh"


@pytest.mark.django_db
def test_no_token_or_secret_reaches_the_logs(rsps, caplog):
    caplog.set_level(logging.DEBUG)
    make_connection(expires_in=timedelta(seconds=-10))
    rsps.post(TOKEN_URL, json=token_json(access="at-CANARY", refresh="rt-CANARY"))
    rsps.post(TOKEN_URL, json=token_json(access="at-CANARY2", refresh="rt-CANARY2"))
    auth.get_access_token()
    auth.exchange_code(code="code-CANARY", pending=pending())
    for canary in ("CANARY", CLIENT_SECRET, "rt-old"):
        assert canary not in caplog.text


# --- 8 workers, one refresh -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_eight_workers_with_an_expired_token_make_one_ims_call():
    make_connection(expires_in=timedelta(seconds=-10))
    ims_calls = []
    lock = threading.Lock()

    def token_endpoint(request):
        with lock:
            ims_calls.append(form_body(request.body))
        time.sleep(0.3)  # a slow IMS widens the race window
        return 200, {}, json.dumps(token_json(access="at-2", refresh="rt-2"))

    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.add_callback(responses.POST, TOKEN_URL, callback=token_endpoint)
        results, errors = race(auth.get_access_token, threads=8)
    assert errors == []
    assert results == ["at-2"] * 8
    assert len(ims_calls) == 1 and ims_calls[0]["refresh_token"] == "rt-old"
    assert crypto.decrypt(auth.connection_get().refresh_token_enc) == "rt-2"


def form_body(body) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body).items()}


# --- server-to-server -------------------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(FRAMEIO_AUTH="s2s", FRAMEIO_SCOPES="openid AdobeID frame.s2s.all")
def test_s2s_fetches_client_credentials_and_again_when_expiring(rsps):
    rsps.post(TOKEN_URL, json=token_json(access="s2s-1", refresh=None))
    assert auth.get_access_token() == "s2s-1"
    assert form(rsps.calls[0]) == {
        "grant_type": "client_credentials",
        "client_id": "cid-123",
        "client_secret": CLIENT_SECRET,
        "scope": "openid AdobeID frame.s2s.all",
    }
    conn = auth.connection_get()
    assert conn.mode == "s2s" and conn.refresh_token_enc == ""
    assert auth.get_access_token() == "s2s-1"
    FrameioConnection.objects.update(expires_at=timezone.now() + timedelta(minutes=1))
    rsps.post(TOKEN_URL, json=token_json(access="s2s-2", refresh=None))
    assert auth.get_access_token() == "s2s-2"
    assert len(rsps.calls) == 2


@pytest.mark.django_db
@override_settings(FRAMEIO_AUTH="s2s")
def test_s2s_bad_credentials_mark_needs_reauth(rsps):
    rsps.post(TOKEN_URL, status=401, json={"error": "invalid_client", "error_description": "bad secret"})
    with pytest.raises(FrameioAuthError) as exc:
        auth.get_access_token()
    assert exc.value.kind == "needs_reauth"
    assert auth.connection_get().needs_reauth


# --- target resolution ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_effective_target_prefers_settings():
    make_connection(account_id="a1", account_name="Acc", workspace_id="w1", project_id="p1", project_name="P")
    assert auth.effective_target().project_name == "P"
    with override_settings(FRAMEIO_DEFAULT_PROJECT_ID="p9"):
        target = auth.effective_target()
    assert (target.account_id, target.project_id, target.project_name) == ("a1", "p9", "")


def test_resolve_target_picks_the_only_choice_and_checks_configured_ids(rsps):
    rsps.get(f"{API}/v4/accounts", json={"data": [{"id": "a1", "display_name": "Acc"}], "links": {"next": None}})
    rsps.get(f"{API}/v4/accounts/a1/workspaces", json={"data": [{"id": "w1", "name": "WS"}], "links": {}})
    with override_settings(FRAMEIO_DEFAULT_PROJECT_ID="p1"):
        rsps.get(f"{API}/v4/accounts/a1/projects/p1", json={"data": {"id": "p1", "name": "P", "root_folder_id": "r1"}})
        target = auth.resolve_target(auth.static_client("at"))
    assert target == Target("a1", "Acc", "w1", "WS", "p1", "P", "r1")
    with override_settings(FRAMEIO_ACCOUNT_ID="nope"):
        rsps.get(f"{API}/v4/accounts", json={"data": [{"id": "a1"}], "links": {}})
        with pytest.raises(auth.FrameioError, match="FRAMEIO_ACCOUNT_ID"):
            auth.resolve_target(auth.static_client("at"))


# --- settings ---------------------------------------------------------------------------------------

SETTINGS_PY = Path(__file__).resolve().parents[2] / "postflow" / "settings.py"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"FRAMEIO_AUTH": "saml"}, "FRAMEIO_AUTH"),
        ({"FRAMEIO_SANDBOX": "maybe"}, "FRAMEIO_SANDBOX"),
        ({"FRAMEIO_API_URL": "ftp://api.frame.io"}, "FRAMEIO_API_URL"),
        ({"FRAMEIO_IMS_URL": "http://ims.example.com"}, "FRAMEIO_IMS_URL"),
        ({"FRAMEIO_TOKEN_KEY": "not-a-key"}, "FRAMEIO_TOKEN_KEY"),
        ({"FRAMEIO_TIMEOUT_SECONDS": "soon"}, "FRAMEIO_TIMEOUT_SECONDS"),
        ({"FRAMEIO_CLIENT_ID": "cid"}, "FRAMEIO_CLIENT_SECRET"),
        ({"FRAMEIO_SANDBOX": "false"}, "FRAMEIO_CLIENT_ID"),
        ({"FRAMEIO_REDIRECT_URI": "callback"}, "FRAMEIO_REDIRECT_URI"),
    ],
)
def test_bad_settings_name_the_variable(monkeypatch, env, variable):
    from django.core.exceptions import ImproperlyConfigured

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ImproperlyConfigured, match=variable):
        runpy.run_path(str(SETTINGS_PY))


def test_settings_defaults_and_sandbox_mode(monkeypatch):
    for key in ("FRAMEIO_CLIENT_ID", "FRAMEIO_SANDBOX", "FRAMEIO_AUTH", "FRAMEIO_SCOPES", "FRAMEIO_SANDBOX_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("POSTFLOW_PORT", "8000")
    values = runpy.run_path(str(SETTINGS_PY))
    assert values["FRAMEIO_SANDBOX"] is True and values["FRAMEIO_SANDBOX_EMBEDDED"] is True
    assert values["FRAMEIO_API_URL"] == values["FRAMEIO_IMS_URL"] == "http://127.0.0.1:8000/frameio-sandbox"
    assert values["FRAMEIO_AUTH"] == "s2s"  # the sandbox needs nobody to sign in
    assert values["FRAMEIO_SCOPES"] == "openid AdobeID frame.s2s.all"
    monkeypatch.setenv("FRAMEIO_AUTH", "oauth")
    values = runpy.run_path(str(SETTINGS_PY))
    assert "offline_access" in values["FRAMEIO_SCOPES"].split()
    monkeypatch.delenv("FRAMEIO_AUTH")
    monkeypatch.setenv("FRAMEIO_CLIENT_ID", "real-id")
    monkeypatch.setenv("FRAMEIO_CLIENT_SECRET", "real-secret")
    monkeypatch.setenv("FRAMEIO_AUTH", "s2s")
    values = runpy.run_path(str(SETTINGS_PY))
    assert values["FRAMEIO_SANDBOX"] is False
    assert values["FRAMEIO_API_URL"] == "https://api.frame.io"
    assert values["FRAMEIO_IMS_URL"] == "https://ims-na1.adobelogin.com"
    assert values["FRAMEIO_SCOPES"] == "openid AdobeID frame.s2s.all"


def test_sandbox_credentials_match_the_sandbox():
    config = pytest.importorskip("frameio_sandbox.config")
    values = runpy.run_path(str(SETTINGS_PY))
    if values["FRAMEIO_SANDBOX"]:
        assert values["FRAMEIO_CLIENT_ID"] == config.DEFAULT_CLIENT_ID
        assert values["FRAMEIO_CLIENT_SECRET"] == config.DEFAULT_CLIENT_SECRET


@pytest.mark.django_db
def test_error_reports_hide_the_tokens(rsps, monkeypatch):
    """Django's error pages and mails show local variables; the frames holding tokens are cleansed."""
    import sys

    from django.views.debug import ExceptionReporter

    make_connection(expires_in=timedelta(seconds=-10))
    rsps.post(TOKEN_URL, json=token_json(access="at-CANARY", refresh="rt-CANARY"))

    def broken_encrypt(value):
        raise RuntimeError("disk full")

    monkeypatch.setattr(auth, "encrypt", broken_encrypt)
    try:
        auth.get_access_token()
    except RuntimeError:
        exc_info = sys.exc_info()
    frames = ExceptionReporter(None, *exc_info).get_traceback_frames()
    shown = repr([frame["vars"] for frame in frames if frame["filename"].endswith("frameio/auth.py")])
    assert "CANARY" not in shown and "rt-old" not in shown


@pytest.mark.django_db
@override_settings(FRAMEIO_AUTH="s2s")
def test_s2s_needs_reauth_is_not_retried(rsps):
    rsps.post(TOKEN_URL, status=401, json={"error": "invalid_client"})
    for _ in range(3):
        with pytest.raises(FrameioAuthError):
            auth.get_access_token()
    assert len(rsps.calls) == 1
