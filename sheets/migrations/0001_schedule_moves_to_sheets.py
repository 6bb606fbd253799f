"""The Google Sheets sync moved from shots/sheets/ to this app: the schedule follows it.

`shots/0004_sheets_schedule` created the django-q2 schedule `shots.sheets_sync` with the dotted path
of its task stored in the database. Only that path changes (both ways); the name, an interval changed
in the admin and the next run stay, and a schedule someone deleted is not created again.
"""

from django.db import migrations

NAME = "shots.sheets_sync"
OLD_FUNC = "shots.sheets.tasks.sheets_sync"
NEW_FUNC = "sheets.tasks.sheets_sync"


def set_func(old: str, new: str):
    def run(apps, schema_editor):
        apps.get_model("django_q", "Schedule").objects.filter(name=NAME, func=old).update(func=new)

    return run


class Migration(migrations.Migration):
    dependencies = [("shots", "0004_sheets_schedule"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(set_func(OLD_FUNC, NEW_FUNC), set_func(NEW_FUNC, OLD_FUNC))]
