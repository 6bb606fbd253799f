"""The review reconciliation's django-q2 schedule, created once (idempotent by name)."""

from django.db import migrations

from postflow.lib.schedules import schedules_operation

SCHEDULES = [
    # (name, function, minutes)
    ("frameio.review_reconcile", "frameio.tasks.review_reconcile", 5),
]


class Migration(migrations.Migration):
    dependencies = [("frameio", "0004_review"), ("django_q", "0018_task_success_index")]
    operations = [schedules_operation(SCHEDULES)]
