"""The hourly `alerts.digests` schedule (one daily digest per project from ALERTS_DIGEST_HOUR on) gives way to
`alerts.digest_daily` and `alerts.digest_weekly`, which follow their settings after every migrate
(alerts/digest_schedule.py). Backwards, the hourly row comes back (its task is gone with this version)."""

from django.db import migrations

OLD = ("alerts.digests", "alerts.tasks.digests", 60)


def remove_hourly(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=OLD[0], func=OLD[1]).delete()


def restore_hourly(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=OLD[0], defaults={"func": OLD[1], "schedule_type": "I", "minutes": OLD[2], "repeats": -1}
    )


class Migration(migrations.Migration):
    dependencies = [("alerts", "0002_schedules"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(remove_hourly, restore_hourly)]
