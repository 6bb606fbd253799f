"""The Frame.io sandbox as postflow runs it: embedded in the web process, or standalone (`manage.py frameio_sandbox`).

The sandbox itself, `frameio_sandbox`, is a fake of someone else's service that knows nothing of Django or
postflow; this is the one product module that imports it, and gives it what it needs from postflow's settings
(the credential, the state file under VAR_DIR, the project's frame rate):

- `embedded_http_app(fallback)`: the http app with the sandbox mounted under FRAMEIO_SANDBOX_PREFIX (used by
  postflow/asgi.py when FRAMEIO_SANDBOX_EMBEDDED);
- `standalone_config(...)` and `serve(config)`: for the `frameio_sandbox` management command.
"""

import atexit
from pathlib import Path

from django.conf import settings

from frameio_sandbox.__main__ import serve
from frameio_sandbox.asgi import SandboxProxy, mount
from frameio_sandbox.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SandboxConfig
from postflow import daphne_streaming

__all__ = ["embedded_http_app", "serve", "standalone_config"]


def embedded_http_app(fallback):
    """`fallback` with the sandbox mounted under FRAMEIO_SANDBOX_PREFIX: a streaming proxy to one sandbox
    started in this process on the first request, its state in var/frameio-sandbox.json, request bodies
    streamed under daphne (postflow/daphne_streaming.py)."""
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


def standalone_config(
    *,
    host: str,
    port: int,
    state: Path | None,
    data_dir: Path | None,
    transcode_delay: float,
    rate_limits: bool,
) -> SandboxConfig:
    """The configuration of a standalone sandbox (`manage.py frameio_sandbox`) from its options."""
    return SandboxConfig(
        host=host,
        port=port,
        state_file=state,
        data_dir=data_dir or (state.with_suffix(".data") if state else None),
        # The credential postflow is configured with is the one the sandbox registers.
        client_id=getattr(settings, "FRAMEIO_CLIENT_ID", "") or DEFAULT_CLIENT_ID,
        client_secret=getattr(settings, "FRAMEIO_CLIENT_SECRET", "") or DEFAULT_CLIENT_SECRET,
        transcode_delay=transcode_delay,
        rate_limits=rate_limits,
        default_fps=_project_fps(),
    )


def _project_fps() -> float:
    """The film's frame rate, which is what Frame.io would read from postflow's renders."""
    from postflow.lib.timecode import parse_fps

    try:
        return parse_fps(getattr(settings, "POSTFLOW_FPS", "25"))
    except ValueError:
        return 25.0
