"""The django-q2 schedules of the alerts app, created once (idempotent by name)."""

from django.db import migrations

SCHEDULES = [
    # (name, function, minutes)
    ("alerts.evaluate", "alerts.tasks.alerts_evaluate", 1),
    ("alerts.outbox_flush", "alerts.tasks.outbox_flush", 1),
    ("alerts.digests", "alerts.tasks.digests", 60),
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
    dependencies = [("alerts", "0001_initial"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create, remove)]
