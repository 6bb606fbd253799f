"""`manage.py nomenclature NAME`: what a render file name parses to, or why not."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ingest.scanner import printable
from ingest.selectors import resolve_name


class Command(BaseCommand):
    help = "Show what a render file name parses to (project, scene, shot, version) and which shot it is."

    def add_arguments(self, parser):
        parser.add_argument("name", help="a file name, e.g. UNDLM_SEQ01_00042_v002.mov")

    def handle(self, *args, name: str, **options):
        resolution = resolve_name(name.rsplit("/", 1)[-1], list(settings.POSTFLOW_NAMING_TEMPLATES))
        name = printable(name)  # a name pasted from a listing may hold bytes that are not UTF-8, or a newline
        parsed = resolution.parsed
        if parsed is not None:
            scene = "—" if parsed.scene is None else f"{parsed.scene:02d}"
            self.stdout.write(
                f"{name}: template {parsed.template}\n"
                f"  project {parsed.project} · scene {scene} · shot {parsed.shot} · version {parsed.version}"
                f" · extension {parsed.extension or '—'}"
            )
        if resolution.shot is None:
            hint = f"; did you mean {' or '.join(resolution.suggestions)}?" if resolution.suggestions else ""
            raise CommandError(f"{resolution.problem}{hint}")
        shot = resolution.shot
        self.stdout.write(f"  → shot {shot} (number {shot.shot_number}, scene {shot.scene}, status {shot.status})")
