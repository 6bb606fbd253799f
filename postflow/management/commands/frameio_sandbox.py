"""Serve the Frame.io sandbox (a local emulator of Frame.io v4 and Adobe IMS) in the foreground."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from postflow import sandbox


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
        config = sandbox.standalone_config(
            host=host,
            port=port,
            state=state,
            data_dir=data_dir,
            transcode_delay=transcode_delay,
            rate_limits=not no_rate_limits,
        )
        try:
            sandbox.serve(config, announce=self.stdout.write)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc
