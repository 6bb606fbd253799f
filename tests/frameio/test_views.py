"""The connect page, the OAuth callback and its bad inputs, the project choice, disconnect."""

import base64
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from responses import matchers

from frameio import auth, crypto
from frameio.models import FrameioConnection
from frameio.views import SESSION_KEY
from tests.frameio.test_auth import API, CLIENT_SECRET, IMS, SETTINGS, TOKEN_URL, make_connection, token_json

pytestmark = pytest.mark.django_db

CONNECT = "/frameio/connect/"
CALLBACK = "/frameio/callback/"
CHOOSE = "/frameio/choose/"


@pytest.fixture(autouse=True)
def frameio_settings(settings):
    # The manifest storage needs collectstatic; the admin templates these pages extend use {% static %}.
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(**SETTINGS, STORAGES=storages):
        yield


def start(client) -> str:
    """POST the connect button; return the state sent to IMS."""
    resp = client.post(CONNECT)
    assert resp.status_code == 302
    location = urlsplit(resp["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{IMS}/ims/authorize/v2"
    query = parse_qs(location.query)
    assert query["redirect_uri"] == ["http://testserver/frameio/callback/"]
    assert client.session[SESSION_KEY]["state"] == query["state"][0]
    return query["state"][0]


def mock_frameio(rsps, *, accounts=(("a1", "Acc"),), workspaces=(("w1", "WS"),)):
    rsps.get(f"{API}/v4/me", json={"data": {"id": "u1", "name": "Ada", "email": "ada@example.com"}})
    rsps.get(
        f"{API}/v4/accounts",
        json={"data": [{"id": i, "display_name": n} for i, n in accounts], "links": {"next": None}},
    )
    if len(accounts) == 1:
        rsps.get(
            f"{API}/v4/accounts/{accounts[0][0]}/workspaces",
            json={"data": [{"id": i, "name": n} for i, n in workspaces], "links": {"next": None}},
        )


def assert_error_page(resp, status, title):
    assert resp.status_code == status
    assert title in resp.content.decode()
    assert "Back to the Frame.io connection" in resp.content.decode()


def assert_nothing_stored():
    assert not FrameioConnection.objects.exists()


# --- access -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [CONNECT, CALLBACK, CHOOSE])
def test_anonymous_users_are_sent_to_login(client, url):
    resp = client.get(url)
    assert resp.status_code == 302 and "/admin/login/" in resp["Location"]


def test_non_staff_users_are_refused(client):
    user = get_user_model().objects.create_user("artist", password="pw-artist-123")
    client.force_login(user)
    resp = client.post(CONNECT)
    assert resp.status_code == 302 and "/admin/login/" in resp["Location"]


def test_the_connect_page_shows_the_state(admin_client):
    page = admin_client.get(CONNECT).content.decode()
    assert "Not connected" in page and "Connect Frame.io" in page and "cid-123" in page
    assert "http://testserver/frameio/callback/" in page
    assert admin_client.get("/frameio/").status_code == 302


# --- the happy path ---------------------------------------------------------------------------------


def test_connect_then_callback_stores_encrypted_tokens_and_asks_for_a_project(admin_client, rsps):
    state = start(admin_client)
    rsps.post(TOKEN_URL, json=token_json(access="at-1", refresh="rt-1"))
    mock_frameio(rsps)
    resp = admin_client.get(CALLBACK, {"code": "c1", "state": state})
    assert resp.status_code == 302 and resp["Location"] == CHOOSE
    body = parse_qs(rsps.calls[0].request.body)
    assert body["code_verifier"][0] and body["redirect_uri"] == ["http://testserver/frameio/callback/"]
    conn = auth.connection_get()
    assert crypto.decrypt(conn.access_token_enc) == "at-1" and crypto.decrypt(conn.refresh_token_enc) == "rt-1"
    assert (conn.account_id, conn.workspace_id, conn.project_id) == ("a1", "w1", "")
    assert conn.connected_as == "Ada <ada@example.com>"
    assert SESSION_KEY not in admin_client.session


def test_configured_ids_complete_the_connection_at_once(admin_client, rsps):
    with override_settings(FRAMEIO_ACCOUNT_ID="a1", FRAMEIO_WORKSPACE_ID="w1", FRAMEIO_DEFAULT_PROJECT_ID="p1"):
        state = start(admin_client)
        rsps.post(TOKEN_URL, json=token_json())
        rsps.get(f"{API}/v4/me", json={"data": {"id": "u1", "name": "Ada"}})
        rsps.get(f"{API}/v4/accounts", json={"data": [{"id": "a1", "display_name": "Acc"}], "links": {}})
        rsps.get(f"{API}/v4/accounts/a1/workspaces/w1", json={"data": {"id": "w1", "name": "WS"}})
        rsps.get(
            f"{API}/v4/accounts/a1/projects/p1", json={"data": {"id": "p1", "name": "UNDLM", "root_folder_id": "r1"}}
        )
        resp = admin_client.get(CALLBACK, {"code": "c1", "state": state})
    assert resp["Location"] == CONNECT
    conn = auth.connection_get()
    assert (conn.project_id, conn.project_name, conn.root_folder_id) == ("p1", "UNDLM", "r1")


# --- bad input: each a clear page, nothing stored ----------------------------------------------------


def test_tampered_state(admin_client, rsps):
    state = start(admin_client)
    resp = admin_client.get(CALLBACK, {"code": "c1", "state": state + "x"})
    assert_error_page(resp, 400, "The sign-in state does not match")
    assert_nothing_stored()
    # and the pending sign-in is gone: the genuine answer cannot be used afterwards either
    resp = admin_client.get(CALLBACK, {"code": "c1", "state": state})
    assert_error_page(resp, 400, "No Frame.io sign-in is in progress")


def test_a_callback_without_any_sign_in(admin_client, rsps):
    resp = admin_client.get(CALLBACK, {"code": "c1", "state": "forged"})
    assert_error_page(resp, 400, "No Frame.io sign-in is in progress")
    assert_nothing_stored()


def test_replayed_callback(admin_client, rsps):
    state = start(admin_client)
    rsps.post(TOKEN_URL, json=token_json(access="at-1", refresh="rt-1"))
    mock_frameio(rsps)
    admin_client.get(CALLBACK, {"code": "c1", "state": state})
    before = FrameioConnection.objects.values().get()
    resp = admin_client.get(CALLBACK, {"code": "c1", "state": state})
    assert_error_page(resp, 400, "No Frame.io sign-in is in progress")
    assert FrameioConnection.objects.values().get() == before


def test_expired_code(admin_client, rsps):
    state = start(admin_client)
    rsps.post(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "Code expired"})
    resp = admin_client.get(CALLBACK, {"code": "old", "state": state})
    assert_error_page(resp, 400, "The sign-in code expired or was already used")
    assert_nothing_stored()


def test_redirect_uri_refused_by_ims(admin_client, rsps):
    state = start(admin_client)
    rsps.post(
        TOKEN_URL, status=400, json={"error": "invalid_request", "error_description": "redirect_uri does not match"}
    )
    resp = admin_client.get(CALLBACK, {"code": "c", "state": state})
    assert_error_page(resp, 400, "The redirect URI does not match the credential")
    assert "FRAMEIO_REDIRECT_URI" in resp.content.decode()
    assert_nothing_stored()


def test_callback_arriving_elsewhere_than_the_redirect_uri(admin_client, rsps):
    with override_settings(FRAMEIO_REDIRECT_URI="https://post.example/frameio/callback/"):
        resp = admin_client.post(CONNECT)
        state = parse_qs(urlsplit(resp["Location"]).query)["state"][0]
        resp = admin_client.get(CALLBACK, {"code": "c", "state": state})
    assert_error_page(resp, 400, "The callback URL does not match the redirect URI")
    assert_nothing_stored()


def test_ims_server_error(admin_client, rsps):
    state = start(admin_client)
    rsps.post(TOKEN_URL, status=500, body="<html>oops</html>")
    resp = admin_client.get(CALLBACK, {"code": "c", "state": state})
    assert_error_page(resp, 502, "Adobe IMS is not answering properly")
    assert_nothing_stored()


def test_access_denied(admin_client, rsps):
    state = start(admin_client)
    resp = admin_client.get(CALLBACK, {"error": "access_denied", "error_description": "user declined", "state": state})
    assert_error_page(resp, 403, "Access was declined")
    assert_nothing_stored()


def test_other_ims_error_in_the_callback(admin_client, rsps):
    state = start(admin_client)
    resp = admin_client.get(CALLBACK, {"error": "invalid_scope", "error_description": "bad scope", "state": state})
    assert_error_page(resp, 400, "Adobe IMS returned an error")
    assert "invalid_scope: bad scope" in resp.content.decode()


def test_a_sign_in_that_took_too_long(admin_client, rsps):
    state = start(admin_client)
    session = admin_client.session
    session[SESSION_KEY] = {**session[SESSION_KEY], "started_at": session[SESSION_KEY]["started_at"] - 3600}
    session.save()
    resp = admin_client.get(CALLBACK, {"code": "c", "state": state})
    assert_error_page(resp, 400, "The sign-in took too long")


def test_frameio_failing_after_the_exchange_stores_nothing(admin_client, rsps):
    state = start(admin_client)
    rsps.post(TOKEN_URL, json=token_json())
    rsps.get(f"{API}/v4/me", status=403, json={"errors": [{"detail": "Your Frame user is not linked to an Adobe ID"}]})
    resp = admin_client.get(CALLBACK, {"code": "c", "state": state})
    assert_error_page(resp, 502, "Frame.io did not answer as expected")
    assert "not linked to an Adobe ID" in resp.content.decode()
    assert_nothing_stored()


def test_a_failed_reconnect_keeps_the_working_connection(admin_client, rsps):
    conn = make_connection(access="at-good", refresh="rt-good", account_id="a1", workspace_id="w1", project_id="p1")
    state = start(admin_client)
    rsps.post(TOKEN_URL, status=503, json={"error": "temporarily_unavailable"})
    admin_client.get(CALLBACK, {"code": "c", "state": state})
    after = auth.connection_get()
    assert (after.access_token_enc, after.refresh_token_enc, after.project_id) == (
        conn.access_token_enc,
        conn.refresh_token_enc,
        "p1",
    )


# --- the page after connecting ----------------------------------------------------------------------


def test_needs_reauth_is_visible(admin_client):
    make_connection()
    FrameioConnection.objects.update(needs_reauth=True, reauth_reason="IMS refused the refresh token (invalid_grant)")
    page = admin_client.get(CONNECT).content.decode()
    assert "Frame.io needs to be connected again" in page and "invalid_grant" in page
    assert "Reconnect Frame.io" in page


def test_token_state_is_shown_without_tokens(admin_client):
    make_connection(access="at-VISIBLE?", refresh="rt-VISIBLE?", account_id="a1", project_id="p1")
    FrameioConnection.objects.update(refresh_token_issued_at=timezone.now() - timedelta(days=3))
    page = admin_client.get(CONNECT).content.decode()
    assert "Connected as Ada" in page and "of a 14-day life" in page
    assert "VISIBLE" not in page


REVOKE_URL = f"{IMS}/ims/revoke"


def test_disconnect_revokes_then_deletes_the_tokens(admin_client, rsps):
    make_connection(access="at-old", refresh="rt-old", account_id="a1")
    basic = "Basic " + base64.b64encode(f"cid-123:{CLIENT_SECRET}".encode()).decode()
    for token in ("rt-old", "at-old"):  # the refresh token first: revoking it ends the grant
        rsps.post(
            REVOKE_URL,
            match=[
                matchers.urlencoded_params_matcher({"token": token}),
                matchers.header_matcher({"Authorization": basic}),
            ],
        )
    resp = admin_client.post("/frameio/disconnect/", follow=True)
    assert "the tokens were revoked at Adobe IMS and deleted" in resp.content.decode()
    conn = auth.connection_get()
    assert (conn.access_token_enc, conn.refresh_token_enc, conn.account_id) == ("", "", "a1")
    assert admin_client.get("/frameio/disconnect/").status_code == 405


def test_disconnect_deletes_the_tokens_even_when_ims_cannot_revoke_them(admin_client, rsps, caplog):
    make_connection(access="at-old", refresh="rt-old", account_id="a1")
    rsps.post(REVOKE_URL, status=503)
    page = admin_client.post("/frameio/disconnect/", follow=True).content.decode()
    assert "but not revoked (Adobe IMS answered the revocation with HTTP 503)" in page
    assert "Adobe account settings" in page
    conn = auth.connection_get()
    assert (conn.access_token_enc, conn.refresh_token_enc) == ("", "")
    assert "rt-old" not in caplog.text and "at-old" not in caplog.text


# --- choosing the project ---------------------------------------------------------------------------


def mock_lists(rsps, projects=(("p1", "UNDLM"), ("p2", "Other"))):
    rsps.get(f"{API}/v4/accounts", json={"data": [{"id": "a1", "display_name": "Acc"}], "links": {}})
    rsps.get(f"{API}/v4/accounts/a1/workspaces", json={"data": [{"id": "w1", "name": "WS"}], "links": {}})
    rsps.get(
        f"{API}/v4/accounts/a1/workspaces/w1/projects",
        json={"data": [{"id": i, "name": n, "root_folder_id": f"r-{i}"} for i, n in projects], "links": {}},
    )


def test_choose_lists_and_saves_a_project(admin_client, rsps):
    make_connection(account_id="a1", workspace_id="w1")
    mock_lists(rsps)
    page = admin_client.get(CHOOSE).content.decode()
    assert "UNDLM" in page and "Other" in page
    mock_lists(rsps)
    resp = admin_client.post(CHOOSE, {"account": "a1", "workspace": "w1", "project": "p2"})
    assert resp.status_code == 302
    conn = auth.connection_get()
    assert (conn.project_id, conn.project_name, conn.root_folder_id) == ("p2", "Other", "r-p2")


def test_choose_refuses_an_id_frameio_did_not_list(admin_client, rsps):
    make_connection(account_id="a1", workspace_id="w1")
    mock_lists(rsps)
    resp = admin_client.post(CHOOSE, {"account": "a1", "workspace": "w1", "project": "someone-elses"})
    assert resp.status_code == 200 and "Select a valid choice" in resp.content.decode()
    assert auth.connection_get().project_id == ""


def test_choose_can_create_the_project(admin_client, rsps):
    make_connection(account_id="a1", workspace_id="w1")
    mock_lists(rsps, projects=())
    rsps.post(
        f"{API}/v4/accounts/a1/workspaces/w1/projects",
        status=201,
        match=[responses.matchers.json_params_matcher({"data": {"name": "UNDLM Documentary"}})],
        json={"data": {"id": "p9", "name": "UNDLM Documentary", "root_folder_id": "r9"}},
    )
    resp = admin_client.post(CHOOSE, {"account": "a1", "workspace": "w1", "new_project_name": "UNDLM Documentary"})
    assert resp.status_code == 302
    assert auth.connection_get().project_id == "p9"


def test_choose_needs_a_connection(admin_client):
    resp = admin_client.get(CHOOSE)
    assert resp.status_code == 302 and resp["Location"] == CONNECT


def test_choose_shows_a_frameio_failure(admin_client, rsps):
    make_connection()
    for _ in range(auth.INTERACTIVE_RETRY.max_attempts):
        rsps.get(f"{API}/v4/accounts", status=503)
    resp = admin_client.get(CHOOSE)
    assert_error_page(resp, 502, "Frame.io did not answer")


# --- server-to-server -------------------------------------------------------------------------------


@override_settings(FRAMEIO_AUTH="s2s")
def test_s2s_connect_fetches_a_token_without_a_browser(admin_client, rsps):
    rsps.post(TOKEN_URL, json=token_json(access="s2s-1", refresh=None))
    mock_frameio(rsps)
    resp = admin_client.post(CONNECT)
    assert resp.status_code == 302 and resp["Location"] == CHOOSE
    conn = auth.connection_get()
    assert conn.mode == "s2s" and crypto.decrypt(conn.access_token_enc) == "s2s-1"
    assert parse_qs(rsps.calls[0].request.body)["grant_type"] == ["client_credentials"]


def test_reverse_names():
    assert reverse("frameio:connect") == CONNECT and reverse("frameio:callback") == CALLBACK


def test_disconnect_with_undecryptable_tokens_says_they_were_not_revoked(admin_client, rsps):
    make_connection(access="at-old", refresh="rt-old", account_id="a1")
    with override_settings(FRAMEIO_TOKEN_KEY=Fernet.generate_key().decode()):  # the key changed since
        page = admin_client.post("/frameio/disconnect/", follow=True).content.decode()
    assert "but not revoked (2 stored token(s) could not be decrypted" in page  # and no IMS call was made
    assert (auth.connection_get().access_token_enc, auth.connection_get().refresh_token_enc) == ("", "")


def test_the_admin_shows_a_working_sign_in_as_good(admin_client):
    make_connection()
    changelist = reverse("admin:frameio_frameioconnection_changelist")
    html = admin_client.get(changelist).content.decode()
    assert ">Sign-in<" in html and 'src="/static/admin/img/icon-yes.svg" alt="True"' in html
    assert "icon-no.svg" not in html and "Needs reauth" not in html
    change = reverse("admin:frameio_frameioconnection_change", args=[FrameioConnection.objects.get().pk])
    assert "icon-yes.svg" in admin_client.get(change).content.decode()
    FrameioConnection.objects.update(needs_reauth=True, reauth_reason="invalid_grant")
    assert 'src="/static/admin/img/icon-no.svg" alt="False"' in admin_client.get(changelist).content.decode()
