"""Export the review notes for the editor: a CSV, or an EDL whose `* LOC:` markers sit at the notes'
record timecodes."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from frameio.review.export import NotesExportError, notes_csv, notes_edl, notes_for_export
from shots.exports import write_atomic
from shots.selectors import ProjectChoiceError, project_to_export

FORMATS = ("csv", "edl-markers")


class Command(BaseCommand):
    help = (
        "Export the review notes from Frame.io at their record timecodes, in cut order (deleted comments "
        "left out): csv (every field) or edl-markers (CMX 3600, one event per shot, a `* LOC:` per note). "
        "Without --out the file goes to stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
        parser.add_argument(
            "--scene", action="append", default=[], help="a scene number (3, 03, SEQ03) or name; repeatable"
        )
        parser.add_argument("--out", help="file to write (replaced atomically)")
        parser.add_argument("--project", help="project code (default: POSTFLOW_PROJECT_CODE, or the only project)")
        parser.add_argument("--open", action="store_true", dest="open_only", help="only notes not completed")

    def handle(
        self, *args, fmt: str, scene: list[str], out: str | None, project: str | None, open_only: bool, **options
    ):
        try:
            target = project_to_export(project)
        except ProjectChoiceError as exc:
            raise CommandError(str(exc)) from None
        try:
            notes = notes_for_export(target, scenes=scene, open_only=open_only)
        except NotesExportError as exc:
            raise CommandError(str(exc)) from None
        if fmt == "csv":
            content = notes_csv(target, notes)
        else:
            content, skipped = notes_edl(target, notes)
            for message in skipped:
                self.stderr.write(message)
        if not out:
            self.stdout.write(content.decode("utf-8"), ending="")  # a CSV's BOM stays, as U+FEFF
            return
        path = Path(out)
        if path.is_dir():
            raise CommandError(f"--out {out}: is a directory; give a file name")
        try:
            write_atomic(path, content)
        except OSError as exc:
            raise CommandError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
        self.stderr.write(f"wrote {len(notes)} note(s) to {path}")
