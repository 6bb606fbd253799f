"""Serve the Frame.io sandbox (a local emulator of Frame.io v4 and Adobe IMS) in the foreground."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from frameio_sandbox.__main__ import serve
from frameio_sandbox.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SandboxConfig


class Command(BaseCommand):
    help = (
        "Serve the Frame.io sandbox: the v4 API under /v4, Adobe IMS under /ims, until SIGTERM or SIGINT. "
        "With --state its projects, files and tokens survive restarts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument("--state", type=Path, help="JSON state file, e.g. var/frameio-sandbox.json")
        parser.add_argument("--data-dir", type=Path, help="uploaded bytes (default: beside --state, else a temp dir)")
        parser.add_argument("--transcode-delay", type=float, default=2.0, help="seconds from uploaded to transcoded")
        parser.add_argument("--no-rate-limits", action="store_true", help="report x-ratelimit-* but never answer 429")

    def handle(self, *args, host, port, state, data_dir, transcode_delay, no_rate_limits, **options):
        if not 0 <= port <= 65535:
            raise CommandError(f"--port {port} is not a TCP port")
        if state is not None and not state.parent.is_dir():
            raise CommandError(f"--state {state}: the folder {state.parent} does not exist")
        config = SandboxConfig(
            host=host,
            port=port,
            state_file=state,
            data_dir=data_dir or (state.with_suffix(".data") if state else None),
            # The credential postflow is configured with is the one the sandbox registers.
            client_id=getattr(settings, "FRAMEIO_CLIENT_ID", "") or DEFAULT_CLIENT_ID,
            client_secret=getattr(settings, "FRAMEIO_CLIENT_SECRET", "") or DEFAULT_CLIENT_SECRET,
            transcode_delay=transcode_delay,
            rate_limits=not no_rate_limits,
            default_fps=_project_fps(),
        )
        try:
            serve(config, announce=self.stdout.write)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc


def _project_fps() -> float:
    """The film's frame rate, which is what Frame.io would read from postflow's renders."""
    try:
        from postflow.lib.timecode import parse_fps

        return parse_fps(getattr(settings, "POSTFLOW_FPS", "25"))
    except ValueError:
        return 25.0
