from functools import partial, wraps

from asgiref.sync import iscoroutinefunction
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponseNotAllowed
from django.urls import path, re_path
from ninja.openapi.views import openapi_view

from api.errors import error_response
from api.views import api


def _unknown(request, rest: str = ""):
    return error_response(404, "not_found", f"no API endpoint {request.path} (see /api/v1/openapi.json)")


def _json_not_allowed(response):
    """django-ninja answers a wrong method with a plain-text 405: the same, as the API's JSON error."""
    if not isinstance(response, HttpResponseNotAllowed):
        return response
    allowed = response["Allow"]
    answer = error_response(405, "method_not_allowed", f"allowed: {allowed}")
    answer["Allow"] = allowed
    return answer


def _with_json_405(view):
    if iscoroutinefunction(view):

        @wraps(view)
        async def async_wrapped(request, *args, **kwargs):
            return _json_not_allowed(await view(request, *args, **kwargs))

        return async_wrapped

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        return _json_not_allowed(view(request, *args, **kwargs))

    return wrapped


ninja_patterns = api.urls[0]
for pattern in ninja_patterns:
    pattern.callback = _with_json_405(pattern.callback)

# Mounted by postflow.urls under /api/v1/ in the namespace django-ninja reverses its own names in
# (api.NAMESPACE: "api:openapi-json"): django-ninja's patterns are this module's, not a nested include.
urlpatterns = [
    # The interactive documentation (Swagger UI, served from django-ninja's static files): staff only.
    path("docs", staff_member_required(partial(openapi_view, api=api)), name="api-docs"),
    *ninja_patterns,
    # Anything else under /api/v1/ answers JSON too, never the site's HTML 404.
    re_path(r"^(?P<rest>.*)$", _unknown),
]
