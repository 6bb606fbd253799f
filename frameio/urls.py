from django.urls import path
from django.views.generic import RedirectView

from frameio import views, webhooks
from frameio.uploads import pull

app_name = "frameio"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="frameio:connect", permanent=False), name="index"),
    path("connect/", views.connect, name="connect"),
    path("callback/", views.callback, name="callback"),
    path("choose/", views.choose, name="choose"),
    path("disconnect/", views.disconnect, name="disconnect"),
    path("webhook/", webhooks.receive, name="webhook"),  # Frame.io posts here (signed; CSRF-exempt)
    # Pull mode: Frame.io fetches a render here (signed, expiring, one file; frameio/uploads/pull.py)
    path("pull/<int:render_id>/<int:expires>/<str:signature>/<str:name>", pull.serve_render, name="pull"),
]
