"""ASGI entry point: HTTP through Django; websockets join here with the dashboard.

In the embedded default (sandbox mode, FRAMEIO_SANDBOX_URL = this server + FRAMEIO_SANDBOX_PREFIX), the paths
under the prefix go to the Frame.io sandbox, started in this process on first use (frameio_sandbox/asgi.py),
its state in var/frameio-sandbox.json; under daphne their bodies stream (frameio_sandbox/daphne_streaming.py).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postflow.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402  (needs Django set up first)
from django.conf import settings  # noqa: E402


def _embedded_sandbox(fallback):
    """The http app with the sandbox mounted under FRAMEIO_SANDBOX_PREFIX, when it is embedded."""
    if not getattr(settings, "FRAMEIO_SANDBOX_EMBEDDED", False):
        return fallback
    import atexit

    from frameio_sandbox import daphne_streaming
    from frameio_sandbox.asgi import SandboxProxy, mount
    from frameio_sandbox.config import SandboxConfig

    prefix = settings.FRAMEIO_SANDBOX_PREFIX

    def config() -> SandboxConfig:
        state = settings.VAR_DIR / "frameio-sandbox.json"  # the same file as the standalone default
        return SandboxConfig(
            host="127.0.0.1",
            port=0,
            path_prefix=prefix,
            public_url=settings.FRAMEIO_SANDBOX_URL,
            state_file=state,
            data_dir=state.with_suffix(".data"),
            client_id=settings.FRAMEIO_CLIENT_ID,
            client_secret=settings.FRAMEIO_CLIENT_SECRET,
            default_fps=_project_fps(),
        )

    proxy = SandboxProxy(config)
    atexit.register(proxy.stop)  # writes the state one last time
    daphne_streaming.install(prefix)
    return mount(prefix, proxy, fallback)


def _project_fps() -> float:
    """The film's frame rate, which is what Frame.io would read from postflow's renders."""
    from postflow.lib.timecode import parse_fps

    try:
        return parse_fps(settings.POSTFLOW_FPS)
    except ValueError:
        return 25.0


from postflow.routing import websocket_application  # noqa: E402  (the dashboard's /ws/dashboard/)

application = ProtocolTypeRouter({"http": _embedded_sandbox(django_asgi_app), "websocket": websocket_application})
