"""Adobe IMS, as far as Frame.io's OAuth needs it: /ims/authorize/v2, /ims/token/v3, /ims/revoke.

Authorize auto-approves: it redirects to `redirect_uri` with `code` and `state`, unless the client id is
unknown or the redirect URI matches none of the client's patterns (then an error page, never a redirect),
or the request itself is wrong (then a redirect carrying `error`, as OAuth prescribes).

The token endpoint takes form-encoded bodies, client credentials by HTTP Basic or in the body, and:
- authorization_code: the code is single-use (a second use answers invalid_grant), expires after
  `auth_code_ttl`, must come with the redirect_uri it was issued for, and with a code_verifier that matches
  its S256 (or plain) code_challenge when it had one;
- refresh_token: single-use too; answers a new access token and a new refresh token (14 days);
- client_credentials (Server-to-Server): an access token for the "Service Account User", no refresh token.
Answers are {access_token, refresh_token?, id_token?, token_type: "bearer", expires_in}. Tokens are
JWT-shaped like IMS's (created_at and expires_in in milliseconds, as strings), signed with a sandbox key.
Every call of the token endpoint is counted in `state.token_calls` by grant type.
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from frameio_sandbox.replies import Reply, html_reply, json_reply
from frameio_sandbox.state import SERVICE_USER_ID, USER_ID

if TYPE_CHECKING:
    from frameio_sandbox.server import Sandbox

_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


class TokenError(Exception):
    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _jwt(sb: "Sandbox", claims: dict) -> str:
    header = {"alg": "RS256", "x5u": "ims_na1-key-at-1.cer", "kid": "ims_na1-key-at-1", "itt": claims["type"][:2]}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(sb.state.signing_key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _new_token(sb: "Sandbox", kind: str, ttl: float, **record) -> str:
    now = sb.clock.now()
    claims = {
        "id": secrets.token_hex(12),
        "type": kind,
        "client_id": record.get("client_id"),
        "user_id": record.get("user_id"),
        "as": "ims-na1",
        "created_at": str(int(now * 1000)),
        "expires_in": str(int(ttl * 1000)),
        "scope": ",".join(record.get("scopes", [])),
    }
    token = _jwt(sb, claims)
    with sb.state.lock:
        sb.state.tokens[token] = {"kind": kind, "created_at": now, "expires_at": now + ttl, "used": False, **record}
    return token


def issue_access_token(
    sb: "Sandbox", *, user_id: str, scopes: list[str], client_id: str, ttl: float | None = None
) -> str:
    lifetime = sb.config.access_token_ttl if ttl is None else ttl
    return _new_token(sb, "access_token", lifetime, client_id=client_id, user_id=user_id, scopes=scopes)


def bearer_user(sb: "Sandbox", authorization: str | None) -> tuple[str | None, str]:
    """(user id, "") for a valid `Authorization: Bearer` value, else (None, why not)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None, "Missing bearer token"
    with sb.state.lock:
        record = sb.state.tokens.get(token.strip())
        if record is None or record["kind"] != "access_token" or record.get("revoked"):
            return None, "Invalid token"
        if sb.clock.now() >= record["expires_at"]:
            return None, "Token expired"
        return record["user_id"], ""


# -- /ims/authorize/v2 ------------------------------------------------------------------------------


def authorize(sb: "Sandbox", query: dict[str, str]) -> Reply:
    if query.get("client_id") != sb.config.client_id:
        return html_reply(400, "Invalid request", "The client_id is not a registered client.")
    redirect_uri = query.get("redirect_uri", "")
    if not any(re.fullmatch(p, redirect_uri) for p in sb.config.redirect_uri_patterns):
        return html_reply(400, "Invalid request", "The redirect_uri does not match the client's redirect URI pattern.")
    state = query.get("state")

    def back(params: dict[str, str]) -> Reply:
        if state is not None:
            params["state"] = state
        return Reply(302, headers={"Location": _with_query(redirect_uri, params)})

    scopes = _scopes(query.get("scope", ""))
    challenge = query.get("code_challenge")
    method = query.get("code_challenge_method") or ("plain" if challenge else None)
    if query.get("response_type", "code") != "code":
        return back({"error": "unsupported_response_type", "error_description": "response_type must be code"})
    if unknown := [s for s in scopes if s not in sb.config.allowed_scopes]:
        return back({"error": "invalid_scope", "error_description": f"invalid scope: {','.join(unknown)}"})
    if challenge and method not in ("S256", "plain"):
        return back({"error": "invalid_request", "error_description": "code_challenge_method must be S256 or plain"})
    if sb.faults.ims_authorize_error:
        return back({"error": sb.faults.ims_authorize_error, "error_description": "refused by the sandbox"})
    code = _new_token(
        sb,
        "authorization_code",
        sb.config.auth_code_ttl,
        client_id=sb.config.client_id,
        user_id=USER_ID,
        scopes=scopes,
        redirect_uri=redirect_uri,
        code_challenge=challenge,
        code_challenge_method=method,
    )
    return back({"code": code})


def _scopes(raw: str) -> list[str]:
    return [s for s in re.split(r"[\s,]+", raw) if s]


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


# -- /ims/token/v3 ----------------------------------------------------------------------------------


