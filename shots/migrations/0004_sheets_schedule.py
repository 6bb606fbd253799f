"""The django-q2 schedule of the Google Sheets sync, created once (idempotent by name).

It always exists; the task does nothing until GOOGLE_SERVICE_ACCOUNT_FILE and GOOGLE_SHEET_ID are set
(docs/sheets.md). Change its interval in the admin (Django Q → Scheduled tasks).
"""

from django.db import migrations

SCHEDULES = [
    # (name, function, minutes)
    ("shots.sheets_sync", "shots.sheets.tasks.sheets_sync", 5),
]


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func, minutes in SCHEDULES:
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": "I", "minutes": minutes, "repeats": -1}
        )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("shots", "0003_project_frameio_project_id_and_more"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create, remove)]
