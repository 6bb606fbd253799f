"""The django-q2 schedule of the api app, created once (idempotent by name)."""

from django.db import migrations

from postflow.lib.schedules import schedules_operation

SCHEDULES = [
    # (name, function, minutes): outgoing webhook messages due for a retry, and claims left by a dead sender.
    ("api.webhooks_flush", "api.tasks.webhooks_flush", 1),
]


class Migration(migrations.Migration):
    dependencies = [("api", "0002_webhooks"), ("django_q", "0018_task_success_index")]
    operations = [schedules_operation(SCHEDULES)]
