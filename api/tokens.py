"""API tokens: made, checked and revoked here only. The token itself is shown once and never stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from api.models import ApiToken

PREFIX = "pf_"
# last_used_at is a hint for the admin, not an audit: written at most once a minute per token.
LAST_USED_EVERY = timedelta(minutes=1)


class TokenError(Exception):
    """A token that cannot be made or used; the message says why (never the token)."""


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # the bearer value: print it once, never log or store it


def digest(secret: str) -> str:
    # A random 256-bit token needs no slow hash: nobody can guess it from its SHA-256.
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(
    *, username: str, name: str = "", read_only: bool = False, expires_days: int | None = None
) -> NewToken:
    """A new token for an active user; `expires_days` from now (None: it does not expire)."""
    user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
    if user is None:
        raise TokenError(f"no user {username!r}")
    if not user.is_active:
        raise TokenError(f"user {username!r} is inactive")
    if expires_days is not None and expires_days < 1:
        raise TokenError("--expires-days must be 1 or more")
    secret = PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        prefix=secret[: len(PREFIX) + 6],
        digest=digest(secret),
        read_only=read_only,
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
    )
    return NewToken(token, secret)


def token_revoke(*, token_id: int, now: datetime | None = None) -> bool:
    """Revoke a token (compare-and-set: False when it was revoked already or does not exist)."""
    return bool(ApiToken.objects.filter(pk=token_id, revoked_at__isnull=True).update(revoked_at=now or timezone.now()))


def token_authenticate(secret: str, *, now: datetime | None = None) -> ApiToken:
    """The usable token for a bearer value, with its user; TokenError says why not."""
    now = now or timezone.now()
    if not secret.startswith(PREFIX):
        raise TokenError("not a postflow API token")
    token = ApiToken.objects.select_related("user").filter(digest=digest(secret)).first()
    if token is None:
        raise TokenError("unknown token")
    refusal = token.refusal(now)
    if refusal:
        raise TokenError(refusal)
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
