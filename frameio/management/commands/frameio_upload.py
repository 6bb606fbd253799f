"""`manage.py frameio_upload FILE --shot NOMENCLATURE [--version N] [--no-verify]`: one file to Frame.io, by
the same path as the watcher's renders (structure, parts, stack, Status, shot move), with progress.

The file is first verified as the watcher verifies a render (name, collision, checksum, probe, rate,
duration): a failure exits 1 with the watcher's reason and takes no version number. `--no-verify` skips
that and says so in the render's reason (ingest admin)."""

import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from frameio import uploads
from frameio.models import Upload
from frameio.uploads import claims
from ingest.services import VerifyError, render_queue_by_hand
from ingest.verify import MediaError
from postflow.lib.serves_no_urls import ServesNoUrls
from shots.models import Shot


class Command(ServesNoUrls, BaseCommand):
    help = "Upload one file to Frame.io as a version of a shot, as the pipeline does (resumable: run it again)."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Our --version is the render's version number; Django's own --version gives way.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--shot", required=True, help="the shot's nomenclature, e.g. UNDLM_00042")
        parser.add_argument("--version", type=int, help="version number (default: from the name, else the next one)")
        parser.add_argument(
            "--no-verify",
            action="store_true",
            help="skip the watcher's checks (name, media probe, duration, rate); recorded on the render",
        )

    def handle(self, *args, file: Path, shot: str, version: int | None, no_verify: bool = False, **options):
        path = file.resolve()
        if not path.is_file() or path.stat().st_size == 0:
            raise CommandError(f"{file}: not a file with data")
        target = Shot.objects.select_related("project").filter(nomenclature=shot).first()
        if target is None:
            raise CommandError(f"no shot {shot!r}; `manage.py nomenclature` shows what a name resolves to")
        try:
            render = render_queue_by_hand(
                path=path,
                shot=target,
                version=version,
                templates=list(settings.POSTFLOW_NAMING_TEMPLATES),
                verify=not no_verify,
            )
        except (VerifyError, MediaError) as exc:
            raise CommandError(f"{file}: {exc}") from None
        if no_verify:
            self.stderr.write(f"not verified (--no-verify): {render.reason}")
        self.stdout.write(f"{path.name} → {target} v{render.version:03d} ({render.size / 1e6:.1f} MB)")
        bar = _Bar(self.stdout) if sys.stdout.isatty() else None
        upload = uploads.upload_render(render_id=render.pk, on_progress=bar)
        if bar:
            bar.finish()
        if upload is None or upload.state not in Upload.IN_FRAMEIO:
            raise CommandError(_not_uploaded(upload))
        self.stdout.write(self.style.SUCCESS(f"uploaded: {upload.view_url or upload.frameio_file_id}"))


def _not_uploaded(upload: Upload | None) -> str:
    """Why the file is not in Frame.io yet, and what to do: never a blank reason."""
    if upload is None:
        return "not queued: the render changed meanwhile; run the command again"
    holder = claims.lease_holder(upload)
    if holder:
        return (
            f"upload {upload.pk} is {upload.state} by another worker ({holder}, its lease); "
            "wait for it, or run the command again after that time to take over"
        )
    if upload.state in Upload.ENDED:
        reason = upload.last_error or "no reason recorded"
        return f"upload {upload.state}: {reason} (retry it in the admin or the dashboard)"
    waits = claims.why_waiting(upload.pk)
    if waits:
        return f"upload {upload.state}: it waits ({waits}); run the command again later"
    return f"upload {upload.state}: {upload.last_error or 'not finished'} (run the command again to resume)"


class _Bar:
    """A one-line progress bar on a terminal: bytes, rate, ETA."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def __call__(self, progress: uploads.Progress) -> None:
        share = progress.sent / progress.total if progress.total else 0
        filled = int(share * 30)
        eta = progress.eta_seconds
        megabytes = f"{progress.sent / 1e6:8.1f}/{progress.total / 1e6:.1f} MB"
        line = (
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {share:6.1%} {megabytes}"
            f" {progress.rate / 1e6:6.1f} MB/s ETA {'--' if eta is None else f'{eta:4.0f} s'}"
        )
        self.stream.write(line, ending="")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("")
