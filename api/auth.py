"""Bearer tokens for the API, what a token may do, and its rate limit."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja.throttling import SimpleRateThrottle

from api.errors import ApiError
from api.models import ApiToken
from api.rates import parse_rate
from api.tokens import TokenError, token_authenticate


class BearerToken(HttpBearer):
    """`Authorization: Bearer <token>`; a session cookie is not a credential here (so no CSRF either).

    django-ninja's own HttpBearer logs a malformed header in DEBUG: this one never logs the header."""

    def __call__(self, request: HttpRequest) -> ApiToken | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None  # django-ninja answers 401 (api.errors: "an API token is needed")
        return self.authenticate(request, value.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        try:
            found = token_authenticate(token)
        except TokenError as exc:
            raise ApiError(401, "unauthorized", str(exc)) from None
        request.user = found.user  # the token acts as its user
        return found


def require_write(request: HttpRequest) -> None:
    if request.auth.read_only:
        raise ApiError(403, "read_only_token", "this token is read-only: it never writes")


def require_perm(request: HttpRequest, *perms: str) -> None:
    """The token's user must hold one of `perms` (a change permission counts as view, as in the admin)."""
    user = request.auth.user
    if not any(user.has_perm(perm) for perm in perms):
        raise ApiError(403, "forbidden", f"user {user.get_username()} lacks the {' or '.join(perms)} permission")


def require_view(request: HttpRequest, app_label: str, model: str) -> None:
    require_perm(request, f"{app_label}.view_{model}", f"{app_label}.change_{model}")


class TokenRateThrottle(SimpleRateThrottle):
    """POSTFLOW_API_THROTTLE_RATE per token ("120/min"), counted in the cache: per process with the
    embedded local-memory cache, across processes with Redis. Over it: 429 with Retry-After."""

    scope = "api_token"

    def __init__(self) -> None:
        super().__init__(rate="1/s")  # replaced by the setting at each request (tests change it)

    def allow_request(self, request: HttpRequest) -> bool:
        self.rate = settings.POSTFLOW_API_THROTTLE_RATE
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request)

    def parse_rate(self, rate: str | None) -> tuple[int | None, int | None]:
        """The check's parser (api.rates), not django-ninja's: one reading of the setting."""
        return (None, None) if rate is None else parse_rate(rate)

    def get_cache_key(self, request: HttpRequest) -> str | None:
        token = getattr(request, "auth", None)
        return None if token is None else self.cache_format % {"scope": self.scope, "ident": token.pk}
