from functools import partial

from django.contrib.admin.views.decorators import staff_member_required
from django.urls import path, re_path
from ninja.openapi.views import openapi_view

from api.errors import error_response
from api.views import api


def _unknown(request, rest: str = ""):
    return error_response(404, "not_found", f"no API endpoint {request.path} (see /api/v1/openapi.json)")


urlpatterns = [
    # The interactive documentation (Swagger UI, served from django-ninja's static files): staff only.
    path("docs", staff_member_required(partial(openapi_view, api=api)), name="api-docs"),
    path("", api.urls),
    # Anything else under /api/v1/ answers JSON too, never the site's HTML 404.
    re_path(r"^(?P<rest>.*)$", _unknown),
]
