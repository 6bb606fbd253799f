"""The django-q2 schedule of the Google Sheets sync, created once (idempotent by name).

It always exists; the task does nothing until GOOGLE_SERVICE_ACCOUNT_FILE and GOOGLE_SHEET_ID are set
(docs/sheets.md). Change its interval in the admin (Django Q → Scheduled tasks).
"""

from django.db import migrations

from postflow.lib.schedules import schedules_operation

SCHEDULES = [
    # (name, function, minutes)
    ("shots.sheets_sync", "shots.sheets.tasks.sheets_sync", 5),
]


class Migration(migrations.Migration):
    dependencies = [("shots", "0003_project_frameio_project_id_and_more"), ("django_q", "0018_task_success_index")]
    operations = [schedules_operation(SCHEDULES)]
