"""Issue #19, point 5: connecting, choosing and disconnecting Frame.io need `frameio.manage_connection`
(not only `is_staff`), drawn and enforced from one table, and every change leaves an audit row."""

import json
import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client, override_settings
from django.urls import reverse

from frameio import auth, crypto
from frameio.auth import PendingAuthorization
from frameio.models import FrameioConnection, FrameioConnectionEvent
from frameio.views import CONNECTION_PERMISSIONS, SESSION_KEY
from tests.frameio.test_auth import SETTINGS, TOKEN_URL, make_connection, token_json
from tests.frameio.test_views import CALLBACK, CHOOSE, CONNECT, REVOKE_URL, mock_frameio, mock_lists, start

pytestmark = pytest.mark.django_db

DISCONNECT = "/frameio/disconnect/"
PERMISSION = "frameio.manage_connection"


@pytest.fixture(autouse=True)
def frameio_settings(settings):
    # Through the `settings` fixture only: the sandbox fixture below changes some of them again.
    for name, value in SETTINGS.items():
        setattr(settings, name, value)


def staff_client(username: str, *perms: str) -> Client:
    user = get_user_model().objects.create_user(username, password="x", is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(codename=codename, content_type__app_label=app_label))
    client = Client()
    client.force_login(user)
    return client


def assert_refused(resp):
    assert resp.status_code == 403
    page = resp.content.decode()
    assert PERMISSION in page  # the page says which permission is missing
    assert "Back to the Frame.io connection" in page


def test_one_permission_of_its_own_for_every_connection_control():
    assert set(CONNECTION_PERMISSIONS) == {"connect", "choose", "disconnect"}
    assert set(CONNECTION_PERMISSIONS.values()) == {PERMISSION}
    perm = Permission.objects.get(codename="manage_connection", content_type__app_label="frameio")
    assert perm.name == "Can connect, choose the account of, and disconnect Frame.io"


# --- a staff user without the permission ------------------------------------------------------------


def test_staff_without_the_permission_cannot_disconnect_and_the_tokens_survive(rsps):
    make_connection(access="at-keep", refresh="rt-keep", account_id="a1")
    assert_refused(staff_client("intern").post(DISCONNECT))  # rsps: no revocation was sent either
    conn = auth.connection_get()
    assert crypto.decrypt(conn.access_token_enc) == "at-keep" and crypto.decrypt(conn.refresh_token_enc) == "rt-keep"
    assert not FrameioConnectionEvent.objects.exclude(kind="connected").exists()


def test_staff_without_the_permission_cannot_start_a_connection(rsps):
    client = staff_client("intern")
    assert_refused(client.post(CONNECT))
    assert SESSION_KEY not in client.session
    assert not FrameioConnection.objects.exists()


@override_settings(FRAMEIO_AUTH="s2s")
def test_staff_without_the_permission_cannot_connect_server_to_server(rsps):
    assert_refused(staff_client("intern").post(CONNECT))  # rsps: no token was fetched
    assert not FrameioConnection.objects.exists() and not FrameioConnectionEvent.objects.exists()


def test_staff_without_the_permission_cannot_complete_a_callback(rsps):
    """Even holding a pending sign-in in its session (started before the permission was taken away,
    say), the callback exchanges no code and stores nothing; the pending sign-in is spent."""
    client = staff_client("intern")
    pending = PendingAuthorization(
        state="s-1", code_verifier="v" * 64, redirect_uri="http://testserver/frameio/callback/", started_at=time.time()
    )
    session = client.session
    session[SESSION_KEY] = pending.as_session()
    session.save()
    assert_refused(client.get(CALLBACK, {"code": "c1", "state": "s-1"}))  # rsps: IMS was never called
    assert SESSION_KEY not in client.session
    assert not FrameioConnection.objects.exists() and not FrameioConnectionEvent.objects.exists()


