"""Tokens: made once and stored hashed, scoped, expired, revoked, never a session; the rate limit; the
command; and no token in a log line."""

import logging
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from api.models import ApiToken
from api.tokens import digest
from shots.workflow import Status
from tests.factories import make_shot

pytestmark = pytest.mark.django_db


@pytest.fixture
def shot():
    return make_shot(nomenclature="TST_00001", status=Status.AE_READY)


def test_no_token_is_401(call, shot):
    response = call("GET", "/api/v1/shots", validate_request=False)
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    assert "Bearer" in response.json()["detail"]


def test_unknown_expired_and_revoked_tokens_are_401(call, editor, make_token, shot):
    unknown = call("GET", "/api/v1/shots", token="pf_" + "x" * 43)
    assert unknown.status_code == 401 and unknown.json()["detail"] == "unknown token"

    expired = make_token(editor, expires_days=1)
    ApiToken.objects.filter(digest=digest(expired)).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = call("GET", "/api/v1/shots", token=expired)
    assert response.status_code == 401 and response.json()["detail"] == "the token expired"

    revoked = make_token(editor)
    assert call("GET", "/api/v1/shots", token=revoked).status_code == 200
    call_command("api_token", "revoke", str(ApiToken.objects.get(digest=digest(revoked)).pk))
    response = call("GET", "/api/v1/shots", token=revoked)
    assert response.status_code == 401 and response.json()["detail"] == "the token was revoked"


def test_an_inactive_users_token_is_401(call, editor, token, shot):
    editor.is_active = False
    editor.save()
    response = call("GET", "/api/v1/shots", token=token)
    assert response.status_code == 401 and "inactive" in response.json()["detail"]


def test_a_read_only_token_reads_but_never_writes(call, editor, make_token, shot):
    read_only = make_token(editor, read_only=True)
    assert call("GET", "/api/v1/shots/TST_00001", token=read_only).status_code == 200
    response = call("POST", "/api/v1/shots/TST_00001/status", token=read_only, body={"to": "ae_in_progress"})
    assert response.status_code == 403 and response.json()["error"] == "read_only_token"
    shot.refresh_from_db()
    assert shot.status == Status.AE_READY


def test_a_session_is_no_credential_and_a_token_needs_no_csrf(editor, token, shot):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(editor)
    assert browser.get("/api/v1/shots").status_code == 401
    moved = browser.post(
        "/api/v1/shots/TST_00001/status",
        data={"to": "ae_in_progress"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert moved.status_code == 200
    assert "csrftoken" not in moved.cookies and "sessionid" not in moved.cookies


def test_the_rate_limit_answers_429_with_retry_after(call, token, settings, shot):
    settings.POSTFLOW_API_THROTTLE_RATE = "3/min"
    for _ in range(3):
        assert call("GET", "/api/v1/shots", token=token).status_code == 200
    response = call("GET", "/api/v1/shots", token=token)
    assert response.status_code == 429 and response.json()["error"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60


def test_the_limit_is_per_token(call, editor, make_token, settings, shot):
    settings.POSTFLOW_API_THROTTLE_RATE = "1/min"
    first, second = make_token(editor), make_token(editor)
    assert call("GET", "/api/v1/shots", token=first).status_code == 200
    assert call("GET", "/api/v1/shots", token=first).status_code == 429
    assert call("GET", "/api/v1/shots", token=second).status_code == 200


def test_the_command_prints_the_token_once_and_stores_its_hash(editor, capsys, call, shot):
    call_command("api_token", "create", "ana", "--read-only", "--expires-days", "30", "--name", "AE node 3")
    out, err = capsys.readouterr()
    secret = out.strip()
    token = ApiToken.objects.get()
    assert secret.startswith("pf_") and token.digest == digest(secret) and secret not in token.digest
    assert token.read_only and token.name == "AE node 3" and "read-only" in err and "Shown once" in err
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert call("GET", "/api/v1/shots", token=secret).status_code == 200

    call_command("api_token", "list")
    listed = capsys.readouterr().out
    assert token.prefix in listed and "read-only" in listed and secret not in listed
    call_command("api_token", "revoke", str(token.pk))
    assert "revoked" in capsys.readouterr().out
    call_command("api_token", "list")
    assert token.prefix not in capsys.readouterr().out
    call_command("api_token", "list", "--all")
    assert "the token was revoked" in capsys.readouterr().out
    with pytest.raises(CommandError, match="revoked already"):
        call_command("api_token", "revoke", str(token.pk))


def test_the_command_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="no user 'zoe'"):
        call_command("api_token", "create", "zoe")


def test_no_token_reaches_a_log_line(call, token, caplog, settings, shot):
    settings.DEBUG = True  # django-ninja's own bearer class logs a bad header in DEBUG; ours never does
    with caplog.at_level(logging.DEBUG):
        call("GET", "/api/v1/shots", token=token)
        call("POST", "/api/v1/shots/TST_00001/status", token=token, body={"to": "final_delivery"})
        call("GET", "/api/v1/shots", validate_request=False, headers={"HTTP_AUTHORIZATION": f"Token {token}"})
        call("GET", "/api/v1/shots", token=token + "x")
    assert caplog.records and token not in caplog.text


def test_the_admin_lists_and_revokes_without_showing_a_token(admin_client, editor, token):
    listing = admin_client.get("/admin/api/apitoken/")
    assert listing.status_code == 200 and token[:9] in listing.content.decode()
    assert token not in listing.content.decode()
    row = ApiToken.objects.get()
    admin_client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.revoked_at is not None
    assert admin_client.get("/admin/api/apitoken/add/").status_code == 403
