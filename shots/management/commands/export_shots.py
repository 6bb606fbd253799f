"""Export the shot list: After Effects JSON, production CSV, flat CSV, detailed JSON, one JSON per scene."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shots.exports import ExportFormat, export_shots, shots_for_export, stale_scene_files, write_files
from shots.models import Project
from shots.selectors import ProjectChoiceError, project_to_export


def resolve_project(code: str | None) -> Project:
    """--project CODE, else the configured project, else the only one there is (see project_to_export)."""
    try:
        return project_to_export(code)
    except ProjectChoiceError as exc:
        raise CommandError(str(exc)) from None


def _out_dir(raw: str) -> Path:
    path = Path(raw)
    if path.exists() and not path.is_dir():
        raise CommandError(f"--out {raw}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"--out {raw}: cannot create the directory ({exc.strerror})") from None
    return path


class Command(BaseCommand):
    help = (
        "Export the shots of a project, in cut order, omitted shots left out unless --include-omitted. "
        "Without --out the file goes to stdout; scene-json writes one file per scene and needs --out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, choices=[f.value for f in ExportFormat], dest="fmt")
        parser.add_argument("--out", help="Directory to write into (created if missing); files replace atomically.")
        parser.add_argument("--project", help="Project code (default: POSTFLOW_PROJECT_CODE, or the only project).")
        parser.add_argument("--include-omitted", action="store_true", help="Also export shots no longer in the list.")

    def handle(self, *args, fmt: str, out: str | None, project: str | None, include_omitted: bool, **options):
        export_format = ExportFormat(fmt)
        if export_format.is_multi_file and not out:
            raise CommandError(f"--format {fmt} writes one file per scene: pass --out DIR")
        target = resolve_project(project)
        files = export_shots(target, shots_for_export(target, include_omitted=include_omitted), export_format)
        if not out:
            # Decoding keeps a CSV's BOM as U+FEFF, so `> file.csv` still opens right in Excel.
            self.stdout.write(files[0].content.decode("utf-8"), ending="")
            return
        try:
            written = write_files(files, _out_dir(out))
        except OSError as exc:
            raise CommandError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
        for path in written:
            self.stdout.write(f"wrote {path}")
        if not written:
            self.stderr.write("no shots to export: nothing written")
        if export_format.is_multi_file:
            for path in stale_scene_files(Path(out), written):
                self.stderr.write(f"left from an older export (a scene renamed or gone?), not removed: {path}")
