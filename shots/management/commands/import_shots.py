"""`manage.py import_shots SHOTS.csv [--edl TIMELINE.edl] ...`: thin wrapper over shots.importer."""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from postflow.lib.text import control_problem
from postflow.lib.timecode import fps_label, parse_fps
from shots.edl import EdlError, read_edl
from shots.importer import ImportRefused, ImportReport, import_shot_list
from shots.models import Project
from shots.sheet import SheetError, read_sheet

LISTED = 20  # items of each kind shown in the human report; --json has them all


class Command(BaseCommand):
    help = (
        "Import a shot list (Google Sheets or Excel CSV export) and optionally check it against the conform EDL. "
        "Atomic: with any invalid row nothing is written unless --skip-invalid is given."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "csv", type=Path, help="the shot list, CSV (`,` `;` or tab; UTF-8, UTF-16/32 with a BOM, or Windows-1252)"
        )
        parser.add_argument("--edl", type=Path, help="the conform EDL (CMX3600) to check the shot list against")
        parser.add_argument("--fps", help="project frame rate (default: the project's, else POSTFLOW_FPS)")
        parser.add_argument("--columns", type=Path, help='JSON file {"canonical_field": "Header in the sheet"}')
        parser.add_argument(
            "--project", default=settings.POSTFLOW_PROJECT_CODE, help="project code (default %(default)s)"
        )
        parser.add_argument("--dry-run", action="store_true", help="show the plan, write nothing")
        parser.add_argument("--skip-invalid", action="store_true", help="import the valid rows, report the others")
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args, **options):
        _check_project_code(options["project"])
        rate = self._rate(options["project"], options["fps"])
        try:
            sheet = read_sheet(options["csv"], _load_columns(options["columns"]))
            events = read_edl(options["edl"], rate) if options["edl"] else None
        except (SheetError, EdlError) as exc:
            raise CommandError(str(exc)) from None
        try:
            report = import_shot_list(
                sheet=sheet,
                project_code=options["project"],
                project_name=settings.POSTFLOW_PROJECT_NAME
                if options["project"] == settings.POSTFLOW_PROJECT_CODE
                else options["project"],
                rate=rate,
                events=events,
                dry_run=options["dry_run"],
                skip_invalid=options["skip_invalid"],
            )
        except ImportRefused as refused:
            self._print(refused.report, options["json"], options["dry_run"])
            raise CommandError(str(refused)) from None
        self._print(report, options["json"], options["dry_run"])

    def _rate(self, project_code: str, fps: str | None) -> float:
        project = Project.objects.filter(code=project_code).first()
        try:
            rate = parse_fps(fps) if fps else (project.fps if project else parse_fps(settings.POSTFLOW_FPS))
        except ValueError as exc:
            raise CommandError(f"--fps: {exc}") from None
        if project and abs(project.fps - rate) > 1e-6:
            raise CommandError(
                f"project {project.code} is at {fps_label(project.fps)} fps; --fps {fps} does not match "
                "(timecodes would be misread)"
            )
        return rate

    def _print(self, report: ImportReport, as_json: bool, dry_run: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
            return
        for line in format_report(report, dry_run=dry_run):
            self.stdout.write(line)


def _check_project_code(code: str) -> None:
    """Refused here rather than by the database, which would fail the write (PostgreSQL) or keep it (SQLite)."""
    limit = Project._meta.get_field("code").max_length
    problem = control_problem(code)
    if not code or len(code) > limit or problem:
        shown = f"it has {problem}" if problem else f"it is {len(code)} characters long"
        raise CommandError(f"--project: a code of 1 to {limit} characters without control characters; {shown}")


def _load_columns(path: Path | None) -> dict[str, str] | None:
    if path is None:
        return None
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"--columns: cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise CommandError(f"--columns: {path} is not JSON: {exc}") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise CommandError('--columns: expected a JSON object like {"shot_number": "N° Plan"}')
    return mapping


def format_report(report: ImportReport, *, dry_run: bool) -> list[str]:
    fps = fps_label(report.fps)
    lines = [
        f"{report.file}: {report.rows} rows ({report.encoding}, delimiter {report.delimiter!r}, {fps} fps)",
        "Columns: " + ", ".join(f"{header} → {name}" for name, header in report.columns.items()),
    ]
    if report.ignored_columns:
        lines.append("Ignored columns: " + ", ".join(report.ignored_columns))
    lines.append(
        f"Plan: {report.created} to create, {report.updated} to update, {report.unchanged} unchanged, "
        f"{report.omitted} to flag omitted"
    )
    lines += _joined("create", report.changes["created"])
    lines += _listed(
        "update",
        [
            f"{item['shot_number']}: "
            + "; ".join(f"{name} {old!r} → {new!r}" for name, (old, new) in item["fields"].items())
            if item["fields"]
            else f"{item['shot_number']}: back in the list"
            for item in report.changes["updated"]
        ],
    )
    lines += _joined("flag omitted", report.changes["omitted"])
    lines.append(
        f"Shots {report.shots} · scenes {report.scenes} · unique sources {report.unique_sources} · "
        f"shots sharing a source {report.shots_sharing_source} · missing nomenclature {report.missing_nomenclature}"
        + (
            f" (lines {', '.join(map(str, report.missing_nomenclature_lines[:LISTED]))})"
            if report.missing_nomenclature
            else ""
        )
    )
    if report.conform is not None:
        lines.append(f"Conform: {report.edl_events} EDL events, {len(report.conform)} mismatch(es)")
        lines += [f"  {m['detail']}" for m in report.conform[:LISTED]] + _more(report.conform)
    if report.invalid:
        lines.append(f"Invalid: {len(report.invalid)} problem(s)")
        lines += [
            f"  line {p['line']}, column {p['column']!r}, value {p['value']!r}: {p['reason']}"
            for p in report.invalid[:LISTED]
        ]
        lines += _more(report.invalid)
    if report.applied:
        lines.append("Applied." + (" Invalid rows were skipped." if report.invalid else ""))
    elif dry_run:
        lines.append("Dry run: nothing was written.")
    return lines


def _listed(verb: str, items: list[str]) -> list[str]:
    return [f"  {verb}: {item}" for item in items[:LISTED]] + _more(items)


def _joined(verb: str, numbers: list[str]) -> list[str]:
    if not numbers:
        return []
    more = f" … and {len(numbers) - LISTED} more" if len(numbers) > LISTED else ""
    return [f"  {verb}: {', '.join(numbers[:LISTED])}{more}"]


def _more(items: list) -> list[str]:
    return [f"  … and {len(items) - LISTED} more (--json lists them all)"] if len(items) > LISTED else []
