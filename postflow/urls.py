from django.contrib import admin
from django.urls import include, path
from django.urls.resolvers import RoutePattern, URLResolver

import api

admin.site.site_header = "postflow"
admin.site.site_title = "postflow"
admin.site.index_title = "Production data"


class ImportedOnUse(URLResolver):
    """A URLconf included by name and imported by the first request under its prefix, not with the root
    URLconf. The REST API's views bring django-ninja and pydantic (~11 MB): without this, every process
    that runs the system checks (the watcher, the upload workers, each command) or reverses any name (the
    webhook's URL, a pull URL) would import them, and none of those serve the API.

    Until then it has no patterns, for the URL checks and for reverse() (Django populates every included
    URLconf's names on the first reverse()): a name in its namespace is found once a request under the
    prefix has loaded it, which is where the API reverses its own ("api:openapi-json"); nothing outside
    the API reverses into it. Its patterns are checked by tests/api/test_urls_lazy.py."""

    def _loaded(self) -> bool:
        return "urlconf_module" in self.__dict__  # Django's cached_property, set once imported

    @property
    def url_patterns(self) -> list:
        return super().url_patterns if self._loaded() else []

    def resolve(self, path: str):
        self.urlconf_module  # noqa: B018 - a request under the prefix: import the module now
        return super().resolve(path)

    def _populate(self) -> None:
        if self._loaded():
            super()._populate()


urlpatterns = [
    path("admin/", admin.site.urls),
    path("frameio/", include("frameio.urls")),
    # The REST API for pipeline tools (docs/api.md): bearer tokens, JSON, its OpenAPI document.
    ImportedOnUse(RoutePattern("api/v1/", is_endpoint=False), "api.urls", app_name="api", namespace=api.NAMESPACE),
    # The supervisors' dashboard: "/", the scene pages and its controls under dashboard/.
    path("", include("dashboard.urls")),
]
