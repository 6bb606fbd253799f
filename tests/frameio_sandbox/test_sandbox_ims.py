"""The sandbox's Adobe IMS: authorize (auto-approve), the token endpoint's three grants, and its faults."""

import base64
import hashlib
import secrets
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from frameio_sandbox import SandboxConfig, run_sandbox

REDIRECT_URI = "http://127.0.0.1:8000/frameio/callback"
SCOPES = "openid AdobeID offline_access additional_info.roles email profile"


@pytest.fixture
def sandbox():
    with run_sandbox(SandboxConfig()) as running:
        yield running


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(sandbox, **overrides) -> requests.Response:
    params = {
        "client_id": sandbox.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPES,
        "state": "s-123",
        "response_type": "code",
        **overrides,
    }
    return requests.get(f"{sandbox.base_url}/ims/authorize/v2", params=params, allow_redirects=False, timeout=5)


def redirect_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def get_code(sandbox, challenge: str | None = None) -> str:
    extra = {"code_challenge": challenge, "code_challenge_method": "S256"} if challenge else {}
    params = redirect_params(authorize(sandbox, **extra))
    assert params["state"] == "s-123"
    return params["code"]


def token(sandbox, auth=True, **form) -> requests.Response:
    basic = (sandbox.client_id, sandbox.client_secret) if auth else None
    return requests.post(f"{sandbox.base_url}/ims/token/v3", data=form, auth=basic, timeout=5)


def me(sandbox, access_token: str) -> requests.Response:
    return requests.get(f"{sandbox.base_url}/v4/me", headers={"Authorization": f"Bearer {access_token}"}, timeout=5)


def test_code_with_pkce_gives_working_tokens(sandbox):
    verifier, challenge = pkce()
    code = get_code(sandbox, challenge)
    answer = token(
        sandbox, grant_type="authorization_code", code=code, code_verifier=verifier, redirect_uri=REDIRECT_URI
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 86399
    assert body["refresh_token"] and body["id_token"]
    assert answer.headers["Cache-Control"] == "no-store"
    assert me(sandbox, body["access_token"]).json()["data"]["id"] == sandbox.user_id
    assert sandbox.token_calls == {"authorization_code": 1}


def test_client_secret_in_the_body_works_too(sandbox):
    code = get_code(sandbox)
    answer = token(
        sandbox,
        auth=False,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT_URI,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
    )
    assert answer.status_code == 200


def test_bad_verifier_is_invalid_grant_and_burns_the_code(sandbox):
    verifier, challenge = pkce()
    code = get_code(sandbox, challenge)
    wrong = token(
        sandbox, grant_type="authorization_code", code=code, code_verifier=pkce()[0], redirect_uri=REDIRECT_URI
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    again = token(
        sandbox, grant_type="authorization_code", code=code, code_verifier=verifier, redirect_uri=REDIRECT_URI
    )
    assert again.json() == {"error": "invalid_grant", "error_description": "authorization code already used"}
    missing = token(
        sandbox, grant_type="authorization_code", code=get_code(sandbox, challenge), redirect_uri=REDIRECT_URI
    )
    assert missing.json()["error"] == "invalid_grant"


def test_code_reused_expired_or_redirect_mismatch(sandbox):
    code = get_code(sandbox)
    assert token(sandbox, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI).status_code == 200
    reused = token(sandbox, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

    other = token(sandbox, grant_type="authorization_code", code=get_code(sandbox), redirect_uri=REDIRECT_URI + "x")
    assert other.json()["error_description"] == "redirect_uri does not match the authorization request"

    late = get_code(sandbox)
    sandbox.advance_clock(sandbox.config.auth_code_ttl + 1)
    expired = token(sandbox, grant_type="authorization_code", code=late, redirect_uri=REDIRECT_URI)
    assert expired.json() == {"error": "invalid_grant", "error_description": "authorization code expired"}


def test_authorize_refuses_unregistered_redirects_and_clients_with_a_page(sandbox):
    for response in (
        authorize(sandbox, redirect_uri="https://evil.example.com/callback"),
        authorize(sandbox, client_id="someone-else"),
    ):
        assert response.status_code == 400
        assert "Location" not in response.headers
        assert response.headers["Content-Type"].startswith("text/html")


def test_authorize_errors_go_back_to_the_client(sandbox):
    assert redirect_params(authorize(sandbox, response_type="token"))["error"] == "unsupported_response_type"
    assert redirect_params(authorize(sandbox, scope="openid launch_missiles"))["error"] == "invalid_scope"
    assert redirect_params(authorize(sandbox, code_challenge="x" * 43, code_challenge_method="S1"))["error"]
    sandbox.faults.ims_authorize_error = "access_denied"
    denied = redirect_params(authorize(sandbox))
    assert denied["error"] == "access_denied" and denied["state"] == "s-123"


def test_wrong_client_credentials_are_invalid_client(sandbox):
    code = get_code(sandbox)
    answer = requests.post(
        f"{sandbox.base_url}/ims/token/v3",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=(sandbox.client_id, "wrong"),
        timeout=5,
    )
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    unknown = token(sandbox, grant_type="password")
    assert unknown.status_code == 400 and unknown.json()["error"] == "unsupported_grant_type"


def test_refresh_rotates_and_a_used_refresh_token_is_invalid_grant(sandbox):
    first = token(sandbox, grant_type="authorization_code", code=get_code(sandbox), redirect_uri=REDIRECT_URI).json()
    second = token(sandbox, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"] and rotated["access_token"] != first["access_token"]
    assert me(sandbox, rotated["access_token"]).status_code == 200
    reused = token(sandbox, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json() == {"error": "invalid_grant", "error_description": "refresh token already used"}
    assert token(sandbox, grant_type="refresh_token", refresh_token=rotated["refresh_token"]).status_code == 200
    assert sandbox.token_calls == {"authorization_code": 1, "refresh_token": 3}


def test_refresh_token_expires_after_14_days(sandbox):
    first = token(sandbox, grant_type="authorization_code", code=get_code(sandbox), redirect_uri=REDIRECT_URI).json()
    sandbox.advance_clock(14 * 86400 + 1)
    assert me(sandbox, first["access_token"]).status_code == 401  # 24 h access token long gone
    late = token(sandbox, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert late.json()["error_description"] == "refresh token expired"


def test_concurrent_refreshes_with_one_token_succeed_once(sandbox):
    refresh = token(sandbox, grant_type="authorization_code", code=get_code(sandbox), redirect_uri=REDIRECT_URI).json()[
        "refresh_token"
    ]
    barrier, results = threading.Barrier(8), []

    def use():
        barrier.wait()
        results.append(token(sandbox, grant_type="refresh_token", refresh_token=refresh).status_code)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200] + [400] * 7


def test_without_offline_access_there_is_no_refresh_token(sandbox):
    code = redirect_params(authorize(sandbox, scope="openid AdobeID"))["code"]
    body = token(sandbox, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI).json()
    assert "refresh_token" not in body


def test_client_credentials_is_the_service_account(sandbox):
    answer = token(sandbox, grant_type="client_credentials", scope="openid,AdobeID,frame.s2s.all")
    assert answer.status_code == 200
    body = answer.json()
    assert "refresh_token" not in body
    profile = me(sandbox, body["access_token"]).json()["data"]
    assert profile["name"] == "Service Account User" and profile["id"] == sandbox.service_user_id
    sandbox.config.s2s_enabled = False
    assert token(sandbox, grant_type="client_credentials").json()["error"] == "unsupported_grant_type"


def test_forced_500_is_counted(sandbox):
    sandbox.faults.ims_token_status = 500
    answer = token(sandbox, grant_type="client_credentials")
    assert answer.status_code == 500 and answer.json()["error"] == "server_error"
    sandbox.faults.clear()
    assert token(sandbox, grant_type="client_credentials").status_code == 200
    assert sandbox.token_calls == {"client_credentials": 2}


def test_revoked_access_token_is_401(sandbox):
    access = token(sandbox, grant_type="client_credentials").json()["access_token"]
    revoked = requests.post(
        f"{sandbox.base_url}/ims/revoke",
        data={"token": access},
        auth=(sandbox.client_id, sandbox.client_secret),
        timeout=5,
    )
    assert revoked.status_code == 200
    assert me(sandbox, access).status_code == 401


def test_token_lifetimes_are_configurable():
    with run_sandbox(SandboxConfig(access_token_ttl=120)) as sandbox:
        body = token(sandbox, grant_type="client_credentials").json()
        assert body["expires_in"] == 120
        claims = body["access_token"].split(".")[1]
        decoded = base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4))
        assert b'"expires_in": "120000"' in decoded  # IMS-style claim, milliseconds
        sandbox.advance_clock(121)
        assert me(sandbox, body["access_token"]).status_code == 401
