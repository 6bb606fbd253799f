from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "postflow"
admin.site.site_title = "postflow"
admin.site.index_title = "Production data"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("frameio/", include("frameio.urls")),
    # The REST API for pipeline tools (docs/api.md): bearer tokens, JSON, its OpenAPI document.
    path("api/v1/", include("api.urls")),
    # The supervisors' dashboard: "/", the scene pages and its controls under dashboard/.
    path("", include("dashboard.urls")),
]