def test_staff_without_the_permission_cannot_choose_the_project(rsps):
    make_connection(account_id="a1", workspace_id="w1", project_id="p1")
    client = staff_client("intern")
    assert_refused(client.get(CHOOSE))  # rsps: Frame.io was not even listed
    assert_refused(client.post(CHOOSE, {"account": "a1", "workspace": "w1", "project": "p2"}))
    assert auth.connection_get().project_id == "p1"
    assert not FrameioConnectionEvent.objects.filter(kind="account_chosen").exists()


def test_staff_without_the_permission_see_the_state_read_only():
    make_connection(account_id="a1", workspace_id="w1", project_id="p1", project_name="UNDLM")
    resp = staff_client("intern").get(CONNECT)
    page = resp.content.decode()
    assert resp.status_code == 200 and "Connected as Ada" in page and "UNDLM" in page
    assert "Reconnect Frame.io" not in page and "Connect Frame.io" not in page
    assert 'value="Disconnect"' not in page and reverse("frameio:disconnect") not in page
    assert reverse("frameio:choose") not in page
    assert PERMISSION in page  # says why there is no button


def test_the_page_draws_the_buttons_for_a_user_with_the_permission():
    make_connection(account_id="a1", workspace_id="w1", project_id="p1")
    page = staff_client("producer", PERMISSION).get(CONNECT).content.decode()
    assert "Reconnect Frame.io" in page and 'value="Disconnect"' in page and reverse("frameio:choose") in page


# --- with the permission: it works, and the audit says who ------------------------------------------


def test_with_the_permission_connect_writes_an_audit_row_with_the_actor(rsps):
    client = staff_client("producer", PERMISSION)
    state = start(client)
    rsps.post(TOKEN_URL, json=token_json(access="at-SECRET", refresh="rt-SECRET"))
    mock_frameio(rsps)
    resp = client.get(CALLBACK, {"code": "c1", "state": state})
    assert resp.status_code == 302 and resp["Location"] == CHOOSE
    event = FrameioConnectionEvent.objects.get()
    assert (event.kind, event.actor) == ("connected", "user:producer")
    assert event.details["auth_mode"] == "oauth"
    assert (event.details["account_id"], event.details["workspace_id"]) == ("a1", "w1")
    assert "SECRET" not in json.dumps(event.details)


def test_with_the_permission_choose_and_disconnect_are_audited(rsps):
    make_connection(access="at-SECRET", refresh="rt-SECRET", account_id="a1", workspace_id="w1")
    client = staff_client("producer", PERMISSION)
    mock_lists(rsps)
    resp = client.post(CHOOSE, {"account": "a1", "workspace": "w1", "project": "p2"})
    assert resp.status_code == 302 and auth.connection_get().project_id == "p2"
    rsps.post(REVOKE_URL)
    rsps.post(REVOKE_URL)
    page = client.post(DISCONNECT, follow=True).content.decode()
    assert "revoked at Adobe IMS and deleted" in page and auth.connection_get().access_token_enc == ""
    chosen, disconnected = FrameioConnectionEvent.objects.exclude(kind="connected").order_by("id")
    assert (chosen.kind, chosen.actor, chosen.details["project_id"]) == ("account_chosen", "user:producer", "p2")
    assert (disconnected.kind, disconnected.actor) == ("disconnected", "user:producer")
    assert disconnected.details["account_id"] == "a1"
    everything = json.dumps([e.details for e in FrameioConnectionEvent.objects.all()])
    assert "SECRET" not in everything


def test_a_revocation_that_failed_is_audited_too(rsps):
    make_connection(account_id="a1")
    rsps.post(REVOKE_URL, status=503)
    staff_client("producer", PERMISSION).post(DISCONNECT)
    kinds = list(FrameioConnectionEvent.objects.order_by("id").values_list("kind", "actor"))
    assert kinds[-2:] == [("disconnected", "user:producer"), ("token_revoke_failed", "user:producer")]
    assert "HTTP 503" in FrameioConnectionEvent.objects.get(kind="token_revoke_failed").details["reason"]


