"""django-q2 schedules created by data migrations, idempotent by name.

Each app's migration lists its schedules as (name, dotted function, minutes) and uses
`schedules_operation`, so that creating and removing them is written once.
"""

from django.db import migrations

Schedule = tuple[str, str, int]  # name, function, every N minutes


def schedules_operation(schedules: list[Schedule]) -> migrations.RunPython:
    def create(apps, schema_editor):
        model = apps.get_model("django_q", "Schedule")
        for name, func, minutes in schedules:
            model.objects.update_or_create(
                name=name, defaults={"func": func, "schedule_type": "I", "minutes": minutes, "repeats": -1}
            )

    def remove(apps, schema_editor):
        apps.get_model("django_q", "Schedule").objects.filter(name__in=[s[0] for s in schedules]).delete()

    return migrations.RunPython(create, remove)
