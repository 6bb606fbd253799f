from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.index, name="index"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("scenes/<int:pk>/", views.scene_detail, name="scene"),
    path("shots/<int:pk>/", views.shot_detail, name="shot"),
    path("dashboard/panels/renders/", views.panel_renders, name="panel-renders"),
    path("dashboard/panels/health/", views.panel_health, name="panel-health"),
    path("dashboard/shots/<int:pk>/notes/", views.shot_notes, name="shot-notes"),
    path("dashboard/shots/<int:pk>/force-status/", views.force_status, name="force-status"),
    path("dashboard/renders/<int:pk>/release/", views.release_render, name="release-render"),
    path("dashboard/uploads/<int:pk>/retry/", views.retry_upload, name="retry-upload"),
    path("dashboard/panels/alerts/", views.panel_alerts, name="panel-alerts"),
    path("dashboard/alerts/<int:pk>/acknowledge/", views.acknowledge_alert, name="acknowledge-alert"),
]
