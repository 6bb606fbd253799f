"""Every error of the API as JSON `{"error": code, "detail": sentence, ...}`: one exception, one set of handlers."""

from __future__ import annotations

import logging
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled, ValidationError

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer other than success: its status, a stable code, a sentence, and optional fields
    (`allowed`, `valid`, `fields`, `last_id`) that the OpenAPI document's ErrorOut describes."""

    def __init__(self, status: int, error: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.extra = status, error, detail, extra


def error_response(status: int, error: str, detail: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": error, "detail": detail, **extra}, status=status)


def install(api: NinjaAPI) -> None:
    """Replace django-ninja's default handlers (`{"detail": ...}`, 422, HTML 500) with ours."""
    api.add_exception_handler(ApiError, _api_error)
    api.add_exception_handler(ValidationError, _validation_error)
    api.add_exception_handler(HttpError, _http_error)
    api.add_exception_handler(Http404, _not_found)
    api.add_exception_handler(Exception, _unexpected)


def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return error_response(exc.status, exc.error, exc.detail, **exc.extra)


def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """Bad JSON, a missing or mistyped field, a query value out of bounds: 400 naming each field."""
    fields, problems = [], []
    for error in exc.errors:
        loc = list(error.get("loc", ()))
        if loc[:1] == ["body"] and len(loc) > 2:
            del loc[1]  # django-ninja puts the view's parameter name there: the client knows only its fields
        where = ".".join(str(part) for part in loc)
        fields.append(where)
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return error_response(400, "invalid_request", "; ".join(problems) or "invalid request", fields=fields)


_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    429: "throttled",
}


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc, AuthenticationError) and exc.message == "Unauthorized":
        detail = "an API token is needed: Authorization: Bearer <token> (manage.py api_token create USER)"
    elif isinstance(exc, Throttled):
        detail = "too many requests for this token: wait Retry-After seconds"
    elif isinstance(exc, AuthorizationError) and exc.message == "Forbidden":
        detail = "this token may not do that"
    else:
        detail = exc.message
    return error_response(exc.status_code, _HTTP_CODES.get(exc.status_code, "error"), detail)


def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(404, "not_found", str(exc) or "not found")


def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Logged with its traceback; the client gets no internals (a path, a query, a secret).
    logger.exception("API %s %s failed", request.method, request.path)
    return error_response(500, "internal_error", "the server failed to answer; it was logged")
