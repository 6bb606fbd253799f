"""Adobe IMS authentication for Frame.io v4, and the one place that writes `FrameioConnection`.

- OAuth "Web App" (FRAMEIO_AUTH=oauth): authorization code + PKCE S256 + a session-bound `state`
  (`begin_authorization` / `exchange_code`), then refresh ahead of expiry and once after a 401.
- Server-to-Server (FRAMEIO_AUTH=s2s): client credentials, fetched again when the token runs out.

Every connect, choice of target and disconnect names its actor ("user:alice", or "system" for the
Server-to-Server first use) and writes a `FrameioConnectionEvent` in the same transaction.

Refresh tokens are single-use. `refresh_access_token` therefore serializes on the connection row
(`select_for_update` on PostgreSQL; on SQLite `transaction_mode=IMMEDIATE` takes the database write
lock at BEGIN), re-reads the row once it holds the lock, and uses the token another worker just
stored instead of spending the refresh token a second time. The new tokens are committed before
the access token is handed to anyone. IMS answering `invalid_grant` marks the connection
`needs_reauth` (shown on /frameio/connect/) rather than trying again and again.

The lock is held across the IMS call on purpose: that call is what must not happen twice. Its
timeout is kept short (IMS_TIMEOUT) so that other writers wait at most that long, once a day.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from oauthlib.oauth2 import BackendApplicationClient, OAuth2Error, WebApplicationClient
from requests_oauthlib import OAuth2Session

from frameio.client import FrameioClient, FrameioError, Project, RetryPolicy, redact
from frameio.crypto import TokenDecryptError, decrypt, encrypt
from frameio.models import FrameioConnection, FrameioConnectionEvent

logger = logging.getLogger(__name__)

IMS_AUTHORIZE_PATH = "/ims/authorize/v2"  # Adobe IMS authorize [frameio-v4.md §11.2]
IMS_TOKEN_PATH = "/ims/token/v3"  # noqa: S105 - a path. Adobe IMS token: code, refresh, client credentials [§11.2]
IMS_REVOKE_PATH = "/ims/revoke"  # Adobe IMS revocation, RFC 7009: body token=…, Basic client auth [§11.2]
REFRESH_AHEAD = timedelta(minutes=5)
PENDING_MAX_AGE = timedelta(minutes=10)  # a sign-in not finished by then starts again
IMS_CONNECT_TIMEOUT = 5.0
IMS_TIMEOUT = 15.0  # upper bound: the connection row stays locked during a refresh
# IMS errors after which repeating the same request cannot work: a person must reconnect.
# A person is waiting on a page: fail within a few seconds rather than retry for half a minute.
INTERACTIVE_RETRY = RetryPolicy(max_attempts=3, base=0.25, cap=2.0)
REAUTH_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope"})


class FrameioAuthError(FrameioError):
    """No usable token: not connected, re-authorisation needed, or IMS refused or failed.

    `kind` is a short code: not_connected, needs_reauth, access_denied, invalid_grant,
    redirect_uri_mismatch, invalid_client, server_error, network, undecryptable, other (or the IMS
    `error` code as given).
    """

    def __init__(self, kind: str, detail: str, *, status: int | None = None, permanent: bool = True) -> None:
        self.kind = kind
        super().__init__(status, permanent, detail, "ims")

    def __str__(self) -> str:
        if self.kind in ("not_connected", "needs_reauth", "undecryptable"):
            return self.detail
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"Adobe IMS {self.kind}{status}: {self.detail}"

    def __reduce__(self):
        return (_rebuild_auth_error, (self.kind, self.detail, self.status, self.permanent))


def _rebuild_auth_error(kind: str, detail: str, status: int | None, permanent: bool) -> FrameioAuthError:
    return FrameioAuthError(kind, detail, status=status, permanent=permanent)


@dataclass(frozen=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    scope: str = ""

    @classmethod
    def from_response(cls, token: dict[str, Any]) -> TokenSet:
        scope = token.get("scope") or ""
        if isinstance(scope, list | tuple):
            scope = " ".join(scope)
        try:
            expires_in = int(float(token.get("expires_in") or 0))
        except (TypeError, ValueError):
            expires_in = 0
        return cls(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token") or "",
            expires_in=expires_in or 3600,
            scope=str(scope),
        )


@dataclass(frozen=True)
class PendingAuthorization:
    """What the callback needs, kept in the session between the redirect and the callback."""

    state: str
    code_verifier: str = field(repr=False)
    redirect_uri: str
    started_at: float

    def as_session(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "code_verifier": self.code_verifier,
            "redirect_uri": self.redirect_uri,
            "started_at": self.started_at,
        }

    @classmethod
    def from_session(cls, data: Any) -> PendingAuthorization | None:
        try:
            return cls(
                state=str(data["state"]),
                code_verifier=str(data["code_verifier"]),
                redirect_uri=str(data["redirect_uri"]),
                started_at=float(data["started_at"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def expired(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) - self.started_at > PENDING_MAX_AGE.total_seconds()


@dataclass(frozen=True)
class Target:
    """Where postflow works in Frame.io; empty strings are not chosen yet."""

    account_id: str = ""
    account_name: str = ""
    workspace_id: str = ""
    workspace_name: str = ""
    project_id: str = ""
    project_name: str = ""
    root_folder_id: str = ""

    @property
    def complete(self) -> bool:
        return bool(self.account_id and self.workspace_id and self.project_id)


# --- IMS calls (requests-oauthlib) -----------------------------------------------------------------


def ims_url(path: str) -> str:
    return settings.FRAMEIO_IMS_URL.rstrip("/") + path


def _allow_loopback_http() -> None:
    # oauthlib refuses plain http. Settings only accept http for a loopback sandbox, so allowing it
    # is safe, and it is allowed only when that is what IMS points at.
    if urlsplit(settings.FRAMEIO_IMS_URL).scheme == "http":
        os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")


def _check_ims_response(resp: requests.Response) -> requests.Response:
    """requests-oauthlib compliance hook: turn IMS errors into FrameioAuthError before oauthlib parses."""
    status = resp.status_code
    if status < 400:
        return resp
    try:
        body = resp.json()
    except ValueError:
        body = {}
    error = str(body.get("error") or "") if isinstance(body, dict) else ""
    description = str(body.get("error_description") or "") if isinstance(body, dict) else ""
    if status >= 500 or status == 429:
        raise FrameioAuthError(
            "server_error", f"Adobe IMS answered HTTP {status} {description}".strip(), status=status, permanent=False
        )
    if "redirect" in f"{error} {description}".lower():
        error = "redirect_uri_mismatch"
    raise FrameioAuthError(error or "other", description or error or f"HTTP {status}", status=status)


def _ims_session(**kwargs: Any) -> OAuth2Session:
    _allow_loopback_http()
    session = OAuth2Session(**kwargs)
    session.register_compliance_hook("access_token_response", _check_ims_response)
    session.register_compliance_hook("refresh_token_response", _check_ims_response)
    return session


@sensitive_variables()
def _call_ims(what: str, fn, *args: Any, **kwargs: Any) -> TokenSet:
    try:
        token = fn(*args, timeout=(IMS_CONNECT_TIMEOUT, min(IMS_TIMEOUT, settings.FRAMEIO_TIMEOUT_SECONDS)), **kwargs)
    except FrameioAuthError:
        raise
    except requests.RequestException as exc:
        raise FrameioAuthError("network", f"Adobe IMS unreachable ({type(exc).__name__})", permanent=False) from None
    except (OAuth2Error, ValueError, KeyError) as exc:
        kind = getattr(exc, "error", None) or "other"
        raise FrameioAuthError(kind, f"unexpected IMS answer to {what}: {redact(str(exc))}") from None
    if not token.get("access_token"):
        raise FrameioAuthError("other", f"IMS answered {what} without an access token")
    return TokenSet.from_response(token)


def new_pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) per RFC 7636: 64 random bytes → 86 url-safe characters."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=")
    return verifier, challenge.decode("ascii")


def begin_authorization(*, redirect_uri: str) -> tuple[str, PendingAuthorization]:
    """The IMS authorize URL to send the browser to, and what to keep in the session for the callback.

    PKCE is generated here rather than by requests-oauthlib, whose verifier lives on the session
    object and would be lost between the redirect and the callback (a different request).
    """
    verifier, challenge = new_pkce_pair()
    state = secrets.token_urlsafe(32)
    session = _ims_session(
        client=WebApplicationClient(settings.FRAMEIO_CLIENT_ID),
        redirect_uri=redirect_uri,
        scope=settings.FRAMEIO_SCOPES.split(),
    )
    url, _ = session.authorization_url(
        ims_url(IMS_AUTHORIZE_PATH), state=state, code_challenge=challenge, code_challenge_method="S256"
    )
    return url, PendingAuthorization(
        state=state, code_verifier=verifier, redirect_uri=redirect_uri, started_at=time.time()
    )


@sensitive_variables()
def exchange_code(*, code: str, pending: PendingAuthorization) -> TokenSet:
    """Trade the authorization code for tokens (client secret in the body, as the Frame.io SDK does)."""
    session = _ims_session(client=WebApplicationClient(settings.FRAMEIO_CLIENT_ID), redirect_uri=pending.redirect_uri)
    return _call_ims(
        "the code exchange",
        session.fetch_token,
        ims_url(IMS_TOKEN_PATH),
        code=code,
        code_verifier=pending.code_verifier,
        client_secret=settings.FRAMEIO_CLIENT_SECRET,
        include_client_id=True,
    )


@sensitive_variables()
def _refresh(refresh_token: str) -> TokenSet:
    session = _ims_session(client=WebApplicationClient(settings.FRAMEIO_CLIENT_ID))
    return _call_ims(
        "the refresh",
        session.refresh_token,
        ims_url(IMS_TOKEN_PATH),
        refresh_token=refresh_token,
        client_id=settings.FRAMEIO_CLIENT_ID,
        client_secret=settings.FRAMEIO_CLIENT_SECRET,
    )


@sensitive_variables()
def _client_credentials() -> TokenSet:
    session = _ims_session(client=BackendApplicationClient(settings.FRAMEIO_CLIENT_ID))
    return _call_ims(
        "the client-credentials request",
        session.fetch_token,
        ims_url(IMS_TOKEN_PATH),
        client_secret=settings.FRAMEIO_CLIENT_SECRET,
        include_client_id=True,
        scope=settings.FRAMEIO_SCOPES,
    )


# --- The connection row ----------------------------------------------------------------------------


def connection_get() -> FrameioConnection | None:
    return FrameioConnection.objects.filter(key=FrameioConnection.SINGLETON_KEY).first()


def effective_target(conn: FrameioConnection | None = None) -> Target:
    """The ids in use: FRAMEIO_*_ID settings win over what was chosen on the connect page."""
    conn = conn if conn is not None else connection_get()
    stored = conn or FrameioConnection()
    env = (settings.FRAMEIO_ACCOUNT_ID, settings.FRAMEIO_WORKSPACE_ID, settings.FRAMEIO_DEFAULT_PROJECT_ID)
    return Target(
        account_id=env[0] or stored.account_id,
        account_name=stored.account_name if not env[0] or env[0] == stored.account_id else "",
        workspace_id=env[1] or stored.workspace_id,
        workspace_name=stored.workspace_name if not env[1] or env[1] == stored.workspace_id else "",
        project_id=env[2] or stored.project_id,
        project_name=stored.project_name if not env[2] or env[2] == stored.project_id else "",
        root_folder_id=stored.root_folder_id if not env[2] or env[2] == stored.project_id else "",
    )


@sensitive_variables()
def _apply_tokens(conn: FrameioConnection, tokens: TokenSet, now: datetime, previous_refresh: str = "") -> None:
    conn.access_token_enc = encrypt(tokens.access_token)
    conn.expires_at = now + timedelta(seconds=tokens.expires_in)
    # requests-oauthlib puts the old refresh token back when IMS sends none: only a new one restarts the clock.
    if tokens.refresh_token and tokens.refresh_token != previous_refresh:
        conn.refresh_token_enc = encrypt(tokens.refresh_token)
        conn.refresh_token_issued_at = now
    if tokens.scope:
        conn.scopes = tokens.scope[:500]
    conn.needs_reauth = False
    conn.reauth_reason = ""


def _apply_target(conn: FrameioConnection, target: Target) -> None:
    for name in Target.__dataclass_fields__:
        setattr(conn, name, getattr(target, name))


def _target_details(source: FrameioConnection | Target) -> dict[str, str]:
    """The ids and names of a target (of a Target or of the connection row), for an audit row."""
    return {name: getattr(source, name) for name in Target.__dataclass_fields__}


def _audit(kind: str, *, actor: str, at: datetime | None = None, **details: Any) -> None:
    """The audit row of a change, written by the function that makes it (in its transaction).

    `details` are ids, names and modes only: no caller passes a token.
    """
    FrameioConnectionEvent.objects.create(kind=kind, actor=actor[:150], at=at or timezone.now(), details=details)


@transaction.atomic
@sensitive_variables()
def connection_connect(
    *,
    mode: str,
    tokens: TokenSet,
    target: Target,
    actor: str,
    connected_as: str = "",
    now: datetime | None = None,
    keep_existing: bool = False,
) -> FrameioConnection:
    """Store a fresh connection: tokens, identity, target and the audit row in one transaction (all
    or nothing). `actor`: who connected ("user:alice", "system").

    `keep_existing`: leave a connection stored meanwhile as it is (another worker connected first;
    its target may already hold the production's project, which this one's would reset).
    """
    now = now or timezone.now()
    conn, created = FrameioConnection.objects.select_for_update().get_or_create(key=FrameioConnection.SINGLETON_KEY)
    if keep_existing and not created and conn.access_token_enc and conn.account_id:
        return conn
    reconnect = conn.has_tokens
    conn.mode = mode
    conn.connected_as = connected_as[:255]
    conn.refresh_token_enc = ""
    conn.refresh_token_issued_at = None
    _apply_tokens(conn, tokens, now)
    _apply_target(conn, target)
    conn.connected_at = now
    conn.last_refreshed_at = None
    conn.save()
    _audit(
        FrameioConnectionEvent.Kind.CONNECTED,
        actor=actor,
        at=now,
        auth_mode=mode,
        connected_as=conn.connected_as,
        reconnect=reconnect,
        scopes=conn.scopes,
        **_target_details(target),
    )
    logger.info("Frame.io connected (%s) as %s by %s", mode, connected_as or "unknown user", actor)
    return conn


@transaction.atomic
def connection_set_target(*, target: Target, actor: str) -> FrameioConnection:
    """Set where postflow works in Frame.io. `actor`: who chose it ("user:alice"; "system" when the
    first upload found or created the project)."""
    conn = FrameioConnection.objects.select_for_update().get(key=FrameioConnection.SINGLETON_KEY)
    previous = _target_details(conn)
    _apply_target(conn, target)
    conn.save()
    _audit(
        FrameioConnectionEvent.Kind.ACCOUNT_CHOSEN,
        actor=actor,
        auth_mode=conn.mode,
        previous={name: value for name, value in previous.items() if name.endswith("_id")},
        **_target_details(target),
    )
    logger.info("Frame.io target set by %s: account %s, workspace %s, project %s", actor, *_ids(target))
    return conn


@transaction.atomic
def connection_forget_project(*, project_id: str, reason: str, actor: str = "system") -> bool:
    """Frame.io no longer knows the target's project (deleted): forget it, so that the next upload finds
    the production's project by name or creates it. A project set in FRAMEIO_DEFAULT_PROJECT_ID is not
    forgotten (False): a person must change the setting."""
    if project_id == settings.FRAMEIO_DEFAULT_PROJECT_ID:
        return False
    conn = FrameioConnection.objects.select_for_update().filter(key=FrameioConnection.SINGLETON_KEY).first()
    if conn is None or conn.project_id != project_id:
        return False  # another worker forgot it already, or chose another one
    conn.project_id = conn.project_name = conn.root_folder_id = ""
    conn.save()
    audit_cache_dropped(what="connection project", stale_id=project_id, reason=reason, actor=actor)
    return True


def audit_cache_dropped(*, what: str, stale_id: str, reason: str, actor: str = "system", **details: Any) -> None:
    """The audit row of a cached Frame.io id dropped (frameio.structure, frameio_cache clear)."""
    _audit(FrameioConnectionEvent.Kind.CACHE_DROPPED, actor=actor, what=what, id=stale_id, reason=reason, **details)
    logger.warning("Frame.io %s %s dropped from the cache by %s: %s", what, stale_id, actor, reason)


def _ids(target: Target) -> tuple[str, str, str]:
    return target.account_id, target.workspace_id, target.project_id


@sensitive_variables()
def connection_disconnect(*, actor: str) -> str:
    """Forget the tokens (the ids stay, for the next connect), then revoke them at Adobe IMS.

    `actor` ("user:alice") is recorded with the disconnect, and again if the revocation failed.

    The tokens are forgotten first and whatever IMS answers: a disconnect never leaves them usable
    here. Returns "" once IMS revoked every stored token (or none was stored), else why not (the
    access token then lapses by itself within a day; the refresh token can be removed in the
    Adobe account's settings).
    """
    with transaction.atomic():
        conn = FrameioConnection.objects.select_for_update().filter(key=FrameioConnection.SINGLETON_KEY).first()
        if conn is None:
            return ""
        tokens, unreadable = _stored_tokens(conn)
        details = {"auth_mode": conn.mode, "connected_as": conn.connected_as, **_target_details(conn)}
        details["tokens_deleted"] = len(tokens) + unreadable
        conn.access_token_enc = conn.refresh_token_enc = ""
        conn.expires_at = conn.refresh_token_issued_at = None
        conn.needs_reauth = False
        conn.reauth_reason = ""
        conn.connected_as = ""
        conn.save()
        _audit(FrameioConnectionEvent.Kind.DISCONNECTED, actor=actor, **details)
    logger.info("Frame.io disconnected by %s", actor)
    problem = revoke_tokens(tokens)  # after the commit: no HTTP call inside a transaction
    if not problem and unreadable:
        problem = f"{unreadable} stored token(s) could not be decrypted (FRAMEIO_TOKEN_KEY changed?)"
    if problem:
        logger.warning("Frame.io tokens forgotten but not all revoked at Adobe IMS: %s", problem)
        _audit(FrameioConnectionEvent.Kind.TOKEN_REVOKE_FAILED, actor=actor, reason=problem)
    return problem


@sensitive_variables()
def _stored_tokens(conn: FrameioConnection) -> tuple[list[str], int]:
    """The refresh token first (revoking it ends the grant), then the access token; and how many
    could not be decrypted."""
    tokens, unreadable = [], 0
    for encrypted in filter(None, (conn.refresh_token_enc, conn.access_token_enc)):
        try:
            tokens.append(decrypt(encrypted))
        except TokenDecryptError:
            unreadable += 1
    return tokens, unreadable


@sensitive_variables()
def revoke_tokens(tokens: list[str]) -> str:
    """Revoke each token at Adobe IMS; "" when all were, else the first reason why not. Never raises."""
    timeout = (IMS_CONNECT_TIMEOUT, min(IMS_TIMEOUT, settings.FRAMEIO_TIMEOUT_SECONDS))
    credentials = (settings.FRAMEIO_CLIENT_ID, settings.FRAMEIO_CLIENT_SECRET)
    for token in tokens:
        try:
            response = requests.post(ims_url(IMS_REVOKE_PATH), data={"token": token}, auth=credentials, timeout=timeout)
        except requests.RequestException as exc:
            return f"Adobe IMS unreachable ({type(exc).__name__})"
        if response.status_code != 200:
            return f"Adobe IMS answered the revocation with HTTP {response.status_code}"
    return ""


def _mark_needs_reauth(conn: FrameioConnection, reason: str) -> None:
    conn.needs_reauth = True
    conn.reauth_reason = reason[:500]
    conn.save(update_fields=["needs_reauth", "reauth_reason", "updated_at"])
    logger.error("Frame.io connection needs re-authorisation: %s", reason)


# --- Tokens for API calls --------------------------------------------------------------------------


def _usable(conn: FrameioConnection | None) -> FrameioConnection:
    """The connection if a token can come from it; raises not_connected / needs_reauth otherwise."""
    if conn is not None and conn.needs_reauth:
        raise FrameioAuthError("needs_reauth", f"Frame.io needs to be connected again: {conn.reauth_reason}")
    if settings.FRAMEIO_AUTH == "s2s":
        return conn or FrameioConnection(mode=FrameioConnection.Mode.S2S)  # no sign-in needed
    if conn is None or not conn.access_token_enc:
        raise FrameioAuthError("not_connected", "Frame.io is not connected: connect it on /frameio/connect/")
    return conn


def _fresh(conn: FrameioConnection, now: datetime) -> bool:
    return bool(conn.access_token_enc and conn.expires_at and conn.expires_at - now > REFRESH_AHEAD)


@sensitive_variables()
def current_token(*, now: datetime | None = None) -> tuple[str, datetime]:
    """(access token, expiry), refreshed first when it expires within REFRESH_AHEAD."""
    now = now or timezone.now()
    conn = _usable(connection_get())
    if _fresh(conn, now):
        try:
            return decrypt(conn.access_token_enc), conn.expires_at
        except TokenDecryptError:
            pass  # the refresh below records why
    return refresh_access_token()


def get_access_token() -> str:
    return current_token()[0]


@sensitive_variables()
def refresh_access_token(*, rejected_token: str | None = None) -> tuple[str, datetime]:
    """Get a new access token, exactly once across workers; returns (token, expiry).

    With `rejected_token` (after a 401) the refresh happens even if the token looks fresh, unless
    another worker has already replaced that token.
    """
    if settings.FRAMEIO_AUTH == "s2s":  # S2S needs no sign-in: make sure there is a row to lock
        FrameioConnection.objects.get_or_create(
            key=FrameioConnection.SINGLETON_KEY, defaults={"mode": FrameioConnection.Mode.S2S}
        )
    failure: FrameioAuthError | None = None
    # durable: never nested in a caller's transaction, whose rollback would lose the new (single-use) token
    with transaction.atomic(durable=True):
        conn = (
            FrameioConnection.objects.select_for_update().filter(key=FrameioConnection.SINGLETON_KEY).first()
        )  # re-read under the lock
        conn = _usable(conn)
        now = timezone.now()  # after the wait for the lock
        try:
            current = decrypt(conn.access_token_enc)
            refresh_token = decrypt(conn.refresh_token_enc)
        except TokenDecryptError as exc:
            current, refresh_token = "", ""
            if conn.mode == FrameioConnection.Mode.OAUTH:
                _mark_needs_reauth(conn, str(exc))
                failure = FrameioAuthError("undecryptable", str(exc))
        if failure is None:
            if _fresh(conn, now) and current and (rejected_token is None or rejected_token != current):
                return current, conn.expires_at  # another worker refreshed while we waited for the lock
            try:
                tokens = _obtain(conn, refresh_token)
            except FrameioAuthError as exc:
                if exc.kind not in REAUTH_ERRORS:
                    raise  # transient (IMS down, network): nothing changed, the caller may retry later
                _mark_needs_reauth(conn, f"IMS refused the {_what(conn)} ({exc.kind}: {exc.detail})")
                failure = FrameioAuthError("needs_reauth", conn.reauth_reason, status=exc.status)
            else:
                _apply_tokens(conn, tokens, now, previous_refresh=refresh_token)
                conn.last_refreshed_at = now
                conn.save()
                logger.info("Frame.io access token renewed (%s), valid %d s", conn.mode, tokens.expires_in)
                return tokens.access_token, conn.expires_at  # committed before anyone uses it
    raise failure


def _what(conn: FrameioConnection) -> str:
    return "refresh token" if conn.mode == FrameioConnection.Mode.OAUTH else "client credentials"


@sensitive_variables()
def _obtain(conn: FrameioConnection, refresh_token: str) -> TokenSet:
    if settings.FRAMEIO_AUTH == "s2s":
        conn.mode = FrameioConnection.Mode.S2S
        return _client_credentials()
    if not refresh_token:
        raise FrameioAuthError("invalid_grant", "no refresh token stored (was offline_access granted?)")
    return _refresh(refresh_token)


class ConnectionTokenProvider:
    """`token_provider` + `on_unauthorized` for FrameioClient, backed by the connection row.

    Keeps the token in memory until REFRESH_AHEAD before its expiry, so a burst of calls does not
    read the database each time; a 401 drops it and refreshes (once across workers).
    """

    def __init__(self) -> None:
        self._token: str | None = None
        self._expires_at: datetime | None = None

    @sensitive_variables()
    def __call__(self) -> str:
        now = timezone.now()
        if self._token and self._expires_at and self._expires_at - now > REFRESH_AHEAD:
            return self._token
        self._token, self._expires_at = current_token(now=now)
        return self._token

    @sensitive_variables()
    def on_unauthorized(self, rejected_token: str) -> None:
        self._token = None
        self._token, self._expires_at = refresh_access_token(rejected_token=rejected_token)


def build_client(**overrides: Any) -> FrameioClient:
    """A FrameioClient on the stored connection (refreshing as needed)."""
    provider = ConnectionTokenProvider()
    options: dict[str, Any] = {
        "base_url": settings.FRAMEIO_API_URL,
        "token_provider": provider,
        "on_unauthorized": provider.on_unauthorized,
        "timeout": settings.FRAMEIO_TIMEOUT_SECONDS,
    }
    options.update(overrides)
    return FrameioClient(**options)


@sensitive_variables()
def static_client(access_token: str, **overrides: Any) -> FrameioClient:
    """A FrameioClient on a token not stored yet (during the callback, before anything is saved)."""
    return FrameioClient(
        base_url=settings.FRAMEIO_API_URL,
        token_provider=lambda: access_token,
        timeout=settings.FRAMEIO_TIMEOUT_SECONDS,
        **overrides,
    )


# --- Connecting ------------------------------------------------------------------------------------


def _only(items: list) -> Any:
    return items[0] if len(items) == 1 else None


def resolve_target(client: FrameioClient, *, previous: Target | None = None) -> Target:
    """Account, workspace and project: the FRAMEIO_*_ID settings, else the only one there is, else the
    previous choice if still visible, else "" (to be chosen on the choice page).

    Raises FrameioError when a configured id is not reachable with this account.
    """
    previous = previous or Target()
    account_id = settings.FRAMEIO_ACCOUNT_ID
    accounts = client.list_accounts()
    by_id = {a.id: a for a in accounts}
    if account_id and account_id not in by_id:
        raise FrameioError(
            404, True, f"FRAMEIO_ACCOUNT_ID {account_id} is not an account of this user", "accounts.index"
        )
    account = by_id.get(account_id) or _only(accounts) or by_id.get(previous.account_id)
    if account is None:
        return Target()
    workspace_id = settings.FRAMEIO_WORKSPACE_ID
    if workspace_id:
        workspace = client.show_workspace(account_id=account.id, workspace_id=workspace_id)
    else:
        workspaces = client.list_workspaces(account_id=account.id)
        workspace = _only(workspaces) or {w.id: w for w in workspaces}.get(previous.workspace_id)
    base = Target(account_id=account.id, account_name=account.display_name or "")
    if workspace is None:
        return base
    base = Target(**{**base.__dict__, "workspace_id": workspace.id, "workspace_name": workspace.name or ""})
    project: Project | None = None
    if settings.FRAMEIO_DEFAULT_PROJECT_ID:
        project = client.show_project(account_id=account.id, project_id=settings.FRAMEIO_DEFAULT_PROJECT_ID)
    elif previous.project_id and previous.workspace_id == workspace.id:
        projects = client.list_projects(account_id=account.id, workspace_id=workspace.id)
        project = {p.id: p for p in projects}.get(previous.project_id)
    if project is None:
        return base
    return target_with_project(base, project)


def target_with_project(base: Target, project: Project) -> Target:
    return Target(
        **{
            **base.__dict__,
            "project_id": project.id,
            "project_name": project.name or "",
            "root_folder_id": project.root_folder_id or "",
        }
    )


@sensitive_variables()
def connect_oauth(*, code: str, pending: PendingAuthorization, actor: str) -> FrameioConnection:
    """Finish an OAuth sign-in: exchange, identify, resolve the target, then store it all at once."""
    tokens = exchange_code(code=code, pending=pending)
    return _connect(FrameioConnection.Mode.OAUTH, tokens, actor=actor)


def target_or_connect() -> Target:
    """The Frame.io target; with Server-to-Server, which needs nobody to sign in, connect on first use
    (the only account and workspace IMS gives are chosen then): the first upload, `frameio_health` and
    `frameio_webhook register` all start here.

    IMS and Frame.io are called outside any transaction. Two uploads starting together may both
    connect; the first connection stored is kept, so the second never resets what the first chose.
    """
    target = effective_target()
    if target.account_id or settings.FRAMEIO_AUTH != "s2s":
        return target
    connect_server_to_server(actor="system", keep_existing=True)
    return effective_target()


def connect_server_to_server(*, actor: str = "system", keep_existing: bool = False) -> FrameioConnection:
    """Fetch a client-credentials token now and store the connection (FRAMEIO_AUTH=s2s).

    `actor`: the person who pressed Connect ("user:alice"), else "system" (the first upload
    connects by itself: Server-to-Server needs nobody to sign in).
    `keep_existing`: a connection stored while this one was being made wins (first use by two
    workers at once: each calls IMS outside any transaction, the first to store it is kept).
    """
    return _connect(FrameioConnection.Mode.S2S, _client_credentials(), actor=actor, keep_existing=keep_existing)


@sensitive_variables()
def _connect(mode: str, tokens: TokenSet, *, actor: str, keep_existing: bool = False) -> FrameioConnection:
    client = static_client(tokens.access_token, retry=INTERACTIVE_RETRY)
    me = client.me()
    conn = connection_get()
    target = resolve_target(client, previous=effective_target(conn) if conn else None)
    who = " ".join(filter(None, [me.name, f"<{me.email}>" if me.email else ""])) or me.id
    return connection_connect(
        mode=mode, tokens=tokens, target=target, actor=actor, connected_as=who, keep_existing=keep_existing
    )