def token(sb: "Sandbox", headers, query: dict[str, str], body: bytes) -> Reply:
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    grant = form.get("grant_type", "")
    with sb.state.lock:
        sb.state.token_calls[grant] = sb.state.token_calls.get(grant, 0) + 1
    if sb.faults.ims_token_status:
        return json_reply(sb.faults.ims_token_status, {"error": "server_error", "error_description": "IMS unavailable"})
    try:
        if not headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            raise TokenError(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
        client_id = _authenticate_client(sb, headers, query, form)
        if grant == "authorization_code":
            answer = _grant_code(sb, client_id, form)
        elif grant == "refresh_token":
            answer = _grant_refresh(sb, client_id, form)
        elif grant == "client_credentials" and sb.config.s2s_enabled:
            answer = _grant_client_credentials(sb, client_id, form)
        else:
            raise TokenError(400, "unsupported_grant_type", f"unsupported grant_type: {grant or '(none)'}")
    except TokenError as exc:
        return json_reply(exc.status, {"error": exc.error, "error_description": exc.description})
    sb.persist()
    return json_reply(200, answer, {"Cache-Control": "no-store", "Pragma": "no-cache"})


def _authenticate_client(sb: "Sandbox", headers, query: dict[str, str], form: dict[str, str]) -> str:
    client_id, secret = form.get("client_id") or query.get("client_id"), form.get("client_secret")
    scheme, _, credentials = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, secret = base64.b64decode(credentials).decode().partition(":")
        except ValueError:
            raise TokenError(401, "invalid_client", "malformed Basic credentials") from None
    if client_id != sb.config.client_id:
        raise TokenError(401, "invalid_client", "invalid client_id parameter")
    if not secret or not hmac.compare_digest(secret, sb.config.client_secret):
        raise TokenError(401, "invalid_client", "invalid client_secret parameter")
    return client_id


def _take(sb: "Sandbox", value: str | None, kind: str, client_id: str) -> dict:
    """Look up a code or refresh token and use it up (under the state lock: two racing uses, one wins)."""
    with sb.state.lock:
        record = sb.state.tokens.get(value or "")
        if record is None or record["kind"] != kind or record["client_id"] != client_id or record.get("revoked"):
            raise TokenError(400, "invalid_grant", f"invalid {kind.replace('_', ' ')}")
        if record["used"]:
            raise TokenError(400, "invalid_grant", f"{kind.replace('_', ' ')} already used")
        record["used"] = True
    if sb.clock.now() >= record["expires_at"]:
        raise TokenError(400, "invalid_grant", f"{kind.replace('_', ' ')} expired")
    return record


def _grant_code(sb: "Sandbox", client_id: str, form: dict[str, str]) -> dict:
    record = _take(sb, form.get("code"), "authorization_code", client_id)
    if form.get("redirect_uri") != record["redirect_uri"]:
        raise TokenError(400, "invalid_grant", "redirect_uri does not match the authorization request")
    if record["code_challenge"]:
        verifier = form.get("code_verifier", "")
        if not _VERIFIER.match(verifier):
            raise TokenError(400, "invalid_grant", "code_verifier missing or malformed")
        if record["code_challenge_method"] == "S256":
            verifier = _b64(hashlib.sha256(verifier.encode()).digest())
        if not hmac.compare_digest(verifier, record["code_challenge"]):
            raise TokenError(400, "invalid_grant", "code_verifier does not match the code_challenge")
    return _token_answer(sb, client_id, record["user_id"], record["scopes"])


def _grant_refresh(sb: "Sandbox", client_id: str, form: dict[str, str]) -> dict:
    record = _take(sb, form.get("refresh_token"), "refresh_token", client_id)
    return _token_answer(sb, client_id, record["user_id"], record["scopes"])


def _grant_client_credentials(sb: "Sandbox", client_id: str, form: dict[str, str]) -> dict:
    scopes = _scopes(form.get("scope", "openid,AdobeID,frame.s2s.all"))
    if unknown := [s for s in scopes if s not in sb.config.allowed_scopes]:
        raise TokenError(400, "invalid_scope", f"invalid scope: {','.join(unknown)}")
    return _token_answer(sb, client_id, SERVICE_USER_ID, [s for s in scopes if s != "offline_access"])


def _token_answer(sb: "Sandbox", client_id: str, user_id: str, scopes: list[str]) -> dict:
    ttl = sb.config.access_token_ttl
    answer = {
        "access_token": issue_access_token(sb, user_id=user_id, scopes=scopes, client_id=client_id),
        "token_type": "bearer",
        "expires_in": int(ttl),
    }
    if "offline_access" in scopes:
        answer["refresh_token"] = _new_token(
            sb, "refresh_token", sb.config.refresh_token_ttl, client_id=client_id, user_id=user_id, scopes=scopes
        )
    if "openid" in scopes:
        answer["id_token"] = _jwt(
            sb, {"type": "id_token", "sub": user_id, "aud": client_id, "iss": "https://ims-na1.adobelogin.com"}
        )
    return answer


# -- /ims/revoke ------------------------------------------------------------------------------------


def revoke(sb: "Sandbox", headers, query: dict[str, str], body: bytes) -> Reply:
    form = dict(parse_qsl(body.decode("utf-8", "replace")))
    try:
        _authenticate_client(sb, headers, query, form)
    except TokenError as exc:
        return json_reply(exc.status, {"error": exc.error, "error_description": exc.description})
    with sb.state.lock:
        record = sb.state.tokens.get(form.get("token", ""))
        if record is not None:
            record["revoked"] = True
    sb.persist()
    return Reply(200)
