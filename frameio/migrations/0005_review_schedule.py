"""The review reconciliation's django-q2 schedule, created once (idempotent by name)."""

from django.db import migrations

SCHEDULES = [
    # (name, function, minutes)
    ("frameio.review_reconcile", "frameio.tasks.review_reconcile", 5),
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
    dependencies = [("frameio", "0004_review"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create, remove)]
