"""The django-q2 schedules of the Frame.io work, created once (idempotent by name)."""

from django.db import migrations

from postflow.lib.schedules import schedules_operation

SCHEDULES = [
    # (name, function, minutes)
    ("frameio.uploads_reconcile", "frameio.tasks.uploads_reconcile", 1),
]


class Migration(migrations.Migration):
    dependencies = [("frameio", "0002_upload_uploadpart"), ("django_q", "0018_task_success_index")]
    operations = [schedules_operation(SCHEDULES)]
