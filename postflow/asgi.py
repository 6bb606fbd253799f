"""ASGI entry point: HTTP through Django; websockets join here with the dashboard.

In the embedded default (sandbox mode, FRAMEIO_SANDBOX_URL = this server + FRAMEIO_SANDBOX_PREFIX), the paths
under the prefix go to the Frame.io sandbox (the package frameio_sandbox), started in this process on first use;
postflow/sandbox.py mounts it (frameio_sandbox/asgi.py, its state in var/frameio-sandbox.json), and under
daphne their bodies stream (postflow/daphne_streaming.py). Otherwise the sandbox is not even imported.
"""

import os

from django.core.asgi import get_asgi_application

from postflow.lib.bad_setting import load_or_stop, refuse_failed_checks

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postflow.settings")
# A bad setting stops the process with one line and exit status 2 (postflow/lib/bad_setting.py), not a traceback.
django_asgi_app = load_or_stop(get_asgi_application)
# Run the system checks once, as every manage.py command does and daphne does not: the apps check there what
# their settings mean (ingest/checks.py, ...), and a web process must never serve with a bad value. The URL
# checks load every URLconf, the REST API's too (postflow.urls.ImportedOnUse): here, at start, not on the
# event loop at the first request.
refuse_failed_checks()

from channels.routing import ProtocolTypeRouter  # noqa: E402  (needs Django set up first)
from django.conf import settings  # noqa: E402


def _embedded_sandbox(fallback):
    """The http app with the sandbox mounted under FRAMEIO_SANDBOX_PREFIX, when it is embedded."""
    if not getattr(settings, "FRAMEIO_SANDBOX_EMBEDDED", False):
        return fallback
    from postflow.sandbox import embedded_http_app  # the sandbox is imported only when it is embedded

    return embedded_http_app(fallback)


from postflow import daphne_streaming  # noqa: E402
from postflow.routing import websocket_application  # noqa: E402  (the dashboard's /ws/dashboard/)

# The shot page's player reads renders of gigabytes: under daphne, a slow reader slows the view down
# instead of the whole file waiting in memory (dashboard.views.play_render).
daphne_streaming.install("/dashboard/play")

application = ProtocolTypeRouter({"http": _embedded_sandbox(django_asgi_app), "websocket": websocket_application})
