"""django-q2 entry point of the Google Sheets sync. Thin: settings in, a sync, a log line."""

import logging

from django.conf import settings

from sheets.sync import SheetsNotConfigured, sync_sheet

logger = logging.getLogger(__name__)


def sheets_sync() -> None:
    """Every 5 minutes (the `shots.sheets_sync` schedule); does nothing until the sync is configured."""
    try:
        sync_sheet(project_code=settings.POSTFLOW_PROJECT_CODE)
    except SheetsNotConfigured as off:
        logger.debug("%s", off)
