"""`manage.py sheets_sync [--dry-run] [--json]`: thin wrapper over sheets.sync."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sheets.client import SheetsError
from sheets.sync import SheetsNotConfigured, SyncReport, format_report, sync_sheet
from shots.sheet import SheetError


class Command(BaseCommand):
    help = (
        "Sync the shot list with its Google Sheet: pull the producers' columns through the import_shots "
        "validation (invalid rows are reported by sheet row and left out), push status, stage, version, "
        "Frame.io link and last review note. See docs/sheets.md."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--project", default=settings.POSTFLOW_PROJECT_CODE, help="project code (default %(default)s)"
        )
        parser.add_argument("--dry-run", action="store_true", help="read the sheet and show the plan; write nothing")
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args, **options):
        try:
            report = sync_sheet(project_code=options["project"], dry_run=options["dry_run"])
        except (SheetsNotConfigured, SheetsError, SheetError) as exc:
            raise CommandError(str(exc)) from None
        self._print(report, options["json"])

    def _print(self, report: SyncReport, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
            return
        for line in format_report(report):
            self.stdout.write(line)
