from django.contrib import admin
from django.urls import include, path
from django.urls.resolvers import RoutePattern, URLResolver

import api

admin.site.site_header = "postflow"
admin.site.site_title = "postflow"
admin.site.index_title = "Production data"


class ImportedOnUse(URLResolver):
    """A URLconf included by name and imported when something needs it: a request under its prefix (a
    request elsewhere does not match the prefix and never asks), a reverse() into its namespace, or the
    URL checks (the web process runs them at start: postflow.asgi). The REST API's views bring
    django-ninja and pydantic (~11 MB): the upload workers, the watcher and `frameio_upload` skip the URL
    checks (postflow.lib.serves_no_urls), and this keeps their reverse() of other names (the webhook's URL,
    a pull URL) from importing it too: Django fills every included URLconf's names on the first reverse(),
    and a namespaced one is only reached through its namespace, which imports it then."""

    def _populate(self) -> None:
        if "urlconf_module" in self.__dict__:  # Django's cached_property: imported already
            super()._populate()


urlpatterns = [
    path("admin/", admin.site.urls),
    path("frameio/", include("frameio.urls")),
    # The REST API for pipeline tools (docs/api.md): bearer tokens, JSON, its OpenAPI document.
    ImportedOnUse(RoutePattern("api/v1/", is_endpoint=False), "api.urls", app_name="api", namespace=api.NAMESPACE),
    # The supervisors' dashboard: "/", the scene pages and its controls under dashboard/.
    path("", include("dashboard.urls")),
]
