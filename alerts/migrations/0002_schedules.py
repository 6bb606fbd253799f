"""The django-q2 schedules of the alerts app, created once (idempotent by name)."""

from django.db import migrations

from postflow.lib.schedules import schedules_operation

SCHEDULES = [
    # (name, function, minutes)
    ("alerts.evaluate", "alerts.tasks.alerts_evaluate", 1),
    ("alerts.outbox_flush", "alerts.tasks.outbox_flush", 1),
    ("alerts.digests", "alerts.tasks.digests", 60),
]


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial"), ("django_q", "0018_task_success_index")]
    operations = [schedules_operation(SCHEDULES)]
