"""The django-q2 schedule of the review proxies' safety net, created once (idempotent by name)."""

from django.db import migrations

from postflow.lib.schedules import schedules_operation

SCHEDULES = [
    # (name, function, minutes)
    ("ingest.proxies_reconcile", "ingest.tasks.proxies_reconcile", 1),
]


class Migration(migrations.Migration):
    dependencies = [("ingest", "0005_review_proxy"), ("django_q", "0018_task_success_index")]
    operations = [schedules_operation(SCHEDULES)]
