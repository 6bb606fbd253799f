from django.urls import path
from django.views.generic import RedirectView

from frameio import views

app_name = "frameio"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="frameio:connect", permanent=False), name="index"),
    path("connect/", views.connect, name="connect"),
    path("callback/", views.callback, name="callback"),
    path("choose/", views.choose, name="choose"),
    path("disconnect/", views.disconnect, name="disconnect"),
]
