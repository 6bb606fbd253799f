from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "postflow"
admin.site.site_title = "postflow"
admin.site.index_title = "Production data"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("frameio/", include("frameio.urls")),
    # The supervisors' dashboard takes "/" in its own issue; until then "/" leads to the admin.
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]
