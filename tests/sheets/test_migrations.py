"""The schedule's stored task path follows the sync from shots/sheets/ to the sheets app, both ways."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_q.models import Schedule

NAME = "shots.sheets_sync"
OLD = "shots.sheets.tasks.sheets_sync"  # as shots/0004_sheets_schedule stored it

# A migration's schema editor cannot run inside a test's transaction. (Another transactional test may
# have flushed the schedules the migrations created: each test sets up the row it needs.)
pytestmark = pytest.mark.django_db(transaction=True)


def migrate(*targets: tuple[str, str | None]) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(list(targets) or executor.loader.graph.leaf_nodes())


def test_an_existing_schedule_gets_the_new_path_and_keeps_its_interval():
    try:
        migrate(("sheets", None))  # the database before the sync left shots
        # An existing deployment's row, with the interval changed in the admin.
        Schedule.objects.update_or_create(
            name=NAME, defaults={"func": OLD, "schedule_type": "I", "minutes": 15, "repeats": -1}
        )
        migrate()
        schedule = Schedule.objects.get(name=NAME)
        assert (schedule.func, schedule.minutes) == ("sheets.tasks.sheets_sync", 15)

        migrate(("sheets", None))
        schedule = Schedule.objects.get(name=NAME)
        assert (schedule.func, schedule.minutes) == (OLD, 15)
    finally:
        migrate()


def test_a_deleted_schedule_stays_deleted():
    try:
        migrate(("sheets", None))
        Schedule.objects.filter(name=NAME).delete()
        migrate()
        assert not Schedule.objects.filter(name=NAME).exists()
    finally:
        migrate()