def test_the_audit_row_is_written_with_the_change_or_not_at_all(monkeypatch):
    make_connection(account_id="a1")

    def refuse(**kwargs):
        raise RuntimeError("the audit could not be written")

    monkeypatch.setattr(FrameioConnectionEvent.objects, "create", refuse)
    with pytest.raises(RuntimeError):
        auth.connection_disconnect(actor="user:producer")
    assert auth.connection_get().has_tokens  # the disconnect rolled back with its audit row


def test_the_server_to_server_first_use_is_audited(sandbox, shot, settings):
    from frameio.uploads import attempt

    FrameioConnection.objects.all().delete()
    FrameioConnectionEvent.objects.all().delete()
    settings.FRAMEIO_ACCOUNT_ID = settings.FRAMEIO_WORKSPACE_ID = ""
    assert attempt.target_or_connect().account_id == sandbox.account_id
    event = FrameioConnectionEvent.objects.get()
    assert (event.kind, event.actor, event.details["auth_mode"]) == ("connected", "system", "s2s")
    assert event.details["account_id"] == sandbox.account_id


# --- the admin ----------------------------------------------------------------------------------------


def test_the_admin_shows_the_audit_read_only_newest_first(admin_client):
    make_connection(account_id="a1")
    auth.connection_set_target(target=auth.Target(account_id="a1", project_id="p9"), actor="user:producer")
    changelist = admin_client.get(reverse("admin:frameio_frameioconnectionevent_changelist"))
    page = changelist.content.decode()
    assert changelist.status_code == 200
    assert page.index("user:producer") < page.index("user:test")  # newest first
    assert "Add Frame.io connection event" not in page
    assert 'name="action"' not in page  # no delete_selected either
    event = FrameioConnectionEvent.objects.latest("id")
    change = admin_client.get(reverse("admin:frameio_frameioconnectionevent_change", args=[event.pk]))
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    assert admin_client.post(reverse("admin:frameio_frameioconnectionevent_delete", args=[event.pk])).status_code == 403
    assert admin_client.get(reverse("admin:frameio_frameioconnectionevent_add")).status_code == 403
    conn_page = admin_client.get(reverse("admin:frameio_frameioconnection_change", args=[auth.connection_get().pk]))
    assert "user:producer" in conn_page.content.decode()  # the last changes, on the connection's page


def test_the_connection_cannot_be_deleted_in_the_admin(admin_client):
    """Deleting the row would drop the tokens without revoking them and without an audit row."""
    conn = make_connection(account_id="a1")
    url = reverse("admin:frameio_frameioconnection_changelist")
    admin_client.post(url, {"action": "delete_selected", "_selected_action": [conn.pk], "post": "yes"})
    assert auth.connection_get().has_tokens
    assert admin_client.post(reverse("admin:frameio_frameioconnection_delete", args=[conn.pk])).status_code == 403


def test_the_webhook_action_is_offered_only_with_its_permission():
    make_connection(account_id="a1")
    url = reverse("admin:frameio_frameioconnection_changelist")
    viewer = staff_client("viewer", "frameio.view_frameioconnection")
    assert "register_review_webhook" not in viewer.get(url).content.decode()
    registrar = staff_client("registrar", "frameio.view_frameioconnection", "frameio.add_frameiowebhook")
    assert "register_review_webhook" in registrar.get(url).content.decode()


# --- the dashboard's health panel ---------------------------------------------------------------------


def test_the_dashboard_offers_connect_only_with_the_permission():
    url = reverse("dashboard:panel-health")
    without = staff_client("intern").get(url).content.decode()
    assert "Connect…" not in without and PERMISSION in without
    assert "Connect…" in staff_client("producer", PERMISSION).get(url).content.decode()
