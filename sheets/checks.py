"""System checks of the Google Sheets settings: GOOGLE_SHEET_COLUMNS must name fields the sync knows.

postflow/settings.py checks that the value is a JSON object of headers; these checks run with
`manage.py check` and every other command, and when the web process starts (postflow/asgi.py).
Registered by SheetsConfig.ready().
"""

from django.conf import settings
from django.core import checks

from shots.sheet import CANONICAL_FIELDS, PUSHED_ALIASES


@checks.register()
def check_sheet_columns(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    fields = (*CANONICAL_FIELDS, *PUSHED_ALIASES)
    if unknown := sorted(set(settings.GOOGLE_SHEET_COLUMNS) - set(fields)):
        return [
            checks.Error(
                f"GOOGLE_SHEET_COLUMNS: unknown field(s) {unknown}; fields are: {', '.join(fields)}",
                hint='Map a field to your sheet\'s header, e.g. {"status": "État VFX"} (docs/sheets.md).',
                id="sheets.E001",
            )
        ]
    return []
