"""The admin site, with the producers' tables first on its index (django-q's and auth's after them)."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

# The tables producers open every day, in this order, each leading its app; the other apps follow as Django
# orders them (by name).
FIRST = [("shots", "Shot"), ("ingest", "Render"), ("frameio", "Upload"), ("frameio", "ReviewNote"), ("alerts", "Alert")]


class PostflowAdminSite(admin.AdminSite):
    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        rank = {}
        for position, key in enumerate(FIRST):
            rank.setdefault(key[0], position)
        for app in apps:
            models = [name for label, name in FIRST if label == app["app_label"]]
            app["models"].sort(key=lambda model: _position(models, model["object_name"]))
        return sorted(apps, key=lambda app: rank.get(app["app_label"], len(FIRST)))  # stable: the rest keep order


def _position(names: list[str], name: str) -> int:
    return names.index(name) if name in names else len(names)


class PostflowAdminConfig(AdminConfig):
    """`django.contrib.admin`, with `PostflowAdminSite` as `admin.site` (in INSTALLED_APPS in its place)."""

    default_site = "postflow.admin_site.PostflowAdminSite"
